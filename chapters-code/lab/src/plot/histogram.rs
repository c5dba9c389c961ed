//! A grid of small histograms on a shared x range: one panel per layer, in reading order.

use super::DEFAULT_WIDTH;
use super::axis::{Axis, Direction, Frame, Scale, X_TICK_BAND, draw_grid, draw_x_axis, draw_y_axis, fit_axis};
use super::canvas::{Canvas, Dash, TextOpts, render_svg};
use super::chrome::{
    LegendEntry, SWATCH_WIDTH, Swatch, X_LABEL_BAND, Y_LABEL_BAND, draw_axis_labels, draw_swatch, draw_title,
    title_bottom, title_lines,
};
use super::style::{
    LEGEND_PX, MARGIN, NOTE_PX, PANEL_TITLE_PX, TEXT, TICK_GAP, TICK_LEN, TICK_PX, TICK_TEXT, palette_color,
    text_width, truncate, wrap,
};
use anyhow::{Result, bail, ensure};
use plotters::style::text_anchor::{HPos, VPos};

#[derive(Debug, Clone, PartialEq)]
enum PanelData {
    Samples(Vec<f64>),
    Counts(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq)]
struct Panel {
    title: String,
    data: PanelData,
}

#[derive(Debug, Clone, PartialEq)]
struct Shade {
    lo: f64,
    hi: f64,
    label: String,
}

/// Small histograms, one per panel (usually one per hidden layer), on a shared x range, with
/// optional shaded x regions (e.g. where an activation saturates) drawn behind every panel.
///
/// Bars show the *share* of each panel's values per bin, so panels with different sample counts
/// compare directly; the y axis is shared by default. Values outside the x range are counted in
/// the first or last bin (so saturated units piled at ±1 stay visible); non-finite values are
/// skipped, and a panel with none left says so.
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use lab::plot::HistogramGrid;
/// let layer = |scale: f64| (0..500).map(|i| ((i as f64 / 50.0).sin() * scale).tanh()).collect();
/// let svg = HistogramGrid::new("tanh activations per layer")
///     .x_label("activation")
///     .x_range(-1.0, 1.0)
///     .shade(-1.0, -0.97, "saturated")
///     .shade(0.97, 1.0, "saturated")
///     .panel("layer 1 · saturated 2%", layer(1.0))
///     .panel("layer 2 · saturated 40%", layer(4.0))
///     .render("Layer 1's activations spread over (−1, 1); layer 2's pile up at ±1.")?;
/// assert!(svg.contains("layer 2"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramGrid {
    title: String,
    x_label: String,
    y_label: String,
    panels: Vec<Panel>,
    shades: Vec<Shade>,
    bins: usize,
    x_range: Option<(f64, f64)>,
    columns: Option<usize>,
    size: Option<(u32, u32)>,
    shared_y: bool,
}

/// Frame height of one panel when the figure height is not given.
const PANEL_HEIGHT: f64 = 120.0;
/// Room above each panel for its title.
const PANEL_TITLE_BAND: f64 = PANEL_TITLE_PX * 1.25 + 6.0;
const COLUMN_GAP: f64 = 18.0;
const ROW_GAP: f64 = 10.0;

impl HistogramGrid {
    pub fn new(title: impl Into<String>) -> Self {
        HistogramGrid {
            title: title.into(),
            x_label: String::new(),
            y_label: "share of values".into(),
            panels: Vec::new(),
            shades: Vec::new(),
            bins: 40,
            x_range: None,
            columns: None,
            size: None,
            shared_y: true,
        }
    }

    setters! {
        x_label(label: impl Into<String>) => x_label = label.into();

        /// Defaults to "share of values".
        y_label(label: impl Into<String>) => y_label = label.into();
    }

    /// A panel of raw values (binned into [`bins`](Self::bins) bins).
    pub fn panel(mut self, title: impl Into<String>, values: Vec<f64>) -> Self {
        self.panels.push(Panel { title: title.into(), data: PanelData::Samples(values) });
        self
    }

    /// A panel of counts already binned into equal bins over the [`x_range`](Self::x_range)
    /// (which must then be set).
    pub fn panel_counts(mut self, title: impl Into<String>, counts: Vec<f64>) -> Self {
        self.panels.push(Panel { title: title.into(), data: PanelData::Counts(counts) });
        self
    }

    /// Shades `[lo, hi]` on every panel (±∞ reach the edge). Regions with the same label share a
    /// colour and one legend entry.
    pub fn shade(mut self, lo: f64, hi: f64, label: impl Into<String>) -> Self {
        self.shades.push(Shade { lo, hi, label: label.into() });
        self
    }

    setters! {
        /// Number of bins for raw values (default 40).
        bins(bins: usize) => bins = bins;

        /// The shared x range (default: the range of all values).
        x_range(lo: f64, hi: f64) => x_range = Some((lo, hi));

        /// Panels per row (default: up to 4 for ≤ 8 panels, 5 for ≤ 15, else 6).
        columns(columns: usize) => columns = Some(columns);

        /// Figure size in px (default 720 wide, tall enough for ~120 px panels).
        size(width: u32, height: u32) => size = Some((width, height));

        /// Each panel gets its own y scale (default: one scale for all, so panels compare).
        independent_y() => shared_y = false;
    }

    pub fn render(&self, alt: &str) -> Result<String> {
        let (lo, hi) = self.resolved_x_range()?;
        let shares = self.shares(lo, hi)?;
        for s in &self.shades {
            ensure!(
                !s.lo.is_nan() && !s.hi.is_nan() && s.lo < s.hi,
                "shaded region {:?} is {}..{}: it must be increasing",
                s.label,
                s.lo,
                s.hi
            );
        }
        let n = self.panels.len();
        let columns = self.columns.unwrap_or(match n {
            0..=4 => n,
            5..=8 => 4,
            9..=15 => 5,
            _ => 6,
        });
        ensure!((1..=12).contains(&columns), "histogram grid columns must be 1..=12, got {columns}");
        let rows = n.div_ceil(columns);
        let width = self.size.map_or(DEFAULT_WIDTH, |s| s.0);
        let lines = title_lines(&self.title, width as f64);
        let top = title_bottom(lines.len()) + if self.shades.is_empty() { 6.0 } else { 26.0 };
        let mut bottom_band = MARGIN + X_TICK_BAND;
        if !self.x_label.is_empty() {
            bottom_band += X_LABEL_BAND;
        }
        let grid_height = rows as f64 * (PANEL_TITLE_BAND + PANEL_HEIGHT) + (rows - 1) as f64 * ROW_GAP;
        let height = self.size.map_or((top + grid_height + bottom_band).ceil() as u32, |s| s.1);
        let panel_height =
            (height as f64 - top - bottom_band - (rows - 1) as f64 * ROW_GAP) / rows as f64 - PANEL_TITLE_BAND;
        ensure!(panel_height >= 30.0, "figure is too short for {rows} rows of histograms");

        let y_max = |share: &[f64]| share.iter().fold(0.0f64, |m, &v| m.max(v));
        let shared_max = shares.iter().map(|s| y_max(s)).fold(0.0f64, f64::max);
        let y_axis = |max: f64| {
            let hi = if max > 0.0 { max * 100.0 * 1.08 } else { 1.0 };
            let mut axis = fit_axis(Scale::Linear, 0.0, hi, panel_height, Direction::Vertical, false);
            axis.major.iter_mut().for_each(|t| t.label.push('%'));
            axis
        };
        let y_axes: Vec<Axis> =
            shares.iter().map(|s| y_axis(if self.shared_y { shared_max } else { y_max(s) })).collect();
        let y_label_width = y_axes.iter().map(|a| a.widest_label(TICK_PX)).fold(0.0, f64::max) + TICK_LEN + TICK_GAP;
        let mut left = MARGIN + y_label_width;
        if !self.y_label.is_empty() {
            left += Y_LABEL_BAND;
        }
        let right = width as f64 - MARGIN - 8.0;
        let mut gap = if self.shared_y { COLUMN_GAP } else { COLUMN_GAP + y_label_width };
        let mut panel_width = 0.0;
        let mut x_axis = Axis { lo, hi, major: Vec::new(), minor: Vec::new() };
        // Neighbouring panels' end labels ("1" and "−1") must not run together: widen the gap
        // to fit them and refit the ticks to the narrower panels.
        for _ in 0..3 {
            panel_width = (right - left - (columns - 1) as f64 * gap) / columns as f64;
            ensure!(panel_width >= 40.0, "figure is too narrow for {columns} columns of histograms");
            x_axis = fit_axis(Scale::Linear, lo, hi, panel_width, Direction::Horizontal, false);
            let edge_label = |t: Option<&super::axis::Tick>, edge: f64| {
                t.filter(|t| (x_axis.frac(t.at) - edge).abs() * panel_width < 20.0)
                    .map_or(0.0, |t| text_width(&t.label, TICK_PX) / 2.0)
            };
            let needed = edge_label(x_axis.major.first(), 0.0) + edge_label(x_axis.major.last(), 1.0) + 12.0;
            if columns == 1 || gap >= needed {
                break;
            }
            gap = needed;
        }

        let frames: Vec<Frame> = (0..n)
            .map(|i| {
                let (row, col) = ((i / columns) as f64, (i % columns) as f64);
                let left = left + col * (panel_width + gap);
                let top = top + row * (PANEL_TITLE_BAND + panel_height + ROW_GAP) + PANEL_TITLE_BAND;
                Frame { left, top, right: left + panel_width, bottom: top + panel_height }
            })
            .collect();
        let shade_labels = self.shade_labels();

        render_svg(width, height, &self.title, alt, |c| {
            draw_title(c, &lines)?;
            let legend_y = title_bottom(lines.len()) + 12.0;
            let mut x = MARGIN;
            for (slot, label) in shade_labels.iter().enumerate() {
                let entry = LegendEntry {
                    name: label.clone(),
                    color: palette_color(slot + 1),
                    swatch: Swatch::Area { alpha: SHADE_ALPHA },
                };
                draw_swatch(c, &entry.swatch, entry.color, (x - 4.0, legend_y))?;
                let opts = TextOpts::new(LEGEND_PX, TEXT).anchor(HPos::Left, VPos::Center);
                c.text(label, (x + SWATCH_WIDTH - 4.0, legend_y), opts)?;
                x += SWATCH_WIDTH + text_width(label, LEGEND_PX) + 16.0;
            }
            for (i, (panel, frame)) in self.panels.iter().zip(&frames).enumerate() {
                let below_is_empty = i + columns >= n;
                let first_column = i % columns == 0;
                let y_labels = first_column || !self.shared_y;
                self.draw_panel(c, panel, frame, &x_axis, &y_axes[i], &shares[i], below_is_empty, y_labels)?;
            }
            let grid_top = frames[0].top;
            let grid_bottom = frames[n - 1].bottom.max(frames[0].bottom);
            draw_axis_labels(c, (left, right), (grid_top, grid_bottom), &self.x_label, &self.y_label, height as f64)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_panel(
        &self,
        c: &Canvas,
        panel: &Panel,
        f: &Frame,
        x: &Axis,
        y: &Axis,
        shares: &[f64],
        x_labels: bool,
        y_labels: bool,
    ) -> Result<()> {
        let title = truncate(&panel.title, PANEL_TITLE_PX, f.width() + 8.0);
        let opts = TextOpts::new(PANEL_TITLE_PX, TEXT).anchor(HPos::Left, VPos::Bottom);
        c.text(&title, (f.left, f.top - 4.0), opts)?;
        let labels = self.shade_labels();
        for s in &self.shades {
            let slot = labels.iter().position(|l| *l == s.label).unwrap_or(0) + 1;
            let from = f.x(x, s.lo.max(x.lo)).clamp(f.left, f.right);
            let to = f.x(x, s.hi.min(x.hi)).clamp(f.left, f.right);
            if to > from {
                c.rect((from, f.top), (to, f.bottom), palette_color(slot), SHADE_ALPHA)?;
            }
        }
        draw_grid(c, f, None, Some(y))?;
        if shares.iter().all(|&s| s == 0.0) {
            let opts = TextOpts::new(NOTE_PX, TICK_TEXT).anchor(HPos::Center, VPos::Center);
            let lines = wrap("no finite values", NOTE_PX, f.width() - 8.0);
            let line_height = NOTE_PX * 1.3;
            let first = (f.top + f.bottom) / 2.0 - (lines.len() - 1) as f64 * line_height / 2.0;
            for (i, line) in lines.iter().enumerate() {
                let at = ((f.left + f.right) / 2.0, first + i as f64 * line_height);
                c.text(line, at, opts)?;
            }
        } else {
            // One stepped outline per panel: no seams between bars, and a small file.
            let bin_width = (x.hi - x.lo) / shares.len() as f64;
            let mut outline = vec![(f.left, f.bottom)];
            for (i, &share) in shares.iter().enumerate() {
                let top = f.y(y, share * 100.0).max(f.top);
                outline.push((f.x(x, x.lo + i as f64 * bin_width), top));
                outline.push((f.x(x, x.lo + (i + 1) as f64 * bin_width), top));
            }
            outline.push((f.right, f.bottom));
            c.polygon_alpha(&outline, palette_color(0), 0.8)?;
            c.line(&outline, palette_color(0), 1.0, Dash::Solid)?;
        }
        draw_x_axis(c, f, x, x_labels)?;
        draw_y_axis(c, f, y, y_labels)
    }

    /// Distinct shade labels in order of first appearance; shade `i` is drawn in palette slot
    /// `i + 1` (slot 0 is the bars' blue).
    fn shade_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for s in &self.shades {
            if !labels.contains(&s.label) {
                labels.push(s.label.clone());
            }
        }
        labels
    }

    fn resolved_x_range(&self) -> Result<(f64, f64)> {
        ensure!(!self.panels.is_empty(), "histogram grid {:?} has no panels", self.title);
        if let Some((lo, hi)) = self.x_range {
            ensure!(
                lo.is_finite() && hi.is_finite() && lo < hi,
                "histogram x range {lo}..{hi} must be finite and increasing"
            );
            return Ok((lo, hi));
        }
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for panel in &self.panels {
            match &panel.data {
                PanelData::Counts(_) => {
                    bail!("panel {:?} holds pre-binned counts: set the grid's x_range", panel.title)
                }
                PanelData::Samples(values) => {
                    for &v in values.iter().filter(|v| v.is_finite()) {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                }
            }
        }
        ensure!(lo.is_finite(), "no panel of {:?} holds a finite value", self.title);
        Ok(if lo < hi { (lo, hi) } else { (lo - 0.5, hi + 0.5) })
    }

    /// Each panel's share of values per bin.
    fn shares(&self, lo: f64, hi: f64) -> Result<Vec<Vec<f64>>> {
        ensure!((1..=1000).contains(&self.bins), "bins must be 1..=1000, got {}", self.bins);
        let mut all = Vec::with_capacity(self.panels.len());
        for panel in &self.panels {
            let counts = match &panel.data {
                PanelData::Samples(values) => {
                    ensure!(!values.is_empty(), "panel {:?} has no values", panel.title);
                    let mut counts = vec![0.0; self.bins];
                    let scale = self.bins as f64 / (hi - lo);
                    for &v in values.iter().filter(|v| v.is_finite()) {
                        let bin = ((v - lo) * scale).floor().clamp(0.0, (self.bins - 1) as f64);
                        counts[bin as usize] += 1.0;
                    }
                    counts
                }
                PanelData::Counts(counts) => {
                    ensure!(!counts.is_empty(), "panel {:?} has no bins", panel.title);
                    ensure!(
                        counts.iter().all(|c| c.is_finite() && *c >= 0.0),
                        "panel {:?} has a negative or non-finite count",
                        panel.title
                    );
                    counts.clone()
                }
            };
            let total: f64 = counts.iter().sum();
            all.push(counts.iter().map(|c| if total > 0.0 { c / total } else { 0.0 }).collect());
        }
        Ok(all)
    }
}

const SHADE_ALPHA: f64 = 0.16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::check_svg;

    fn spread(n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 * 0.37).sin() * scale).tanh()).collect()
    }

    #[test]
    fn histogram_grid_is_well_formed_and_accessible() -> Result<()> {
        let mut grid = HistogramGrid::new("Activations per layer")
            .x_label("tanh activation")
            .x_range(-1.0, 1.0)
            .shade(f64::NEG_INFINITY, -0.97, "saturated")
            .shade(0.97, f64::INFINITY, "saturated");
        for layer in 1..=7 {
            grid = grid.panel(format!("layer {layer} · saturated 5%"), spread(300, layer as f64));
        }
        let svg = grid.render("Seven histograms that pile up at ±1 with depth.")?;
        check_svg(&svg)?;
        assert!(svg.contains("<title>Activations per layer</title>"));
        assert!(svg.contains("aria-label=\"Seven histograms that pile up at ±1 with depth.\""));
        assert!(svg.contains("layer 7 · saturated 5%"));
        assert_eq!(svg.matches(">\nsaturated\n<").count(), 1, "one legend entry per shade label");
        assert_eq!(svg, grid.render("Seven histograms that pile up at ±1 with depth.")?);
        Ok(())
    }

    #[test]
    fn shares_clamp_outliers_and_skip_non_finite() -> Result<()> {
        let grid = HistogramGrid::new("t")
            .bins(4)
            .x_range(0.0, 4.0)
            .panel("a", vec![-10.0, 0.5, 1.5, 3.9, 4.0, 99.0, f64::NAN])
            .panel_counts("b", vec![1.0, 0.0, 0.0, 3.0]);
        let shares = grid.shares(0.0, 4.0)?;
        assert_eq!(shares[0], vec![2.0 / 6.0, 1.0 / 6.0, 0.0, 3.0 / 6.0]);
        assert_eq!(shares[1], vec![0.25, 0.0, 0.0, 0.75]);
        check_svg(&grid.render("alt")?)?;
        let nan_panel = HistogramGrid::new("t").x_range(0.0, 1.0).panel("nan", vec![f64::NAN]);
        assert!(nan_panel.render("alt")?.contains("no finite values"));
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(HistogramGrid::new("t").render("alt").is_err());
        assert!(HistogramGrid::new("t").panel("a", vec![]).render("alt").is_err());
        assert!(HistogramGrid::new("t").panel_counts("a", vec![1.0]).render("alt").is_err());
        assert!(HistogramGrid::new("t").panel("a", vec![f64::NAN]).render("alt").is_err());
        let ok = || HistogramGrid::new("t").panel("a", vec![1.0, 2.0]);
        assert!(ok().bins(0).render("alt").is_err());
        assert!(ok().x_range(1.0, 1.0).render("alt").is_err());
        assert!(ok().shade(2.0, 1.0, "backwards").render("alt").is_err());
        assert!(ok().columns(0).render("alt").is_err());
        assert!(ok().size(720, 60).render("alt").is_err());
        assert!(ok().render("").is_err());
        assert!(ok().render("alt").is_ok());
    }
}

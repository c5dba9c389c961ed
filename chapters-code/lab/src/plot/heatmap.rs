//! Heatmaps: a matrix of values as coloured cells, with a colour bar.

use super::axis::{
    Axis, Direction, Frame, Scale, Tick, X_TICK_BAND, draw_x_axis, draw_y_axis, fit_axis, format_number, labels_fit,
};
use super::canvas::{Canvas, TextOpts, render_svg};
use super::chrome::{X_LABEL_BAND, Y_LABEL_BAND, draw_axis_labels, draw_title, title_bottom, title_lines};
use super::style::{
    AXIS, AXIS_LABEL_PX, ColorMap, LINE_HEIGHT, MARGIN, MISSING, NOTE_PX, TEXT, TICK_GAP, TICK_LEN, TICK_PX, TICK_TEXT,
    luminance,
};
use super::{DEFAULT_HEIGHT, DEFAULT_WIDTH};
use anyhow::{Result, ensure};
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// How one axis of the grid is labelled.
#[derive(Debug, Clone, PartialEq)]
enum CellAxis {
    /// Cell centres evenly spaced from `first` to `last` (data units).
    Centers(f64, f64),
    /// One label per cell.
    Categories(Vec<String>),
}

/// A matrix of values drawn as coloured cells with a colour bar — e.g. ‖δ¹‖/‖δᴸ‖ over a grid of
/// (σ_w², σ_b²), or a per-layer statistic over training steps.
///
/// `values[row][column]`: row 0 is drawn at the **bottom** (y grows upwards, as on the other
/// charts), column 0 at the left. Axes are labelled either by cell centres
/// ([`x_centers`](Self::x_centers), default `0 … n−1`) or by one category per cell. Cells with no
/// value — NaN, or ≤ 0 on a log colour scale — are drawn grey and noted under the colour bar.
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use lab::plot::Heatmap;
/// let grid: Vec<Vec<f64>> = (0..8)
///     .map(|r| (0..12).map(|c| 0.5f64.powi(c) * (1.0 + r as f64)).collect())
///     .collect();
/// let svg = Heatmap::new("‖δ¹‖ over the init grid", grid)
///     .x_label("σ_w²")
///     .x_centers(0.5, 6.0)
///     .y_label("σ_b²")
///     .y_centers(0.0, 0.35)
///     .colorbar_label("‖δ¹‖")
///     .log_color()
///     .render("‖δ¹‖ falls by orders of magnitude from left to right.")?;
/// assert!(svg.contains("σ_b²"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    title: String,
    values: Vec<Vec<f64>>,
    x_label: String,
    y_label: String,
    colorbar_label: String,
    x_axis: Option<CellAxis>,
    y_axis: Option<CellAxis>,
    log_color: bool,
    color_range: Option<(f64, f64)>,
    colormap: ColorMap,
    diverging_center: Option<f64>,
    annotate: bool,
    size: (u32, u32),
}

impl Heatmap {
    /// `values[row][column]`, row 0 at the bottom.
    pub fn new(title: impl Into<String>, values: Vec<Vec<f64>>) -> Self {
        Heatmap {
            title: title.into(),
            values,
            x_label: String::new(),
            y_label: String::new(),
            colorbar_label: String::new(),
            x_axis: None,
            y_axis: None,
            log_color: false,
            color_range: None,
            colormap: ColorMap::Viridis,
            diverging_center: None,
            annotate: false,
            size: (DEFAULT_WIDTH, DEFAULT_HEIGHT),
        }
    }

    setters! {
        x_label(label: impl Into<String>) => x_label = label.into();
        y_label(label: impl Into<String>) => y_label = label.into();
        colorbar_label(label: impl Into<String>) => colorbar_label = label.into();

        /// Column centres run evenly from `first` (left) to `last` (right), in data units.
        x_centers(first: f64, last: f64) => x_axis = Some(CellAxis::Centers(first, last));

        /// Row centres run evenly from `first` (bottom) to `last` (top), in data units.
        y_centers(first: f64, last: f64) => y_axis = Some(CellAxis::Centers(first, last));

        /// One label per column (thinned out if they would collide).
        x_categories(labels: Vec<String>) => x_axis = Some(CellAxis::Categories(labels));

        /// One label per row, bottom first.
        y_categories(labels: Vec<String>) => y_axis = Some(CellAxis::Categories(labels));

        /// Colours by log₁₀ of the value; values ≤ 0 count as missing.
        log_color() => log_color = true;

        /// Fixes the colour range (data units); values outside it take the end colours.
        color_range(lo: f64, hi: f64) => color_range = Some((lo, hi));
    }

    /// A blue–white–red scale centred on `center` (white), symmetric around it: for ratios that
    /// can vanish or explode (centre 1 with [`log_color`](Self::log_color)) or signed values.
    pub fn diverging(mut self, center: f64) -> Self {
        self.colormap = ColorMap::BlueRed;
        self.diverging_center = Some(center);
        self
    }

    setters! {
        /// Writes each value in its cell when cells are large enough to hold it.
        annotate() => annotate = true;

        /// Figure size in px (default 720 × 440).
        size(width: u32, height: u32) => size = (width, height);
    }

    /// The colour-space value of `v` (its log₁₀ on a log scale), or `None` if it has no colour.
    fn color_value(&self, v: f64) -> Option<f64> {
        let scale = if self.log_color { Scale::Log10 } else { Scale::Linear };
        scale.to_axis(v)
    }

    /// The colour range in colour space.
    fn resolved_color_range(&self) -> Result<(f64, f64)> {
        let what = if self.log_color { "finite and positive (log colour scale)" } else { "finite" };
        let (mut lo, mut hi) = match self.color_range {
            Some((lo, hi)) => match (self.color_value(lo), self.color_value(hi)) {
                (Some(a), Some(b)) if a < b => (a, b),
                _ => anyhow::bail!("colour range {lo}..{hi} must be increasing and {what}"),
            },
            None => {
                let cells = self.values.iter().flatten().filter_map(|&v| self.color_value(v));
                let (lo, hi) = cells.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
                ensure!(lo.is_finite(), "heatmap {:?} has no value that is {what}", self.title);
                (lo, hi)
            }
        };
        if let Some(center) = self.diverging_center {
            let c =
                self.color_value(center).ok_or_else(|| anyhow::anyhow!("diverging centre {center} must be {what}"))?;
            let half = (hi - c).abs().max((c - lo).abs());
            (lo, hi) = (c - half, c + half);
        }
        if hi - lo <= 0.0 {
            let half = if self.log_color { 0.5 } else { (lo.abs() * 0.1).max(0.5) };
            (lo, hi) = (lo - half, hi + half);
        }
        ensure!((hi - lo).is_finite(), "heatmap values span more than a float can measure");
        Ok((lo, hi))
    }

    fn check(&self) -> Result<(usize, usize)> {
        let rows = self.values.len();
        ensure!(rows > 0, "heatmap {:?} has no rows", self.title);
        let columns = self.values[0].len();
        ensure!(columns > 0, "heatmap {:?} has empty rows", self.title);
        for (i, row) in self.values.iter().enumerate() {
            ensure!(
                row.len() == columns,
                "heatmap {:?}: row {i} has {} values but row 0 has {columns}",
                self.title,
                row.len()
            );
        }
        for (name, axis, n) in [("x", &self.x_axis, columns), ("y", &self.y_axis, rows)] {
            match axis {
                Some(CellAxis::Categories(labels)) => ensure!(
                    labels.len() == n,
                    "heatmap {:?}: {} {name} categories for {n} cells",
                    self.title,
                    labels.len()
                ),
                Some(CellAxis::Centers(first, last)) => ensure!(
                    first.is_finite() && last.is_finite() && (first < last || (n == 1 && first == last)),
                    "heatmap {:?}: {name} centres {first}..{last} must be finite and increasing",
                    self.title
                ),
                None => {}
            }
        }
        Ok((rows, columns))
    }

    pub fn render(&self, alt: &str) -> Result<String> {
        let (rows, columns) = self.check()?;
        let (c_lo, c_hi) = self.resolved_color_range()?;
        let (width, height) = (self.size.0 as f64, self.size.1 as f64);
        let lines = title_lines(&self.title, width);
        let top = title_bottom(lines.len()) + 12.0;
        let mut bottom = height - MARGIN - X_TICK_BAND;
        if !self.x_label.is_empty() {
            bottom -= X_LABEL_BAND;
        }
        let scale = if self.log_color { Scale::Log10 } else { Scale::Linear };
        let any_missing = self.values.iter().flatten().any(|&v| self.color_value(v).is_none());
        let bar_bottom = if any_missing { bottom - 26.0 } else { bottom };
        ensure!(bar_bottom - top >= 40.0, "heatmap figure is too short");
        let bar_axis = fit_axis(scale, c_lo, c_hi, bar_bottom - top, Direction::Vertical, false);
        let mut bar_band = 18.0 + BAR_WIDTH + TICK_LEN + TICK_GAP + bar_axis.widest_label(TICK_PX);
        if any_missing {
            bar_band = bar_band.max(18.0 + BAR_WIDTH + 6.0 + super::style::text_width("no data", NOTE_PX));
        }
        if !self.colorbar_label.is_empty() {
            bar_band += AXIS_LABEL_PX * LINE_HEIGHT + 6.0;
        }
        let right = width - MARGIN - bar_band;
        let y_axis = cell_axis(&self.y_axis, rows, bottom - top, Direction::Vertical);
        let mut left = MARGIN + y_axis.widest_label(TICK_PX) + TICK_LEN + TICK_GAP;
        if !self.y_label.is_empty() {
            left += Y_LABEL_BAND;
        }
        ensure!(right - left >= 40.0, "heatmap figure is too narrow");
        let x_axis = cell_axis(&self.x_axis, columns, right - left, Direction::Horizontal);
        let frame = Frame { left, top, right, bottom };
        let bar = Frame { left: right + 18.0, top, right: right + 18.0 + BAR_WIDTH, bottom: bar_bottom };

        render_svg(self.size.0, self.size.1, &self.title, alt, |c| {
            draw_title(c, &lines)?;
            self.draw_cells(c, &frame, (rows, columns), (c_lo, c_hi))?;
            draw_x_axis(c, &frame, &x_axis, true)?;
            draw_y_axis(c, &frame, &y_axis, true)?;
            let (xs, ys) = ((frame.left, frame.right), (frame.top, frame.bottom));
            draw_axis_labels(c, xs, ys, &self.x_label, &self.y_label, height)?;
            self.draw_color_bar(c, &bar, &bar_axis, any_missing, width)
        })
    }

    fn draw_cells(&self, c: &Canvas, f: &Frame, (rows, columns): (usize, usize), (lo, hi): (f64, f64)) -> Result<()> {
        let (cell_w, cell_h) = (f.width() / columns as f64, f.height() / rows as f64);
        let annotate = self.annotate && cell_w >= 34.0 && cell_h >= NOTE_PX * 1.4;
        for (r, row) in self.values.iter().enumerate() {
            for (col, &v) in row.iter().enumerate() {
                let x0 = f.left + col as f64 * cell_w;
                let y1 = f.bottom - r as f64 * cell_h;
                // Overlap neighbours slightly so no hairline seams show when the SVG is scaled.
                let x1 = if col + 1 < columns { x0 + cell_w + 0.5 } else { f.right };
                let y0 = if r + 1 < rows { y1 - cell_h - 0.5 } else { f.top };
                let color = match self.color_value(v) {
                    Some(cv) => self.colormap.at((cv - lo) / (hi - lo)),
                    None => MISSING,
                };
                c.rect((x0, y0), (x1, y1), color, 1.0)?;
                if annotate {
                    let ink = if luminance(color) > 0.35 { TEXT } else { RGBColor(255, 255, 255) };
                    let opts = TextOpts::new(NOTE_PX, ink).anchor(HPos::Center, VPos::Center);
                    let centre = (x0 + cell_w / 2.0, y1 - cell_h / 2.0);
                    c.text(&format_number(round_significant(v, 2)), centre, opts)?;
                }
            }
        }
        Ok(())
    }

    fn draw_color_bar(&self, c: &Canvas, bar: &Frame, axis: &Axis, missing: bool, width: f64) -> Result<()> {
        const STEPS: usize = 96;
        let step_h = bar.height() / STEPS as f64;
        for i in 0..STEPS {
            let t = (i as f64 + 0.5) / STEPS as f64;
            let y1 = bar.bottom - i as f64 * step_h;
            let y0 = if i + 1 < STEPS { y1 - step_h - 0.5 } else { bar.top };
            c.rect((bar.left, y0), (bar.right, y1), self.colormap.at(t), 1.0)?;
        }
        c.rect_outline((bar.left, bar.top), (bar.right, bar.bottom), AXIS, 0.75)?;
        for &m in &axis.minor {
            let y = bar.y(axis, m);
            c.line(&[(bar.right, y), (bar.right + TICK_LEN / 2.0, y)], AXIS, 0.75, super::canvas::Dash::Solid)?;
        }
        for t in &axis.major {
            let y = bar.y(axis, t.at);
            c.line(&[(bar.right, y), (bar.right + TICK_LEN, y)], AXIS, 1.0, super::canvas::Dash::Solid)?;
            let opts = TextOpts::new(TICK_PX, TICK_TEXT).anchor(HPos::Left, VPos::Center);
            c.text(&t.label, (bar.right + TICK_LEN + TICK_GAP, y), opts)?;
        }
        if missing {
            let (y0, y1) = (bar.bottom + 12.0, bar.bottom + 24.0);
            c.rect((bar.left, y0), (bar.right, y1), MISSING, 1.0)?;
            let opts = TextOpts::new(NOTE_PX, TICK_TEXT).anchor(HPos::Left, VPos::Center);
            c.text("no data", (bar.right + 6.0, (y0 + y1) / 2.0), opts)?;
        }
        let opts = TextOpts::new(AXIS_LABEL_PX, TEXT).anchor(HPos::Center, VPos::Bottom).vertical();
        c.text(&self.colorbar_label, (width - MARGIN, (bar.top + bar.bottom) / 2.0), opts)
    }
}

/// Width of the colour bar in px.
const BAR_WIDTH: f64 = 14.0;

/// The axis along `n` cells: numeric ticks over the cell centres' range (half a cell of margin
/// either side), or category labels on every k-th cell so they do not collide.
fn cell_axis(spec: &Option<CellAxis>, n: usize, length_px: f64, direction: Direction) -> Axis {
    let (first, last) = match spec {
        Some(CellAxis::Categories(labels)) => {
            let (lo, hi) = (-0.5, n as f64 - 0.5);
            let mut axis = Axis { lo, hi, major: Vec::new(), minor: Vec::new() };
            for every in 1..=n {
                axis.major = labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % every == 0)
                    .map(|(i, label)| Tick { at: i as f64, label: label.clone() })
                    .collect();
                if labels_fit(&axis, length_px, direction) {
                    break;
                }
            }
            return axis;
        }
        Some(CellAxis::Centers(first, last)) => (*first, *last),
        None => (0.0, n as f64 - 1.0),
    };
    let half_cell = if n > 1 { (last - first) / (n - 1) as f64 / 2.0 } else { 0.5 };
    let integer = spec.is_none();
    fit_axis(Scale::Linear, first - half_cell, last + half_cell, length_px, direction, integer)
}

fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let magnitude = 10f64.powi(v.abs().log10().floor() as i32 - digits + 1);
    (v / magnitude).round() * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::check_svg;

    fn grid(rows: usize, columns: usize) -> Vec<Vec<f64>> {
        (0..rows).map(|r| (0..columns).map(|c| 10f64.powi(-(c as i32)) * (r + 1) as f64).collect()).collect()
    }

    #[test]
    fn heatmap_is_well_formed_and_accessible() -> Result<()> {
        let map = Heatmap::new("Gradient ratio", grid(6, 9))
            .x_label("σ_w²")
            .x_centers(0.5, 4.5)
            .y_label("σ_b²")
            .y_categories((0..6).map(|i| format!("{}", i as f64 * 0.05)).collect())
            .colorbar_label("ratio")
            .log_color()
            .annotate();
        let svg = map.render("A heatmap whose values fall to the right.")?;
        check_svg(&svg)?;
        assert!(svg.contains("<title>Gradient ratio</title>"));
        assert!(svg.contains("aria-label=\"A heatmap whose values fall to the right.\""));
        assert_eq!(svg, map.render("A heatmap whose values fall to the right.")?);
        Ok(())
    }

    #[test]
    fn missing_cells_are_grey_and_noted() -> Result<()> {
        let values = vec![vec![1.0, 0.0, f64::NAN], vec![-1.0, 10.0, 100.0]];
        let svg = Heatmap::new("t", values.clone()).log_color().render("alt")?;
        check_svg(&svg)?;
        assert!(svg.contains("no data") && svg.contains("#D4D4D4"));
        let svg = Heatmap::new("t", values).diverging(0.0).render("alt")?;
        check_svg(&svg)?;
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(Heatmap::new("t", vec![]).render("alt").is_err());
        assert!(Heatmap::new("t", vec![vec![]]).render("alt").is_err());
        assert!(Heatmap::new("t", vec![vec![1.0, 2.0], vec![3.0]]).render("alt").is_err());
        assert!(Heatmap::new("t", vec![vec![f64::NAN]]).render("alt").is_err());
        assert!(Heatmap::new("t", vec![vec![-1.0]]).log_color().render("alt").is_err());
        let ok = || Heatmap::new("t", grid(2, 3));
        assert!(ok().x_categories(vec!["a".into()]).render("alt").is_err());
        assert!(ok().x_centers(1.0, 0.0).render("alt").is_err());
        assert!(ok().color_range(1.0, 1.0).render("alt").is_err());
        assert!(ok().log_color().diverging(0.0).render("alt").is_err());
        assert!(ok().size(130, 90).render("alt").is_err());
        assert!(ok().render("alt").is_ok());
        assert!(Heatmap::new("t", vec![vec![3.0]]).render("alt").is_ok(), "a constant map still renders");
    }

    #[test]
    fn significant_rounding() {
        assert_eq!(round_significant(0.012345, 2), 0.012);
        assert_eq!(round_significant(-987.0, 2), -990.0);
    }
}

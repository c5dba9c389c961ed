//! Line charts (linear or log axes, reference lines, legends that avoid the data) and per-layer
//! profiles built on them.

use super::axis::{
    Axis, Direction, Frame, Scale, X_TICK_BAND, draw_grid, draw_x_axis, draw_y_axis, fit_axis, pad_range,
};
use super::canvas::{Canvas, Dash, Px, TextOpts, render_svg};
use super::chrome::{
    LegendEntry, MARKER_RADIUS, Swatch, X_LABEL_BAND, Y_LABEL_BAND, dash_for, draw_axis_labels, draw_legend,
    draw_marker, draw_title, legend_size, title_bottom, title_lines,
};
use super::style::{
    LineKind, MARGIN, Marker, NOTE_PX, PALETTE, REFERENCE, TICK_GAP, TICK_LEN, TICK_PX, WHITE, palette_color,
    text_width,
};
use super::{DEFAULT_HEIGHT, DEFAULT_WIDTH};
use anyhow::{Context, Result, bail, ensure};
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// How one series is drawn. The default is a solid 2 px line in the next palette colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStyle {
    pub line: LineKind,
    pub marker: Option<Marker>,
    /// Palette slot ([`PALETTE`](super::PALETTE) index); `None` takes the next unused slot, so a
    /// theory curve can share its measurement's colour by naming the slot.
    pub color: Option<usize>,
    /// Line width in px.
    pub width: f64,
}

impl Default for SeriesStyle {
    fn default() -> Self {
        SeriesStyle { line: LineKind::Solid, marker: None, color: None, width: 2.0 }
    }
}

impl SeriesStyle {
    pub fn solid() -> Self {
        SeriesStyle::default()
    }
    /// A dashed line, the book's convention for theory curves.
    pub fn dashed() -> Self {
        SeriesStyle { line: LineKind::Dashed, ..SeriesStyle::default() }
    }
    pub fn dotted() -> Self {
        SeriesStyle { line: LineKind::Dotted, ..SeriesStyle::default() }
    }
    /// Markers without a line.
    pub fn points() -> Self {
        SeriesStyle { line: LineKind::None, marker: Some(Marker::Circle), ..SeriesStyle::default() }
    }
    pub fn marker(self, marker: Marker) -> Self {
        SeriesStyle { marker: Some(marker), ..self }
    }
    /// Use palette slot `slot` (0 = blue, 1 = vermillion, …).
    pub fn color(self, slot: usize) -> Self {
        SeriesStyle { color: Some(slot), ..self }
    }
    pub fn width(self, px: f64) -> Self {
        SeriesStyle { width: px, ..self }
    }
}

/// Where the legend goes. `Auto` (the default) shows it when there are two or more series, in
/// the first corner of the plot (top right, top left, bottom right, bottom left) where it covers
/// no data, and outside to the right of the plot when every corner is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Legend {
    #[default]
    Auto,
    TopRight,
    TopLeft,
    BottomRight,
    BottomLeft,
    /// To the right of the plot area.
    Outside,
    Hidden,
}

#[derive(Debug, Clone, PartialEq)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    style: SeriesStyle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orientation {
    Horizontal,
    Vertical,
}

#[derive(Debug, Clone, PartialEq)]
struct Reference {
    orientation: Orientation,
    value: f64,
    label: String,
}

/// A line chart: one or more series of (x, y) points on linear or base-10 log axes.
///
/// Points a scale cannot show — non-finite values, and values ≤ 0 on a log axis — are skipped and
/// the line is broken there (never joined across the gap), so an underflowed gradient shows up as
/// a missing stretch rather than an error. A series with no point left keeps its legend entry,
/// marked "(none shown)". Lines are clipped to the plot frame when an explicit range cuts them.
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use lab::plot::{LineChart, SeriesStyle};
/// let measured: Vec<(f64, f64)> = (1..=20).map(|l| (l as f64, 0.25f64.powi(l))).collect();
/// let theory: Vec<(f64, f64)> = (1..=20).map(|l| (l as f64, 0.3f64.powi(l))).collect();
/// let svg = LineChart::new("‖δˡ‖ shrinks geometrically")
///     .x_label("layer ℓ")
///     .y_label("‖δˡ‖")
///     .log_y()
///     .series("measured", measured)
///     .series_with("0.3ˡ", theory, SeriesStyle::dashed().color(0))
///     .render("The measured gradient norm falls by about 4× per layer, close to 0.3ˡ.")?;
/// assert!(svg.starts_with("<svg"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    series: Vec<Series>,
    references: Vec<Reference>,
    legend: Legend,
    size: (u32, u32),
    integer_x: bool,
    auto_markers: bool,
}

impl LineChart {
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            x_range: None,
            y_range: None,
            series: Vec::new(),
            references: Vec::new(),
            legend: Legend::Auto,
            size: (DEFAULT_WIDTH, DEFAULT_HEIGHT),
            integer_x: false,
            auto_markers: false,
        }
    }

    setters! {
        x_label(label: impl Into<String>) => x_label = label.into();
        y_label(label: impl Into<String>) => y_label = label.into();

        /// Base-10 log x axis.
        log_x() => x_scale = Scale::Log10;

        /// Base-10 log y axis.
        log_y() => y_scale = Scale::Log10;

        /// Fixes the x range (data units) instead of fitting it to the data.
        x_range(lo: f64, hi: f64) => x_range = Some((lo, hi));

        /// Fixes the y range (data units) instead of fitting it to the data.
        y_range(lo: f64, hi: f64) => y_range = Some((lo, hi));
    }

    /// Adds a series in the default style (solid line, next palette colour).
    pub fn series(self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series_with(name, points, SeriesStyle::default())
    }

    pub fn series_with(mut self, name: impl Into<String>, points: Vec<(f64, f64)>, style: SeriesStyle) -> Self {
        self.series.push(Series { name: name.into(), points, style });
        self
    }

    /// A labelled horizontal reference line at `y` (e.g. "‖δ‖ = 1").
    pub fn hline(mut self, y: f64, label: impl Into<String>) -> Self {
        let label = label.into();
        self.references.push(Reference { orientation: Orientation::Horizontal, value: y, label });
        self
    }

    /// A labelled vertical reference line at `x`.
    pub fn vline(mut self, x: f64, label: impl Into<String>) -> Self {
        let label = label.into();
        self.references.push(Reference { orientation: Orientation::Vertical, value: x, label });
        self
    }

    setters! {
        legend(legend: Legend) => legend = legend;

        /// Figure size in px (default 720 × 440).
        size(width: u32, height: u32) => size = (width, height);

        /// Ticks on the x axis only at whole numbers (layer indices, epochs).
        integer_x() => integer_x = true;

        /// Gives every series without a marker one, a different shape per series.
        markers() => auto_markers = true;
    }

    /// Renders the chart to an SVG document; `alt` describes it for readers who cannot see it.
    pub fn render(&self, alt: &str) -> Result<String> {
        let prepared = self.prepare()?;
        let (width, height) = self.size;
        render_svg(width, height, &self.title, alt, |canvas| self.draw(canvas, &prepared))
    }

    /// Checks the data and converts it to axis space.
    fn prepare(&self) -> Result<Prepared> {
        ensure!(!self.series.is_empty(), "line chart {:?} has no series", self.title);
        let mut next_color = 0;
        let mut series = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            ensure!(!s.points.is_empty(), "series {:?} of chart {:?} has no points", s.name, self.title);
            ensure!(
                s.style.width.is_finite() && s.style.width > 0.0 && s.style.width <= 20.0,
                "series {:?} has line width {}: it must be in (0, 20] px",
                s.name,
                s.style.width
            );
            let mut line = s.style.line;
            let color = match s.style.color {
                Some(slot) => palette_color(slot),
                None => {
                    next_color += 1;
                    // Past the palette's end colours repeat: dash the repeats to tell them apart.
                    if next_color > PALETTE.len() && line == LineKind::Solid {
                        line = LineKind::Dashed;
                    }
                    palette_color(next_color - 1)
                }
            };
            let wants_marker = self.auto_markers || s.style.line == LineKind::None;
            let marker = s.style.marker.or(wants_marker.then_some(Marker::ALL[i % 4]));
            let runs = split_runs(&s.points, self.x_scale, self.y_scale);
            let legend_name = if runs.is_empty() { format!("{} (none shown)", s.name) } else { s.name.clone() };
            series.push(PreparedSeries { legend_name, runs, color, marker, line, width: s.style.width });
        }
        if series.iter().all(|s| s.runs.is_empty()) {
            let why = if self.x_scale == Scale::Log10 || self.y_scale == Scale::Log10 {
                "non-finite or ≤ 0 on a log axis"
            } else {
                "non-finite"
            };
            bail!("nothing to plot in {:?}: every point of every series is {why}", self.title);
        }
        let mut references = Vec::new();
        for r in &self.references {
            let scale = match r.orientation {
                Orientation::Horizontal => self.y_scale,
                Orientation::Vertical => self.x_scale,
            };
            let at = scale
                .to_axis(r.value)
                .with_context(|| format!("reference line {:?} at {} cannot be shown on its axis", r.label, r.value))?;
            references.push((r.orientation, at, r.label.clone()));
        }
        let points = || series.iter().flat_map(|s| s.runs.iter().flatten());
        let refs_at = |o: Orientation| references.iter().filter(move |r| r.0 == o).map(|r| r.1);
        let x_range =
            axis_range("x", self.x_scale, self.x_range, points().map(|p| p.0).chain(refs_at(Orientation::Vertical)))?;
        let y_range =
            axis_range("y", self.y_scale, self.y_range, points().map(|p| p.1).chain(refs_at(Orientation::Horizontal)))?;
        Ok(Prepared { series, references, x_range, y_range })
    }

    fn layout(&self, p: &Prepared, legend_outside_width: Option<f64>) -> Layout {
        let (width, height) = (self.size.0 as f64, self.size.1 as f64);
        let title_lines = title_lines(&self.title, width);
        let top = title_bottom(title_lines.len()) + 12.0;
        let mut bottom = height - MARGIN - X_TICK_BAND;
        if !self.x_label.is_empty() {
            bottom -= X_LABEL_BAND;
        }
        let (ylo, yhi) = p.y_range;
        let y = fit_axis(self.y_scale, ylo, yhi, bottom - top, Direction::Vertical, false);
        let mut left = MARGIN + y.widest_label(TICK_PX) + TICK_LEN + TICK_GAP;
        if !self.y_label.is_empty() {
            left += Y_LABEL_BAND;
        }
        let mut right = width - MARGIN - legend_outside_width.map_or(0.0, |w| w + 14.0);
        let (xlo, xhi) = p.x_range;
        let fit_x = |right: f64| fit_axis(self.x_scale, xlo, xhi, right - left, Direction::Horizontal, self.integer_x);
        let mut x = fit_x(right);
        // The last tick label is centred on its tick: keep it inside the figure.
        for _ in 0..3 {
            let frame = Frame { left, top, right, bottom };
            let overhang = x
                .major
                .last()
                .map_or(0.0, |t| frame.x(&x, t.at) + text_width(&t.label, TICK_PX) / 2.0 - (width - MARGIN / 2.0));
            if overhang <= 0.0 {
                break;
            }
            right -= overhang;
            x = fit_x(right);
        }
        Layout { frame: Frame { left, top, right, bottom }, x, y, title_lines }
    }

    /// The legend's place: inside the frame in the first corner free of data (or the corner
    /// asked for), else to the right of the frame (`outside`, origin decided once the frame
    /// has shrunk to make room).
    fn place_legend(&self, p: &Prepared, entries: &[LegendEntry], inside: &Layout) -> Option<LegendPlacement> {
        let show = match self.legend {
            Legend::Hidden => false,
            Legend::Auto => p.series.len() >= 2,
            _ => true,
        };
        if !show {
            return None;
        }
        let width = self.size.0 as f64;
        let (inside_text, outside_text) = (width * 0.45, width * 0.28);
        let size = legend_size(entries, inside_text);
        let corners = match self.legend {
            Legend::Auto => vec![Legend::TopRight, Legend::TopLeft, Legend::BottomRight, Legend::BottomLeft],
            Legend::Outside => Vec::new(),
            fixed => vec![fixed],
        };
        let obstacles = obstacles(p, inside);
        let free_corner = corners.iter().find_map(|&corner| {
            let origin = corner_origin(corner, &inside.frame, size);
            let covered = obstacles.iter().any(|&o| in_box(o, origin, size, 4.0));
            (!covered || self.legend != Legend::Auto).then_some(origin)
        });
        Some(match free_corner {
            Some(origin) => LegendPlacement { origin, size, max_text: inside_text, outside: false },
            None => LegendPlacement {
                origin: (0.0, 0.0),
                size: legend_size(entries, outside_text),
                max_text: outside_text,
                outside: true,
            },
        })
    }

    fn draw(&self, c: &Canvas, p: &Prepared) -> Result<()> {
        let entries = legend_entries(p);

        let inside = self.layout(p, None);
        let legend = self.place_legend(p, &entries, &inside);
        let layout = match &legend {
            Some(l) if l.outside => self.layout(p, Some(l.size.0)),
            _ => inside,
        };
        let f = &layout.frame;
        ensure!(
            f.width() >= 40.0 && f.height() >= 30.0,
            "figure {}×{} px leaves no room for the plot of {:?} after its labels",
            self.size.0,
            self.size.1,
            self.title
        );

        draw_grid(c, f, Some(&layout.x), Some(&layout.y))?;
        for (orientation, at, _) in &p.references {
            let line = reference_line(*orientation, *at, &layout);
            c.line(&line, REFERENCE, 1.0, Dash::Pattern(5.0, 4.0))?;
        }
        for s in &p.series {
            for run in &s.runs {
                let px: Vec<Px> = run.iter().map(|&(x, y)| layout.to_px(x, y)).collect();
                if let Some(dash) = dash_for(s.line, s.width) {
                    for piece in clip_polyline(&px, f) {
                        c.line(&piece, s.color, s.width, dash)?;
                    }
                }
                let inside_points = px.iter().filter(|&&q| in_frame(q, f));
                match s.marker {
                    Some(marker) => {
                        for &point in inside_points {
                            draw_marker(c, marker, point, s.color)?;
                        }
                    }
                    // A lone point between gaps would be invisible as a line.
                    None if px.len() == 1 => {
                        for &point in inside_points {
                            c.circle(point, s.width.max(MARKER_RADIUS * 0.7), s.color)?;
                        }
                    }
                    None => {}
                }
            }
        }
        draw_x_axis(c, f, &layout.x, true)?;
        draw_y_axis(c, f, &layout.y, true)?;
        let height = self.size.1 as f64;
        let (xs, ys) = ((f.left, f.right), (f.top, f.bottom));
        draw_axis_labels(c, xs, ys, &self.x_label, &self.y_label, height)?;
        draw_title(c, &layout.title_lines)?;
        for label in reference_labels(p, &layout) {
            let corner = (label.origin.0 + label.size.0, label.origin.1 + label.size.1);
            c.rect(label.origin, corner, WHITE, 0.85)?;
            let opts = TextOpts::new(NOTE_PX, REFERENCE).anchor(HPos::Left, VPos::Top);
            c.text(&label.text, (label.origin.0 + 2.0, label.origin.1 + 2.0), opts)?;
        }
        if let Some(l) = legend {
            let origin = if l.outside { (f.right + 14.0, f.top) } else { l.origin };
            draw_legend(c, &entries, origin, l.size, l.max_text)?;
        }
        Ok(())
    }
}

/// A per-layer profile: one value per layer (x = layer 1 … L), several series (depths,
/// activations, inits), log y by default, integer layer ticks, and markers while layers are few
/// enough to tell apart (≤ 40).
///
/// ```
/// # fn main() -> anyhow::Result<()> {
/// use lab::plot::LayerProfile;
/// let sigmoid: Vec<f64> = (1..=10).map(|l| 0.25f64.powi(10 - l)).collect();
/// let relu: Vec<f64> = vec![0.8; 10];
/// let svg = LayerProfile::new("‖δˡ‖ per layer")
///     .y_label("‖δˡ‖")
///     .series("sigmoid", sigmoid)
///     .series("ReLU + He", relu)
///     .render("With sigmoid, ‖δˡ‖ falls 4× per layer towards the input; with ReLU it stays flat.")?;
/// assert!(svg.contains("role=\"img\""));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LayerProfile {
    chart: LineChart,
    log_y: bool,
    layers: usize,
}

impl LayerProfile {
    pub fn new(title: impl Into<String>) -> Self {
        LayerProfile { chart: LineChart::new(title).x_label("layer ℓ"), log_y: true, layers: 0 }
    }

    /// Defaults to "layer ℓ".
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.chart = self.chart.x_label(label);
        self
    }

    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.chart = self.chart.y_label(label);
        self
    }

    /// `values[i]` belongs to layer `i + 1`.
    pub fn series(self, name: impl Into<String>, values: Vec<f64>) -> Self {
        self.series_with(name, values, SeriesStyle::default())
    }

    pub fn series_with(mut self, name: impl Into<String>, values: Vec<f64>, style: SeriesStyle) -> Self {
        self.layers = self.layers.max(values.len());
        let points = values.into_iter().enumerate().map(|(i, v)| ((i + 1) as f64, v)).collect();
        self.chart = self.chart.series_with(name, points, style);
        self
    }

    /// A linear y axis instead of the default log axis.
    pub fn linear_y(mut self) -> Self {
        self.log_y = false;
        self
    }

    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.chart = self.chart.y_range(lo, hi);
        self
    }

    pub fn hline(mut self, y: f64, label: impl Into<String>) -> Self {
        self.chart = self.chart.hline(y, label);
        self
    }

    pub fn legend(mut self, legend: Legend) -> Self {
        self.chart = self.chart.legend(legend);
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.chart = self.chart.size(width, height);
        self
    }

    pub fn render(&self, alt: &str) -> Result<String> {
        let mut chart = self.chart.clone().integer_x();
        if self.layers > 0 {
            chart = chart.x_range(0.5, self.layers as f64 + 0.5);
        }
        if self.log_y {
            chart = chart.log_y();
        }
        if self.layers <= 40 {
            chart = chart.markers();
        }
        chart.render(alt)
    }
}

#[derive(Debug)]
struct PreparedSeries {
    legend_name: String,
    /// Stretches of consecutive drawable points, in axis space.
    runs: Vec<Vec<(f64, f64)>>,
    color: RGBColor,
    marker: Option<Marker>,
    line: LineKind,
    width: f64,
}

#[derive(Debug)]
struct Prepared {
    series: Vec<PreparedSeries>,
    /// (orientation, axis-space position, label).
    references: Vec<(Orientation, f64, String)>,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

struct Layout {
    frame: Frame,
    x: Axis,
    y: Axis,
    title_lines: Vec<String>,
}

impl Layout {
    fn to_px(&self, x: f64, y: f64) -> Px {
        (self.frame.x(&self.x, x), self.frame.y(&self.y, y))
    }
}

struct LegendPlacement {
    origin: Px,
    size: (f64, f64),
    max_text: f64,
    outside: bool,
}

fn legend_entries(p: &Prepared) -> Vec<LegendEntry> {
    p.series
        .iter()
        .map(|s| LegendEntry {
            name: s.legend_name.clone(),
            color: s.color,
            swatch: Swatch::Line { line: s.line, width: s.width, marker: s.marker },
        })
        .collect()
}

/// Splits points into runs of drawable points (axis space), breaking wherever one is not.
fn split_runs(points: &[(f64, f64)], x_scale: Scale, y_scale: Scale) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        match (x_scale.to_axis(x), y_scale.to_axis(y)) {
            (Some(ax), Some(ay)) => current.push((ax, ay)),
            _ if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The axis-space range: the explicit one (checked), or the data's, padded.
fn axis_range(
    name: &str,
    scale: Scale,
    explicit: Option<(f64, f64)>,
    values: impl Iterator<Item = f64>,
) -> Result<(f64, f64)> {
    if let Some((lo, hi)) = explicit {
        let log_note = if scale == Scale::Log10 { ", and positive on a log axis" } else { "" };
        return match (scale.to_axis(lo), scale.to_axis(hi)) {
            (Some(a), Some(b)) if a < b => Ok((a, b)),
            _ => {
                bail!("{name} range {lo}..{hi} is invalid: it must be finite, increasing{log_note}")
            }
        };
    }
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    ensure!(lo.is_finite() && hi.is_finite(), "no {name} values to fit the axis to");
    let (lo, hi) = pad_range(lo, hi, 0.04, scale);
    ensure!((hi - lo).is_finite(), "{name} values span more than a float can measure");
    Ok((lo, hi))
}

fn reference_line(orientation: Orientation, at: f64, layout: &Layout) -> [Px; 2] {
    let f = &layout.frame;
    match orientation {
        Orientation::Horizontal => {
            let y = f.y(&layout.y, at);
            [(f.left, y), (f.right, y)]
        }
        Orientation::Vertical => {
            let x = f.x(&layout.x, at);
            [(x, f.top), (x, f.bottom)]
        }
    }
}

struct PlacedLabel {
    text: String,
    origin: Px,
    size: (f64, f64),
}

/// Where each reference line's label goes: above a horizontal line at the right end (below it
/// near the top), beside a vertical line at the top (left of it near the right edge).
fn reference_labels(p: &Prepared, layout: &Layout) -> Vec<PlacedLabel> {
    let f = &layout.frame;
    let mut placed = Vec::new();
    for (orientation, at, text) in &p.references {
        if text.is_empty() {
            continue;
        }
        let size = (text_width(text, NOTE_PX) + 4.0, NOTE_PX * 1.2 + 2.0);
        let origin = match orientation {
            Orientation::Horizontal => {
                let y = f.y(&layout.y, *at);
                let x = f.right - 4.0 - size.0;
                if y - 2.0 - size.1 < f.top { (x, y + 2.0) } else { (x, y - 2.0 - size.1) }
            }
            Orientation::Vertical => {
                let x = f.x(&layout.x, *at);
                if x + 3.0 + size.0 > f.right { (x - 3.0 - size.0, f.top + 3.0) } else { (x + 3.0, f.top + 3.0) }
            }
        };
        placed.push(PlacedLabel { text: text.clone(), origin, size });
    }
    placed
}

/// Points (px) the legend must not cover: samples along every drawn line, markers, reference lines
/// and their labels.
fn obstacles(p: &Prepared, layout: &Layout) -> Vec<Px> {
    let f = &layout.frame;
    let mut points = Vec::new();
    let mut sample_path = |path: &[Px]| {
        for pair in path.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let steps = (len / 3.0).ceil().clamp(1.0, 2000.0) as usize;
            for i in 0..=steps {
                let t = i as f64 / steps as f64;
                points.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
            }
        }
        if let [only] = path {
            points.push(*only);
        }
    };
    for s in &p.series {
        for run in &s.runs {
            let px: Vec<Px> = run.iter().map(|&(x, y)| layout.to_px(x, y)).collect();
            for piece in clip_polyline(&px, f) {
                sample_path(&piece);
            }
            if s.line == LineKind::None || px.len() == 1 {
                for &q in px.iter().filter(|&&q| in_frame(q, f)) {
                    sample_path(&[q]);
                }
            }
        }
    }
    for (orientation, at, _) in &p.references {
        sample_path(&reference_line(*orientation, *at, layout));
    }
    for label in reference_labels(p, layout) {
        let (x, y) = label.origin;
        let (w, h) = label.size;
        sample_path(&[(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]);
    }
    points
}

fn corner_origin(corner: Legend, f: &Frame, (w, h): (f64, f64)) -> Px {
    let inset = 8.0;
    let (left, right) = (f.left + inset, f.right - inset - w);
    let (top, bottom) = (f.top + inset, f.bottom - inset - h);
    match corner {
        Legend::TopLeft => (left, top),
        Legend::BottomRight => (right, bottom),
        Legend::BottomLeft => (left, bottom),
        _ => (right, top),
    }
}

fn in_box(q: Px, origin: Px, (w, h): (f64, f64), margin: f64) -> bool {
    q.0 >= origin.0 - margin && q.0 <= origin.0 + w + margin && q.1 >= origin.1 - margin && q.1 <= origin.1 + h + margin
}

fn in_frame(q: Px, f: &Frame) -> bool {
    in_box(q, (f.left, f.top), (f.width(), f.height()), 0.5)
}

/// The parts of a polyline inside the frame (Liang–Barsky on each segment), as separate pieces.
fn clip_polyline(points: &[Px], f: &Frame) -> Vec<Vec<Px>> {
    let (x0, x1, y0, y1) = (f.left - 0.5, f.right + 0.5, f.top - 0.5, f.bottom + 0.5);
    let mut pieces: Vec<Vec<Px>> = Vec::new();
    let mut current: Vec<Px> = Vec::new();
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let visible = [(-dx, a.0 - x0), (dx, x1 - a.0), (-dy, a.1 - y0), (dy, y1 - a.1)].iter().all(|&(p, q)| {
            if p == 0.0 {
                return q >= 0.0;
            }
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
            t0 <= t1
        });
        if !visible {
            if current.len() >= 2 {
                pieces.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let start = (a.0 + t0 * dx, a.1 + t0 * dy);
        let end = (a.0 + t1 * dx, a.1 + t1 * dy);
        if current.last() != Some(&start) {
            if current.len() >= 2 {
                pieces.push(std::mem::take(&mut current));
            }
            current = vec![start];
        }
        current.push(end);
    }
    if current.len() >= 2 {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::check_svg;

    fn decay(depth: usize, rate: f64) -> Vec<(f64, f64)> {
        (1..=depth).map(|l| (l as f64, rate.powi(l as i32))).collect()
    }

    #[test]
    fn line_chart_is_well_formed_and_accessible() -> Result<()> {
        let svg = LineChart::new("Gradient norm per layer")
            .x_label("layer")
            .y_label("‖δ‖")
            .log_y()
            .series("sigmoid", decay(20, 0.25))
            .series_with("theory", decay(20, 0.3), SeriesStyle::dashed().color(0))
            .hline(1e-3, "float32 noise")
            .vline(10.0, "middle")
            .render("Two decaying curves on a log axis.")?;
        check_svg(&svg)?;
        assert!(svg.contains("<title>Gradient norm per layer</title>"));
        assert!(svg.contains("aria-label=\"Two decaying curves on a log axis.\""));
        assert!(svg.contains("10⁻¹⁰"), "decade tick labels");
        Ok(())
    }

    #[test]
    fn log_axes_skip_unshowable_points_without_panicking() -> Result<()> {
        let points =
            vec![(1.0, 1e-30), (2.0, 0.0), (3.0, -1.0), (4.0, f64::NAN), (5.0, f64::INFINITY), (6.0, 1e3), (-1.0, 5.0)];
        let svg = LineChart::new("wide").log_x().log_y().series("s", points.clone()).render("alt")?;
        check_svg(&svg)?;
        let runs = split_runs(&points, Scale::Log10, Scale::Log10);
        assert_eq!(runs, vec![vec![(0.0, -30.0)], vec![(6f64.log10(), 3.0)]]);
        // A series with nothing to show keeps its legend entry; a chart with nothing fails clearly.
        let svg = LineChart::new("partly empty")
            .log_y()
            .series("ok", decay(5, 0.5))
            .series("zeros", vec![(1.0, 0.0), (2.0, 0.0)])
            .render("alt")?;
        assert!(svg.contains("zeros (none shown)"));
        let err = LineChart::new("empty").log_y().series("zeros", vec![(1.0, 0.0)]).render("alt");
        assert!(err.unwrap_err().to_string().contains("nothing to plot"));
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(LineChart::new("t").render("alt").is_err());
        assert!(LineChart::new("t").series("s", vec![]).render("alt").is_err());
        let ok = || LineChart::new("t").series("s", decay(3, 0.5));
        assert!(ok().render("").is_err());
        assert!(ok().log_y().y_range(0.0, 1.0).render("alt").is_err());
        assert!(ok().x_range(2.0, 1.0).render("alt").is_err());
        assert!(ok().log_y().hline(-1.0, "neg").render("alt").is_err());
        assert!(ok().size(5, 5).render("alt").is_err());
        assert!(ok().size(130, 90).y_label("y").x_label("x").render("alt").is_err());
        assert!(ok().series("huge", vec![(0.0, f64::MAX), (1.0, -f64::MAX)]).render("alt").is_err());
        assert!(LayerProfile::new("t").render("alt").is_err());
    }

    #[test]
    fn renders_are_deterministic() -> Result<()> {
        let chart = || LayerProfile::new("profile").series("a", vec![1.0, 0.1, 0.01]).series("b", vec![1.0, 0.5, 0.25]);
        assert_eq!(chart().render("alt")?, chart().render("alt")?);
        Ok(())
    }

    #[test]
    fn explicit_ranges_clip_lines_to_the_frame() -> Result<()> {
        let f = Frame { left: 0.0, top: 0.0, right: 10.0, bottom: 10.0 };
        let pieces = clip_polyline(&[(-5.0, 5.0), (5.0, 5.0), (5.0, 20.0), (8.0, 20.0), (8.0, 5.0)], &f);
        assert_eq!(pieces, vec![vec![(-0.5, 5.0), (5.0, 5.0), (5.0, 10.5)], vec![(8.0, 10.5), (8.0, 5.0)]]);
        let svg = LineChart::new("clipped").y_range(0.0, 1.0).series("s", decay(5, 3.0)).render("alt")?;
        check_svg(&svg)
    }

    #[test]
    fn legend_avoids_data_and_falls_back_outside() -> Result<()> {
        // Rising lines leave the top-left corner free.
        let rising = |k: f64| (0..=10).map(|i| (i as f64, k * i as f64)).collect::<Vec<_>>();
        let chart = LineChart::new("t").series("a", rising(1.0)).series("b", rising(0.5));
        let p = chart.prepare()?;
        let layout = chart.layout(&p, None);
        let obstacles = obstacles(&p, &layout);
        let size = (80.0, 40.0);
        let top_right = corner_origin(Legend::TopRight, &layout.frame, size);
        let top_left = corner_origin(Legend::TopLeft, &layout.frame, size);
        assert!(obstacles.iter().any(|&o| in_box(o, top_right, size, 4.0)));
        assert!(!obstacles.iter().any(|&o| in_box(o, top_left, size, 4.0)));
        let placed = chart.place_legend(&p, &legend_entries(&p), &layout).expect("two series");
        assert!(!placed.outside);
        assert_eq!(placed.origin, top_left);

        // Lines through every corner: the legend moves outside and the frame shrinks for it.
        let crossing = LineChart::new("t")
            .series("up", rising(1.0))
            .series("down", (0..=10).map(|i| (i as f64, 10.0 - i as f64)).collect());
        let p = crossing.prepare()?;
        let layout = crossing.layout(&p, None);
        let placed = crossing.place_legend(&p, &legend_entries(&p), &layout).expect("shown");
        assert!(placed.outside);
        assert!(crossing.layout(&p, Some(placed.size.0)).frame.right < layout.frame.right);
        let single = LineChart::new("t").series("only", rising(1.0));
        let p = single.prepare()?;
        assert!(single.place_legend(&p, &[], &single.layout(&p, None)).is_none());
        Ok(())
    }
}

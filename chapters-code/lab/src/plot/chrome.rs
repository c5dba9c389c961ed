//! What every chart type shares around its data: the title block, axis labels, markers and legends.

use super::canvas::{Canvas, Dash, Px, TextOpts};
use super::style::{
    AXIS_LABEL_PX, LEGEND_BORDER, LEGEND_PX, LINE_HEIGHT, LineKind, MARGIN, Marker, TEXT, TITLE_PX, WHITE, text_width,
    truncate, wrap,
};
use anyhow::Result;
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// Bold text is about 8% wider than the regular widths `text_width` assumes.
const BOLD_WIDTH: f64 = 1.08;

/// The title, wrapped to the figure's width.
pub(crate) fn title_lines(title: &str, figure_width: f64) -> Vec<String> {
    wrap(title, TITLE_PX * BOLD_WIDTH, figure_width - 2.0 * MARGIN)
}

/// Page y just below a title of `lines` lines.
pub(crate) fn title_bottom(lines: usize) -> f64 {
    MARGIN + lines as f64 * TITLE_PX * LINE_HEIGHT
}

pub(crate) fn draw_title(c: &Canvas, lines: &[String]) -> Result<()> {
    for (i, line) in lines.iter().enumerate() {
        let opts = TextOpts::new(TITLE_PX, TEXT).anchor(HPos::Left, VPos::Top).bold();
        c.text(line, (MARGIN, MARGIN + i as f64 * TITLE_PX * LINE_HEIGHT), opts)?;
    }
    Ok(())
}

/// Height reserved below the x tick labels for an x-axis label.
pub(crate) const X_LABEL_BAND: f64 = AXIS_LABEL_PX * LINE_HEIGHT + 4.0;
/// Width reserved left of the y tick labels for a (rotated) y-axis label.
pub(crate) const Y_LABEL_BAND: f64 = AXIS_LABEL_PX * LINE_HEIGHT + 6.0;

/// The x label centred under `[left, right]` at the bottom margin, and the y label rotated,
/// centred on `[top, bottom]` at the left margin.
pub(crate) fn draw_axis_labels(
    c: &Canvas,
    (left, right): (f64, f64),
    (top, bottom): (f64, f64),
    x_label: &str,
    y_label: &str,
    figure_height: f64,
) -> Result<()> {
    let x_opts = TextOpts::new(AXIS_LABEL_PX, TEXT).anchor(HPos::Center, VPos::Bottom);
    c.text(x_label, ((left + right) / 2.0, figure_height - MARGIN), x_opts)?;
    let y_opts = TextOpts::new(AXIS_LABEL_PX, TEXT).anchor(HPos::Center, VPos::Top).vertical();
    c.text(y_label, (MARGIN, (top + bottom) / 2.0), y_opts)
}

/// The outline of a marker of "radius" `r` centred on `at` (circles are drawn as circles).
fn marker_outline(marker: Marker, (x, y): Px, r: f64) -> Vec<Px> {
    match marker {
        Marker::Circle => Vec::new(),
        Marker::Square => {
            let s = r * 0.88;
            vec![(x - s, y - s), (x + s, y - s), (x + s, y + s), (x - s, y + s)]
        }
        Marker::Triangle => {
            vec![(x, y - r * 1.2), (x + r * 1.1, y + r * 0.8), (x - r * 1.1, y + r * 0.8)]
        }
        Marker::Diamond => vec![(x, y - r * 1.3), (x + r, y), (x, y + r * 1.3), (x - r, y)],
    }
}

/// Marker radius in px.
pub(crate) const MARKER_RADIUS: f64 = 3.6;

/// A filled marker with a thin white halo, which keeps it legible where lines cross it.
pub(crate) fn draw_marker(c: &Canvas, marker: Marker, at: Px, color: RGBColor) -> Result<()> {
    let halo = 1.2;
    match marker {
        Marker::Circle => {
            c.circle(at, MARKER_RADIUS + halo, WHITE)?;
            c.circle(at, MARKER_RADIUS, color)
        }
        _ => {
            c.polygon(&marker_outline(marker, at, MARKER_RADIUS + halo * 1.4), WHITE)?;
            c.polygon(&marker_outline(marker, at, MARKER_RADIUS), color)
        }
    }
}

/// What a legend row shows before its name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Swatch {
    Line {
        line: LineKind,
        width: f64,
        marker: Option<Marker>,
    },
    /// A filled square, for shaded regions; `alpha` is the fill's opacity.
    Area {
        alpha: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub name: String,
    pub color: RGBColor,
    pub swatch: Swatch,
}

const LEGEND_PAD: f64 = 7.0;
const LEGEND_SAMPLE: f64 = 26.0;
const LEGEND_GAP: f64 = 6.0;
const LEGEND_ROW: f64 = LEGEND_PX * 1.55;

/// Width and height of a boxed legend whose names are cut to `max_text_px`.
pub(crate) fn legend_size(entries: &[LegendEntry], max_text_px: f64) -> (f64, f64) {
    let text =
        entries.iter().map(|e| text_width(&truncate(&e.name, LEGEND_PX, max_text_px), LEGEND_PX)).fold(0.0, f64::max);
    let width = 2.0 * LEGEND_PAD + LEGEND_SAMPLE + LEGEND_GAP + text;
    (width, 2.0 * LEGEND_PAD + entries.len() as f64 * LEGEND_ROW - 4.0)
}

/// A boxed, vertical legend with its top-left corner at `origin`.
pub(crate) fn draw_legend(
    c: &Canvas,
    entries: &[LegendEntry],
    origin: Px,
    (width, height): (f64, f64),
    max_text_px: f64,
) -> Result<()> {
    let corner = (origin.0 + width, origin.1 + height);
    c.rect(origin, corner, WHITE, 0.92)?;
    c.rect_outline(origin, corner, LEGEND_BORDER, 1.0)?;
    for (i, e) in entries.iter().enumerate() {
        let cy = origin.1 + LEGEND_PAD - 2.0 + LEGEND_ROW * (i as f64 + 0.5);
        let x0 = origin.0 + LEGEND_PAD;
        draw_swatch(c, &e.swatch, e.color, (x0, cy))?;
        let opts = TextOpts::new(LEGEND_PX, TEXT).anchor(HPos::Left, VPos::Center);
        let name = truncate(&e.name, LEGEND_PX, max_text_px);
        c.text(&name, (x0 + LEGEND_SAMPLE + LEGEND_GAP, cy), opts)?;
    }
    Ok(())
}

/// The swatch of one legend row, `LEGEND_SAMPLE` px wide, starting at `x0` and centred on `cy`.
pub(crate) fn draw_swatch(c: &Canvas, swatch: &Swatch, color: RGBColor, (x0, cy): Px) -> Result<()> {
    match *swatch {
        Swatch::Line { line, width, marker } => {
            let sample = [(x0, cy), (x0 + LEGEND_SAMPLE, cy)];
            if let Some(dash) = dash_for(line, width) {
                c.line(&sample, color, width, dash)?;
            }
            if let Some(marker) = marker {
                draw_marker(c, marker, (x0 + LEGEND_SAMPLE / 2.0, cy), color)?;
            }
            Ok(())
        }
        Swatch::Area { alpha } => {
            let half = LEGEND_PX * 0.45;
            let (from, to) = ((x0 + 4.0, cy - half), (x0 + LEGEND_SAMPLE - 4.0, cy + half));
            c.rect(from, to, color, alpha)?;
            c.rect_outline(from, to, color, 0.75)
        }
    }
}

/// Width of a swatch plus the gap before its name.
pub(crate) const SWATCH_WIDTH: f64 = LEGEND_SAMPLE + LEGEND_GAP;

/// The dash pattern of a line kind at `width` px (`None`: no line at all).
pub(crate) fn dash_for(line: LineKind, width: f64) -> Option<Dash> {
    match line {
        LineKind::Solid => Some(Dash::Solid),
        LineKind::Dashed => Some(Dash::Pattern(3.5 * width, 2.5 * width)),
        // Short dashes with round caps draw as dots (shorter ones would round away).
        LineKind::Dotted => Some(Dash::Pattern(0.5, 2.0 * width)),
        LineKind::None => None,
    }
}

//! A thin drawing surface over plotters' SVG backend: coordinates in CSS px (`f64`), house-style
//! text, dashed polylines, and the accessibility post-processing of the finished document.

use super::style::{FONT_STACK, WHITE};
use anyhow::{Result, anyhow, ensure};
use plotters::coord::Shift;
use plotters::prelude::{Circle, DrawingArea, IntoDrawingArea, PathElement, Polygon, Rectangle, SVGBackend};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontDesc, FontFamily, FontStyle, FontTransform, RGBColor, ShapeStyle, TextStyle};

/// Internal units per CSS px. plotters' backend works in integer coordinates; drawing at 4× and
/// declaring the document's size in px gives quarter-pixel precision to curves and text.
const SCALE: f64 = 4.0;

/// plotters' SVG backend writes `font-size = size / 1.24` (its convention for pixel fonts).
const PLOTTERS_FONT_FACTOR: f64 = 1.24;

/// A point in CSS px, origin top left.
pub(crate) type Px = (f64, f64);

fn units(v: f64) -> i32 {
    (v * SCALE).round() as i32
}

fn point(p: Px) -> (i32, i32) {
    (units(p.0), units(p.1))
}

fn stroke(color: RGBColor, alpha: f64, width_px: f64) -> ShapeStyle {
    ShapeStyle { color: color.mix(alpha), filled: false, stroke_width: (width_px * SCALE).round().max(1.0) as u32 }
}

fn fill(color: RGBColor, alpha: f64) -> ShapeStyle {
    ShapeStyle { color: color.mix(alpha), filled: true, stroke_width: 0 }
}

/// How a text is placed relative to its anchor point.
#[derive(Clone, Copy)]
pub(crate) struct TextOpts {
    pub px: f64,
    pub color: RGBColor,
    pub h: HPos,
    /// `Top`: the anchor is at cap height; `Center`: at mid x-height; `Bottom`: at the descenders.
    pub v: VPos,
    pub bold: bool,
    /// Rotated 90° counter-clockwise (reads bottom to top), for y-axis labels.
    pub vertical: bool,
}

impl TextOpts {
    pub fn new(px: f64, color: RGBColor) -> Self {
        TextOpts { px, color, h: HPos::Left, v: VPos::Top, bold: false, vertical: false }
    }
    pub fn anchor(mut self, h: HPos, v: VPos) -> Self {
        self.h = h;
        self.v = v;
        self
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }
}

/// Line pattern of a stroked path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Dash {
    Solid,
    /// On and off lengths in px.
    Pattern(f64, f64),
}

pub(crate) struct Canvas<'a> {
    area: DrawingArea<SVGBackend<'a>, Shift>,
}

fn drawing_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotters failed to draw the figure: {e}")
}

impl Canvas<'_> {
    pub fn line(&self, points: &[Px], color: RGBColor, width_px: f64, dash: Dash) -> Result<()> {
        self.line_alpha(points, color, 1.0, width_px, dash)
    }

    pub fn line_alpha(&self, points: &[Px], color: RGBColor, alpha: f64, width_px: f64, dash: Dash) -> Result<()> {
        let style = stroke(color, alpha, width_px);
        match dash {
            Dash::Solid => self.polyline(points, style),
            Dash::Pattern(on, off) => {
                for piece in dash_pieces(points, on, off) {
                    self.polyline(&piece, style)?;
                }
                Ok(())
            }
        }
    }

    fn polyline(&self, points: &[Px], style: ShapeStyle) -> Result<()> {
        let mut pts: Vec<(i32, i32)> = points.iter().map(|&p| point(p)).collect();
        // Neighbours that land on the same unit add bytes and nothing else.
        pts.dedup();
        if pts.len() < 2 {
            return Ok(());
        }
        self.area.draw(&PathElement::new(pts, style)).map_err(drawing_error)
    }

    pub fn rect(&self, from: Px, to: Px, color: RGBColor, alpha: f64) -> Result<()> {
        self.area.draw(&Rectangle::new([point(from), point(to)], fill(color, alpha))).map_err(drawing_error)
    }

    pub fn rect_outline(&self, from: Px, to: Px, color: RGBColor, width_px: f64) -> Result<()> {
        self.area.draw(&Rectangle::new([point(from), point(to)], stroke(color, 1.0, width_px))).map_err(drawing_error)
    }

    pub fn polygon(&self, points: &[Px], color: RGBColor) -> Result<()> {
        self.polygon_alpha(points, color, 1.0)
    }

    pub fn polygon_alpha(&self, points: &[Px], color: RGBColor, alpha: f64) -> Result<()> {
        let pts: Vec<(i32, i32)> = points.iter().map(|&p| point(p)).collect();
        self.area.draw(&Polygon::new(pts, fill(color, alpha))).map_err(drawing_error)
    }

    pub fn circle(&self, center: Px, radius_px: f64, color: RGBColor) -> Result<()> {
        let r = (radius_px * SCALE).round() as u32;
        self.area.draw(&Circle::new(point(center), r, fill(color, 1.0))).map_err(drawing_error)
    }

    pub fn text(&self, text: &str, at: Px, opts: TextOpts) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let weight = if opts.bold { FontStyle::Bold } else { FontStyle::Normal };
        let mut font = FontDesc::new(FontFamily::Name(FONT_STACK), opts.px * SCALE * PLOTTERS_FONT_FACTOR, weight);
        if opts.vertical {
            font = font.transform(FontTransform::Rotate270);
        }
        let style = TextStyle { font, color: opts.color.to_backend_color(), pos: Pos::new(opts.h, opts.v) };
        self.area.draw_text(text, &style, point(at)).map_err(drawing_error)
    }
}

/// Splits a polyline into the "on" pieces of a dash pattern that runs continuously along it.
fn dash_pieces(points: &[Px], on: f64, off: f64) -> Vec<Vec<Px>> {
    let mut pieces = Vec::new();
    let mut current: Vec<Px> = Vec::new();
    let mut drawing = true;
    let mut left = on;
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        if len == 0.0 || !len.is_finite() {
            continue;
        }
        let mut t = 0.0;
        if drawing && current.is_empty() {
            current.push(a);
        }
        while len - t > left {
            t += left;
            let p = (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
            if drawing {
                if current.last() != Some(&p) {
                    current.push(p);
                }
                pieces.push(std::mem::take(&mut current));
                left = off;
            } else {
                current.push(p);
                left = on;
            }
            drawing = !drawing;
        }
        left -= len - t;
        if drawing {
            current.push(b);
        }
    }
    if current.len() >= 2 {
        pieces.push(current);
    }
    pieces
}

/// Draws a `width`×`height` px figure and returns the SVG document, with `title` as its `<title>`
/// and `alt` as its accessible name (`role="img"`, `aria-label`) and `<desc>`.
pub(crate) fn render_svg(
    width: u32,
    height: u32,
    title: &str,
    alt: &str,
    draw: impl FnOnce(&Canvas) -> Result<()>,
) -> Result<String> {
    ensure!(!title.trim().is_empty(), "every figure needs a title: got an empty one");
    ensure!(!alt.trim().is_empty(), "every figure needs alt text describing it for screen readers: got an empty one");
    ensure!(
        (120..=4000).contains(&width) && (80..=4000).contains(&height),
        "figure size {width}×{height} px is outside 120..=4000 × 80..=4000"
    );
    let mut body = String::new();
    {
        let size = (units(width as f64) as u32, units(height as f64) as u32);
        let area = SVGBackend::with_string(&mut body, size).into_drawing_area();
        area.fill(&WHITE).map_err(drawing_error)?;
        let canvas = Canvas { area };
        draw(&canvas)?;
        canvas.area.present().map_err(drawing_error)?;
    }
    Ok(finish_document(&body, width, height, title, alt))
}

/// Replaces plotters' root element with one that carries the display size, the accessibility
/// attributes and round line joins (inherited by every path), and tidies font sizes.
fn finish_document(body: &str, width: u32, height: u32, title: &str, alt: &str) -> String {
    let content = body.split_once(">\n").map_or(body, |(_, rest)| rest);
    let (vw, vh) = (units(width as f64), units(height as f64));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {vw} {vh}\" role=\"img\" aria-label=\"{alt}\" \
         stroke-linejoin=\"round\" stroke-linecap=\"round\">\n<title>{title}</title>\n<desc>{alt}</desc>\n",
        alt = xml_escape(alt),
        title = xml_escape(title),
    );
    svg.push_str(&round_font_sizes(content));
    svg
}

/// `size / 1.24 * 1.24` is not always exact in floating point; write font sizes to 0.01 units.
fn round_font_sizes(content: &str) -> String {
    const KEY: &str = "font-size=\"";
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(i) = rest.find(KEY) {
        let (head, tail) = rest.split_at(i + KEY.len());
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        match tail[..end].parse::<f64>() {
            Ok(v) => out.push_str(&format!("{}", (v * 100.0).round() / 100.0)),
            Err(_) => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Quick structural check of an SVG document: it starts with `<svg`, every tag is closed in order,
/// and nothing follows the root. Not a full XML parser: enough to catch broken output in tests.
pub fn check_svg(svg: &str) -> Result<()> {
    ensure!(svg.starts_with("<svg"), "an SVG document must start with `<svg`");
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut closed_root = false;
    while let Some(start) = rest.find('<') {
        ensure!(!closed_root, "content after the closing </svg>");
        let end = rest[start..].find('>').ok_or_else(|| anyhow!("unterminated tag"))? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            let expected = open.pop().ok_or_else(|| anyhow!("</{name}> closes nothing"))?;
            ensure!(expected == name, "</{name}> closes <{expected}>");
            closed_root = open.is_empty();
        } else if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        } else {
            let name = tag.split_whitespace().next().unwrap_or("");
            ensure!(!name.is_empty(), "a tag without a name");
            ensure!(tag.matches('"').count().is_multiple_of(2), "unbalanced quotes in <{name}>");
            open.push(name);
        }
    }
    ensure!(open.is_empty(), "unclosed tags: {open:?}");
    ensure!(closed_root, "the document has no closing </svg>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_follow_the_path_across_corners() {
        let path = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)];
        let pieces = dash_pieces(&path, 4.0, 2.0);
        // 20 px of path with a 6 px period: on 0–4, 6–10, 12–16, 18–20.
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces[1], vec![(6.0, 0.0), (10.0, 0.0)]);
        assert_eq!(pieces[2], vec![(10.0, 2.0), (10.0, 6.0)]);
        assert_eq!(pieces[3], vec![(10.0, 8.0), (10.0, 10.0)]);
    }

    #[test]
    fn check_svg_catches_broken_documents() {
        assert!(check_svg("<svg a=\"1\">\n<g><rect/></g>\n</svg>\n").is_ok());
        assert!(check_svg("<svg><g></svg>").is_err());
        assert!(check_svg("<svg></svg><svg></svg>").is_err());
        assert!(check_svg("<svg><text x=\"1>a</text></svg>").is_err());
        assert!(check_svg("<g></g>").is_err());
    }

    #[test]
    fn document_is_accessible_and_escaped() -> Result<()> {
        let svg = render_svg(300, 200, "A <b> & c", "alt \"quoted\"", |c| {
            c.text("hello", (10.0, 10.0), TextOpts::new(13.0, RGBColor(0, 0, 0)))
        })?;
        check_svg(&svg)?;
        assert!(svg.contains("<title>A &lt;b&gt; &amp; c</title>"));
        assert!(svg.contains("role=\"img\" aria-label=\"alt &quot;quoted&quot;\""));
        assert!(svg.contains("width=\"300\" height=\"200\" viewBox=\"0 0 1200 800\""));
        assert!(svg.contains("font-size=\"52\""), "font sizes are tidied: {svg}");
        assert!(render_svg(300, 200, "t", " ", |_| Ok(())).is_err());
        assert!(render_svg(300, 200, "", "alt", |_| Ok(())).is_err());
        assert!(render_svg(10, 200, "t", "alt", |_| Ok(())).is_err());
        Ok(())
    }
}

//! The house style: palette, colour maps, font sizes, margins, and the text metrics layout uses.

use plotters::style::RGBColor;

/// The series palette: Okabe & Ito's colour-blind-safe set, ordered for a white background (the
/// low-contrast yellow comes last). Series take these in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// Names of the [`PALETTE`] colours, in the same order (for alt text and legends in prose).
pub const PALETTE_NAMES: [&str; 8] =
    ["blue", "vermillion", "bluish green", "reddish purple", "orange", "sky blue", "black", "yellow"];

/// The palette colour of slot `index` (cycling past the end).
pub fn palette_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The CSS font stack written into every `<text>`: the reader's own UI font, so no font is embedded
/// or loaded when the SVG is made. Layout assumes widths close to DejaVu Sans, the widest common
/// member, so labels never collide in a narrower font.
pub(crate) const FONT_STACK: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif";

// Font sizes in CSS px.
pub(crate) const TITLE_PX: f64 = 16.0;
pub(crate) const AXIS_LABEL_PX: f64 = 14.0;
pub(crate) const TICK_PX: f64 = 12.0;
pub(crate) const LEGEND_PX: f64 = 12.0;
pub(crate) const PANEL_TITLE_PX: f64 = 12.0;
pub(crate) const NOTE_PX: f64 = 11.0;

/// Line height as a multiple of the font size.
pub(crate) const LINE_HEIGHT: f64 = 1.25;
/// Outer margin of every figure, in px.
pub(crate) const MARGIN: f64 = 12.0;
/// Length of a major tick mark, in px (minor ticks are half as long).
pub(crate) const TICK_LEN: f64 = 4.0;
/// Gap between a tick mark and its label, in px.
pub(crate) const TICK_GAP: f64 = 3.0;

pub(crate) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(crate) const TICK_TEXT: RGBColor = RGBColor(0x44, 0x44, 0x44);
pub(crate) const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
pub(crate) const REFERENCE: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const LEGEND_BORDER: RGBColor = RGBColor(0xCC, 0xCC, 0xCC);
/// Heatmap cells with no value (NaN, or ≤ 0 on a log colour scale).
pub(crate) const MISSING: RGBColor = RGBColor(0xD4, 0xD4, 0xD4);
pub(crate) const WHITE: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);

/// Estimated advance width of `text` at `font_px`, in px.
///
/// Without the `ttf` feature plotters' own estimate is `0.7 em × text.len()` — *bytes*, so "‖δˡ‖"
/// counts as 9 characters — and the browser picks the real font anyway. Layout only needs an upper
/// bound that is close, so this uses per-character advances of DejaVu Sans (wider than Arial,
/// Helvetica, Segoe UI and San Francisco).
pub(crate) fn text_width(text: &str, font_px: f64) -> f64 {
    text.chars().map(char_em).sum::<f64>() * font_px
}

/// Advance width of one character in em (DejaVu Sans, rounded up).
fn char_em(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | 'I' | 'J' | '\'' | '|' | '!' => 0.30,
        '.' | ',' | ':' | ';' | ' ' | '·' => 0.34,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '{' | '}' | '/' | '\\' | '-' => 0.42,
        's' | 'c' | 'z' | '"' | '*' => 0.56,
        'm' => 0.98,
        'w' => 0.82,
        'M' | 'W' => 1.0,
        '%' => 0.95,
        '=' | '+' | '×' | '<' | '>' | '±' | '−' | '→' | '←' | '≤' | '≥' | '≈' => 0.84,
        '0'..='9' => 0.64,
        'a'..='z' => 0.64,
        'A'..='Z' => 0.76,
        // Superscript digits and signs, modifier letters (ˡ ᴸ ⁿ) and combining marks.
        '⁰' | '¹' | '²' | '³' | '⁴' | '⁵' | '⁶' | '⁷' | '⁸' | '⁹' | '⁻' | '⁺' => 0.42,
        '\u{02B0}'..='\u{02FF}' | '\u{1D2C}'..='\u{1D6A}' | '\u{2070}'..='\u{209F}' => 0.42,
        '\u{0300}'..='\u{036F}' => 0.0,
        '‖' => 0.5,
        _ => 0.70,
    }
}

/// Splits `text` into lines no wider than `max_px` at `font_px`, breaking at spaces. A single word
/// wider than the line stays whole.
pub(crate) fn wrap(text: &str, font_px: f64, max_px: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if !current.is_empty() && text_width(&candidate, font_px) > max_px {
            lines.push(std::mem::take(&mut current));
            current = word.to_string();
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// Shortens `text` with an ellipsis so it fits in `max_px` at `font_px`.
pub(crate) fn truncate(text: &str, font_px: f64, max_px: f64) -> String {
    if text_width(text, font_px) <= max_px {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&out, font_px) + char_em(c) * font_px + char_em('…') * font_px > max_px {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Viridis (matplotlib), sampled at nine evenly spaced points: perceptually uniform and readable
/// by colour-blind readers and in greyscale.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2C, 0x7A),
    (0x3B, 0x51, 0x8B),
    (0x2C, 0x71, 0x8E),
    (0x21, 0x90, 0x8D),
    (0x27, 0xAD, 0x81),
    (0x5C, 0xC8, 0x63),
    (0xAA, 0xDC, 0x32),
    (0xFD, 0xE7, 0x25),
];

/// ColorBrewer's RdBu, from blue (low) through near-white to red (high); colour-blind safe.
const BLUE_RED: [(u8, u8, u8); 11] = [
    (0x05, 0x30, 0x61),
    (0x21, 0x66, 0xAC),
    (0x43, 0x93, 0xC3),
    (0x92, 0xC5, 0xDE),
    (0xD1, 0xE5, 0xF0),
    (0xF7, 0xF7, 0xF7),
    (0xFD, 0xDB, 0xC7),
    (0xF4, 0xA5, 0x82),
    (0xD6, 0x60, 0x4D),
    (0xB2, 0x18, 0x2B),
    (0x67, 0x00, 0x1F),
];

/// A colour map for [`Heatmap`](super::Heatmap)s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMap {
    /// Sequential (viridis): for magnitudes.
    #[default]
    Viridis,
    /// Diverging blue–white–red: for values on either side of a meaningful centre (set with
    /// [`Heatmap::diverging`](super::Heatmap::diverging)).
    BlueRed,
}

impl ColorMap {
    /// The colour at `t` ∈ [0, 1] (clamped).
    pub fn at(self, t: f64) -> RGBColor {
        let stops: &[(u8, u8, u8)] = match self {
            ColorMap::Viridis => &VIRIDIS,
            ColorMap::BlueRed => &BLUE_RED,
        };
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let scaled = t * (stops.len() - 1) as f64;
        let i = (scaled.floor() as usize).min(stops.len() - 2);
        let f = scaled - i as f64;
        let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (stops[i], stops[i + 1]);
        RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
    }
}

/// Relative luminance (WCAG), used to pick black or white text over a filled cell.
pub(crate) fn luminance(c: RGBColor) -> f64 {
    let channel = |v: u8| {
        let s = v as f64 / 255.0;
        if s <= 0.03928 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * channel(c.0) + 0.7152 * channel(c.1) + 0.0722 * channel(c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIE L*a*b* of an sRGB colour (D65), to measure perceptual distance.
    fn lab(c: RGBColor) -> (f64, f64, f64) {
        let lin = |v: u8| {
            let s = v as f64 / 255.0;
            if s <= 0.04045 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 }
        };
        (116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z)))
    }

    #[test]
    fn palette_colours_are_perceptually_distinct() {
        for (i, &a) in PALETTE.iter().enumerate() {
            for &b in &PALETTE[i + 1..] {
                let ((l1, a1, b1), (l2, a2, b2)) = (lab(a), lab(b));
                let delta_e = ((l1 - l2).powi(2) + (a1 - a2).powi(2) + (b1 - b2).powi(2)).sqrt();
                assert!(delta_e > 20.0, "{a:?} and {b:?} are too close: ΔE = {delta_e:.1}");
            }
        }
        // The colours series use first must stand out against the white background.
        for &c in &PALETTE[..6] {
            assert!(lab(c).0 < 75.0, "{c:?} is too light for lines on white");
        }
    }

    #[test]
    fn text_width_counts_characters_not_bytes() {
        let ascii = text_width("dddd", 10.0);
        let greek = text_width("δδδδ", 10.0);
        assert!(greek < ascii * 1.3, "non-ASCII text must not be measured by its UTF-8 length");
        assert!(text_width("10⁻⁶", 12.0) < text_width("10-6", 12.0) + 1.0);
    }

    #[test]
    fn wrap_and_truncate_respect_the_width() {
        let lines = wrap("the quick brown fox jumps over the lazy dog", 12.0, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| text_width(l, 12.0) <= 100.0));
        let short = truncate("a very long legend entry indeed", 12.0, 60.0);
        assert!(short.ends_with('…') && text_width(&short, 12.0) <= 60.0);
        assert_eq!(truncate("short", 12.0, 200.0), "short");
    }

    #[test]
    fn colour_maps_hit_their_ends() {
        assert_eq!(ColorMap::Viridis.at(0.0), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(ColorMap::Viridis.at(1.0), RGBColor(0xFD, 0xE7, 0x25));
        assert_eq!(ColorMap::Viridis.at(7.0), ColorMap::Viridis.at(1.0));
        assert_eq!(ColorMap::BlueRed.at(0.5), RGBColor(0xF7, 0xF7, 0xF7));
    }
}

/// How a series' points are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineKind {
    #[default]
    Solid,
    /// For theory and reference curves drawn next to measurements.
    Dashed,
    Dotted,
    /// Markers only (a scatter).
    None,
}

/// A point marker. Charts that give every series a marker use a different shape per series, so
/// series stay apart in greyscale and for colour-blind readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
}

impl Marker {
    pub const ALL: [Marker; 4] = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond];
}

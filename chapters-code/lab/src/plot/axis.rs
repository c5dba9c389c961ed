//! Axes: linear and base-10 log scales, tick placement that keeps labels apart, tick labels
//! (`10⁻⁶` on log axes, `−0.5` with a real minus sign), and drawing them in the house style.

use super::canvas::{Canvas, Dash, TextOpts};
use super::style::{AXIS, GRID, TICK_GAP, TICK_LEN, TICK_PX, TICK_TEXT, text_width};
use anyhow::Result;
use plotters::style::text_anchor::{HPos, VPos};

/// A scale maps data values to *axis space*, where the axis is linear: the value itself, or its
/// base-10 logarithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log10,
}

impl Scale {
    /// The axis-space position of `v`, or `None` when the scale cannot show it (non-finite, or
    /// ≤ 0 on a log scale).
    pub fn to_axis(self, v: f64) -> Option<f64> {
        match self {
            _ if !v.is_finite() => None,
            Scale::Linear => Some(v),
            Scale::Log10 => (v > 0.0).then(|| v.log10()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tick {
    /// Position in axis space.
    pub at: f64,
    pub label: String,
}

/// One axis: its visible range in axis space and its ticks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub major: Vec<Tick>,
    /// Unlabelled minor tick positions (axis space), e.g. 2×, 3×, … 9× on a log axis.
    pub minor: Vec<f64>,
}

impl Axis {
    /// Where `a` (axis space) falls along the axis: 0 at `lo`, 1 at `hi`.
    pub fn frac(&self, a: f64) -> f64 {
        (a - self.lo) / (self.hi - self.lo)
    }

    pub fn widest_label(&self, font_px: f64) -> f64 {
        self.major.iter().map(|t| text_width(&t.label, font_px)).fold(0.0, f64::max)
    }
}

/// Which way an axis runs on the page (decides how much room a tick label needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Horizontal,
    Vertical,
}

const EPS: f64 = 1e-9;

/// Widens a data range (axis space) by `frac` of its span on each side, so markers at the extremes
/// are not cut by the frame; a degenerate range gets a sensible width.
pub(crate) fn pad_range(lo: f64, hi: f64, frac: f64, scale: Scale) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        return (lo - span * frac, hi + span * frac);
    }
    let half = match scale {
        Scale::Log10 => 0.5,
        Scale::Linear => (lo.abs() * 0.1).max(0.5),
    };
    (lo - half, hi + half)
}

/// An axis over `[lo, hi]` (axis space) with as many ticks as fit in `length_px` without labels
/// touching. `integer` restricts linear ticks to whole numbers (layer indices).
pub(crate) fn fit_axis(scale: Scale, lo: f64, hi: f64, length_px: f64, direction: Direction, integer: bool) -> Axis {
    let spacing = match direction {
        Direction::Horizontal => 80.0,
        Direction::Vertical => 42.0,
    };
    let most = ((length_px / spacing).floor() as usize).clamp(2, 12);
    let mut fallback = None;
    for count in (2..=most).rev() {
        let (major, minor) = match scale {
            Scale::Linear => linear_ticks(lo, hi, count, integer),
            Scale::Log10 => log_ticks(lo, hi, count),
        };
        let axis = Axis { lo, hi, major, minor };
        if labels_fit(&axis, length_px, direction) {
            return axis;
        }
        fallback = Some(axis);
    }
    fallback.unwrap_or(Axis { lo, hi, major: Vec::new(), minor: Vec::new() })
}

pub(crate) fn labels_fit(axis: &Axis, length_px: f64, direction: Direction) -> bool {
    axis.major.windows(2).all(|pair| {
        let gap = (axis.frac(pair[1].at) - axis.frac(pair[0].at)).abs() * length_px;
        let needed = match direction {
            Direction::Horizontal => {
                (text_width(&pair[0].label, TICK_PX) + text_width(&pair[1].label, TICK_PX)) / 2.0 + 12.0
            }
            Direction::Vertical => TICK_PX * 1.5,
        };
        gap >= needed
    })
}

/// The smallest 1–2–5 step that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let m = if f <= 1.0 + EPS {
        1.0
    } else if f <= 2.0 + EPS {
        2.0
    } else if f <= 5.0 + EPS {
        5.0
    } else {
        10.0
    };
    m * magnitude
}

/// Ticks at multiples of a 1–2–5 step, about `count` of them.
pub(crate) fn linear_ticks(lo: f64, hi: f64, count: usize, integer: bool) -> (Vec<Tick>, Vec<f64>) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (Vec::new(), Vec::new());
    }
    let mut step = nice_step(span / count as f64);
    if integer {
        step = step.max(1.0).round();
    }
    let first = (lo / step - EPS).ceil() as i64;
    let last = (hi / step + EPS).floor() as i64;
    let values: Vec<f64> = (first..=last).take(200).map(|i| i as f64 * step).collect();
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scientific = largest >= 1e5 || step < 1e-3;
    let ticks = values.iter().map(|&v| Tick { at: v, label: format_linear(v, step, scientific) }).collect();
    (ticks, Vec::new())
}

fn format_linear(v: f64, step: f64, scientific: bool) -> String {
    let step_exp = (step.log10() + EPS).floor() as i32;
    if scientific {
        if v.abs() < step * 1e-6 {
            return "0".into();
        }
        let exp = (v.abs().log10() + EPS).floor() as i32;
        let decimals = (exp - step_exp).clamp(0, 6) as usize;
        return mantissa_times_power(v, exp, decimals);
    }
    let decimals = (-step_exp).max(0) as usize;
    with_minus(&format!("{v:.decimals$}"))
}

/// Ticks on a log axis. With two or more whole decades in view, ticks sit on powers of ten
/// (every decade, or every 2nd, 3rd, 5th … when crowded) labelled `10ⁿ`; on a shorter range they
/// sit on 1–2–5 (or 1…9) multiples labelled as plain numbers.
pub(crate) fn log_ticks(lo: f64, hi: f64, count: usize) -> (Vec<Tick>, Vec<f64>) {
    let first_decade = (lo - EPS).ceil() as i64;
    let last_decade = (hi + EPS).floor() as i64;
    let decades = last_decade - first_decade + 1;
    if decades >= 2 {
        let multiples =
            |step: i64| (first_decade..=last_decade).filter(|k| k.rem_euclid(step) == 0).collect::<Vec<_>>();
        let chosen = [1, 2, 3, 5, 10, 20, 25, 50, 100, 200, 500, 1000]
            .iter()
            .map(|&step| (step, multiples(step)))
            .find(|(_, ks)| ks.len() >= 2 && ks.len() <= count);
        let (step, majors) = chosen.unwrap_or((decades, vec![first_decade, last_decade]));
        let ticks: Vec<Tick> = majors.iter().map(|&k| Tick { at: k as f64, label: power_of_ten(k) }).collect();
        let minor = if step == 1 && hi - lo <= 10.0 {
            let mut m = Vec::new();
            for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
                for digit in 2..=9 {
                    let at = k as f64 + (digit as f64).log10();
                    if at >= lo && at <= hi {
                        m.push(at);
                    }
                }
            }
            m
        } else {
            (first_decade..=last_decade).filter(|k| !majors.contains(k)).take(500).map(|k| k as f64).collect()
        };
        return (ticks, minor);
    }
    // Within about a decade: 1–2–5 multiples, or more digits when those are too few.
    let mantissa_sets: [&[f64]; 3] =
        [&[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]];
    let candidates: Vec<(Vec<f64>, Vec<f64>)> = mantissa_sets
        .iter()
        .map(|mantissas| {
            let (mut major, mut minor) = (Vec::new(), Vec::new());
            for k in (lo.floor() as i64 - 1)..=(hi.ceil() as i64) {
                for digit in 1..=9 {
                    let v = digit as f64 * 10f64.powi(k as i32);
                    let at = v.log10();
                    if at >= lo - EPS && at <= hi + EPS {
                        if mantissas.contains(&(digit as f64)) { major.push(v) } else { minor.push(at) }
                    }
                }
            }
            (major, minor)
        })
        .collect();
    let fits = |least: usize| candidates.iter().find(|(major, _)| major.len() >= least && major.len() <= count);
    if let Some((major, minor)) = fits(3).or_else(|| fits(2)) {
        let ticks = major.iter().map(|&v| Tick { at: v.log10(), label: format_number(v) });
        return (ticks.collect(), minor.clone());
    }
    // Less than a factor of ~3 in view: plain linear ticks on the values, placed logarithmically.
    let (ticks, _) = linear_ticks(10f64.powf(lo), 10f64.powf(hi), count, false);
    let ticks = ticks.into_iter().filter(|t| t.at > 0.0).map(|t| Tick { at: t.at.log10(), ..t });
    (ticks.collect(), Vec::new())
}

/// `10ⁿ` with a superscript exponent.
pub(crate) fn power_of_ten(exponent: i64) -> String {
    format!("10{}", superscript(exponent))
}

fn superscript(n: i64) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// `m×10ⁿ`, or `10ⁿ` when the mantissa is 1.
fn mantissa_times_power(v: f64, exponent: i32, decimals: usize) -> String {
    let mantissa = v / 10f64.powi(exponent);
    let m = trim_zeros(&format!("{:.decimals$}", mantissa.abs()));
    let sign = if v < 0.0 { "−" } else { "" };
    if m == "1" {
        format!("{sign}{}", power_of_ten(exponent as i64))
    } else {
        format!("{sign}{m}×{}", power_of_ten(exponent as i64))
    }
}

/// A value as a short label: plain decimals between 0.001 and 10⁵, else `m×10ⁿ`; at most four
/// significant digits.
pub(crate) fn format_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() { "NaN".into() } else { with_minus(&format!("{v}")) };
    }
    let exponent = (v.abs().log10() + EPS).floor() as i32;
    if (-3..5).contains(&exponent) {
        let decimals = (3 - exponent).max(0) as usize;
        with_minus(&trim_zeros(&format!("{v:.decimals$}")))
    } else {
        mantissa_times_power(v, exponent, 3)
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.into() }
}

/// Typographic minus sign instead of a hyphen.
fn with_minus(s: &str) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c != '0' && c != '.') => format!("−{rest}"),
        Some(rest) => rest.to_string(),
        None => s.to_string(),
    }
}

/// A plot frame in px: the rectangle the data is drawn in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Frame {
    pub fn width(&self) -> f64 {
        self.right - self.left
    }
    pub fn height(&self) -> f64 {
        self.bottom - self.top
    }
    /// Page x of axis-space `a` on the horizontal axis.
    pub fn x(&self, axis: &Axis, a: f64) -> f64 {
        self.left + axis.frac(a) * self.width()
    }
    /// Page y of axis-space `a` on the vertical axis.
    pub fn y(&self, axis: &Axis, a: f64) -> f64 {
        self.bottom - axis.frac(a) * self.height()
    }
}

/// Light grid lines at the major ticks of either axis.
pub(crate) fn draw_grid(c: &Canvas, f: &Frame, x: Option<&Axis>, y: Option<&Axis>) -> Result<()> {
    if let Some(x) = x {
        for t in &x.major {
            let px = f.x(x, t.at);
            c.line(&[(px, f.top), (px, f.bottom)], GRID, 1.0, Dash::Solid)?;
        }
    }
    if let Some(y) = y {
        for t in &y.major {
            let py = f.y(y, t.at);
            c.line(&[(f.left, py), (f.right, py)], GRID, 1.0, Dash::Solid)?;
        }
    }
    Ok(())
}

/// The bottom spine with its ticks, and the tick labels when `labels`.
pub(crate) fn draw_x_axis(c: &Canvas, f: &Frame, axis: &Axis, labels: bool) -> Result<()> {
    c.line(&[(f.left, f.bottom), (f.right, f.bottom)], AXIS, 1.0, Dash::Solid)?;
    for &m in &axis.minor {
        let px = f.x(axis, m);
        c.line(&[(px, f.bottom), (px, f.bottom + TICK_LEN / 2.0)], AXIS, 0.75, Dash::Solid)?;
    }
    for t in &axis.major {
        let px = f.x(axis, t.at);
        c.line(&[(px, f.bottom), (px, f.bottom + TICK_LEN)], AXIS, 1.0, Dash::Solid)?;
        if labels {
            let opts = TextOpts::new(TICK_PX, TICK_TEXT).anchor(HPos::Center, VPos::Top);
            c.text(&t.label, (px, f.bottom + TICK_LEN + TICK_GAP), opts)?;
        }
    }
    Ok(())
}

/// The left spine with its ticks, and the tick labels when `labels`.
pub(crate) fn draw_y_axis(c: &Canvas, f: &Frame, axis: &Axis, labels: bool) -> Result<()> {
    c.line(&[(f.left, f.top), (f.left, f.bottom)], AXIS, 1.0, Dash::Solid)?;
    for &m in &axis.minor {
        let py = f.y(axis, m);
        c.line(&[(f.left - TICK_LEN / 2.0, py), (f.left, py)], AXIS, 0.75, Dash::Solid)?;
    }
    for t in &axis.major {
        let py = f.y(axis, t.at);
        c.line(&[(f.left - TICK_LEN, py), (f.left, py)], AXIS, 1.0, Dash::Solid)?;
        if labels {
            let opts = TextOpts::new(TICK_PX, TICK_TEXT).anchor(HPos::Right, VPos::Center);
            c.text(&t.label, (f.left - TICK_LEN - TICK_GAP, py), opts)?;
        }
    }
    Ok(())
}

/// Height of a row of x tick labels below the frame, tick included.
pub(crate) const X_TICK_BAND: f64 = TICK_LEN + TICK_GAP + TICK_PX * 1.1;

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn linear_ticks_are_round_numbers() {
        let (t, _) = linear_ticks(-0.03, 1.03, 6, false);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (t, _) = linear_ticks(-1.2, 1.2, 4, false);
        assert_eq!(labels(&t), ["−1", "0", "1"]);
        let (t, _) = linear_ticks(0.5, 3.5, 8, true);
        assert_eq!(labels(&t), ["1", "2", "3"]);
        let (t, _) = linear_ticks(0.0, 3e-5, 3, false);
        assert_eq!(labels(&t), ["0", "10⁻⁵", "2×10⁻⁵", "3×10⁻⁵"]);
    }

    #[test]
    fn log_ticks_use_decades_and_thin_out_over_many() {
        let (t, minor) = log_ticks(-6.2, 0.3, 8);
        assert_eq!(labels(&t), ["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]);
        assert!(minor.len() > 40, "2×…9× minor ticks within few decades");
        let (t, minor) = log_ticks(-31.0, 4.0, 8);
        assert!(t.len() <= 8 && t.len() >= 4, "{:?}", labels(&t));
        assert!(t.iter().all(|t| (t.at as i64) % 5 == 0));
        assert!(!minor.is_empty());
        let (t, _) = log_ticks((0.2f64).log10(), (5.0f64).log10(), 8);
        assert_eq!(labels(&t), ["0.2", "0.5", "1", "2", "5"]);
        let (t, _) = log_ticks((0.41f64).log10(), (0.6f64).log10(), 6);
        assert!(t.len() >= 2, "a narrow log range still gets ticks: {:?}", labels(&t));
    }

    #[test]
    fn fitted_axes_keep_labels_apart() {
        let axis = fit_axis(Scale::Log10, -30.0, 3.0, 200.0, Direction::Horizontal, false);
        assert!(labels_fit(&axis, 200.0, Direction::Horizontal));
        assert!(axis.major.len() >= 2);
        let axis = fit_axis(Scale::Linear, 0.5, 50.5, 600.0, Direction::Horizontal, true);
        assert!(axis.major.iter().all(|t| t.at.fract() == 0.0));
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(-3.0), "−3");
        assert_eq!(format_number(1e-6), "10⁻⁶");
        assert_eq!(format_number(2.5e7), "2.5×10⁷");
        assert_eq!(format_number(12345.0), "12345");
        assert_eq!(power_of_ten(-12), "10⁻¹²");
        assert_eq!(Scale::Log10.to_axis(0.0), None);
        assert_eq!(Scale::Log10.to_axis(f64::NAN), None);
        assert_eq!(Scale::Linear.to_axis(-2.0), Some(-2.0));
    }
}

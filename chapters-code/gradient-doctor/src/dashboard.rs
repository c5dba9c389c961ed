//! A self-contained SVG dashboard (no fonts or plotting crate needed): bars per layer, lines per step.

use crate::{Report, Thresholds};
use std::fmt::Write as _;

const W: f64 = 760.0;
const H: f64 = 300.0;
const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";
const RED: &str = "#D55E00";

struct Panel {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    lo: f64,
    hi: f64,
}

impl Panel {
    fn y(&self, v: f64) -> f64 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.y0 + self.h * (1.0 - t)
    }

    fn axes(&self, out: &mut String, title: &str, ylabel: &str) {
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/>"##,
            self.x0, self.y0, self.w, self.h
        );
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="middle">{}</text>"##,
            self.x0 + self.w / 2.0,
            self.y0 - 10.0,
            esc(title)
        );
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"##,
            self.x0 - 36.0,
            self.y0 + self.h / 2.0,
            self.x0 - 36.0,
            self.y0 + self.h / 2.0,
            esc(ylabel)
        );
        let (lo, hi) = (self.lo.ceil() as i64, self.hi.floor() as i64);
        let step = ((hi - lo) / 6).max(1);
        let mut k = lo;
        while k <= hi {
            let y = self.y(k as f64);
            let _ = write!(
                out,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">1e{k}</text>"##,
                self.x0,
                self.x0 + self.w,
                self.x0 - 4.0,
                y + 3.0
            );
            k += step;
        }
    }

    fn dashed(&self, out: &mut String, v: f64, colour: &str) {
        let y = self.y(v);
        let _ = write!(
            out,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="5 4"/>"##,
            self.x0,
            self.x0 + self.w
        );
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn range(values: impl Iterator<Item = f64>, extra: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.chain(extra.iter().copied()).filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    (lo.floor() - 0.5, hi.ceil() + 0.5)
}

pub(crate) fn draw(report: &Report, t: &Thresholds) -> String {
    let mut out = String::new();
    let verdicts: Vec<&str> = report.findings.iter().map(|f| f.verdict.label()).collect();
    let alt = format!(
        "Gradient doctor dashboard after {} steps: per-layer RMS gradient, and the first-to-last gradient ratio and \
         largest update:data ratio over the steps. Verdict: {}.",
        report.steps,
        verdicts.join(", ")
    );
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" role="img" aria-label="{}"><title>{}</title><rect width="100%" height="100%" fill="white"/>"##,
        esc(&alt),
        esc(&alt)
    );
    // Left: bars of log10 RMS gradient per layer.
    let logs: Vec<f64> = report.layers.iter().map(|l| l.grad_rms.max(1e-30).log10()).collect();
    let (lo, hi) = range(logs.iter().copied(), &[]);
    let left = Panel { x0: 60.0, y0: 40.0, w: 300.0, h: 200.0, lo, hi };
    left.axes(&mut out, "RMS gradient per layer", "‖∂L/∂W‖/√n");
    let n = logs.len().max(1) as f64;
    let bw = left.w / n;
    for (i, v) in logs.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let (x, y) = (left.x0 + i as f64 * bw, left.y(*v));
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{BLUE}"/>"##,
            x + 0.1 * bw,
            0.8 * bw,
            (left.y0 + left.h - y).max(0.0)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="start">{}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
        left.x0,
        left.y0 + left.h + 14.0,
        esc(report.layers.first().map_or("", |l| &l.name)),
        left.x0 + left.w,
        left.y0 + left.h + 14.0,
        esc(report.layers.last().map_or("", |l| &l.name))
    );
    // Right: lines over the steps.
    let ratios: Vec<(usize, f64)> =
        report.history.iter().filter_map(|s| s.first_to_last_log10.map(|r| (s.step, r))).collect();
    let updates: Vec<(usize, f64)> =
        report.history.iter().filter_map(|s| s.max_update_data_log10.map(|u| (s.step, u))).collect();
    let marks = [t.vanishing_ratio.log10(), t.exploding_ratio.log10(), t.update_high_log10, t.update_low_log10];
    let (lo, hi) = range(ratios.iter().chain(&updates).map(|p| p.1), &marks);
    let right = Panel { x0: 440.0, y0: 40.0, w: 290.0, h: 200.0, lo, hi };
    right.axes(&mut out, "Over the steps", "ratio");
    for m in &marks[..2] {
        right.dashed(&mut out, *m, RED);
    }
    for m in &marks[2..] {
        right.dashed(&mut out, *m, ORANGE);
    }
    let last = report.history.last().map_or(1, |s| s.step.max(1)) as f64;
    for (series, colour) in [(&ratios, BLUE), (&updates, ORANGE)] {
        let pts: Vec<String> = series
            .iter()
            .map(|(s, v)| format!("{:.1},{:.1}", right.x0 + right.w * *s as f64 / last, right.y(*v)))
            .collect();
        if !pts.is_empty() {
            let _ = write!(
                out,
                r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
                pts.join(" ")
            );
        }
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="{BLUE}">first-to-last gradient</text><text x="{:.1}" y="{:.1}" font-size="10" fill="{ORANGE}">largest update:data</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">step</text>"##,
        right.x0 + 4.0,
        right.y0 + right.h + 14.0,
        right.x0 + 140.0,
        right.y0 + right.h + 14.0,
        right.x0 + right.w - 14.0,
        right.y0 + right.h + 28.0
    );
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="12">verdict: {}</text>"##,
        60.0,
        H - 18.0,
        esc(&verdicts.join(", "))
    );
    out.push_str("</svg>\n");
    out
}

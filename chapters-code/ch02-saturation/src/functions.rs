//! Figures 2-1 to 2-3, the chapter's first half in numbers: σ, tanh and their slopes with the saturated
//! ranges marked; the bound ∏σ′ ≤ 4⁻ᴸ against random scalar sigmoid chains; and the window of inputs
//! where one factor |w σ′(wa + b)| can reach 1 (the closed forms are in [`crate::window`]).

use crate::window::{self, ChainStats};
use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::plot::{Legend, LineChart, SeriesStyle};
use serde::Serialize;

/// Settings of Figures 2-1 to 2-3 (only the random chains of Figure 2-2 have any).
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct FunctionsOptions {
    /// Longest chain in the product-bound figure.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Random chains per weight scale.
    #[arg(long, default_value_t = 10_000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub chains: usize,
    /// Standard deviations of the chains' weights, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 6.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub weight_stds: Vec<f64>,
    /// Depth whose chain statistics are printed and quoted.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub report_depth: usize,
    /// Seed of the random chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(FunctionsOptions);

/// Figure 2-1's numbers: the peaks of the slopes and where each function saturates.
#[derive(Debug, Clone, Serialize)]
pub struct SlopesData {
    pub z_range: [f64; 2],
    pub max_sigmoid_prime: f64,
    pub max_tanh_prime: f64,
    pub sigmoid_threshold: f64,
    pub tanh_threshold: f64,
    pub sigmoid_prime_at_threshold: f64,
    pub tanh_prime_at_threshold: f64,
    pub sigmoid_prime_at_threshold_fraction: f64,
    pub tanh_prime_at_threshold_fraction: f64,
    pub sigmoid_prime_at_5: f64,
    pub saturation_margin: f64,
}

/// The chains' median and 90th percentile at the reported depth.
#[derive(Debug, Clone, Serialize)]
pub struct AtReport {
    pub weight_std: f64,
    pub median: f64,
    pub p90: f64,
}

/// Figure 2-2's data: the bound 4⁻ᴸ and the random chains' percentiles at every depth.
#[derive(Debug, Clone, Serialize)]
pub struct BoundData {
    pub depth: usize,
    pub chains: usize,
    pub report_depth: usize,
    pub bound: Vec<f64>,
    pub bound_at_report: f64,
    pub stats: Vec<ChainStats>,
    pub at_report: Vec<AtReport>,
}

/// One weight |w| of Figure 2-3's bisection points and the window width found there.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NumericWidth {
    pub w: f64,
    pub width: f64,
}

/// Figure 2-3's data: the widest window, and the closed form checked against bisection.
#[derive(Debug, Clone, Serialize)]
pub struct WindowData {
    pub best_w: f64,
    pub best_width: f64,
    pub best_factor_peak: f64,
    /// The largest |closed form − bisection| over a grid of weights and biases.
    pub max_abs_difference: f64,
    /// The bias of the bisection points drawn.
    pub numeric_b: f64,
    pub numeric: Vec<NumericWidth>,
    pub width_at_4_5: Option<f64>,
    pub width_at_20: Option<f64>,
    pub width_at_40: Option<f64>,
}

/// What Figures 2-1 to 2-3 show.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionsData {
    pub slopes: SlopesData,
    pub bound: BoundData,
    pub window: WindowData,
}

/// Figures 2-1 to 2-3: the functions, the product bound and the window.
pub struct Functions;

/// The grid of Figure 2-1's curves: z from −8 to 8 in steps of 0.05.
fn z_grid() -> Vec<f64> {
    (-160..=160).map(|i| i as f64 / 20.0).collect()
}

/// Points (1, v₀), (2, v₁), … of a per-depth series.
fn by_depth(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect()
}

fn slopes() -> SlopesData {
    let (sig, tanh) = (Activation::Sigmoid, Activation::Tanh);
    let fine: Vec<f64> = (-800_000..=800_000).map(|i| i as f64 / 100_000.0).collect();
    let max_sigmoid_prime = fine.iter().map(|&z| sig.derivative(z)).fold(0.0, f64::max);
    let max_tanh_prime = fine.iter().map(|&z| tanh.derivative(z)).fold(0.0, f64::max);
    let ts = window::saturation_threshold(sig).expect("sigmoid saturates");
    let tt = window::saturation_threshold(tanh).expect("tanh saturates");
    SlopesData {
        z_range: [-8.0, 8.0],
        max_sigmoid_prime,
        max_tanh_prime,
        sigmoid_threshold: ts,
        tanh_threshold: tt,
        sigmoid_prime_at_threshold: sig.derivative(ts),
        tanh_prime_at_threshold: tanh.derivative(tt),
        sigmoid_prime_at_threshold_fraction: sig.derivative(ts) / max_sigmoid_prime,
        tanh_prime_at_threshold_fraction: tanh.derivative(tt) / max_tanh_prime,
        sigmoid_prime_at_5: sig.derivative(5.0),
        saturation_margin: lab::act::SATURATION_MARGIN,
    }
}

fn bound(opts: &FunctionsOptions) -> BoundData {
    let bound = window::product_bound(opts.depth);
    let mut rng = lab::init::rng(opts.seed);
    let stats: Vec<ChainStats> =
        opts.weight_stds.iter().map(|&s| window::random_chains(s, opts.depth, opts.chains, &mut rng)).collect();
    let at = opts.report_depth - 1;
    BoundData {
        depth: opts.depth,
        chains: opts.chains,
        report_depth: opts.report_depth,
        bound_at_report: bound[at],
        bound,
        at_report: stats
            .iter()
            .map(|s| AtReport { weight_std: s.weight_std, median: s.median[at], p90: s.p90[at] })
            .collect(),
        stats,
    }
}

/// The bias of Figure 2-3's bisection points.
const NUMERIC_B: f64 = 0.7;

fn window_data() -> WindowData {
    let (best_w, best_width) = window::widest_window();
    // Agreement of the closed form with bisection over a grid of weights and biases.
    let mut max_diff = 0f64;
    for i in 0..=200 {
        let w = 4.0 + i as f64 * 0.48;
        for b in [-5.0, -1.0, 0.0, 0.7, 3.0] {
            max_diff =
                max_diff.max((window::window_width(w).unwrap() - window::window_width_numeric(w, b).unwrap()).abs());
        }
    }
    let checks = [4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 40.0];
    WindowData {
        best_w,
        best_width,
        best_factor_peak: window::max_factor(best_w),
        max_abs_difference: max_diff.max(f64::EPSILON),
        numeric_b: NUMERIC_B,
        numeric: checks
            .iter()
            .map(|&w| NumericWidth { w, width: window::window_width_numeric(w, NUMERIC_B).unwrap() })
            .collect(),
        width_at_4_5: window::window_width(4.5),
        width_at_20: window::window_width(20.0),
        width_at_40: window::window_width(40.0),
    }
}

fn draw_slopes(d: &SlopesData) -> Result<Drawing> {
    let zs = z_grid();
    let curve = |f: &dyn Fn(f64) -> f64| zs.iter().map(|&z| (z, f(z))).collect::<Vec<_>>();
    let (sig, tanh) = (Activation::Sigmoid, Activation::Tanh);
    let (ts, tt) = (d.sigmoid_threshold, d.tanh_threshold);
    // The saturated ranges are drawn as thick bars under the curves; NaN breaks a bar in two.
    let bar = |t: f64, y: f64| {
        let mut v: Vec<(f64, f64)> = zs.iter().filter(|z| **z <= -t).map(|&z| (z, y)).collect();
        v.push((0.0, f64::NAN));
        v.extend(zs.iter().filter(|z| **z >= t).map(|&z| (z, y)));
        v
    };
    let alt = format!(
        "The sigmoid σ rises from 0 to 1 and its slope σ′ peaks at {} at z = 0; tanh rises from −1 to 1 and its slope peaks at {}. Bars under the curves mark where each is saturated: |z| > {ts:.2} for σ, |z| > {tt:.2} for tanh, where the slopes are nearly zero.",
        d.max_sigmoid_prime, d.max_tanh_prime
    );
    let svg = LineChart::new("σ and tanh, their slopes, and where they saturate")
        .x_label("pre-activation z")
        .y_label("value")
        .y_range(-1.35, 1.1)
        .series_with("σ(z)", curve(&|z| sig.value(z)), SeriesStyle::solid().color(0))
        .series_with("σ′(z) ≤ ¼", curve(&|z| sig.derivative(z)), SeriesStyle::dashed().color(0))
        .series_with("tanh(z)", curve(&|z| tanh.value(z)), SeriesStyle::solid().color(1))
        .series_with("tanh′(z) ≤ 1", curve(&|z| tanh.derivative(z)), SeriesStyle::dashed().color(1))
        .series_with(format!("σ saturated (|z| > {ts:.2})"), bar(ts, -1.12), SeriesStyle::solid().color(0).width(7.0))
        .series_with(
            format!("tanh saturated (|z| > {tt:.2})"),
            bar(tt, -1.26),
            SeriesStyle::solid().color(1).width(7.0),
        )
        .legend(Legend::TopLeft)
        .render(&alt)?;
    Drawing::new("functions", &alt, svg, d)
}

fn draw_bound(d: &BoundData) -> Result<Drawing> {
    let mut chart = LineChart::new("|∂aᴸ/∂a⁰| = ∏ |w σ′(z)| in random sigmoid chains")
        .x_label("depth L")
        .y_label("|∂aᴸ/∂a⁰|")
        .log_y()
        .integer_x()
        .series_with("bound 4⁻ᴸ (|w| ≤ 1)", by_depth(&d.bound), SeriesStyle::dashed().color(6));
    for (i, s) in d.stats.iter().enumerate() {
        chart = chart
            .series_with(
                format!("median, w ~ N(0, {}²)", s.weight_std),
                by_depth(&s.median),
                SeriesStyle::solid().color(i),
            )
            .series_with(
                format!("90th percentile, w ~ N(0, {}²)", s.weight_std),
                by_depth(&s.p90),
                SeriesStyle::dotted().color(i),
            );
    }
    let alt = format!(
        "Log-scale plot of the chain-rule product against depth 1 to {}: the dashed bound 4^-L falls as a straight line; the medians of {} random sigmoid chains fall faster for both weight scales, and even their 90th percentiles vanish with depth",
        d.depth, d.chains
    );
    let svg = chart.legend(Legend::BottomLeft).render(&alt)?;
    Drawing::new("product-bound", &alt, svg, d)
}

fn draw_window(d: &WindowData) -> Result<Drawing> {
    let (best_w, best_width) = (d.best_w, d.best_width);
    let curve: Vec<(f64, f64)> =
        (0..=720).map(|i| 4.0 + i as f64 * 0.05).map(|w| (w, window::window_width(w).unwrap())).collect();
    let numeric: Vec<(f64, f64)> = d.numeric.iter().map(|p| (p.w, p.width)).collect();
    let alt = format!(
        "The width of the range of inputs a for which |w σ′(wa + b)| ≥ 1, against |w| from 4 to 40: zero at |w| = 4, peaking at {best_width:.3} near |w| = {best_w:.2}, then falling; points found by bisection lie on the closed-form curve"
    );
    let svg = LineChart::new("Inputs a where one factor |w σ′(wa + b)| reaches 1")
        .x_label("weight |w|")
        .y_label("width of the interval of a")
        .series_with("closed form (2/|w|)·ln(|w|(1+√(1−4/|w|))/2 − 1)", curve, SeriesStyle::solid().color(0))
        .series_with(format!("bisection on σ′ (b = {})", d.numeric_b), numeric, SeriesStyle::points().color(1))
        .vline(best_w, format!("|w| = {best_w:.2}"))
        .render(&alt)?;
    Drawing::new("window", &alt, svg, d)
}

impl Experiment for Functions {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "functions";
    const ABOUT: &'static str =
        "σ, tanh and their slopes; the product bound 4^-L; the window where |w σ'(wa+b)| ≥ 1 (Figures 2-1 to 2-3)";
    type Options = FunctionsOptions;
    type Data = FunctionsData;

    /// Quick mode is the full run: everything here takes a fraction of a second.
    fn run(opts: &FunctionsOptions, _: &GenOptions) -> Result<FunctionsData> {
        cli::ensure_at_most("report-depth", opts.report_depth, "depth", opts.depth)?;
        cli::ensure_nonempty("weight-stds", &opts.weight_stds, "standard deviation")?;
        Ok(FunctionsData { slopes: slopes(), bound: bound(opts), window: window_data() })
    }

    fn draw(data: &FunctionsData) -> Result<Vec<Drawing>> {
        Ok(vec![draw_slopes(&data.slopes)?, draw_bound(&data.bound)?, draw_window(&data.window)?])
    }
}

impl std::fmt::Display for FunctionsData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (s, b, w) = (&self.slopes, &self.bound, &self.window);
        writeln!(f, "{:<34} {:?}", "max σ′ (z = 0)", s.max_sigmoid_prime)?;
        writeln!(f, "{:<34} {:?}", "σ saturated beyond |z| =", s.sigmoid_threshold)?;
        writeln!(f, "{:<34} {:?}", "tanh saturated beyond |z| =", s.tanh_threshold)?;
        writeln!(f, "{:<34} {:?}", format!("bound 4^-L at L = {}", b.report_depth), b.bound_at_report)?;
        for r in &b.at_report {
            writeln!(
                f,
                "{:<34} [{:?}, {:?}]",
                format!("chains w ~ N(0, {:?}²): median, p90", r.weight_std),
                r.median,
                r.p90
            )?;
        }
        writeln!(f, "{:<34} {:?}", "widest window at |w| =", w.best_w)?;
        writeln!(f, "{:<34} {:?}", "widest window width", w.best_width)?;
        writeln!(f, "{:<34} {:?}", "max |closed form − bisection|", w.max_abs_difference)
    }
}

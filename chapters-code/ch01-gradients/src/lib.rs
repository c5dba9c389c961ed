#![doc = include_str!("../../../src/01-gradients.md")]

pub mod chain;
pub mod checks;
pub mod descent;
pub mod exercises;
pub mod gradcheck;
pub mod solutions;

/// The page before chapter 1, "The Rust and candle you need" (`src/rust-and-candle.md`): its
/// listings are this module's doctests (`cargo test -p ch01-gradients --doc primer`).
pub mod primer {
    #![doc = include_str!("../../../src/rust-and-candle.md")]
}

use anyhow::Result;
use candle_core::{DType, Tensor};
use chapter_kit::figure::{Figure, GenOptions, Generator};
use lab::plot::{LineChart, SeriesStyle};
use lab::{Activation, Init, MlpConfig};
use serde::Serialize;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator { chapter: "ch01", name: "descent", run: |o| Ok(vec![descent_figure(&DescentOptions::default(), o)?]) },
    Generator {
        chapter: "ch01",
        name: "gradcheck",
        run: |o| Ok(vec![gradcheck_figure(&GradcheckOptions::default(), o)?]),
    },
    Generator { chapter: "ch01", name: "chain-product", run: |o| Ok(vec![chain_figure(&ChainOptions::default(), o)?]) },
];

/// Settings of Figure 1-1.
#[derive(Debug, Clone, Serialize)]
pub struct DescentOptions {
    pub n: usize,
    pub x_mean: f64,
    pub steps: usize,
    /// Learning rates as fractions of the stability limit 2/λ_max.
    pub fractions: Vec<f64>,
    pub seed: u64,
}

impl Default for DescentOptions {
    fn default() -> Self {
        DescentOptions { n: 64, x_mean: 3.0, steps: 300, fractions: vec![0.1, 0.5, 0.95, 1.05], seed: 0 }
    }
}

#[derive(Serialize)]
struct DescentRunData {
    fraction: f64,
    lr: f64,
    losses: Vec<f64>,
    steps_run: usize,
    final_loss: f64,
}

/// Figure 1-1: loss curves of gradient descent at fractions of the stability limit.
pub fn descent_figure(opts: &DescentOptions, gen_opts: &GenOptions) -> Result<Figure> {
    let problem = descent::Regression::new(opts.n, opts.x_mean, opts.seed)?;
    let (lambda_min, lambda_max) = problem.curvature()?;
    let limit = 2.0 / lambda_max;
    // Quick mode runs the same descents for fewer steps: a prefix of the full curves.
    let steps = if gen_opts.quick { opts.steps.min(20) } else { opts.steps };
    let mut runs = Vec::new();
    for &fraction in &opts.fractions {
        let losses = descent::descend(&problem, fraction * limit, steps)?;
        let steps_run = losses.len() - 1;
        let final_loss = *losses.last().expect("at least the initial loss");
        runs.push(DescentRunData { fraction, lr: fraction * limit, losses, steps_run, final_loss });
    }
    if gen_opts.quick {
        // Final values depend on the run length; only the curves' prefixes are comparable.
        let curves: Vec<_> =
            runs.iter().map(|r| serde_json::json!({ "fraction": r.fraction, "losses": r.losses })).collect();
        let data = serde_json::json!({ "n": opts.n, "lambda_max": lambda_max, "lambda_min": lambda_min, "limit": limit, "runs": curves });
        return Figure::new("ch01", "descent", "", String::new(), &data);
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            (format!("η = {}× limit", r.fraction), r.losses.iter().enumerate().map(|(i, &l)| (i as f64, l)).collect())
        })
        .collect();
    let alt = format!(
        "Loss against step on a log scale for learning rates {:?} times the stability limit 2/λmax = {limit:.4}; the runs below the limit fall, the one above diverges",
        opts.fractions
    );
    let mut chart = LineChart::new("Gradient descent on least squares")
        .x_label("step")
        .y_label("loss (mean squared error)")
        .log_y();
    for (name, points) in series {
        chart = chart.series(name, points);
    }
    let svg = chart.render(&alt)?;
    let data = serde_json::json!({
        "n": opts.n, "x_mean": opts.x_mean, "seed": opts.seed, "steps": opts.steps,
        "lambda_max": lambda_max, "lambda_min": lambda_min, "limit": limit, "runs": runs,
    });
    Figure::new("ch01", "descent", &alt, svg, &data)
}

/// Settings of Figure 1-2.
#[derive(Debug, Clone, Serialize)]
pub struct GradcheckOptions {
    pub activation: Activation,
    pub width: usize,
    pub depth: usize,
    pub batch: usize,
    /// Entries compared per parameter tensor.
    pub per_var: usize,
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { activation: Activation::Sigmoid, width: 12, depth: 3, batch: 16, per_var: 6, seed: 0 }
    }
}

/// The step sizes of Figure 1-2: 10⁻¹ … 10⁻¹².
pub fn gradcheck_steps() -> Vec<f64> {
    (1..=12).map(|k| 10f64.powi(-k)).collect()
}

/// Figure 1-2: relative error of the gradient check against h, f32 and f64.
pub fn gradcheck_figure(opts: &GradcheckOptions, gen_opts: &GenOptions) -> Result<Figure> {
    let (d_in, classes) = (8, 4);
    let config =
        MlpConfig::new(d_in, opts.width, opts.depth, classes, opts.activation, Init::XAVIER).with_seed(opts.seed);
    let mut rng = lab::init::rng(opts.seed + 1);
    let x = Init::Normal { std: 1.0 }.tensor(opts.batch, d_in, &mut rng, &lab::DEVICE)?.to_dtype(DType::F64)?;
    let y = Tensor::from_vec((0..opts.batch as u32).map(|i| i % classes as u32).collect(), opts.batch, &lab::DEVICE)?;
    let mut steps = gradcheck_steps();
    if gen_opts.quick {
        // Large steps only: there truncation error dominates, which is the same on every machine.
        // At small steps the errors are round-off, which differs with the CPU and build.
        steps.truncate(3);
    }
    let rows = gradcheck::error_vs_step(&config, &x, &y, &steps, opts.per_var)?;
    let checked_per_step = (config.sizes().len() - 1) * 2 * opts.per_var;
    let best = |pick: fn(&gradcheck::StepError) -> f64| {
        let r = rows.iter().min_by(|a, b| pick(a).total_cmp(&pick(b))).expect("rows");
        serde_json::json!({ "h": r.h, "error": pick(r) })
    };
    if gen_opts.quick {
        // f32 is round-off dominated even at large steps, so only the f64 column is compared.
        let rows: Vec<_> = rows.iter().map(|r| serde_json::json!({ "h": r.h, "f64": r.f64 })).collect();
        return Figure::new("ch01", "gradcheck", "", String::new(), &serde_json::json!({ "rows": rows }));
    }
    let alt = "Maximum relative error of a central-difference gradient check against the step h on log-log axes: both curves are V-shaped, and float64 reaches errors many orders of magnitude below float32";
    let svg = LineChart::new("Gradient check: relative error against step h")
        .x_label("finite-difference step h")
        .y_label("max relative error")
        .log_x()
        .log_y()
        .markers()
        .series("float32", rows.iter().map(|r| (r.h, r.f32)).collect())
        .series("float64", rows.iter().map(|r| (r.h, r.f64)).collect())
        .render(alt)?;
    let data = serde_json::json!({
        "config": config, "batch": opts.batch, "checked_per_step": checked_per_step,
        "rows": rows, "best_f32": best(|r| r.f32), "best_f64": best(|r| r.f64),
    });
    Figure::new("ch01", "gradcheck", alt, svg, &data)
}

/// Settings of Figure 1-3.
#[derive(Debug, Clone, Serialize)]
pub struct ChainOptions {
    pub depth: usize,
    /// The depth whose values the prose quotes.
    pub report_depth: usize,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions { depth: 50, report_depth: 20 }
    }
}

/// Figure 1-3: the chain-rule product against depth.
pub fn chain_figure(opts: &ChainOptions, gen_opts: &GenOptions) -> Result<Figure> {
    anyhow::ensure!(opts.report_depth >= 1 && opts.report_depth <= opts.depth, "report depth must be within 1..=depth");
    let depth = if gen_opts.quick { opts.depth.min(opts.report_depth) } else { opts.depth };
    let mut series = Vec::new();
    let mut max_rel_diff = 0f64;
    for (label, act, w) in [
        ("linear, w = 0.5", Activation::Linear, 0.5),
        ("linear, w = 1", Activation::Linear, 1.0),
        ("linear, w = 1.5", Activation::Linear, 1.5),
        ("sigmoid, w = 1", Activation::Sigmoid, 1.0),
    ] {
        let measured = chain::measured_chain(act, w, 0.0, 0.0, depth)?;
        for (m, h) in measured.iter().zip(chain::chain_rule_by_hand(act, w, 0.0, 0.0, depth)) {
            max_rel_diff = max_rel_diff.max((m / h - 1.0).abs());
        }
        series.push(chain::ChainSeries { label: label.into(), values: measured });
    }
    let bound = chain::product(0.25, depth);
    let at = opts.report_depth - 1;
    let data = serde_json::json!({
        "depth": depth,
        "report_depth": opts.report_depth,
        "series": series,
        "bound": bound,
        "sigmoid_at_report": series[3].values[at],
        "bound_at_report": bound[at],
        "explode_at_report": series[2].values[at],
        // Below f64 round-off; reported so the prose can say how exact the agreement is.
        "max_rel_diff": max_rel_diff.max(f64::EPSILON),
    });
    if gen_opts.quick {
        let quick = serde_json::json!({ "series": data["series"], "bound": data["bound"], "sigmoid_at_report": data["sigmoid_at_report"] });
        return Figure::new("ch01", "chain-product", "", String::new(), &quick);
    }
    let xy = |v: &[f64]| v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect::<Vec<_>>();
    let mut chart = LineChart::new("The chain rule is a product: ∂aᴸ/∂a⁰ against depth")
        .x_label("depth L (layers)")
        .y_label("∂aᴸ/∂a⁰")
        .log_y();
    for s in &series {
        chart = chart.series(s.label.clone(), xy(&s.values));
    }
    let alt = format!(
        "Log-scale plot of the derivative of a chain's output with respect to its input against depth 1 to {depth}: linear chains with w = 0.5, 1 and 1.5 are straight lines falling, flat and rising; the sigmoid chain falls below the dashed 4^-L bound"
    );
    let svg = chart.series_with("bound 4⁻ᴸ", xy(&bound), SeriesStyle::dashed()).render(&alt)?;
    Figure::new("ch01", "chain-product", &alt, svg, &data)
}

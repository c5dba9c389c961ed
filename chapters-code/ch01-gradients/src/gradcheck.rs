//! Finite-difference gradient checks: the test every hand-written or framework gradient must pass.
//!
//! The central difference (L(θ+h) − L(θ−h)) / 2h has truncation error O(h²) and round-off error
//! O(ε/h), where ε is the float's machine epsilon, so its accuracy is best at h ≈ ε^(1/3): about 6e-6
//! in f64, about 5e-3 in f32. [`error_vs_step`] measures that trade-off.
//!
//! [`Gradcheck`] draws Figure 1-2: that error against h, in f32 and f64.

use anyhow::{Context, Result};
use candle_core::{DType, Tensor, Var};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::LineChart;
use lab::{Activation, Init, Mlp, MlpConfig};
use serde::Serialize;

/// The relative error CS231n recommends: |a − n| / max(|a|, |n|), with a floor so that two
/// near-zero gradients compare as equal.
pub fn relative_error(analytic: f64, numeric: f64) -> f64 {
    let scale = analytic.abs().max(numeric.abs());
    if scale < 1e-12 { 0.0 } else { (analytic - numeric).abs() / scale }
}

/// The outcome of checking one network's gradients.
#[derive(Debug, Clone, Serialize)]
pub struct GradCheck {
    /// Finite-difference step.
    pub h: f64,
    /// Number of parameter entries compared.
    pub checked: usize,
    /// Largest relative error over every compared entry.
    pub max_rel_error: f64,
    /// Which parameter entry had it, e.g. `l2.weight[17]`.
    pub worst: String,
}

/// Compares candle's autograd gradient of the mean cross-entropy with central finite differences on
/// `per_var` evenly spaced entries of every weight and bias of `net`.
pub fn check(net: &Mlp, x: &Tensor, y: &Tensor, h: f64, per_var: usize) -> Result<GradCheck> {
    let loss = |net: &Mlp| -> Result<f64> { Ok(net.loss(x, y)?.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
    let grads = net.loss(x, y)?.backward()?;
    let mut report = GradCheck { h, checked: 0, max_rel_error: 0.0, worst: String::new() };
    for (i, layer) in net.layers.iter().enumerate() {
        for (name, var) in [("weight", &layer.weight), ("bias", &layer.bias)] {
            let analytic = grads.get(var).context("parameter without gradient")?;
            let analytic = analytic.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let n = analytic.len();
            for k in 0..per_var.min(n) {
                let idx = k * n / per_var.min(n);
                let numeric = (nudge(var, idx, h, || loss(net))? - nudge(var, idx, -h, || loss(net))?) / (2.0 * h);
                let err = relative_error(analytic[idx], numeric);
                report.checked += 1;
                if err > report.max_rel_error || report.worst.is_empty() {
                    report.max_rel_error = err;
                    report.worst = format!("l{i}.{name}[{idx}]");
                }
            }
        }
    }
    Ok(report)
}

/// Evaluates `f` with entry `idx` of `var` moved by `delta`, then restores it.
fn nudge(var: &Var, idx: usize, delta: f64, f: impl Fn() -> Result<f64>) -> Result<f64> {
    let original = var.as_tensor().copy()?;
    let mut values = original.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    values[idx] += delta;
    let moved = Tensor::from_vec(values, original.shape(), original.device())?.to_dtype(original.dtype())?;
    var.set(&moved)?;
    let result = f();
    var.set(&original)?;
    result
}

/// One row of the step-size sweep.
#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    pub h: f64,
    pub f32: f64,
    pub f64: f64,
}

/// Max relative error of the gradient check against the step h, for the same network in f32 and f64.
pub fn error_vs_step(
    config: &MlpConfig,
    x: &Tensor,
    y: &Tensor,
    steps: &[f64],
    per_var: usize,
) -> Result<Vec<StepError>> {
    let (net32, net64) = (config.build(&lab::DEVICE)?, config.build_f64(&lab::DEVICE)?);
    let (x32, x64) = (x.to_dtype(DType::F32)?, x.to_dtype(DType::F64)?);
    steps
        .iter()
        .map(|&h| {
            Ok(StepError {
                h,
                f32: check(&net32, &x32, y, h, per_var)?.max_rel_error,
                f64: check(&net64, &x64, y, h, per_var)?.max_rel_error,
            })
        })
        .collect()
}

/// Settings of Figure 1-2.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct GradcheckOptions {
    /// Hidden activation.
    #[arg(long, default_value_t = Activation::Sigmoid, value_parser = cli::activation)]
    pub activation: Activation,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 12, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Examples in the batch the loss is computed on.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Entries checked per weight matrix and per bias vector.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub per_var: usize,
    /// Seed of the weights (and, plus one, of the inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(GradcheckOptions);

/// The step sizes of Figure 1-2: 10⁻¹ … 10⁻¹².
pub fn gradcheck_steps() -> Vec<f64> {
    (1..=12).map(|k| 10f64.powi(-k)).collect()
}

/// One step's errors (quick mode: f64 only — f32 is round-off dominated even at large steps, and
/// round-off differs with the CPU and build).
#[derive(Debug, Clone, Serialize)]
pub struct CheckedStep {
    pub h: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f32: Option<f64>,
    pub f64: f64,
}

/// The step with the smallest error in one precision.
#[derive(Debug, Clone, Serialize)]
pub struct BestStep {
    pub h: f64,
    pub error: f64,
}

/// What the full run adds: the network checked and the best step in each precision.
#[derive(Debug, Clone, Serialize)]
pub struct GradcheckDetail {
    pub config: MlpConfig,
    pub batch: usize,
    /// Parameter entries compared at each step.
    pub checked_per_step: usize,
    pub best_f32: BestStep,
    pub best_f64: BestStep,
}

/// What Figure 1-2 measured (quick mode: the three largest steps).
#[derive(Debug, Clone, Serialize)]
pub struct GradcheckData {
    pub rows: Vec<CheckedStep>,
    #[serde(flatten)]
    pub detail: Option<GradcheckDetail>,
}

/// Figure 1-2: relative error of the gradient check against h, f32 and f64.
pub struct Gradcheck;

impl Experiment for Gradcheck {
    const CHAPTER: &'static str = "ch01";
    const NAME: &'static str = "gradcheck";
    const ABOUT: &'static str =
        "Relative error of a finite-difference gradient check against the step h, in f32 and f64 (Figure 1-2)";
    type Options = GradcheckOptions;
    type Data = GradcheckData;

    fn run(opts: &GradcheckOptions, go: &GenOptions) -> Result<GradcheckData> {
        let (d_in, classes) = (8, 4);
        let config =
            MlpConfig::new(d_in, opts.width, opts.depth, classes, opts.activation, Init::XAVIER).with_seed(opts.seed);
        let mut rng = lab::init::rng(opts.seed + 1);
        let x = Init::Normal { std: 1.0 }.tensor(opts.batch, d_in, &mut rng, &lab::DEVICE)?.to_dtype(DType::F64)?;
        let y =
            Tensor::from_vec((0..opts.batch as u32).map(|i| i % classes as u32).collect(), opts.batch, &lab::DEVICE)?;
        let mut steps = gradcheck_steps();
        if go.quick {
            // Large steps only: there truncation error dominates, which is the same on every machine.
            // At small steps the errors are round-off, which differs with the CPU and build.
            steps.truncate(3);
        }
        let errors = error_vs_step(&config, &x, &y, &steps, opts.per_var)?;
        let rows =
            errors.iter().map(|r| CheckedStep { h: r.h, f32: (!go.quick).then_some(r.f32), f64: r.f64 }).collect();
        if go.quick {
            return Ok(GradcheckData { rows, detail: None });
        }
        let best = |pick: fn(&StepError) -> f64| {
            let r = errors.iter().min_by(|a, b| pick(a).total_cmp(&pick(b))).expect("rows");
            BestStep { h: r.h, error: pick(r) }
        };
        let detail = GradcheckDetail {
            checked_per_step: (config.sizes().len() - 1) * 2 * opts.per_var,
            config,
            batch: opts.batch,
            best_f32: best(|r| r.f32),
            best_f64: best(|r| r.f64),
        };
        Ok(GradcheckData { rows, detail: Some(detail) })
    }

    fn draw(data: &GradcheckData) -> Result<Vec<Drawing>> {
        if data.detail.is_none() {
            // A quick run: three steps, f64 only, not drawn.
            return Ok(vec![Drawing::data_only("gradcheck", data)?]);
        }
        let alt = "Maximum relative error of a central-difference gradient check against the step h on log-log axes: both curves are V-shaped, and float64 reaches errors many orders of magnitude below float32";
        let svg = LineChart::new("Gradient check: relative error against step h")
            .x_label("finite-difference step h")
            .y_label("max relative error")
            .log_x()
            .log_y()
            .markers()
            .series("float32", data.rows.iter().map(|r| (r.h, r.f32.unwrap_or(f64::NAN))).collect())
            .series("float64", data.rows.iter().map(|r| (r.h, r.f64)).collect())
            .render(alt)?;
        Ok(vec![Drawing::new("gradcheck", alt, svg, data)?])
    }
}

impl std::fmt::Display for GradcheckData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:>8}  {:>10}  {:>10}", "h", "f32", "f64")?;
        for r in &self.rows {
            writeln!(f, "{:>8.0e}  {:>10.2e}  {:>10.2e}", r.h, r.f32.unwrap_or(f64::NAN), r.f64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(8, 5, &mut lab::init::rng(1), &lab::DEVICE)?;
        let y = Tensor::new(&[0u32, 1, 2, 0, 1, 2, 0, 1], &lab::DEVICE)?;
        Ok((x, y))
    }

    #[test]
    fn relative_error_definition() {
        assert_eq!(relative_error(1.0, 1.0), 0.0);
        assert!((relative_error(1.0, 1.1) - 0.1 / 1.1).abs() < 1e-15);
        assert_eq!(relative_error(0.0, 1e-15), 0.0);
    }

    #[test]
    fn f64_gradients_pass_and_a_wrong_gradient_fails() -> Result<()> {
        let (x, y) = batch()?;
        let net = MlpConfig::new(5, 6, 2, 3, Activation::Tanh, Init::XAVIER).with_seed(3).build_f64(&lab::DEVICE)?;
        let x = x.to_dtype(DType::F64)?;
        let ok = check(&net, &x, &y, 1e-6, 10)?;
        assert!(ok.max_rel_error < 1e-6, "{ok:?}");
        // 5→6→6→3: ten entries of each weight matrix, every entry of the 6-, 6- and 3-long biases.
        assert_eq!(ok.checked, 45);
        // The check must be able to fail: a deliberately wrong loss gradient (twice the loss) is caught
        // by comparing the true gradient with finite differences of a different function.
        let grads = net.loss(&x, &y)?.backward()?;
        let g = grads.get(&net.layers[0].weight).unwrap().flatten_all()?.to_vec1::<f64>()?[0];
        let fd = (nudge(&net.layers[0].weight, 0, 1e-6, || Ok(2.0 * net.loss(&x, &y)?.to_scalar::<f64>()?))?
            - nudge(&net.layers[0].weight, 0, -1e-6, || Ok(2.0 * net.loss(&x, &y)?.to_scalar::<f64>()?))?)
            / 2e-6;
        assert!(relative_error(g, fd) > 0.3);
        Ok(())
    }

    #[test]
    fn the_error_curve_has_its_textbook_shape() -> Result<()> {
        let (x, y) = batch()?;
        let config = MlpConfig::new(5, 6, 2, 3, Activation::Sigmoid, Init::XAVIER).with_seed(3);
        let rows = error_vs_step(&config, &x, &y, &[1e-1, 1e-5, 1e-11], 4)?;
        // Large h: truncation dominates in both precisions; tiny h: round-off ruins f64 too.
        assert!(rows[1].f64 < rows[0].f64 && rows[1].f64 < rows[2].f64, "{rows:?}");
        assert!(rows[1].f64 < 1e-6);
        // f32 at h = 1e-5 is dominated by round-off: far worse than f64.
        assert!(rows[1].f32 > 100.0 * rows[1].f64, "{rows:?}");
        Ok(())
    }
}

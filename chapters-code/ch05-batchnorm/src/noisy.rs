//! Figures 5-10 to 5-12: Santurkar, Tsipras, Ilyas & Madry's (2018) two tests on the network of
//! Figures 5-2 to 5-5. §2.1: "noisy" BatchNorm — random, time-varying noise injected after every
//! BatchNorm layer (`lab::norm::with_injected_noise`), trained beside the same network with plain
//! BatchNorm and without it (Figure 5-10). §3.1: the loss and its gradient along the gradient
//! direction ([`crate::landscape`]) at points of the plain and BatchNorm runs (Figures 5-11, 5-12).

use crate::ioffe::{IoffeOptions, run_one};
use crate::landscape::{AlongGradient, along_gradient};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Norm;
use lab::norm::{InjectedNoise, with_injected_noise};
use lab::plot::{LineChart, SeriesStyle};
use serde::Serialize;

/// Settings of Figure 5-10; the network, data, batch and learning rate are Figure 5-2's defaults.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct NoisyOptions {
    /// SGD steps per network.
    #[arg(long, default_value_t = 1500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Evaluate every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub eval_every: usize,
    /// Noise strengths k: each unit's noise mean μ ~ U(−k, k) and standard deviation σ ~ U(0, k),
    /// redrawn per layer at every step; one noisy network per k.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 2.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub noise_scales: Vec<f64>,
    /// Measure the landscape along the gradient every this many steps (a multiple of --eval-every).
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub probe_every: usize,
    /// Training examples (the first ones) the landscape is measured on.
    #[arg(long, default_value_t = 250, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub probe_examples: usize,
    /// Step sizes along the gradient, as multiples of the training learning rate.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5, 1.0, 2.0, 4.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub step_multiples: Vec<f64>,
    /// Seed of the data, weights and batches (as Figure 5-2's) and, plus three, of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(NoisyOptions);

impl NoisyOptions {
    /// Figure 5-2's settings with these steps and seed.
    pub fn network(&self) -> IoffeOptions {
        IoffeOptions { steps: self.steps, eval_every: self.eval_every, seed: self.seed, ..IoffeOptions::default() }
    }

    /// The noise of strength `k`.
    pub fn noise(k: f64) -> InjectedNoise {
        InjectedNoise { mean: k, std_min: 0.0, std_max: k }
    }
}

/// Evaluations the quick run makes.
const QUICK_EVALS: usize = 2;

/// One network's held-out accuracy over training (evaluation mode: no noise).
#[derive(Debug, Clone, Serialize)]
pub struct NoisyRun {
    pub name: String,
    /// The noise strength k (none for the networks without noise).
    pub noise_scale: Option<f64>,
    pub steps: Vec<usize>,
    pub accuracy: Vec<f64>,
    /// The mean of `accuracy` over the evaluations after step 0: how fast the network learned
    /// (full run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_accuracy: Option<f64>,
    /// The first step at which `accuracy` reached [`LEVEL`] (full run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_reaching_level: Option<usize>,
    /// The landscape along the gradient every `probe_every` steps (the runs without noise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub landscape: Vec<AlongGradient>,
}

/// The accuracy level whose first crossing is reported.
pub const LEVEL: f64 = 0.95;

impl NoisyRun {
    fn of(name: String, noise_scale: Option<f64>, steps: Vec<usize>, accuracy: Vec<f64>, full: bool) -> NoisyRun {
        let later = &accuracy[1..];
        let mean_accuracy = full.then(|| later.iter().sum::<f64>() / later.len() as f64);
        let step_reaching_level = steps.iter().zip(&accuracy).find(|(_, a)| full && **a >= LEVEL).map(|(s, _)| *s);
        NoisyRun { name, noise_scale, steps, accuracy, mean_accuracy, step_reaching_level, landscape: Vec::new() }
    }
}

/// The numbers the chapter quotes from Figure 5-10 (runs: without BatchNorm, with it, then one per
/// noise strength).
#[derive(Debug, Clone, Serialize)]
pub struct NoisySummary {
    pub level: f64,
    pub plain_step_reaching_level: Option<usize>,
    pub bn_step_reaching_level: Option<usize>,
    pub plain_mean_accuracy: Option<f64>,
    pub bn_mean_accuracy: Option<f64>,
    pub plain_first_accuracy: f64,
    pub bn_first_accuracy: f64,
    /// Per noise strength, in `noise_scales`' order.
    pub noisy_step_reaching_level: Vec<Option<usize>>,
    pub noisy_mean_accuracy: Vec<Option<f64>>,
    pub noisy_first_accuracy: Vec<f64>,
    /// The landscape measures averaged over the probes after step 0, without and with BatchNorm,
    /// and their ratios (without ÷ with).
    pub plain_loss_range: f64,
    pub bn_loss_range: f64,
    pub loss_range_ratio: f64,
    pub plain_grad_change: f64,
    pub bn_grad_change: f64,
    pub grad_change_ratio: f64,
    pub plain_effective_beta: f64,
    pub bn_effective_beta: f64,
    pub effective_beta_ratio: f64,
    /// The same at step 0, at initialisation.
    pub plain_loss_range_init: f64,
    pub bn_loss_range_init: f64,
    pub plain_grad_change_init: f64,
    pub bn_grad_change_init: f64,
    pub plain_effective_beta_init: f64,
    pub bn_effective_beta_init: f64,
}

/// One number read off an [`AlongGradient`].
type Measure = fn(&AlongGradient) -> f64;

impl NoisySummary {
    fn of(runs: &[NoisyRun]) -> NoisySummary {
        let (plain, bn, noisy) = (&runs[0], &runs[1], &runs[2..]);
        let later = |r: &NoisyRun, f: Measure| {
            let v: Vec<f64> = r.landscape[1..].iter().map(f).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let range: Measure = |p| p.loss_range;
        let change: Measure = |p| p.max_grad_change;
        let beta: Measure = |p| p.effective_beta;
        NoisySummary {
            plain_loss_range: later(plain, range),
            bn_loss_range: later(bn, range),
            loss_range_ratio: later(plain, range) / later(bn, range),
            plain_grad_change: later(plain, change),
            bn_grad_change: later(bn, change),
            grad_change_ratio: later(plain, change) / later(bn, change),
            plain_effective_beta: later(plain, beta),
            bn_effective_beta: later(bn, beta),
            effective_beta_ratio: later(plain, beta) / later(bn, beta),
            plain_loss_range_init: plain.landscape[0].loss_range,
            bn_loss_range_init: bn.landscape[0].loss_range,
            plain_grad_change_init: plain.landscape[0].max_grad_change,
            bn_grad_change_init: bn.landscape[0].max_grad_change,
            plain_effective_beta_init: plain.landscape[0].effective_beta,
            bn_effective_beta_init: bn.landscape[0].effective_beta,
            level: LEVEL,
            plain_step_reaching_level: plain.step_reaching_level,
            bn_step_reaching_level: bn.step_reaching_level,
            plain_mean_accuracy: plain.mean_accuracy,
            bn_mean_accuracy: bn.mean_accuracy,
            plain_first_accuracy: plain.accuracy[1],
            bn_first_accuracy: bn.accuracy[1],
            noisy_step_reaching_level: noisy.iter().map(|r| r.step_reaching_level).collect(),
            noisy_mean_accuracy: noisy.iter().map(|r| r.mean_accuracy).collect(),
            noisy_first_accuracy: noisy.iter().map(|r| r.accuracy[1]).collect(),
        }
    }
}

/// What Figure 5-10 measured. Quick mode: the first evaluations, without options and summary.
#[derive(Debug, Clone, Serialize)]
pub struct NoisyData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<NoisyOptions>,
    /// The settings of the networks (Figure 5-2's, with these steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<IoffeOptions>,
    /// Without BatchNorm, with it, with it and the injected noise.
    pub runs: Vec<NoisyRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<NoisySummary>,
}

/// Figures 5-11 and 5-12's data: where their numbers are.
#[derive(Serialize)]
struct Source {
    source: &'static str,
}

const SOURCE: Source = Source { source: "bn-noisy.json" };
const COMPANIONS: [&str; 2] = ["bn-landscape-loss", "bn-landscape-grad"];

/// Figures 5-10 (held-out accuracy with no BatchNorm, BatchNorm, and "noisy" BatchNorm), 5-11 and
/// 5-12 (the loss and the gradient along the gradient, without and with BatchNorm).
pub struct NoisyBatchNorm;

impl Experiment for NoisyBatchNorm {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "bn-noisy";
    const ABOUT: &'static str = "Santurkar et al.: BatchNorm with random time-varying noise injected after every BatchNorm layer, against BatchNorm and no BatchNorm (Figure 5-10); the loss and gradient along the gradient (Figures 5-11, 5-12)";
    type Options = NoisyOptions;
    type Data = NoisyData;

    fn run(opts: &NoisyOptions, run_mode: &GenOptions) -> Result<NoisyData> {
        ensure!(
            opts.steps >= QUICK_EVALS * opts.eval_every,
            "--steps {} must be at least {QUICK_EVALS} × --eval-every {}",
            opts.steps,
            opts.eval_every
        );
        ensure!(!opts.noise_scales.is_empty(), "--noise-scales needs at least one strength");
        ensure!(
            opts.probe_every.is_multiple_of(opts.eval_every) && opts.probe_every < opts.steps,
            "--probe-every {} must be a multiple of --eval-every {} and below --steps {}",
            opts.probe_every,
            opts.eval_every,
            opts.steps
        );
        ensure!(
            (2..=opts.network().train_examples).contains(&opts.probe_examples),
            "--probe-examples must be between 2 and the {} training examples",
            opts.network().train_examples
        );
        let steps = if run_mode.quick { QUICK_EVALS * opts.eval_every } else { opts.steps };
        let net = opts.network();
        let etas: Vec<f64> = opts.step_multiples.iter().map(|m| m * net.lr).collect();
        let run = |norm, name: String, k: Option<f64>| -> Result<NoisyRun> {
            let mut landscape = Vec::new();
            // The landscape is measured on the runs without injected noise only.
            let probe = |step: usize, net: &lab::Mlp, train: &lab::data::Dataset| -> Result<()> {
                if k.is_none() && step.is_multiple_of(opts.probe_every) {
                    let probe = train.take(opts.probe_examples)?;
                    landscape.push(along_gradient(net, step, &probe.x, &probe.y, &etas)?);
                }
                Ok(())
            };
            let r = run_one(&net, norm, "", steps, true, probe)?.0;
            Ok(NoisyRun { landscape, ..NoisyRun::of(name, k, r.steps, r.accuracy, !run_mode.quick) })
        };
        let mut runs =
            vec![run(Norm::None, "without BatchNorm".into(), None)?, run(Norm::Batch, "with BatchNorm".into(), None)?];
        for &k in &opts.noise_scales {
            let name = format!("BatchNorm + noise, k = {k}");
            runs.push(with_injected_noise(NoisyOptions::noise(k), opts.seed + 3, || run(Norm::Batch, name, Some(k)))?);
        }
        if run_mode.quick {
            return Ok(NoisyData { options: None, network: None, runs, summary: None });
        }
        let summary = NoisySummary::of(&runs);
        Ok(NoisyData { options: Some(opts.clone()), network: Some(net), runs, summary: Some(summary) })
    }

    fn draw(data: &NoisyData) -> Result<Vec<Drawing>> {
        let mean = |m: Option<f64>| m.unwrap_or(f64::NAN);
        let (Some(net), Some(s)) = (&data.network, &data.summary) else {
            // Quick mode names the companions so the book's tests know which generator owns them.
            let mut figs = vec![Drawing::new(Self::NAME, "", String::new(), data)?];
            for name in COMPANIONS {
                figs.push(Drawing::new(name, "", String::new(), &SOURCE)?);
            }
            return Ok(figs);
        };
        let mut chart = LineChart::new(format!(
            "Held-out accuracy, sigmoid MLP {} × {}, batch {}, with injected BatchNorm noise",
            net.depth, net.width, net.batch
        ))
        .x_label("step")
        .y_label("test accuracy");
        for (slot, r) in data.runs.iter().enumerate() {
            let pts = r.steps.iter().zip(&r.accuracy).map(|(&t, &a)| (t as f64, a)).collect();
            let style = if slot >= 2 { SeriesStyle::dashed() } else { SeriesStyle::solid() };
            chart = chart.series_with(r.name.clone(), pts, style.color(slot));
        }
        let noisy: Vec<String> = data.runs[2..]
            .iter()
            .map(|r| {
                format!("{:.3} with noise of strength {}", mean(r.mean_accuracy), r.noise_scale.unwrap_or(f64::NAN))
            })
            .collect();
        let alt = format!(
            "Test accuracy against step for the network of Figure 5-2 without BatchNorm, with it, and with it plus random noise of non-zero mean and non-unit variance added after every BatchNorm layer at every step. Mean accuracy over the run: {:.3} without BatchNorm, {:.3} with it, {}.",
            mean(s.plain_mean_accuracy),
            mean(s.bn_mean_accuracy),
            noisy.join(", ")
        );
        let fig_noise = Drawing::new(Self::NAME, &alt, chart.render(&alt)?, data)?;

        // Figures 5-11 and 5-12: the landscape along the gradient, without and with BatchNorm.
        let landscape = |title: String, y: &str, f: fn(&AlongGradient) -> f64| -> LineChart {
            let mut chart = LineChart::new(title).x_label("step").y_label(y).log_y().markers();
            for (slot, r) in data.runs[..2].iter().enumerate() {
                let pts = r.landscape.iter().map(|p| (p.step as f64, f(p))).collect();
                chart = chart.series_with(r.name.clone(), pts, SeriesStyle::solid().color(slot));
            }
            chart
        };
        let opts = data.options.as_ref().expect("a full run has options");
        let steps = opts.step_multiples.iter().map(|m| format!("{m}")).collect::<Vec<_>>().join(", ");
        let loss = landscape(
            format!("Variation of the loss along the gradient (steps of {steps} × η)"),
            "max − min of the loss",
            |p| p.loss_range,
        );
        let alt_loss = format!(
            "The range of the training loss over steps along the gradient, at points of training, log scale. After the start it averages {:.3} without BatchNorm and {:.3} with it, {:.1} times less.",
            s.plain_loss_range, s.bn_loss_range, s.loss_range_ratio
        );
        let fig_loss = Drawing::new(COMPANIONS[0], &alt_loss, loss.render(&alt_loss)?, &SOURCE)?;
        let grad = landscape(
            format!("Change of the gradient along the gradient (steps of {steps} × η)"),
            "max ‖∇L(θ − ηg) − ∇L(θ)‖",
            |p| p.max_grad_change,
        );
        let alt_grad = format!(
            "The largest l2 change of the gradient over the same steps, log scale. After the start it averages {:.3} without BatchNorm and {:.3} with it, {:.1} times less.",
            s.plain_grad_change, s.bn_grad_change, s.grad_change_ratio
        );
        let fig_grad = Drawing::new(COMPANIONS[1], &alt_grad, grad.render(&alt_grad)?, &SOURCE)?;
        Ok(vec![fig_noise, fig_loss, fig_grad])
    }
}

impl std::fmt::Display for NoisyData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            let acc: Vec<String> = r.accuracy.iter().map(|a| format!("{a:.3}")).collect();
            let mean = r.mean_accuracy.map_or("–".to_string(), |m| format!("{m:.3}"));
            writeln!(f, "{:<30} mean {mean}; accuracy every evaluation: {}", r.name, acc.join(" "))?;
        }
        Ok(())
    }
}

//! Figure 5-10: Santurkar, Tsipras, Ilyas & Madry's (2018, §2.1) "noisy" BatchNorm on the network
//! of Figures 5-2 to 5-5 — BatchNorm with random, time-varying noise injected after every BatchNorm
//! layer (`lab::norm::with_injected_noise`), trained beside the same network with plain BatchNorm and
//! without it.

use crate::ioffe::{IoffeOptions, run_one};
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
}

/// The accuracy level whose first crossing is reported.
pub const LEVEL: f64 = 0.95;

impl NoisyRun {
    fn of(name: String, noise_scale: Option<f64>, steps: Vec<usize>, accuracy: Vec<f64>, full: bool) -> NoisyRun {
        let later = &accuracy[1..];
        let mean_accuracy = full.then(|| later.iter().sum::<f64>() / later.len() as f64);
        let step_reaching_level = steps.iter().zip(&accuracy).find(|(_, a)| full && **a >= LEVEL).map(|(s, _)| *s);
        NoisyRun { name, noise_scale, steps, accuracy, mean_accuracy, step_reaching_level }
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
}

impl NoisySummary {
    fn of(runs: &[NoisyRun]) -> NoisySummary {
        let (plain, bn, noisy) = (&runs[0], &runs[1], &runs[2..]);
        NoisySummary {
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

/// Figure 5-10: held-out accuracy with no BatchNorm, BatchNorm, and "noisy" BatchNorm.
pub struct NoisyBatchNorm;

impl Experiment for NoisyBatchNorm {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "bn-noisy";
    const ABOUT: &'static str = "Santurkar et al. §2.1: BatchNorm with random time-varying noise injected after every BatchNorm layer, against BatchNorm and no BatchNorm (Figure 5-10)";
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
        let steps = if run_mode.quick { QUICK_EVALS * opts.eval_every } else { opts.steps };
        let net = opts.network();
        let run = |norm, name: String, k: Option<f64>| -> Result<NoisyRun> {
            let r = run_one(&net, norm, "", steps, true)?.0;
            Ok(NoisyRun::of(name, k, r.steps, r.accuracy, !run_mode.quick))
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
            return Ok(vec![Drawing::new(Self::NAME, "", String::new(), data)?]);
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
        Ok(vec![Drawing::new(Self::NAME, &alt, chart.render(&alt)?, data)?])
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

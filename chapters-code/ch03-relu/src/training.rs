//! Figure 3-4: the first-over-last ratio g¹/gᴸ of the gradient at each layer (the book's measure,
//! chapter 1: gˡ = sqrt((1/B) Σᵢ ‖δˡᵢ‖²), [`lab::probe::error_rms`]) while sigmoid, tanh and ReLU
//! networks train on the digits, and each network's test accuracy.

use crate::digits::digits;
use crate::families::{NetFamily, TrainedFamily, trained_family};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::Mlp;
use lab::data::Dataset;
use lab::experiments::{self, Phase};
use lab::plot::{Legend, LineChart, SeriesStyle};
use lab::threads::parallel_map;
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figure 3-4.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct TrainingOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 10, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_train: usize,
    /// Training images the profile is measured on (the first of the training set).
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_probe: usize,
    /// Test images.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_test: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// SGD steps (minibatches).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Measure the profile every this many steps.
    #[arg(long, default_value_t = 25, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub every: usize,
    /// Momentum of SGD (below 1).
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    pub momentum: f64,
    /// Networks as activation@σ_w²:learning_rate, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = trained_family,
        default_values_t = [
            TrainedFamily { family: NetFamily::new(Activation::Sigmoid, 1.0), lr: 0.1 },
            TrainedFamily { family: NetFamily::recommended(Activation::Tanh), lr: 0.01 },
            TrainedFamily { family: NetFamily::new(Activation::Relu, 2.0), lr: 0.01 },
        ]
    )]
    pub nets: Vec<TrainedFamily>,
    /// Seed of the weights, the digit images and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(TrainingOptions);

/// What the full run adds to a network's record: how training ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingOutcome {
    // Every ratio is g¹/gᴸ.
    pub test_accuracy: f64,
    pub diverged: bool,
    pub initial_ratio: f64,
    pub final_ratio: Option<f64>,
    pub min_ratio: f64,
    pub max_ratio: f64,
}

/// One network's profile during training (quick mode: the first two probes, no outcome).
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    pub label: String,
    pub lr: f64,
    /// Steps at which the profile was taken.
    pub steps: Vec<usize>,
    /// g¹/gᴸ at each probe.
    pub ratios: Vec<f64>,
    /// gˡ per probe, per hidden layer.
    pub g: Vec<Vec<f64>>,
    pub probe_losses: Vec<f64>,
    #[serde(flatten)]
    pub outcome: Option<TrainingOutcome>,
}

/// What [`g_training_profile`] recorded.
#[derive(Debug, Clone)]
pub struct GProfile {
    /// Steps at which the profile was taken (0 = at initialisation).
    pub steps: Vec<usize>,
    /// gˡ per probe, per hidden layer, on the fixed probe batch.
    pub g: Vec<Vec<f64>>,
    /// g¹/gᴸ per probe.
    pub ratios: Vec<f64>,
    /// Loss on the probe batch at each probe.
    pub probe_losses: Vec<f64>,
    /// True when the loss became NaN or infinite and training stopped early.
    pub diverged: bool,
}

/// Trains a network built from `config` on `train_set` through `phases` (with
/// [`lab::experiments::train_phases`]) and measures the book's gˡ ([`lab::probe::error_rms`]) of every
/// hidden layer on the fixed probe batch at step 0 and every `every` steps. Returns the network too.
pub fn g_training_profile(
    config: &lab::MlpConfig,
    train_set: &Dataset,
    probe: (&candle_core::Tensor, &candle_core::Tensor),
    phases: &[Phase],
    batch: usize,
    seed: u64,
    every: usize,
) -> Result<(GProfile, Mlp)> {
    let net = config.build(&lab::DEVICE)?;
    let (mut steps, mut g, mut ratios, mut probe_losses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let records = experiments::train_phases(&net, train_set, phases, batch, seed, every, |step, net| {
        let gl = lab::probe::error_rms(net, probe.0, probe.1)?;
        ratios.push(gl[0] / gl[gl.len() - 1]);
        g.push(gl);
        probe_losses.push(net.loss(probe.0, probe.1)?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?);
        steps.push(step);
        Ok(())
    })?;
    let total: usize = phases.iter().map(|p| p.steps).sum();
    let diverged = records.len() < total || records.last().is_some_and(|r| !r.loss.is_finite());
    Ok((GProfile { steps, g, ratios, probe_losses, diverged }, net))
}

/// What Figure 3-4 measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingData {
    pub options: TrainingOptions,
    pub runs: Vec<TrainingRun>,
}

/// Figure 3-4: g¹/gᴸ during training, and each network's test accuracy.
pub struct DeltaTraining;

impl Experiment for DeltaTraining {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "delta-training";
    const ABOUT: &'static str = "The first-over-last gradient ratio g¹/gᴸ during training (Figure 3-4)";
    type Options = TrainingOptions;
    type Data = TrainingData;

    fn run(opts: &TrainingOptions, go: &GenOptions) -> Result<TrainingData> {
        ensure!(opts.depth >= 2, "--depth must be at least 2, got {}", opts.depth);
        ensure!(opts.every > 0 && !opts.nets.is_empty(), "need a probe interval (--every) and a network (--nets)");
        ensure!(opts.momentum < 1.0, "--momentum must be below 1, got {}", opts.momentum);
        cli::ensure_at_most("n-probe", opts.n_probe, "n-train", opts.n_train)?;
        let (train, _, test) = digits(opts.n_train, 0, opts.n_test, opts.seed)?;
        let probe = train.take(opts.n_probe)?;
        let steps = if go.quick { opts.every * 2 } else { opts.steps };
        let runs = parallel_map(&opts.nets, 2, |n| -> Result<TrainingRun> {
            let config = n.family.config(train.dim(), opts.width, opts.depth, train.classes).with_seed(opts.seed);
            let phases = [Phase { optim: Optim::Momentum { lr: n.lr, momentum: opts.momentum }, steps }];
            let (p, net) =
                g_training_profile(&config, &train, (&probe.x, &probe.y), &phases, opts.batch, opts.seed, opts.every)?;
            let outcome = if go.quick {
                None
            } else {
                Some(TrainingOutcome {
                    test_accuracy: lab::train::evaluate(&net, &test.x, &test.y, steps)?.accuracy,
                    diverged: p.diverged,
                    initial_ratio: p.ratios[0],
                    final_ratio: p.ratios.last().copied(),
                    min_ratio: p.ratios.iter().copied().fold(f64::INFINITY, f64::min),
                    max_ratio: p.ratios.iter().copied().fold(0.0, f64::max),
                })
            };
            Ok(TrainingRun {
                label: n.family.label.clone(),
                lr: n.lr,
                steps: p.steps,
                ratios: p.ratios,
                g: p.g,
                probe_losses: p.probe_losses,
                outcome,
            })
        })?;
        Ok(TrainingData { options: opts.clone(), runs })
    }

    fn draw(data: &TrainingData) -> Result<Vec<Drawing>> {
        // Quick runs train for two probes and are not drawn.
        if data.runs.iter().any(|r| r.outcome.is_none()) {
            return Ok(vec![Drawing::data_only("delta-training", data)?]);
        }
        let opts = &data.options;
        let mut chart = LineChart::new(format!(
            "g¹/gᴸ during training: {} hidden layers of {} units, digits",
            opts.depth, opts.width
        ))
        .x_label("SGD step")
        .y_label("g¹ / gᴸ (first over last hidden layer)")
        .log_y();
        for (i, r) in data.runs.iter().enumerate() {
            let pts: Vec<(f64, f64)> = r.steps.iter().zip(&r.ratios).map(|(&s, &q)| (s as f64, q)).collect();
            let accuracy = r.outcome.as_ref().map_or(0.0, |o| o.test_accuracy);
            let name = format!("{} (test acc. {:.0}%)", r.label, 100.0 * accuracy);
            chart = chart.series_with(name, pts, SeriesStyle::solid().color(i));
        }
        let alt = "Log-scale ratio of the gradient at the first to the last hidden layer, g¹/gᴸ, over 1000 training steps: the sigmoid network's stays near one in a million throughout, while the tanh and ReLU networks' start near one and drift above it";
        let svg = chart.hline(1.0, "equal").legend(Legend::Outside).size(780, 440).render(alt)?;
        Ok(vec![Drawing::new("delta-training", alt, svg, data)?])
    }
}

impl std::fmt::Display for TrainingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<26} {:>7} {:>14} {:>14} {:>14} {:>10}",
            "network", "lr", "ratio at 0", "ratio at end", "min ratio", "test acc."
        )?;
        for r in &self.runs {
            let o = r.outcome.as_ref();
            let nan = f64::NAN;
            writeln!(
                f,
                "{:<26} {:>7} {:>14.3e} {:>14.3e} {:>14.3e} {:>10.3}",
                r.label,
                r.lr,
                o.map_or(nan, |o| o.initial_ratio),
                o.and_then(|o| o.final_ratio).unwrap_or(nan),
                o.map_or(nan, |o| o.min_ratio),
                o.map_or(nan, |o| o.test_accuracy)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_error_rms_and_training_is_labs() -> Result<()> {
        let (train, _, _) = digits(200, 0, 0, 0)?;
        let probe = train.take(50)?;
        let config = NetFamily::new(Activation::Relu, 2.0).config(train.dim(), 16, 4, train.classes).with_seed(1);
        let phases = [Phase { optim: Optim::Momentum { lr: 0.01, momentum: 0.9 }, steps: 10 }];
        let (p, net) = g_training_profile(&config, &train, (&probe.x, &probe.y), &phases, 16, 1, 5)?;
        assert_eq!(p.steps, [0, 5, 10]);
        // The last probe is error_rms of the trained network.
        assert_eq!(p.g[2], lab::probe::error_rms(&net, &probe.x, &probe.y)?);
        assert!((p.ratios[2] - p.g[2][0] / p.g[2][3]).abs() < 1e-12);
        // The same training as lab's train_phases on its own: the same trained network.
        let direct = config.build(&lab::DEVICE)?;
        experiments::train_phases(&direct, &train, &phases, 16, 1, 5, |_, _| Ok(()))?;
        assert_eq!(p.g[2], lab::probe::error_rms(&direct, &probe.x, &probe.y)?);
        Ok(())
    }
}

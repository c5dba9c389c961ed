//! Plain, plain + LayerNorm and residual MLPs of 8 to 64 blocks trained on the digits
//! (Figure 6-2).

use crate::profile::architectures;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResMlpConfig, train};
use lab::stats::{running_mean, tail_mean};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figure 6-2.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct TrainingOptions {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate of SGD with momentum (the same for every network).
    #[arg(long, default_value_t = 0.02, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// Momentum (below 1).
    #[arg(long, default_value_t = 0.9, value_parser = cli::finite_non_negative_f64)]
    pub momentum: f64,
    /// Training digits.
    #[arg(long, default_value_t = 1500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_examples: usize,
    /// Seed of the digits and the weights (plus one: of the minibatches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(TrainingOptions);

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 4;
/// Smoothing window of the plotted losses, and the tail the final loss averages over.
const SMOOTH: usize = 20;
/// Plotted losses are cut here, so that a diverging run does not flatten the others.
const CLIP: f64 = 4.0;

/// The networks of Figure 6-2 for `blocks` blocks: [`architectures`] plus a plain network with a
/// LayerNorm before every block, the book's stand-in for He et al.'s batch-normalised plain nets.
pub fn training_architectures(d_in: usize, width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let [plain, residual] = architectures(d_in, width, blocks);
    let plain_ln = ("plain + LayerNorm", plain.1.clone().with_layer_norm(true));
    vec![plain, plain_ln, residual]
}

/// How a full run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingOutcome {
    /// The step whose loss was not finite (None: trained to the end).
    pub diverged_at_step: Option<usize>,
    /// Mean of the last `SMOOTH` losses (None: diverged).
    pub final_loss: Option<f64>,
}

/// One network's training run in Figure 6-2.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    pub depth: usize,
    pub name: &'static str,
    /// Minibatch loss of every step.
    pub losses: Vec<f64>,
    /// Full runs only.
    #[serde(flatten)]
    pub outcome: Option<TrainingOutcome>,
}

/// What Figure 6-2 measured (quick mode: the shallowest depth, a few steps, runs only).
#[derive(Debug, Clone, Serialize)]
pub struct TrainingData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<TrainingOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_loss: Option<f64>,
    pub runs: Vec<TrainingRun>,
}

/// Figure 6-2: training loss of plain and residual MLPs at each depth on the digits.
pub struct ResTraining;

impl Experiment for ResTraining {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-training";
    const ABOUT: &'static str =
        "Training loss of plain vs residual MLPs at several depths on lab's digits (Figure 6-2)";
    type Options = TrainingOptions;
    type Data = TrainingData;

    fn run(opts: &TrainingOptions, run_mode: &GenOptions) -> Result<TrainingData> {
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(opts.momentum < 1.0, "--momentum must be below 1");
        ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 1), "every depth must be at least 1");
        ensure!(opts.width > 0 && opts.steps > 0, "width and steps must be at least 1");
        ensure!(opts.batch <= opts.train_examples, "--batch cannot exceed --train-examples");
        let (x, y) = standardized_digits(opts.train_examples, opts.seed)?;
        let optim = Optim::Momentum { lr: opts.lr, momentum: opts.momentum };
        let (depths, steps) = if run_mode.quick {
            (&opts.depths[..1], opts.steps.min(QUICK_STEPS))
        } else {
            (&opts.depths[..], opts.steps)
        };
        let mut runs = Vec::new();
        for &depth in depths {
            for (name, cfg) in training_architectures(784, opts.width, depth) {
                let net = cfg.with_seed(opts.seed).build()?;
                let losses = train(&net, &x, &y, optim, steps, opts.batch, opts.seed + 1)?;
                let outcome = (!run_mode.quick).then(|| {
                    // `train` stops at the first non-finite loss, which it records last.
                    let diverged = losses.last().is_some_and(|l| !l.is_finite());
                    TrainingOutcome {
                        diverged_at_step: diverged.then(|| losses.len() - 1),
                        final_loss: (!diverged).then(|| tail_mean(&losses, SMOOTH)),
                    }
                });
                runs.push(TrainingRun { depth, name, losses, outcome });
            }
        }
        if run_mode.quick {
            return Ok(TrainingData { options: None, smooth: None, chance_loss: None, runs });
        }
        Ok(TrainingData { options: Some(opts.clone()), smooth: Some(SMOOTH), chance_loss: Some(10f64.ln()), runs })
    }

    fn draw(data: &TrainingData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::new("res-training", "", String::new(), data)?]);
        };
        let mut chart = LineChart::new(format!("Training MLPs of 8 to 64 blocks (width {}) on digits", opts.width))
            .x_label("step")
            .y_label(format!("training loss (mean of {SMOOTH} steps, cut at {CLIP})"))
            .y_range(0.0, CLIP);
        for (i, r) in data.runs.iter().enumerate() {
            let points = running_mean(&r.losses, SMOOTH)
                .into_iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(s, l)| (s as f64, l.min(CLIP)))
                .collect();
            let style = match i % 3 {
                0 => SeriesStyle::dashed(),
                1 => SeriesStyle::dotted(),
                _ => SeriesStyle::solid(),
            };
            chart = chart.series_with(format!("L = {}, {}", r.depth, r.name), points, style.color(i / 3));
        }
        let chart = chart.hline(10f64.ln(), "chance: ln 10");
        let alt = "Training loss against step for plain (dashed), plain with LayerNorm (dotted) and residual (solid) MLPs of 8, 16, 32 and 64 blocks. The residual networks all fall to a low loss; the plain ones make progress only at 8 blocks and stay near ln 10 from 16 blocks on, with or without the norm; the 64-block plain network without a norm diverges.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("res-training", alt, svg, data)?])
    }
}

impl std::fmt::Display for TrainingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:>6} {:<22} {:>10} {:>16}", "blocks", "network", "first loss", "final loss (20)")?;
        for r in &self.runs {
            let first = r.losses.first().copied().unwrap_or(f64::NAN);
            let last = r.outcome.as_ref().and_then(|o| o.final_loss).or_else(|| r.losses.last().copied());
            writeln!(f, "{:>6} {:<22} {first:>10.3} {:>16.3}", r.depth, r.name, last.unwrap_or(f64::NAN))?;
        }
        Ok(())
    }
}

//! Veit, Wilber & Belongie (2016): delete one block of a trained network at test time. A residual
//! network degrades gracefully; a plain one collapses (Figure 6-7).

use crate::profile::architectures;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::HeldOutDigits;
use lab::net::{accuracy, cross_entropy};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResMlp, train};
use lab::stats::tail_mean;
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figure 6-7.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct LesionOptions {
    /// Number of blocks.
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub blocks: usize,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 400, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate of SGD with momentum.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// Momentum (below 1).
    #[arg(long, default_value_t = 0.9, value_parser = cli::finite_non_negative_f64)]
    pub momentum: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub digits: cli::DigitSplit,
    /// Seed of the digits and the weights (plus one: of the minibatches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(LesionOptions);

/// Test loss and accuracy of `net` with block `lesion` deleted (None: intact).
pub fn lesioned_eval(
    net: &ResMlp,
    x: &candle_core::Tensor,
    y: &candle_core::Tensor,
    lesion: Option<usize>,
) -> Result<(f64, f64)> {
    let logits = net.forward_lesioned(x, lesion)?;
    Ok((cross_entropy(&logits, y)?.to_scalar::<f32>()? as f64, accuracy(&logits, y)?))
}

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 3;

/// The lesion study of one trained network (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct Lesions {
    /// Mean of the last 20 training losses.
    pub final_train_loss: f64,
    pub intact_loss: f64,
    pub intact_accuracy: f64,
    /// Test loss and accuracy with block l deleted, block 1 first.
    pub lesioned_loss: Vec<f64>,
    pub lesioned_accuracy: Vec<f64>,
    pub mean_lesioned_accuracy: f64,
    pub worst_lesioned_accuracy: f64,
}

/// One network of Figure 6-7.
#[derive(Debug, Clone, Serialize)]
pub struct LesionRun {
    pub name: &'static str,
    /// Minibatch loss of every training step.
    pub losses: Vec<f64>,
    #[serde(flatten)]
    pub lesions: Option<Lesions>,
}

/// What Figure 6-7 measured (quick mode: a few training steps, no lesions, no options).
#[derive(Debug, Clone, Serialize)]
pub struct LesionData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<LesionOptions>,
    pub runs: Vec<LesionRun>,
}

/// Figure 6-7: test accuracy of a trained plain and residual network with each block deleted in turn.
pub struct Lesion;

impl Experiment for Lesion {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "lesion";
    const ABOUT: &'static str = "Delete one block of a trained plain or residual MLP at test time (Figure 6-7)";
    type Options = LesionOptions;
    type Data = LesionData;

    fn run(opts: &LesionOptions, run_mode: &GenOptions) -> Result<LesionData> {
        ensure!(opts.momentum < 1.0, "--momentum must be below 1");
        ensure!(opts.blocks >= 2 && opts.width > 0 && opts.steps > 0, "need blocks ≥ 2, width ≥ 1, steps ≥ 1");

        ensure!(opts.digits.test_examples > 0, "need at least one test example");
        let HeldOutDigits { train_x, train_y, test_x, test_y } = opts.digits.draw(opts.batch, opts.seed)?;
        let steps = if run_mode.quick { opts.steps.min(QUICK_STEPS) } else { opts.steps };
        let optim = Optim::Momentum { lr: opts.lr, momentum: opts.momentum };
        let mut runs = Vec::new();
        for (name, cfg) in architectures(784, opts.width, opts.blocks) {
            let net = cfg.with_seed(opts.seed).build()?;
            let losses = train(&net, &train_x, &train_y, optim, steps, opts.batch, opts.seed + 1)?;
            let lesions = if run_mode.quick {
                None
            } else {
                let (intact_loss, intact_accuracy) = lesioned_eval(&net, &test_x, &test_y, None)?;
                let (mut lesioned_loss, mut lesioned_accuracy) = (Vec::new(), Vec::new());
                for l in 0..opts.blocks {
                    let (lo, a) = lesioned_eval(&net, &test_x, &test_y, Some(l))?;
                    lesioned_loss.push(lo);
                    lesioned_accuracy.push(a);
                }
                let mean = lesioned_accuracy.iter().sum::<f64>() / lesioned_accuracy.len() as f64;
                let worst = lesioned_accuracy.iter().copied().fold(f64::INFINITY, f64::min);
                Some(Lesions {
                    final_train_loss: tail_mean(&losses, 20),
                    intact_loss,
                    intact_accuracy,
                    lesioned_loss,
                    lesioned_accuracy,
                    mean_lesioned_accuracy: mean,
                    worst_lesioned_accuracy: worst,
                })
            };
            runs.push(LesionRun { name, losses, lesions });
        }
        Ok(LesionData { options: (!run_mode.quick).then(|| opts.clone()), runs })
    }

    fn draw(data: &LesionData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("lesion", data)?]);
        };
        let mut chart = LineChart::new(format!(
            "Deleting one block of a trained {}-block MLP at test time ({} test digits)",
            opts.blocks, opts.digits.test_examples
        ))
        .x_label("deleted block")
        .y_label("test accuracy")
        .y_range(0.0, 1.0)
        .integer_x()
        .markers();
        for (i, r) in data.runs.iter().enumerate() {
            let Some(lesions) = &r.lesions else { continue };
            let acc = lesions.lesioned_accuracy.iter().enumerate().filter(|(_, a)| a.is_finite());
            let acc: Vec<(f64, f64)> = acc.map(|(l, &a)| ((l + 1) as f64, a)).collect();
            chart = chart.series_with(format!("{}, one block deleted", r.name), acc, SeriesStyle::solid().color(i));
            let flat = vec![(1.0, lesions.intact_accuracy), (opts.blocks as f64, lesions.intact_accuracy)];
            chart = chart.series_with(format!("{}, intact", r.name), flat, SeriesStyle::dashed().color(i));
        }
        let chart = chart.hline(0.1, "chance");
        let alt = "Test accuracy of a trained plain and a trained residual MLP with each block deleted in turn, against the intact accuracy (dashed). The residual network loses a little for most blocks; the plain network falls to near chance whichever block is deleted.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("lesion", alt, svg, data)?])
    }
}

impl std::fmt::Display for LesionData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            let (intact, acc) = match &r.lesions {
                Some(l) => (l.intact_accuracy, l.lesioned_accuracy.iter().map(|a| format!("{a:.2}")).collect()),
                None => (f64::NAN, Vec::new()),
            };
            writeln!(f, "{:<20} intact {intact:.3}; one block deleted: [{}]", r.name, acc.join(", "))?;
        }
        Ok(())
    }
}

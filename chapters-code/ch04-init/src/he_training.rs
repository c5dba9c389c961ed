//! Figure 4-4: what He et al.'s (2015) variance argument does to training — a deep ReLU MLP trained on
//! digits from He, Xavier and LSUV initialisation.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::HeldOutDigits;
use lab::plot::LineChart;
use lab::stats::running_mean;
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-4.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct HeTrainingOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Optimiser steps per run.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Minibatch size (also the LSUV batch).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate of SGD with momentum.
    #[arg(long, default_value_t = 0.005, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Momentum (PyTorch's convention), below 1.
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    pub momentum: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub digits: cli::DigitSplit,
    /// Seed of the weights and the digits (plus one: of the batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(HeTrainingOptions);

/// The runs of Figure 4-4: name, initialisation, and whether LSUV rescales it.
pub fn he_training_inits() -> [(&'static str, Init, bool); 3] {
    [
        ("He", Init::HE, false),
        ("Xavier", Init::XavierNormal { gain: 1.0 }, false),
        ("LSUV (orthogonal, then rescaled)", Init::Orthogonal { gain: 1.0 }, true),
    ]
}

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 5;
/// Smoothing window of the plotted losses.
const SMOOTH: usize = 20;

/// One initialisation's training run (quick mode: the losses only).
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    pub name: &'static str,
    pub init: Init,
    pub lsuv: bool,
    /// Training loss at every step.
    pub losses: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// The last `SMOOTH`-step mean of the training loss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged: Option<bool>,
}

/// What Figure 4-4 measured (quick mode: the runs' first losses only).
#[derive(Debug, Clone, Serialize)]
pub struct HeTrainingData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<HeTrainingOptions>,
    /// Smoothing window of the plotted losses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth: Option<usize>,
    /// ln 10: the loss of a uniform guess.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_loss: Option<f64>,
    pub runs: Vec<TrainingRun>,
}

/// Figure 4-4: training curves of a deep ReLU MLP under each initialisation.
pub struct HeTraining;

impl Experiment for HeTraining {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "he-training";
    const ABOUT: &'static str =
        "Training curves of a deep ReLU MLP on digits from He, Xavier and LSUV initialisation (Figure 4-4)";
    type Options = HeTrainingOptions;
    type Data = HeTrainingData;

    fn run(opts: &HeTrainingOptions, run_mode: &GenOptions) -> Result<HeTrainingData> {
        ensure!(opts.depth >= 1 && opts.width > 0 && opts.steps > 0, "need depth, width and steps ≥ 1");
        ensure!(opts.momentum < 1.0, "--momentum must be below 1, got {}", opts.momentum);

        let HeldOutDigits { train_x, train_y, test_x, test_y } = opts.digits.draw(opts.batch, opts.seed)?;
        let steps = if run_mode.quick { opts.steps.min(QUICK_STEPS) } else { opts.steps };
        let mut runs = Vec::new();
        for (name, init, use_lsuv) in he_training_inits() {
            let net = MlpConfig::new(train_x.dim(1)?, opts.width, opts.depth, 10, Activation::Relu, init)
                .with_seed(opts.seed)
                .build(&DEVICE)?;
            if use_lsuv {
                lab::init::lsuv(&net, &train_x.narrow(0, 0, opts.batch.min(opts.digits.train_examples))?, 0.01, 10)?;
            }
            let mut cfg = TrainConfig::new(Optim::Momentum { lr: opts.lr, momentum: opts.momentum }, steps, opts.batch);
            cfg.seed = opts.seed + 1;
            cfg.progress = run_mode.progress;
            let history = train(&net, &train_x, &train_y, Some((&test_x, &test_y)), &cfg)?;
            let losses = history.losses();
            let mut run = TrainingRun {
                name,
                init,
                lsuv: use_lsuv,
                losses,
                test_accuracy: None,
                test_loss: None,
                final_train_loss: None,
                diverged: None,
            };
            if !run_mode.quick {
                let eval = history.final_eval().expect("train evaluates at the end");
                run.test_accuracy = Some(eval.accuracy);
                run.test_loss = Some(eval.loss);
                run.final_train_loss = running_mean(&run.losses, SMOOTH).last().copied();
                run.diverged = Some(history.diverged);
            }
            runs.push(run);
        }
        if run_mode.quick {
            return Ok(HeTrainingData { options: None, smooth: None, chance_loss: None, runs });
        }
        Ok(HeTrainingData { options: Some(opts.clone()), smooth: Some(SMOOTH), chance_loss: Some(10f64.ln()), runs })
    }

    fn draw(data: &HeTrainingData) -> Result<Vec<Drawing>> {
        let (Some(opts), Some(chance)) = (&data.options, data.chance_loss) else {
            return Ok(vec![Drawing::data_only("he-training", data)?]);
        };
        let mut chart =
            LineChart::new(format!("Training a {}-layer ReLU MLP (width {}) on digits", opts.depth, opts.width))
                .x_label("step")
                .y_label(format!("training loss (mean of {SMOOTH} steps)"));
        for r in &data.runs {
            let smooth = running_mean(&r.losses, SMOOTH);
            chart = chart.series(r.name, smooth.iter().enumerate().map(|(i, &l)| (i as f64, l)).collect());
        }
        chart = chart.hline(chance, "chance: ln 10");
        let alt = "Training loss against step for three initialisations of a deep ReLU MLP. He and LSUV fall steadily; Xavier stays flat at ln 10, the loss of a uniform guess.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("he-training", alt, svg, data)?])
    }
}

impl std::fmt::Display for HeTrainingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<34} {:>12} {:>12} {:>10}", "init", "first loss", "last loss", "test acc")?;
        for r in &self.runs {
            let (first, last) = (r.losses.first(), r.losses.last());
            writeln!(
                f,
                "{:<34} {:>12.4} {:>12.4} {:>10.3}",
                r.name,
                first.copied().unwrap_or(f64::NAN),
                last.copied().unwrap_or(f64::NAN),
                r.test_accuracy.unwrap_or(f64::NAN)
            )?;
        }
        Ok(())
    }
}

//! Figure 3-5: test accuracy against depth for sigmoid, tanh and ReLU networks on the digits, each
//! (activation, depth) with the same training budget and the best of the same learning-rate grid.

use crate::digits::digits;
use crate::families::{NetFamily, family};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::experiments::{self, Score};
use lab::plot::{LineChart, SeriesStyle};
use lab::threads::parallel_map;
use lab::train::{Optim, TrainConfig};
use serde::Serialize;

/// Settings of Figure 3-5.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct DepthOptions {
    /// Depths (hidden layers), comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3, 4, 8, 16], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_train: usize,
    /// Validation images (they choose the learning rate).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_val: usize,
    /// Test images (they give the reported accuracy).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_test: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// SGD steps per run.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Learning-rate grid (momentum SGD), comma-separated; the best on the validation set is kept.
    #[arg(long, value_delimiter = ',', default_values_t = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lrs: Vec<f64>,
    /// Momentum of SGD (below 1).
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    pub momentum: f64,
    /// Networks as activation[@σ_w²] (default σ_w²: the activation's recommended gain squared).
    #[allow(rustdoc::broken_intra_doc_links)] // the doc is the --help text
    #[arg(
        long = "nets",
        value_name = "NETS",
        value_delimiter = ',',
        value_parser = family,
        default_values_t = [Activation::Sigmoid, Activation::Tanh, Activation::Relu].map(NetFamily::recommended)
    )]
    pub families: Vec<NetFamily>,
    /// Seed of the weights, the digit images and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Trainings run side by side (each is single-threaded work; 2 suits two cores).
    #[arg(long, default_value_t = 2, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub workers: usize,
}
chapter_kit::defaults_from_flags!(DepthOptions);

/// One training run's score (quick mode: the loss only — an accuracy is a count over 1000 images,
/// where one flipped prediction on another CPU would exceed the freshness test's tolerance).
#[derive(Debug, Clone, Serialize)]
pub struct DepthScore {
    pub lr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    pub final_train_loss: f64,
    pub diverged: bool,
}

impl DepthScore {
    fn of(s: &Score, with_accuracy: bool) -> DepthScore {
        DepthScore {
            lr: s.lr,
            val_accuracy: with_accuracy.then_some(s.val_accuracy),
            test_accuracy: with_accuracy.then_some(s.test_accuracy),
            final_train_loss: s.final_train_loss,
            diverged: s.diverged,
        }
    }
}

/// Each depth at its best learning rate (on the validation set).
#[derive(Debug, Clone, Serialize)]
pub struct BestByDepth {
    pub best_lr: Vec<f64>,
    pub test_accuracy: Vec<f64>,
    pub val_accuracy: Vec<f64>,
}

/// One activation's runs: per depth, per learning rate (quick mode: the first of each, no family).
#[derive(Debug, Clone, Serialize)]
pub struct DepthSeries {
    #[serde(flatten)]
    pub family: Option<NetFamily>,
    pub scores: Vec<Vec<DepthScore>>,
    #[serde(flatten)]
    pub best: Option<BestByDepth>,
}

/// What Figure 3-5 measured.
#[derive(Debug, Clone, Serialize)]
pub struct DepthData {
    pub options: DepthOptions,
    pub series: Vec<DepthSeries>,
    /// Per activation, the first depth whose test accuracy is below 50 % (full run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_depth_below_half: Option<Vec<Option<usize>>>,
}

/// Figure 3-5: test accuracy against depth, each (activation, depth) at its best learning rate.
pub struct DepthAccuracy;

impl Experiment for DepthAccuracy {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "depth-accuracy";
    const ABOUT: &'static str = "Test accuracy against depth under one training budget (Figure 3-5)";
    type Options = DepthOptions;
    type Data = DepthData;

    fn run(opts: &DepthOptions, go: &GenOptions) -> Result<DepthData> {
        ensure!(
            !opts.depths.is_empty() && !opts.lrs.is_empty() && !opts.families.is_empty(),
            "need depths (--depths), learning rates (--lrs) and networks (--nets)"
        );
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(opts.momentum < 1.0, "--momentum must be below 1, got {}", opts.momentum);
        let (train, val, test) = digits(opts.n_train, opts.n_val, opts.n_test, opts.seed)?;
        // Quick: the first family's first depth at the first learning rate — a prefix of every array.
        let (families, depths, lrs) = if go.quick {
            (&opts.families[..1], &opts.depths[..1], &opts.lrs[..1])
        } else {
            (&opts.families[..], &opts.depths[..], &opts.lrs[..])
        };
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: 0.1 }, opts.steps, opts.batch);
        cfg.progress = false;
        cfg.seed = opts.seed;
        let jobs: Vec<(usize, usize, usize)> = (0..families.len())
            .flat_map(|f| (0..depths.len()).flat_map(move |d| (0..lrs.len()).map(move |l| (f, d, l))))
            .collect();
        let scores: Vec<Score> = parallel_map(&jobs, opts.workers, |&(f, d, l)| {
            let config = families[f].config(train.dim(), opts.width, depths[d], train.classes).with_seed(opts.seed);
            let cfg = TrainConfig { optim: Optim::Momentum { lr: lrs[l], momentum: opts.momentum }, ..cfg.clone() };
            experiments::train_and_score(&config, &cfg, &train, &val, &test)
        })?;
        let score = |f: usize, d: usize, l: usize| &scores[(f * depths.len() + d) * lrs.len() + l];
        let mut series = Vec::new();
        for (f, fam) in families.iter().enumerate() {
            let all: Vec<Vec<&Score>> =
                (0..depths.len()).map(|d| (0..lrs.len()).map(|l| score(f, d, l)).collect()).collect();
            let table = all.iter().map(|row| row.iter().map(|s| DepthScore::of(s, !go.quick)).collect()).collect();
            if go.quick {
                series.push(DepthSeries { family: None, scores: table, best: None });
                continue;
            }
            let best: Vec<usize> = all
                .iter()
                .map(|row| (0..row.len()).fold(0, |b, i| if row[i].val_accuracy > row[b].val_accuracy { i } else { b }))
                .collect();
            let best = BestByDepth {
                best_lr: best.iter().map(|&b| lrs[b]).collect(),
                test_accuracy: best.iter().zip(&all).map(|(&b, row)| row[b].test_accuracy).collect(),
                val_accuracy: best.iter().zip(&all).map(|(&b, row)| row[b].val_accuracy).collect(),
            };
            series.push(DepthSeries { family: Some(fam.clone()), scores: table, best: Some(best) });
        }
        // Where each activation first drops below 50 % test accuracy.
        let first_depth_below_half = (!go.quick).then(|| {
            series
                .iter()
                .map(|s| {
                    let accuracy = s.best.as_ref().map_or(&[][..], |b| &b.test_accuracy[..]);
                    depths.iter().zip(accuracy).find(|&(_, &a)| a < 0.5).map(|(&d, _)| d)
                })
                .collect()
        });
        Ok(DepthData { options: opts.clone(), series, first_depth_below_half })
    }

    fn draw(data: &DepthData) -> Result<Vec<Drawing>> {
        if data.first_depth_below_half.is_none() {
            // A quick run: one training, nothing to draw.
            return Ok(vec![Drawing::data_only("depth-accuracy", data)?]);
        }
        let opts = &data.options;
        let mut chart = LineChart::new(format!(
            "Test accuracy against depth ({} SGD steps, best of {} learning rates)",
            opts.steps,
            opts.lrs.len()
        ))
        .x_label(format!("hidden layers of {} units", opts.width))
        .y_label("test accuracy")
        .y_range(0.0, 1.0)
        .integer_x()
        .markers();
        for (f, s) in data.series.iter().enumerate() {
            let (Some(fam), Some(best)) = (&s.family, &s.best) else { continue };
            let pts = opts.depths.iter().zip(&best.test_accuracy).map(|(&d, &a)| (d as f64, a)).collect();
            chart = chart.series_with(
                fam.label.clone(),
                pts,
                SeriesStyle::solid().color(f).marker(lab::plot::Marker::ALL[f % 4]),
            );
        }
        let alt = "Test accuracy against depth from 1 to 16 hidden layers: sigmoid networks reach about 96% at one and two layers, less at three, and sit at chance, 10%, from four layers on; tanh and ReLU networks stay above 90% to eight layers and decline at sixteen, ReLU more";
        let svg = chart.hline(0.1, "chance").render(alt)?;
        Ok(vec![Drawing::new("depth-accuracy", alt, svg, data)?])
    }
}

impl std::fmt::Display for DepthData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{:<26}", "test accuracy (best lr)")?;
        for d in &self.options.depths {
            write!(f, " {:>14}", format!("depth {d}"))?;
        }
        writeln!(f)?;
        for s in &self.series {
            write!(f, "{:<26}", s.family.as_ref().map_or("?", |fam| fam.label.as_str()))?;
            if let Some(best) = &s.best {
                for (a, lr) in best.test_accuracy.iter().zip(&best.best_lr) {
                    write!(f, " {:>14}", format!("{a:.3} ({lr})"))?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

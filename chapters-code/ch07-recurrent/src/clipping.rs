//! Figures 7-4 and 7-5: exploding gradients and clipping by global norm (Pascanu, Mikolov & Bengio 2013). A
//! tanh RNN whose recurrent matrix has every singular value ρ > 1 is trained with plain SGD on the
//! memory task, once as it is and once with its gradient clipped to a global norm.

use crate::task::{Budget, Run, Task, train};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figures 7-4 and 7-5.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ClippingOptions {
    /// Singular values of the initial recurrent matrix W_hh = ρ·Q.
    #[arg(long, default_value_t = 2.0, value_parser = cli::finite_positive_f64)]
    pub rho: f64,
    /// Sequence length T of the memory task.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub length: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// The task's alphabet (the chapter's: 4 classes, 4 distractors).
    #[arg(skip = Task::default())]
    pub task: Task,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// SGD steps.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Clip the global gradient norm to this.
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_positive_f64)]
    pub clip: f64,
    /// Seed of the weights (plus one: of the minibatches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ClippingOptions);

/// Steps of a quick run.
const QUICK_STEPS: usize = 5;

/// Trains the same network (same weights, same minibatches) without and with clipping.
pub fn clipping_runs(opts: &ClippingOptions, quick: bool) -> Result<Vec<(String, Run)>> {
    ensure!(opts.rho.is_finite() && opts.rho > 0.0, "ρ must be a finite positive number");
    ensure!(opts.clip.is_finite() && opts.clip > 0.0, "the clipping norm must be a finite positive number");
    ensure!(opts.length >= 1 && opts.hidden > 0 && opts.batch > 0 && opts.train_steps > 0, "sizes must be positive");
    let mut out = Vec::new();
    for clip in [None, Some(opts.clip)] {
        let budget = Budget {
            optim: Optim::Sgd { lr: opts.lr },
            steps: if quick { opts.train_steps.min(QUICK_STEPS) } else { opts.train_steps },
            batch: opts.batch,
            clip,
            eval_batch: 512,
        };
        let config = RnnConfig::new(Cell::Tanh { rho: opts.rho }, opts.task.d_in(), opts.hidden, opts.task.classes)
            .with_seed(opts.seed);
        // On candle's step-by-step graph, not lab's one-op unroll: with ρ = 2 the runs are chaotic,
        // and the unroll's last-bit differences (another summation order) were enough for the
        // clipped run to miss the task in 300 steps (accuracy 0.38 instead of 1.00). Two short runs
        // cost little either way; the figures keep the runs the chapter describes.
        let run = lab::fast::with_enabled(false, || {
            train(&config.build()?, opts.task, opts.length, &budget, opts.seed + 1, !quick)
        })?;
        let name = match clip {
            None => "no clipping".to_string(),
            Some(c) => format!("clipped to norm {c}"),
        };
        out.push((name, run));
    }
    Ok(out)
}

/// The median of the finite values.
fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// Figure 7-4's statistics of one run's gradient norms (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct NormStats {
    pub first_grad_norm: Option<f64>,
    pub max_grad_norm: f64,
    pub median_grad_norm: f64,
    /// Steps whose norm was above the threshold.
    pub clipped_steps: usize,
}

/// One run in Figure 7-4.
#[derive(Debug, Clone, Serialize)]
pub struct NormRun {
    pub name: String,
    /// Global gradient norm before clipping, every step.
    pub grad_norms: Vec<f64>,
    pub diverged: bool,
    #[serde(flatten)]
    pub stats: Option<NormStats>,
}

/// Figure 7-5's statistics of one run's losses (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct LossStats {
    /// Mean of the last 20 minibatch losses.
    pub final_loss: f64,
    pub max_loss: f64,
    /// Held-out accuracy after training.
    pub accuracy: Option<f64>,
}

/// One run in Figure 7-5.
#[derive(Debug, Clone, Serialize)]
pub struct LossRun {
    pub name: String,
    /// Minibatch loss, every step.
    pub losses: Vec<f64>,
    #[serde(flatten)]
    pub stats: Option<LossStats>,
}

/// The data of one of the two figures.
#[derive(Debug, Clone, Serialize)]
pub struct ClippingFigure<R> {
    pub options: ClippingOptions,
    pub runs: Vec<R>,
}

/// What Figures 7-4 and 7-5 measured (quick mode: a few steps, no statistics).
#[derive(Debug, Clone, Serialize)]
pub struct ClippingData {
    pub norms: ClippingFigure<NormRun>,
    pub losses: ClippingFigure<LossRun>,
}

/// Figures 7-4 (the gradient norm) and 7-5 (the loss).
pub struct Clipping;

impl Experiment for Clipping {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "clipping";
    const ABOUT: &'static str = "Exploding gradients in a tanh RNN and clipping by global norm (Figures 7-4, 7-5)";
    type Options = ClippingOptions;
    type Data = ClippingData;

    fn run(opts: &ClippingOptions, run_mode: &GenOptions) -> Result<ClippingData> {
        let mut norm_runs = Vec::new();
        let mut loss_runs = Vec::new();
        for (name, r) in clipping_runs(opts, run_mode.quick)? {
            let (norm_stats, loss_stats) = if run_mode.quick {
                (None, None)
            } else {
                let tail = &r.losses[r.losses.len().saturating_sub(20)..];
                let norms = NormStats {
                    first_grad_norm: r.grad_norms.first().copied(),
                    max_grad_norm: r.grad_norms.iter().copied().fold(0.0, f64::max),
                    median_grad_norm: median(&r.grad_norms),
                    clipped_steps: r.grad_norms.iter().filter(|&&g| g > opts.clip).count(),
                };
                let losses = LossStats {
                    final_loss: tail.iter().sum::<f64>() / tail.len().max(1) as f64,
                    max_loss: r.losses.iter().copied().fold(0.0, f64::max),
                    accuracy: r.accuracy,
                };
                (Some(norms), Some(losses))
            };
            let Run { losses, grad_norms, diverged, .. } = r;
            norm_runs.push(NormRun { name: name.clone(), grad_norms, diverged, stats: norm_stats });
            loss_runs.push(LossRun { name, losses, stats: loss_stats });
        }
        Ok(ClippingData {
            norms: ClippingFigure { options: opts.clone(), runs: norm_runs },
            losses: ClippingFigure { options: opts.clone(), runs: loss_runs },
        })
    }

    fn draw(data: &ClippingData) -> Result<Vec<Drawing>> {
        let opts = &data.norms.options;
        let title = |what: &str| format!("{what}: tanh RNN, ρ = {}, T = {}, SGD lr {}", opts.rho, opts.length, opts.lr);
        let mut norms = LineChart::new(title("Gradient norm")).x_label("step").y_label("‖g‖ before clipping").log_y();
        let mut losses = LineChart::new(title("Training loss")).x_label("step").y_label("minibatch cross-entropy");
        let pts = |v: &[f64]| v.iter().enumerate().map(|(s, &y)| (s as f64, y)).collect::<Vec<_>>();
        for (i, (n, l)) in data.norms.runs.iter().zip(&data.losses.runs).enumerate() {
            norms = norms.series_with(n.name.clone(), pts(&n.grad_norms), SeriesStyle::solid().color(i));
            losses = losses.series_with(l.name.clone(), pts(&l.losses), SeriesStyle::solid().color(i));
        }
        let norms = norms.hline(opts.clip, "clipping threshold");
        let losses = losses.hline((opts.task.classes as f64).ln(), "chance");
        let alt_norms = "The global gradient norm at every SGD step of a tanh RNN whose recurrent matrix starts with all singular values 2, trained as it is and with the gradient clipped to a global norm of 1 (the horizontal line).";
        let alt_loss = "The minibatch loss of the same two runs, against the loss of guessing (ln 4).";
        Ok(vec![
            Drawing::new("clipping-norms", alt_norms, norms.render(alt_norms)?, &data.norms)?,
            Drawing::new("clipping-loss", alt_loss, losses.render(alt_loss)?, &data.losses)?,
        ])
    }
}

impl std::fmt::Display for ClippingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<22} {:>14} {:>14} {:>14} {:>10}", "", "median ‖g‖", "largest ‖g‖", "final loss", "accuracy")?;
        for (n, l) in self.norms.runs.iter().zip(&self.losses.runs) {
            let (median, largest) =
                n.stats.as_ref().map_or((f64::NAN, f64::NAN), |s| (s.median_grad_norm, s.max_grad_norm));
            let (loss, accuracy) =
                l.stats.as_ref().map_or((f64::NAN, f64::NAN), |s| (s.final_loss, s.accuracy.unwrap_or(f64::NAN)));
            writeln!(f, "{:<22} {median:>14.3} {largest:>14.3e} {loss:>14.3} {accuracy:>10.3}", n.name)?;
        }
        Ok(())
    }
}

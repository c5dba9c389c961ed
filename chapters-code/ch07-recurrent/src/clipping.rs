//! Figures 7-4 and 7-5: exploding gradients and clipping by global norm (Pascanu, Mikolov & Bengio 2013). A
//! tanh RNN whose recurrent matrix has every singular value ρ > 1 is trained with plain SGD on the
//! memory task, once as it is and once with its gradient clipped to a global norm.

use crate::task::{Budget, Run, Task, train};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figures 7-4 and 7-5.
#[derive(Debug, Clone, Serialize)]
pub struct ClippingOptions {
    /// Singular values of the initial recurrent matrix.
    pub rho: f64,
    /// Sequence length T.
    pub length: usize,
    pub hidden: usize,
    pub task: Task,
    pub lr: f64,
    pub train_steps: usize,
    pub batch: usize,
    /// The clipping threshold on the global gradient norm.
    pub clip: f64,
    pub seed: u64,
}

impl Default for ClippingOptions {
    fn default() -> Self {
        ClippingOptions {
            rho: 2.0,
            length: 32,
            hidden: 32,
            task: Task::default(),
            lr: 0.1,
            train_steps: 300,
            batch: 32,
            clip: 1.0,
            seed: 0,
        }
    }
}

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
        let run = train(&config.build()?, opts.task, opts.length, &budget, opts.seed + 1, !quick)?;
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

/// Figures 7-4 (the gradient norm) and 7-5 (the loss).
pub fn clipping_figures(opts: &ClippingOptions, gen_opts: &GenOptions) -> Result<Vec<Figure>> {
    let runs = clipping_runs(opts, gen_opts.quick)?;
    let mut norm_runs = Vec::new();
    let mut loss_runs = Vec::new();
    for (name, r) in &runs {
        let mut run = serde_json::json!({ "name": name, "grad_norms": r.grad_norms, "diverged": r.diverged });
        let mut loss = serde_json::json!({ "name": name, "losses": r.losses });
        if !gen_opts.quick {
            let tail = &r.losses[r.losses.len().saturating_sub(20)..];
            run["first_grad_norm"] = serde_json::json!(r.grad_norms.first());
            run["max_grad_norm"] = serde_json::json!(r.grad_norms.iter().copied().fold(0.0, f64::max));
            run["median_grad_norm"] = serde_json::json!(median(&r.grad_norms));
            run["clipped_steps"] = serde_json::json!(r.grad_norms.iter().filter(|&&g| g > opts.clip).count());
            loss["final_loss"] = serde_json::json!(tail.iter().sum::<f64>() / tail.len().max(1) as f64);
            loss["max_loss"] = serde_json::json!(r.losses.iter().copied().fold(0.0, f64::max));
            loss["accuracy"] = serde_json::json!(r.accuracy);
        }
        norm_runs.push(run);
        loss_runs.push(loss);
    }
    let norm_data = serde_json::json!({ "options": opts, "runs": norm_runs });
    let loss_data = serde_json::json!({ "options": opts, "runs": loss_runs });
    if gen_opts.quick {
        return Ok(vec![
            Figure::new("ch07", "clipping-norms", "", String::new(), &norm_data)?,
            Figure::new("ch07", "clipping-loss", "", String::new(), &loss_data)?,
        ]);
    }
    let title = |what: &str| format!("{what}: tanh RNN, ρ = {}, T = {}, SGD lr {}", opts.rho, opts.length, opts.lr);
    let mut norms = LineChart::new(title("Gradient norm")).x_label("step").y_label("‖g‖ before clipping").log_y();
    let mut losses = LineChart::new(title("Training loss")).x_label("step").y_label("minibatch cross-entropy");
    for (i, (name, r)) in runs.iter().enumerate() {
        let pts = |v: &[f64]| v.iter().enumerate().map(|(s, &y)| (s as f64, y)).collect::<Vec<_>>();
        norms = norms.series_with(name.clone(), pts(&r.grad_norms), SeriesStyle::solid().color(i));
        losses = losses.series_with(name.clone(), pts(&r.losses), SeriesStyle::solid().color(i));
    }
    let norms = norms.hline(opts.clip, "clipping threshold");
    let losses = losses.hline((opts.task.classes as f64).ln(), "chance");
    let alt_norms = "The global gradient norm at every SGD step of a tanh RNN whose recurrent matrix starts with all singular values 2, trained as it is and with the gradient clipped to a global norm of 1 (the horizontal line).";
    let alt_loss = "The minibatch loss of the same two runs, against the loss of guessing (ln 4).";
    Ok(vec![
        Figure::new("ch07", "clipping-norms", alt_norms, norms.render(alt_norms)?, &norm_data)?,
        Figure::new("ch07", "clipping-loss", alt_loss, losses.render(alt_loss)?, &loss_data)?,
    ])
}

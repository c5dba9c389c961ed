//! Figures 8-5 and 8-6: learning-rate warm-up. Post-LN and Pre-LN transformers trained with Adam on
//! the sorting task at several learning rates, with and without a linear warm-up (Xiong et al. 2020
//! argue that Post-LN needs it and Pre-LN does not).

use crate::gradients::{Arch, ModelOptions};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::data::SeqTask;
use lab::plot::{LineChart, SeriesStyle};
use lab::transformer::{TrainOptions, TrainRun, train};
use serde::Serialize;

/// Settings of Figures 8-5 and 8-6.
#[derive(Debug, Clone, Serialize)]
pub struct WarmupOptions {
    pub model: ModelOptions,
    pub blocks: usize,
    pub task: SeqTask,
    /// Peak learning rates, ascending.
    pub lrs: Vec<f64>,
    /// Warm-up steps of the runs with warm-up.
    pub warmup: usize,
    pub steps: usize,
    pub batch: usize,
    pub eval_batch: usize,
    pub seed: u64,
}

impl Default for WarmupOptions {
    fn default() -> Self {
        WarmupOptions {
            model: ModelOptions::default(),
            blocks: 6,
            task: SeqTask::Sort,
            lrs: vec![3e-3, 1e-2, 3e-2],
            warmup: 50,
            steps: 150,
            batch: 16,
            eval_batch: 256,
            seed: 0,
        }
    }
}

/// Steps of a quick run.
const QUICK_STEPS: usize = 4;

/// One run of the grid.
#[derive(Debug, Clone, Serialize)]
pub struct WarmupRun {
    pub name: String,
    pub arch: Arch,
    pub lr: f64,
    pub warmup: usize,
    #[serde(flatten)]
    pub run: TrainRun,
    /// Mean loss of the last 20 steps (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
}

/// Trains every (architecture, warm-up, learning rate) from the same weights and sequences.
pub fn warmup_runs(opts: &WarmupOptions, quick: bool) -> Result<Vec<WarmupRun>> {
    ensure!(
        !opts.lrs.is_empty() && opts.lrs.iter().all(|l| l.is_finite() && *l > 0.0),
        "learning rates must be positive"
    );
    ensure!(opts.steps > 0 && opts.blocks > 0, "steps and blocks must be positive");
    let mut grid = Vec::new();
    for arch in [Arch::PostLn, Arch::PreLn] {
        for warmup in [0, opts.warmup] {
            for &lr in &opts.lrs {
                grid.push((arch, warmup, lr));
            }
        }
    }
    // A quick run is a prefix of the full one: its first two runs, a few steps each.
    if quick {
        grid.truncate(2);
    }
    let mut out = Vec::new();
    for (arch, warmup, lr) in grid {
        let model = arch.apply(opts.model.config(opts.blocks)).with_seed(opts.seed).build()?;
        let train_opts = TrainOptions {
            task: opts.task,
            lr,
            warmup,
            steps: if quick { QUICK_STEPS } else { opts.steps },
            batch: opts.batch,
            eval_batch: opts.eval_batch,
            seed: opts.seed + 1,
        };
        let mut run = train(&model, &train_opts)?;
        let final_loss = (!quick).then(|| {
            let tail = &run.losses[run.losses.len().saturating_sub(20)..];
            tail.iter().sum::<f64>() / tail.len().max(1) as f64
        });
        if quick {
            run.accuracy = None;
        }
        let name =
            format!("{}, {}", arch.name(), if warmup == 0 { "no warm-up".into() } else { format!("warm-up {warmup}") });
        out.push(WarmupRun { name, arch, lr, warmup, run, final_loss });
    }
    Ok(out)
}

/// Figures 8-5 (held-out accuracy against the peak learning rate) and 8-6 (the loss curves at one
/// large rate).
pub fn warmup_figures(opts: &WarmupOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    let runs = warmup_runs(opts, go.quick)?;
    let chance = (opts.model.vocab as f64).ln();
    let data = serde_json::json!({ "options": opts, "chance_loss": chance, "runs": runs });
    if go.quick {
        return Ok(vec![
            Figure::new("ch08", "warmup-accuracy", "", String::new(), &data)?,
            Figure::new("ch08", "warmup-loss", "", String::new(), &data)?,
        ]);
    }
    let groups: Vec<(Arch, usize)> =
        [Arch::PostLn, Arch::PreLn].iter().flat_map(|&a| [(a, 0), (a, opts.warmup)]).collect();
    let mut acc =
        LineChart::new(format!("Held-out accuracy after {} Adam steps, N = {} blocks", opts.steps, opts.blocks))
            .x_label("peak learning rate")
            .y_label("accuracy (sorted positions)")
            .log_x()
            .y_range(0.0, 1.0)
            .markers();
    for (i, &(arch, w)) in groups.iter().enumerate() {
        let pts: Vec<(f64, f64)> = runs
            .iter()
            .filter(|r| r.arch == arch && r.warmup == w)
            .map(|r| (r.lr, r.run.accuracy.unwrap_or(0.0)))
            .collect();
        let name = runs.iter().find(|r| r.arch == arch && r.warmup == w).map(|r| r.name.clone()).unwrap_or_default();
        let style = if w == 0 { SeriesStyle::dashed() } else { SeriesStyle::solid() };
        acc = acc.series_with(name, pts, style.color(if arch == Arch::PostLn { 1 } else { 0 }));
        let _ = i;
    }
    let acc = acc.hline(1.0 / opts.model.vocab as f64, "chance");
    let big = opts.lrs[opts.lrs.len().saturating_sub(2)];
    let mut loss = LineChart::new(format!("Training loss at peak learning rate {big}"))
        .x_label("step")
        .y_label("minibatch cross-entropy")
        .log_y();
    for r in runs.iter().filter(|r| r.lr == big) {
        let style = if r.warmup == 0 { SeriesStyle::dashed() } else { SeriesStyle::solid() };
        let pts = r.run.losses.iter().enumerate().map(|(s, &l)| (s as f64, l)).collect();
        loss = loss.series_with(r.name.clone(), pts, style.color(if r.arch == Arch::PostLn { 1 } else { 0 }));
    }
    let loss = loss.hline(chance, "chance (ln V)");
    let alt_acc = "Held-out accuracy of Post-LN and Pre-LN transformers after training at three peak learning rates, with and without linear warm-up.";
    let alt_loss = "Training loss curves of the four configurations at one large learning rate.";
    Ok(vec![
        Figure::new("ch08", "warmup-accuracy", alt_acc, acc.render(alt_acc)?, &data)?,
        Figure::new("ch08", "warmup-loss", alt_loss, loss.render(alt_loss)?, &data)?,
    ])
}

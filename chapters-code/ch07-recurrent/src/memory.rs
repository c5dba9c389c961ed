//! Figures 7-2 and 7-3: held-out accuracy on "remember the first symbol" against the sequence
//! length T, for a tanh RNN and gated cells trained under the same budget — with Adam (Figure 7-2,
//! generator `memory`) and with SGD and momentum (Figure 7-3, `memory-sgd`), the same task, cells,
//! lengths and seeds.

use crate::task::{Budget, Run, Task, train};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figures 7-2 and 7-3.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryOptions {
    /// Sequence lengths T, ascending.
    pub lengths: Vec<usize>,
    pub cells: Vec<Cell>,
    pub hidden: usize,
    pub task: Task,
    /// The optimiser; with a non-empty `lr_grid` its learning rate is replaced by each cell's pick.
    pub optim: Optim,
    /// Learning rates tried for each cell at the shortest length (see [`pick_lr`]); empty: `optim`'s own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lr_grid: Vec<f64>,
    pub train_steps: usize,
    pub batch: usize,
    pub eval_batch: usize,
    /// Independent runs (weights and data) per cell and length.
    pub seeds: usize,
    pub seed: u64,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            lengths: vec![8, 16, 32],
            cells: vec![
                Cell::TanhDefault,
                Cell::Tanh { rho: 1.0 },
                Cell::Lstm { forget_bias: 1.0 },
                Cell::Lstm { forget_bias: 3.0 },
            ],
            hidden: 32,
            task: Task::default(),
            optim: Optim::AdamW { lr: 0.01, weight_decay: 0.0 },
            lr_grid: Vec::new(),
            train_steps: 300,
            batch: 32,
            eval_batch: 512,
            seeds: 3,
            seed: 0,
        }
    }
}

/// Momentum of Figure 7-3's SGD: the usual 0.9, so that 300 steps are enough at the short length.
pub const SGD_MOMENTUM: f64 = 0.9;
/// Figure 7-3's learning rates, half a decade apart, bracketing the best one for every cell.
pub const SGD_LRS: [f64; 4] = [0.01, 0.03, 0.1, 0.3];

impl MemoryOptions {
    /// Figure 7-3: Figure 7-2's task, cells, lengths and seeds, trained with SGD and momentum at a
    /// learning rate picked per cell from [`SGD_LRS`].
    pub fn sgd() -> Self {
        MemoryOptions {
            optim: Optim::Momentum { lr: SGD_LRS[0], momentum: SGD_MOMENTUM },
            lr_grid: SGD_LRS.to_vec(),
            ..MemoryOptions::default()
        }
    }

    /// `memory` for Adam, `memory-sgd` for SGD with or without momentum.
    pub fn figure_name(&self) -> &'static str {
        match self.optim {
            Optim::AdamW { .. } => "memory",
            Optim::Sgd { .. } | Optim::Momentum { .. } => "memory-sgd",
        }
    }

    fn optimiser_label(&self) -> String {
        match self.optim {
            Optim::AdamW { .. } => "Adam".into(),
            Optim::Sgd { .. } => "SGD".into(),
            Optim::Momentum { momentum, .. } => format!("SGD (momentum {momentum})"),
        }
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(
            !self.lengths.is_empty() && self.lengths.windows(2).all(|w| w[0] < w[1]),
            "--lengths must be ascending"
        );
        ensure!(self.lengths[0] >= 1, "every length must be at least 1");
        ensure!(!self.cells.is_empty(), "need at least one cell");
        ensure!(
            self.lr_grid.iter().all(|&lr| lr.is_finite() && lr > 0.0),
            "every learning rate must be a finite positive number"
        );
        ensure!(
            self.hidden > 0 && self.train_steps > 0 && self.batch > 0 && self.eval_batch > 0 && self.seeds > 0,
            "sizes and seeds must be positive"
        );
        Ok(())
    }
}

/// One cell's runs: `runs[length][seed]`.
#[derive(Debug, Clone, Serialize)]
pub struct CellRuns {
    pub name: String,
    pub cell: Cell,
    /// The learning rate picked for this cell (only when `lr_grid` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    pub runs: Vec<Vec<Run>>,
    /// Held-out accuracy per length, the mean over seeds (full runs only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy: Vec<f64>,
    /// Per length, how many seeds reached 90 % held-out accuracy (full runs only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub solved: Vec<usize>,
}

/// One cell's learning-rate search: runs at the shortest length with the first seed's weights and
/// data, one per rate of `lr_grid` in ascending order until one is perfect (see [`pick_lr`]).
#[derive(Debug, Clone, Serialize)]
pub struct LrSearch {
    pub name: String,
    /// The rates tried, and their runs.
    pub lrs: Vec<f64>,
    pub runs: Vec<Run>,
    /// The rate [`pick_lr`] chose (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<f64>,
}

/// Steps and lengths of a quick run.
const QUICK_STEPS: usize = 3;

/// The rule that picks a learning rate from one run per rate, rates ascending: the *smallest* rate with
/// the highest held-out accuracy. A run that diverged, or has no accuracy, ranks last. Preferring the
/// smaller of two equally good rates is the cautious choice for a rate picked at the shortest length
/// and used at longer ones, where the gradient can be far larger (Figure 7-4); it also means that the
/// search can stop at the first perfect run.
pub fn pick_lr(runs: &[Run]) -> usize {
    let score = |r: &Run| r.accuracy.filter(|a| a.is_finite() && !r.diverged).unwrap_or(f64::NEG_INFINITY);
    let mut best = 0;
    for (i, r) in runs.iter().enumerate().skip(1) {
        if score(r) > score(&runs[best]) {
            best = i;
        }
    }
    best
}

fn with_lr(optim: Optim, lr: f64) -> Optim {
    match optim {
        Optim::Sgd { .. } => Optim::Sgd { lr },
        Optim::Momentum { momentum, .. } => Optim::Momentum { lr, momentum },
        Optim::AdamW { weight_decay, .. } => Optim::AdamW { lr, weight_decay },
    }
}

fn budget(opts: &MemoryOptions, optim: Optim, quick: bool) -> Budget {
    Budget {
        optim,
        steps: if quick { opts.train_steps.min(QUICK_STEPS) } else { opts.train_steps },
        batch: opts.batch,
        clip: None,
        eval_batch: opts.eval_batch,
    }
}

/// One run of `cell` at length `steps` with weights and data of seed index `s`.
fn run_once(opts: &MemoryOptions, cell: Cell, steps: usize, budget: &Budget, s: u64, evaluate: bool) -> Result<Run> {
    let seed = opts.seed + 100 * s;
    let config = RnnConfig::new(cell, opts.task.d_in(), opts.hidden, opts.task.classes).with_seed(seed);
    train(&config.build()?, opts.task, steps, budget, seed + 1, evaluate)
}

/// Tries the rates of `opts.lr_grid` in ascending order on every cell at the shortest length, first
/// seed only, stopping at a perfect held-out accuracy, and picks one per cell with [`pick_lr`] (quick:
/// the first rate, which a full search always tries, for a few steps; no evaluation and no pick).
pub fn lr_search(opts: &MemoryOptions, gen_opts: &GenOptions) -> Result<Vec<LrSearch>> {
    opts.validate()?;
    let quick = gen_opts.quick;
    let total = opts.cells.len() * if quick { 1 } else { opts.lr_grid.len() };
    let bar = lab::train::progress_bar(gen_opts.progress, total as u64, "learning rates");
    let mut out = Vec::new();
    for &cell in &opts.cells {
        let (mut lrs, mut runs) = (Vec::new(), Vec::new());
        let grid = if quick { &opts.lr_grid[..1] } else { &opts.lr_grid[..] };
        for &lr in grid {
            let run = run_once(opts, cell, opts.lengths[0], &budget(opts, with_lr(opts.optim, lr), quick), 0, !quick)?;
            let perfect = run.accuracy == Some(1.0) && !run.diverged;
            lrs.push(lr);
            runs.push(run);
            bar.inc(1);
            if perfect {
                break; // no larger rate can beat it under `pick_lr`
            }
        }
        let chosen = if quick || runs.is_empty() { None } else { Some(lrs[pick_lr(&runs)]) };
        out.push(LrSearch { name: cell.label(), lrs, runs, chosen });
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Trains every cell at every length, each with its own optimiser (quick: the shortest length, a
/// few steps, one seed, no evaluation).
/// `first[i]`, when given, is cell i's run at the shortest length with the first seed (the search's,
/// which the same seeds and rate would only repeat).
fn runs_with(
    opts: &MemoryOptions,
    lrs: &[Option<f64>],
    mut first: Vec<Option<Run>>,
    gen_opts: &GenOptions,
) -> Result<Vec<CellRuns>> {
    let quick = gen_opts.quick;
    let lengths = if quick { &opts.lengths[..1] } else { &opts.lengths[..] };
    let seeds = if quick { 1 } else { opts.seeds };
    let total = lengths.len() * opts.cells.len() * seeds;
    let bar = lab::train::progress_bar(gen_opts.progress, total as u64, opts.figure_name());
    let mut out = Vec::new();
    for (i, (&cell, &lr)) in opts.cells.iter().zip(lrs).enumerate() {
        let budget = budget(opts, lr.map_or(opts.optim, |lr| with_lr(opts.optim, lr)), quick);
        let (mut runs, mut accuracy, mut solved) = (Vec::new(), Vec::new(), Vec::new());
        for (l, &steps) in lengths.iter().enumerate() {
            let mut at_length = Vec::new();
            for s in 0..seeds as u64 {
                let reused = if l == 0 && s == 0 { first[i].take() } else { None };
                at_length.push(match reused {
                    Some(run) => run,
                    None => run_once(opts, cell, steps, &budget, s, !quick)?,
                });
                bar.inc(1);
            }
            let acc: Vec<f64> = at_length.iter().filter_map(|r| r.accuracy).collect();
            if !acc.is_empty() {
                accuracy.push(acc.iter().sum::<f64>() / acc.len() as f64);
                solved.push(acc.iter().filter(|&&a| a >= 0.9).count());
            }
            runs.push(at_length);
        }
        out.push(CellRuns { name: cell.label(), cell, lr, runs, accuracy, solved });
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Trains every cell at every length with `opts.optim` as it is (quick: the shortest length, a few
/// steps, no evaluation).
pub fn memory_runs(opts: &MemoryOptions, gen_opts: &GenOptions) -> Result<Vec<CellRuns>> {
    opts.validate()?;
    runs_with(opts, &vec![None; opts.cells.len()], vec![None; opts.cells.len()], gen_opts)
}

/// Figure 7-2 (Adam) or 7-3 (SGD), named by [`MemoryOptions::figure_name`]. With a learning-rate grid,
/// each cell first gets its rate from [`lr_search`]; a quick run then stops after the search's first steps.
pub fn memory_figure(opts: &MemoryOptions, gen_opts: &GenOptions) -> Result<Figure> {
    opts.validate()?;
    let name = opts.figure_name();
    let search = if opts.lr_grid.is_empty() { None } else { Some(lr_search(opts, gen_opts)?) };
    if gen_opts.quick {
        let data = match &search {
            // The picks need full runs: a quick run checks the search's first steps only.
            Some(search) => serde_json::json!({ "search": search }),
            None => serde_json::json!({ "cells": memory_runs(opts, gen_opts)? }),
        };
        return Figure::new("ch07", name, "", String::new(), &data);
    }
    let (lrs, first): (Vec<Option<f64>>, Vec<Option<Run>>) = match &search {
        Some(search) => search
            .iter()
            .map(|s| {
                let i = pick_lr(&s.runs);
                (Some(s.lrs[i]), Some(s.runs[i].clone()))
            })
            .unzip(),
        None => (vec![None; opts.cells.len()], vec![None; opts.cells.len()]),
    };
    let cells = runs_with(opts, &lrs, first, gen_opts)?;
    let chance = 1.0 / opts.task.classes as f64;
    let optimiser = opts.optimiser_label();
    let rate = if search.is_some() { ", learning rate per network" } else { "" };
    let mut chart = LineChart::new(format!(
        "Remember the first symbol: {} {optimiser} steps{rate}, hidden {}, batch {}",
        opts.train_steps, opts.hidden, opts.batch
    ))
    .x_label("sequence length T")
    .y_label(format!("held-out accuracy (mean of {} runs)", opts.seeds))
    .log_x()
    .y_range(0.0, 1.05)
    .markers()
    .hline(chance, "chance");
    for (i, c) in cells.iter().enumerate() {
        let pts = opts.lengths.iter().zip(&c.accuracy).map(|(&t, &a)| (t as f64, a)).collect();
        let label = match c.lr {
            Some(lr) => format!("{} (lr {lr})", c.name),
            None => c.name.clone(),
        };
        chart = chart.series_with(label, pts, SeriesStyle::solid().color(i));
    }
    let rate =
        if search.is_some() { ", each at the learning rate that did best for it at the shortest length" } else { "" };
    let alt = format!(
        "Held-out accuracy on the remember-the-first-symbol task against the sequence length, for a tanh RNN with an orthogonal recurrent matrix, one with PyTorch's default initialisation, and LSTMs with forget-gate bias 1 and 3, all trained for the same number of {optimiser} steps{rate}. Each point is the mean of {} runs.",
        opts.seeds
    );
    let svg = chart.render(&alt)?;
    let mut data = serde_json::json!({
        "options": opts,
        "cells": cells,
        "chance": chance,
    });
    if let Some(search) = search {
        data["search"] = serde_json::to_value(search)?;
    }
    Figure::new("ch07", name, &alt, svg, &data)
}

//! Figure 7-2: held-out accuracy on "remember the first symbol" against the sequence length T, for
//! a tanh RNN and gated cells trained under the same budget.

use crate::task::{Budget, Run, Task, train};
use anyhow::{Result, ensure};
use lab::figure::{Figure, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figure 7-2.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryOptions {
    /// Sequence lengths T, ascending.
    pub lengths: Vec<usize>,
    pub cells: Vec<Cell>,
    pub hidden: usize,
    pub task: Task,
    pub optim: Optim,
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
            train_steps: 300,
            batch: 32,
            eval_batch: 512,
            seeds: 3,
            seed: 0,
        }
    }
}

impl MemoryOptions {
    pub fn validate(&self) -> Result<()> {
        ensure!(
            !self.lengths.is_empty() && self.lengths.windows(2).all(|w| w[0] < w[1]),
            "--lengths must be ascending"
        );
        ensure!(self.lengths[0] >= 1, "every length must be at least 1");
        ensure!(!self.cells.is_empty(), "need at least one cell");
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
    pub runs: Vec<Vec<Run>>,
    /// Held-out accuracy per length, the mean over seeds (full runs only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy: Vec<f64>,
    /// Per length, how many seeds reached 90 % held-out accuracy (full runs only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub solved: Vec<usize>,
}

/// Steps and lengths of a quick run.
const QUICK_STEPS: usize = 3;

/// Trains every cell at every length (quick: the shortest length, a few steps, no evaluation).
pub fn memory_runs(opts: &MemoryOptions, gen_opts: &GenOptions) -> Result<Vec<CellRuns>> {
    opts.validate()?;
    let quick = gen_opts.quick;
    let budget = Budget {
        optim: opts.optim,
        steps: if quick { opts.train_steps.min(QUICK_STEPS) } else { opts.train_steps },
        batch: opts.batch,
        clip: None,
        eval_batch: opts.eval_batch,
    };
    let lengths = if quick { &opts.lengths[..1] } else { &opts.lengths[..] };
    let seeds = if quick { 1 } else { opts.seeds };
    let total = lengths.len() * opts.cells.len() * seeds;
    let bar = lab::train::progress_bar(gen_opts.progress, total as u64, "memory");
    let mut out = Vec::new();
    for &cell in &opts.cells {
        let (mut runs, mut accuracy, mut solved) = (Vec::new(), Vec::new(), Vec::new());
        for &steps in lengths {
            let mut at_length = Vec::new();
            for s in 0..seeds as u64 {
                let seed = opts.seed + 100 * s;
                let config = RnnConfig::new(cell, opts.task.d_in(), opts.hidden, opts.task.classes).with_seed(seed);
                at_length.push(train(&config.build()?, opts.task, steps, &budget, seed + 1, !quick)?);
                bar.inc(1);
            }
            let acc: Vec<f64> = at_length.iter().filter_map(|r| r.accuracy).collect();
            if !acc.is_empty() {
                accuracy.push(acc.iter().sum::<f64>() / acc.len() as f64);
                solved.push(acc.iter().filter(|&&a| a >= 0.9).count());
            }
            runs.push(at_length);
        }
        out.push(CellRuns { name: cell.label(), cell, runs, accuracy, solved });
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Figure 7-2.
pub fn memory_figure(opts: &MemoryOptions, gen_opts: &GenOptions) -> Result<Figure> {
    let cells = memory_runs(opts, gen_opts)?;
    if gen_opts.quick {
        return Figure::new("ch07", "memory", "", String::new(), &serde_json::json!({ "cells": cells }));
    }
    let chance = 1.0 / opts.task.classes as f64;
    let mut chart = LineChart::new(format!(
        "Remember the first symbol: {} Adam steps, hidden {}, batch {}",
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
        chart = chart.series_with(c.name.clone(), pts, SeriesStyle::solid().color(i));
    }
    let alt = format!(
        "Held-out accuracy on the remember-the-first-symbol task against the sequence length, for a tanh RNN with an orthogonal recurrent matrix, one with PyTorch's default initialisation, and LSTMs with forget-gate bias 1 and 3, all trained for the same number of Adam steps. Each point is the mean of {} runs.",
        opts.seeds
    );
    let svg = chart.render(&alt)?;
    let data = serde_json::json!({
        "options": opts,
        "cells": cells,
        "chance": chance,
    });
    Figure::new("ch07", "memory", &alt, svg, &data)
}

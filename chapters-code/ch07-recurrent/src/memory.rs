//! Figures 7-2 and 7-3: held-out accuracy on "remember the first symbol" against the sequence
//! length T, for a tanh RNN and gated cells trained under the same budget — with Adam (Figure 7-2,
//! generator `memory`) and with SGD and momentum (Figure 7-3, `memory-sgd`), the same task, cells,
//! lengths and seeds.

use crate::task::{Budget, Run, Task, train};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use lab::train::Optim;
use serde::Serialize;

/// The optimiser of Figures 7-2 (`adam`) and 7-3 (`sgd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam, learning rate 0.01 unless --lr (Figure 7-2, memory.{svg,json}).
    Adam,
    /// SGD with momentum; the learning rate is picked per network from --lrs unless --lr (Figure 7-3,
    /// memory-sgd.{svg,json}).
    Sgd,
}

/// Settings of Figures 7-2 and 7-3 (the flags of the `memory_task` example); [`MemoryOptions::settings`]
/// resolves them into what the experiment runs.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct MemoryOptions {
    /// Sequence lengths T, ascending and comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub lengths: Vec<usize>,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Optimiser steps per run.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Independent runs per cell and length.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Forget-gate biases of the LSTMs compared with the two tanh RNNs, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 3.0], value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub forget_biases: Vec<f64>,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = Optimizer::Adam)]
    pub optimizer: Optimizer,
    /// A fixed learning rate for every network (default: 0.01 for Adam; for SGD, a search over --lrs).
    #[arg(long, value_parser = cli::finite_positive_f64)]
    pub lr: Option<f64>,
    /// SGD only: learning rates tried per network at the shortest length, comma-separated [default:
    /// 0.01,0.03,0.1,0.3]; each network keeps the one with the best held-out accuracy (ties: the
    /// smaller rate).
    #[arg(long, value_delimiter = ',', value_parser = cli::finite_positive_f64)]
    pub lrs: Vec<f64>,
    /// SGD only: momentum, 0 for plain SGD [default: 0.9].
    #[arg(long, value_parser = cli::finite_non_negative_f64)]
    pub momentum: Option<f64>,
    /// Seed of the weights and the data (run s uses seed + 100s).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(MemoryOptions);

/// Adam's learning rate in Figure 7-2.
pub const ADAM_LR: f64 = 0.01;
/// Momentum of Figure 7-3's SGD: the usual 0.9, so that 300 steps are enough at the short length.
pub const SGD_MOMENTUM: f64 = 0.9;
/// Figure 7-3's learning rates, half a decade apart, bracketing the best one for every cell.
pub const SGD_LRS: [f64; 4] = [0.01, 0.03, 0.1, 0.3];
/// Held-out sequences each run's accuracy is measured on.
pub const EVAL_BATCH: usize = 512;

impl MemoryOptions {
    /// What the flags mean: the cells, the optimiser and the learning-rate grid.
    pub fn settings(&self) -> Result<MemorySettings> {
        if let Some(m) = self.momentum {
            ensure!(m < 1.0, "--momentum must be below 1");
        }
        let (optim, lr_grid) = match self.optimizer {
            Optimizer::Adam => {
                ensure!(
                    self.momentum.is_none() && self.lrs.is_empty(),
                    "--momentum and --lrs apply to --optimizer sgd only"
                );
                (Optim::AdamW { lr: self.lr.unwrap_or(ADAM_LR), weight_decay: 0.0 }, Vec::new())
            }
            Optimizer::Sgd => {
                ensure!(self.lr.is_none() || self.lrs.is_empty(), "give --lr or --lrs, not both");
                let grid = match (self.lr, self.lrs.is_empty()) {
                    (Some(_), _) => Vec::new(),
                    (None, true) => SGD_LRS.to_vec(),
                    (None, false) => self.lrs.clone(),
                };
                let lr = self.lr.unwrap_or_else(|| grid[0]);
                let optim = match self.momentum.unwrap_or(SGD_MOMENTUM) {
                    0.0 => Optim::Sgd { lr },
                    momentum => Optim::Momentum { lr, momentum },
                };
                (optim, grid)
            }
        };
        let lstms = self.forget_biases.iter().map(|&forget_bias| Cell::Lstm { forget_bias });
        Ok(MemorySettings {
            lengths: self.lengths.clone(),
            cells: [Cell::TanhDefault, Cell::Tanh { rho: 1.0 }].into_iter().chain(lstms).collect(),
            hidden: self.hidden,
            task: Task::default(),
            optim,
            lr_grid,
            train_steps: self.train_steps,
            batch: self.batch,
            eval_batch: EVAL_BATCH,
            seeds: self.seeds,
            seed: self.seed,
        })
    }
}

/// Figure 7-3's flags: [`MemoryOptions`] with `--optimizer sgd` as the default.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct MemorySgdOptions(pub MemoryOptions);
chapter_kit::defaults_from_flags!(MemorySgdOptions);

impl clap::FromArgMatches for MemorySgdOptions {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        MemoryOptions::from_arg_matches(matches).map(MemorySgdOptions)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl clap::Args for MemorySgdOptions {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        MemoryOptions::augment_args(cmd).mut_arg("optimizer", |a| a.default_value("sgd"))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        MemoryOptions::augment_args_for_update(cmd).mut_arg("optimizer", |a| a.default_value("sgd"))
    }
}

/// What Figures 7-2 and 7-3 run: the resolved [`MemoryOptions`] (saved in the figure data as
/// `options`).
#[derive(Debug, Clone, Serialize)]
pub struct MemorySettings {
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

impl MemorySettings {
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
        ensure!(!self.lengths.is_empty(), "need at least one length");
        cli::ensure_ascending("lengths", &self.lengths)?;
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

fn budget(opts: &MemorySettings, optim: Optim, quick: bool) -> Budget {
    Budget {
        optim,
        steps: if quick { opts.train_steps.min(QUICK_STEPS) } else { opts.train_steps },
        batch: opts.batch,
        clip: None,
        eval_batch: opts.eval_batch,
    }
}

/// One run of `cell` at length `steps` with weights and data of seed index `s`.
fn run_once(opts: &MemorySettings, cell: Cell, steps: usize, budget: &Budget, s: u64, evaluate: bool) -> Result<Run> {
    let seed = opts.seed + 100 * s;
    let config = RnnConfig::new(cell, opts.task.d_in(), opts.hidden, opts.task.classes).with_seed(seed);
    train(&config.build()?, opts.task, steps, budget, seed + 1, evaluate)
}

/// Tries the rates of `opts.lr_grid` in ascending order on every cell at the shortest length, first
/// seed only, stopping at a perfect held-out accuracy, and picks one per cell with [`pick_lr`] (quick:
/// the first rate, which a full search always tries, for a few steps; no evaluation and no pick).
pub fn lr_search(opts: &MemorySettings, gen_opts: &GenOptions) -> Result<Vec<LrSearch>> {
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
    opts: &MemorySettings,
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
pub fn memory_runs(opts: &MemorySettings, gen_opts: &GenOptions) -> Result<Vec<CellRuns>> {
    opts.validate()?;
    runs_with(opts, &vec![None; opts.cells.len()], vec![None; opts.cells.len()], gen_opts)
}

/// What Figure 7-2 or 7-3 measured. Full runs: the settings, every cell's runs, chance and (SGD)
/// the learning-rate search; quick runs: the search's first steps (SGD) or the cells' (Adam).
#[derive(Debug, Clone, Serialize)]
pub struct MemoryData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<MemorySettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<CellRuns>>,
    /// Accuracy of guessing, 1/classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<Vec<LrSearch>>,
    /// The settings run (in the JSON as `options`, full runs only).
    #[serde(skip)]
    pub settings: MemorySettings,
}

/// Figure 7-2 (Adam) or 7-3 (SGD), named by [`MemorySettings::figure_name`]. With a learning-rate grid,
/// each cell first gets its rate from [`lr_search`]; a quick run then stops after the search's first steps.
pub fn memory_data(opts: &MemorySettings, gen_opts: &GenOptions) -> Result<MemoryData> {
    opts.validate()?;
    let search = if opts.lr_grid.is_empty() { None } else { Some(lr_search(opts, gen_opts)?) };
    if gen_opts.quick {
        // The picks need full runs: a quick run checks the search's first steps only.
        let cells = if search.is_some() { None } else { Some(memory_runs(opts, gen_opts)?) };
        return Ok(MemoryData { options: None, cells, chance: None, search, settings: opts.clone() });
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
    Ok(MemoryData {
        options: Some(opts.clone()),
        cells: Some(cells),
        chance: Some(1.0 / opts.task.classes as f64),
        search,
        settings: opts.clone(),
    })
}

/// Draws Figure 7-2 or 7-3 (by the optimiser's [`MemorySettings::figure_name`]).
fn draw_memory(data: &MemoryData) -> Result<Vec<Drawing>> {
    let opts = &data.settings;
    let name = opts.figure_name();
    let (Some(cells), Some(chance)) = (&data.cells, data.chance) else {
        return Ok(vec![Drawing::new(name, "", String::new(), data)?]);
    };
    let optimiser = opts.optimiser_label();
    let searched = data.search.is_some();
    let rate = if searched { ", learning rate per network" } else { "" };
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
    let rate = if searched { ", each at the learning rate that did best for it at the shortest length" } else { "" };
    let alt = format!(
        "Held-out accuracy on the remember-the-first-symbol task against the sequence length, for a tanh RNN with an orthogonal recurrent matrix, one with PyTorch's default initialisation, and LSTMs with forget-gate bias 1 and 3, all trained for the same number of {optimiser} steps{rate}. Each point is the mean of {} runs.",
        opts.seeds
    );
    let svg = chart.render(&alt)?;
    Ok(vec![Drawing::new(name, &alt, svg, data)?])
}

impl std::fmt::Display for MemoryData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let header: String = self.settings.lengths.iter().map(|t| format!("{:>8}", format!("T = {t}"))).collect();
        writeln!(f, "{:<24} {header}", "mean held-out accuracy")?;
        for c in self.cells.iter().flatten() {
            let acc: String = c.accuracy.iter().map(|a| format!("{a:>8.3}")).collect();
            let lr = c.lr.map(|lr| format!("   (lr {lr})")).unwrap_or_default();
            writeln!(f, "{:<24} {acc}{lr}", c.name)?;
        }
        Ok(())
    }
}

/// Figure 7-2: the memory task trained with Adam (`memory_task`).
pub struct Memory;

impl Experiment for Memory {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "memory";
    const ABOUT: &'static str = "A long-range memory task: accuracy against sequence length for tanh RNNs and LSTMs, with Adam (Figure 7-2) or SGD (Figure 7-3)";
    type Options = MemoryOptions;
    type Data = MemoryData;

    fn run(opts: &MemoryOptions, run_mode: &GenOptions) -> Result<MemoryData> {
        memory_data(&opts.settings()?, run_mode)
    }

    fn draw(data: &MemoryData) -> Result<Vec<Drawing>> {
        draw_memory(data)
    }
}

/// Figure 7-3: the memory task trained with SGD and momentum at a learning rate picked per cell
/// (`memory_sgd`).
pub struct MemorySgd;

impl Experiment for MemorySgd {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "memory-sgd";
    const ABOUT: &'static str = Memory::ABOUT;
    type Options = MemorySgdOptions;
    type Data = MemoryData;

    fn run(opts: &MemorySgdOptions, run_mode: &GenOptions) -> Result<MemoryData> {
        memory_data(&opts.0.settings()?, run_mode)
    }

    fn draw(data: &MemoryData) -> Result<Vec<Drawing>> {
        draw_memory(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_figures_differ_only_in_the_optimiser() -> Result<()> {
        let (adam, sgd) = (MemoryOptions::default(), MemorySgdOptions::default().0);
        assert_eq!((adam.optimizer, sgd.optimizer), (Optimizer::Adam, Optimizer::Sgd));
        let (adam, sgd) = (adam.settings()?, sgd.settings()?);
        assert_eq!(adam.optim, Optim::AdamW { lr: ADAM_LR, weight_decay: 0.0 });
        assert_eq!(sgd.optim, Optim::Momentum { lr: SGD_LRS[0], momentum: SGD_MOMENTUM });
        assert_eq!((adam.lr_grid.len(), sgd.lr_grid.clone()), (0, SGD_LRS.to_vec()));
        assert_eq!(serde_json::to_value(&adam.cells)?, serde_json::to_value(&sgd.cells)?);
        assert_eq!((adam.figure_name(), sgd.figure_name()), ("memory", "memory-sgd"));
        Ok(())
    }
}

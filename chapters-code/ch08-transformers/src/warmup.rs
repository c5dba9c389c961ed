//! Figures 8-5 and 8-6: learning-rate warm-up. Post-LN and Pre-LN transformers trained with Adam on
//! the sorting task at several learning rates, with and without a linear warm-up (Xiong et al. 2020
//! argue that Post-LN needs it and Pre-LN does not).

use crate::model::{Arch, ModelOptions};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::SeqTask;
use lab::plot::{LineChart, SeriesStyle};
use lab::transformer::{TrainOptions, TrainRun, train};
use serde::Serialize;

/// Settings of Figures 8-5 and 8-6.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct WarmupOptions {
    #[command(flatten)]
    pub model: ModelOptions,
    /// Number of blocks.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub blocks: usize,
    /// The sequence task: sort, reverse or prefix_sum_mod.
    #[arg(long, default_value = "sort", value_parser = seq_task)]
    pub task: SeqTask,
    /// Peak learning rates, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [3e-3, 1e-2, 3e-2], value_parser = cli::finite_positive_f64)]
    pub lrs: Vec<f64>,
    /// Linear warm-up steps of the runs with warm-up.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub warmup: usize,
    /// Adam steps per run.
    #[arg(long, default_value_t = 150, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Held-out sequences the accuracy is measured on.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub eval_batch: usize,
    /// Seed of the weights (and, plus one, of the training sequences).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(WarmupOptions);

/// Parses `--task` by the names the figure JSON uses (`sort`, `reverse`, `prefix_sum_mod`).
fn seq_task(s: &str) -> Result<SeqTask, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_string()))
        .map_err(|_| format!("must be sort, reverse or prefix_sum_mod, got `{s}`"))
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
        let final_loss = (!quick).then(|| lab::stats::tail_mean(&run.losses, 20));
        if quick {
            run.accuracy = None;
        }
        let name =
            format!("{}, {}", arch.name(), if warmup == 0 { "no warm-up".into() } else { format!("warm-up {warmup}") });
        out.push(WarmupRun { name, arch, lr, warmup, run, final_loss });
    }
    Ok(out)
}

/// What Figures 8-5 and 8-6 measured (both figures show all of it; quick mode: the first two runs,
/// a few steps each).
#[derive(Debug, Clone, Serialize)]
pub struct WarmupData {
    pub options: WarmupOptions,
    /// ln V: the loss of a uniform guess.
    pub chance_loss: f64,
    pub runs: Vec<WarmupRun>,
}

/// Figures 8-5 (held-out accuracy against the peak learning rate) and 8-6 (the loss curves at one
/// large rate).
pub struct Warmup;

impl Experiment for Warmup {
    const CHAPTER: &'static str = "ch08";
    const NAME: &'static str = "warmup";
    const ABOUT: &'static str = "Learning-rate warm-up for Post-LN and Pre-LN transformers (Figures 8-5, 8-6)";
    // Width 32: every op is a few thousand elements, and candle's thread hand-offs cost more than
    // they save (the figure takes 1.4× as long on two threads as on one; lab/PERFORMANCE.md).
    const THREADS: Option<usize> = Some(1);
    type Options = WarmupOptions;
    type Data = WarmupData;

    fn run(opts: &WarmupOptions, go: &GenOptions) -> Result<WarmupData> {
        cli::ensure_ascending("lrs", &opts.lrs)?;
        opts.model.ensure_valid()?;
        let runs = warmup_runs(opts, go.quick)?;
        Ok(WarmupData { options: opts.clone(), chance_loss: (opts.model.vocab as f64).ln(), runs })
    }

    fn draw(data: &WarmupData) -> Result<Vec<Drawing>> {
        let (opts, runs, chance) = (&data.options, &data.runs, data.chance_loss);
        let groups: Vec<(Arch, usize)> =
            [Arch::PostLn, Arch::PreLn].iter().flat_map(|&a| [(a, 0), (a, opts.warmup)]).collect();
        let mut acc =
            LineChart::new(format!("Held-out accuracy after {} Adam steps, N = {} blocks", opts.steps, opts.blocks))
                .x_label("peak learning rate")
                .y_label("accuracy (sorted positions)")
                .log_x()
                .y_range(0.0, 1.0)
                .markers();
        for &(arch, w) in &groups {
            let pts: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| r.arch == arch && r.warmup == w)
                .map(|r| (r.lr, r.run.accuracy.unwrap_or(0.0)))
                .collect();
            if pts.is_empty() {
                // A quick run trains only the first configurations.
                continue;
            }
            let name =
                runs.iter().find(|r| r.arch == arch && r.warmup == w).map(|r| r.name.clone()).unwrap_or_default();
            let style = if w == 0 { SeriesStyle::dashed() } else { SeriesStyle::solid() };
            acc = acc.series_with(name, pts, style.color(if arch == Arch::PostLn { 1 } else { 0 }));
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
            Drawing::new("warmup-accuracy", alt_acc, acc.render(alt_acc)?, data)?,
            Drawing::new("warmup-loss", alt_loss, loss.render(alt_loss)?, data)?,
        ])
    }
}

impl std::fmt::Display for WarmupData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<28} {:>8} {:>12} {:>10}", "", "lr", "final loss", "accuracy")?;
        for r in &self.runs {
            let (final_loss, accuracy) = (r.final_loss.unwrap_or(f64::NAN), r.run.accuracy.unwrap_or(f64::NAN));
            writeln!(f, "{:<28} {:>8} {final_loss:>12.3} {accuracy:>10.3}", r.name, r.lr)?;
        }
        Ok(())
    }
}

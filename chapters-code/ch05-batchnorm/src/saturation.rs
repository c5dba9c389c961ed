//! Figures 5-8 and 5-9: BatchNorm's rescue of a saturating network — Ioffe & Szegedy's (2015, §4.1)
//! with-and-without comparison run on chapter 2's Glorot & Bengio network, the one whose top sigmoid
//! layer saturates at 0 and whose error stays at chance: standard init U(±1/√n), plain SGD, minibatches
//! of 10, lab's teacher task. Both networks are probed on the same held-out set, in evaluation mode:
//! the test error and the top hidden layer's mean activation over training.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::{Phase, train_phases};
use lab::plot::{LineChart, SeriesStyle};
use lab::train::Optim;
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
use serde::Serialize;

/// Settings of Figures 5-8 and 5-9 (the defaults are chapter 2's Glorot & Bengio run).
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SaturationOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 5, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Input dimension of the teacher task (equal to --width: a square first layer, as in chapter 2).
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in: usize,
    /// Classes of the teacher task.
    #[arg(skip = 10usize)]
    pub classes: usize,
    /// Learning rate of plain SGD (chapter 2's).
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Minibatch size (Glorot & Bengio's: 10).
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// SGD steps per network.
    #[arg(long, default_value_t = 6000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Probe the held-out set every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub probe_every: usize,
    /// Training examples of the teacher task.
    #[arg(long, default_value_t = 20_000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_examples: usize,
    /// Held-out examples.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub test_examples: usize,
    /// Seed of the teacher task (plus one: of the weights; plus two: of the batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(SaturationOptions);

/// Probes the quick run makes (it trains `QUICK_PROBES · probe_every` steps).
const QUICK_PROBES: usize = 2;

/// One network's record.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationRun {
    pub name: &'static str,
    pub norm: Norm,
    /// Steps of the probes (0 = at initialisation).
    pub steps: Vec<usize>,
    /// Held-out error (evaluation mode).
    pub error: Vec<f64>,
    /// Mean activation of the top hidden layer over the held-out set and its units (evaluation mode).
    pub top_mean: Vec<f64>,
}

/// Trains one network of `opts` with `norm` for `steps` steps, probing every `opts.probe_every`.
fn run_one(opts: &SaturationOptions, norm: Norm, name: &'static str, steps: usize) -> Result<SaturationRun> {
    let data = lab::data::teacher(opts.train_examples + opts.test_examples, opts.d_in, opts.classes, opts.seed)?;
    let (train, test) = data.split(opts.train_examples)?;
    let net = MlpConfig::new(opts.d_in, opts.width, opts.depth, opts.classes, Activation::Sigmoid, Init::Standard)
        .with_norm(norm)
        .with_seed(opts.seed + 1)
        .build(&DEVICE)?;
    let (mut at, mut error, mut top_mean) = (Vec::new(), Vec::new(), Vec::new());
    let top = opts.depth - 1;
    let phases = [Phase { optim: Optim::Sgd { lr: opts.lr }, steps }];
    let records = train_phases(&net, &train, &phases, opts.batch, opts.seed + 2, opts.probe_every, |step, net| {
        let trace = net.forward_trace(&test.x, false)?;
        error.push(1.0 - lab::net::accuracy(&trace.logits, &test.y)?);
        top_mean.push(lab::probe::mean_std(&trace.post[top])?.0);
        at.push(step);
        Ok(())
    })?;
    ensure!(records.len() == steps, "{name}: training diverged at step {} (--lr {} too high?)", records.len(), opts.lr);
    Ok(SaturationRun { name, norm, steps: at, error, top_mean })
}

/// The numbers the chapter quotes from Figures 5-8 and 5-9.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationSummary {
    /// 1 − 1/classes.
    pub chance_error: f64,
    pub plain_final_error: f64,
    pub bn_final_error: f64,
    /// The lowest error the plain network reached at any probe.
    pub plain_best_error: f64,
    pub plain_top_mean_first: f64,
    pub plain_top_mean_final: f64,
    pub plain_top_mean_min: f64,
    pub bn_top_mean_final: f64,
    /// The range of the BatchNorm network's top-layer mean over all probes.
    pub bn_top_mean_min: f64,
    pub bn_top_mean_max: f64,
    /// An error level, and the first probe at which each network is below it.
    pub level: f64,
    pub bn_step_below_level: Option<usize>,
    pub plain_step_below_level: Option<usize>,
}

impl SaturationSummary {
    fn of(plain: &SaturationRun, bn: &SaturationRun, classes: usize) -> SaturationSummary {
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let level = 0.5;
        let below = |r: &SaturationRun| r.steps.iter().zip(&r.error).find(|(_, e)| **e < level).map(|(s, _)| *s);
        SaturationSummary {
            chance_error: 1.0 - 1.0 / classes as f64,
            plain_final_error: last(&plain.error),
            bn_final_error: last(&bn.error),
            plain_best_error: min(&plain.error),
            plain_top_mean_first: plain.top_mean[0],
            plain_top_mean_final: last(&plain.top_mean),
            plain_top_mean_min: min(&plain.top_mean),
            bn_top_mean_final: last(&bn.top_mean),
            bn_top_mean_min: min(&bn.top_mean),
            bn_top_mean_max: max(&bn.top_mean),
            level,
            bn_step_below_level: below(bn),
            plain_step_below_level: below(plain),
        }
    }
}

/// What Figures 5-8 and 5-9 measured (Figure 5-8's JSON holds all of it; 5-9's points at it).
/// Quick mode: the runs' first probes, without options and summary.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<SaturationOptions>,
    /// Without BatchNorm, then with it.
    pub runs: Vec<SaturationRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SaturationSummary>,
}

/// Figure 5-9's data: where its numbers are.
#[derive(Serialize)]
struct Source {
    source: &'static str,
}

const SOURCE: Source = Source { source: "bn-saturation.json" };
const COMPANION: &str = "bn-saturation-top";

/// Figures 5-8 (held-out error) and 5-9 (the top hidden layer's mean activation).
pub struct BnSaturation;

impl Experiment for BnSaturation {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "bn-saturation";
    const ABOUT: &'static str = "Chapter 2's saturating sigmoid network (Glorot & Bengio) with and without BatchNorm: test error and the top layer's mean activation (Figures 5-8 and 5-9)";
    type Options = SaturationOptions;
    type Data = SaturationData;

    fn run(opts: &SaturationOptions, run_mode: &GenOptions) -> Result<SaturationData> {
        ensure!(
            opts.batch >= 2 && opts.batch <= opts.train_examples,
            "--batch {} must be between 2 (BatchNorm needs two examples) and --train-examples {}",
            opts.batch,
            opts.train_examples
        );
        ensure!(
            opts.steps >= opts.probe_every,
            "--steps {} must be at least --probe-every {}",
            opts.steps,
            opts.probe_every
        );
        let steps = if run_mode.quick { opts.steps.min(QUICK_PROBES * opts.probe_every) } else { opts.steps };
        let runs = vec![
            run_one(opts, Norm::None, "without BatchNorm", steps)?,
            run_one(opts, Norm::Batch, "with BatchNorm", steps)?,
        ];
        if run_mode.quick {
            return Ok(SaturationData { options: None, runs, summary: None });
        }
        let summary = SaturationSummary::of(&runs[0], &runs[1], opts.classes);
        Ok(SaturationData { options: Some(opts.clone()), runs, summary: Some(summary) })
    }

    fn draw(data: &SaturationData) -> Result<Vec<Drawing>> {
        let (Some(opts), Some(s)) = (&data.options, &data.summary) else {
            // Quick mode names the companion so the book's tests know which generator owns it.
            return Ok(vec![
                Drawing::data_only(Self::NAME, data)?,
                Drawing::new(COMPANION, "", String::new(), &SOURCE)?,
            ]);
        };
        let net =
            format!("sigmoid MLP, {} hidden layers × {}, standard init, batch {}", opts.depth, opts.width, opts.batch);
        let series = |r: &SaturationRun, v: &[f64]| r.steps.iter().zip(v).map(|(&t, &y)| (t as f64, y)).collect();

        let mut err = LineChart::new(format!("Held-out error, {net}")).x_label("step").y_label("test error");
        for (slot, r) in data.runs.iter().enumerate() {
            err = err.series_with(r.name, series(r, &r.error), SeriesStyle::solid().color(slot));
        }
        let err = err.hline(s.chance_error, "chance");
        let alt_err = format!(
            "Test error against training step for chapter 2's saturating sigmoid network with and without BatchNorm. Without it the error stays near chance ({:.2}) and ends at {:.3}; with BatchNorm it falls below {} within {} steps and ends at {:.3}.",
            s.chance_error,
            s.plain_final_error,
            s.level,
            s.bn_step_below_level.map_or("no".to_string(), |t| t.to_string()),
            s.bn_final_error
        );
        let fig_err = Drawing::new(Self::NAME, &alt_err, err.render(&alt_err)?, data)?;

        let mut top = LineChart::new(format!("Mean activation of hidden layer {} (the top), {net}", opts.depth))
            .x_label("step")
            .y_label("mean sigmoid output");
        for (slot, r) in data.runs.iter().enumerate() {
            top = top.series_with(r.name, series(r, &r.top_mean), SeriesStyle::solid().color(slot));
        }
        let alt_top = format!(
            "The top hidden layer's mean activation against training step. Without BatchNorm it falls from {:.2} towards 0, the saturation Glorot & Bengio describe, and ends at {:.3}; with BatchNorm it stays between {:.2} and {:.2}.",
            s.plain_top_mean_first, s.plain_top_mean_final, s.bn_top_mean_min, s.bn_top_mean_max
        );
        let fig_top = Drawing::new(COMPANION, &alt_top, top.render(&alt_top)?, &SOURCE)?;
        Ok(vec![fig_err, fig_top])
    }
}

impl std::fmt::Display for SaturationData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            let (e0, e1) = (r.error[0], r.error.last().copied().unwrap_or(f64::NAN));
            let (m0, m1) = (r.top_mean[0], r.top_mean.last().copied().unwrap_or(f64::NAN));
            writeln!(
                f,
                "{:<18} test error {e0:.3} → {e1:.3}; top layer's mean activation {m0:.3} → {m1:.3} (steps 0 → {})",
                r.name,
                r.steps.last().copied().unwrap_or(0)
            )?;
        }
        Ok(())
    }
}

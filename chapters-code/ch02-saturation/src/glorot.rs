//! Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
//! networks", §3.1: watch the mean activation of every hidden layer of a deep sigmoid network while
//! it trains by plain SGD from the "standard" initialisation U(±1/√n).
//!
//! The paper trains five hidden layers of 1000 units on its 32×32 Shapeset-3×2 images with
//! minibatches of 10; we train five narrower layers, as wide as the input (so the first layer is
//! square, as theirs nearly is), on lab's teacher task (Gaussian inputs labelled by a random tanh
//! network), with the same init, optimiser and minibatch size, and probe a fixed held-out batch as
//! training runs. Beside the sigmoid network, the four other networks of the paper's Table 1 — tanh
//! and softsign, each with the standard and the normalized init — train for `table_steps` steps, and
//! all five are scored on a test set.

use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{HistogramGrid, Legend, LineChart, SeriesStyle};
use lab::probe::{Histogram, probe};
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// How the teacher's Gaussian inputs are presented to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inputs {
    /// x ~ N(0, I), centred, as the teacher draws them.
    Gaussian,
    /// σ(x) ∈ (0, 1): positive, like pixel intensities (Shapeset's and MNIST's inputs are).
    Positive,
}

impl std::str::FromStr for Inputs {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gaussian" | "centred" | "centered" => Ok(Inputs::Gaussian),
            "positive" | "pixels" => Ok(Inputs::Positive),
            other => anyhow::bail!("unknown inputs `{other}` (expected gaussian or positive)"),
        }
    }
}

/// The flag's spelling of the inputs (`--inputs gaussian|positive`).
impl std::fmt::Display for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Inputs::Gaussian => "gaussian",
            Inputs::Positive => "positive",
        })
    }
}

/// One training run of the experiment; as flags, the settings of Figures 2-9 to 2-12 (the sigmoid
/// network, and the tanh network of the contrast with the same settings).
#[derive(Debug, Clone, PartialEq, Serialize, clap::Args)]
pub struct GlorotOptions {
    /// Hidden activation (the figures run sigmoid, then tanh with the same settings).
    #[arg(skip = Activation::Sigmoid)]
    pub activation: Activation,
    /// Hidden layers.
    #[arg(long, default_value_t = 5, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Input dimension of the teacher task (equal to --width: a square first layer).
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in: usize,
    /// Classes of the teacher task.
    #[arg(skip = 10usize)]
    pub classes: usize,
    /// Weight init (Glorot & Bengio's "standard" is U(±1/√n)).
    #[arg(long, default_value_t = Init::Standard, value_parser = cli::init)]
    pub init: Init,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Minibatch size (the paper's is 10).
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// SGD steps of the sigmoid network.
    #[arg(long, default_value_t = 15000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// SGD steps of the tanh and softsign networks; every network is scored on the test set here.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub table_steps: usize,
    /// Probe the held-out batch every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub probe_every: usize,
    /// Inputs: gaussian (the teacher's N(0, I)) or positive (σ(x), like pixels).
    #[arg(long, default_value_t = Inputs::Gaussian)]
    pub inputs: Inputs,
    /// Training examples of the teacher task.
    #[arg(skip = 20_000usize)]
    pub n_train: usize,
    /// Held-out examples the probes are taken on.
    #[arg(skip = 300usize)]
    pub n_eval: usize,
    /// Test examples every network is scored on at step `table_steps`.
    #[arg(skip = 2000usize)]
    pub n_test: usize,
    /// Seed of the teacher task, the weights and the minibatch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(GlorotOptions);

/// The per-layer statistics at one probe.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub step: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Mean and standard deviation of each hidden layer's activations over the held-out batch.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Fraction of each layer's activations within 0.03 of an asymptote.
    pub saturated: Vec<f64>,
}

/// A run: snapshots every `probe_every` steps and the activation histograms at the start and end.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotRun {
    pub snapshots: Vec<Snapshot>,
    /// Error on the test set at step `table_steps`, if the run got there.
    pub test_error: Option<f64>,
    /// Per layer, histograms of the held-out activations over the activation's range ([`HISTOGRAM_BINS`] bins).
    pub histograms_start: Vec<Histogram>,
    pub histograms_end: Vec<Histogram>,
}

/// The teacher data as `opts` presents it: `(x_train, y_train, x_eval, y_eval)`.
pub fn data(opts: &GlorotOptions) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let (x, y) = all_data(opts)?;
    Ok((
        x.narrow(0, 0, opts.n_train)?,
        y.narrow(0, 0, opts.n_train)?,
        x.narrow(0, opts.n_train, opts.n_eval)?,
        y.narrow(0, opts.n_train, opts.n_eval)?,
    ))
}

/// The test set: `n_test` examples after the training and held-out ones.
pub fn test_data(opts: &GlorotOptions) -> Result<(Tensor, Tensor)> {
    let (x, y) = all_data(opts)?;
    let start = opts.n_train + opts.n_eval;
    Ok((x.narrow(0, start, opts.n_test)?, y.narrow(0, start, opts.n_test)?))
}

/// Whether two settings draw the same teacher task (so their runs can share one draw).
pub(crate) fn same_task(a: &GlorotOptions, b: &GlorotOptions) -> bool {
    (a.d_in, a.classes, a.inputs, a.seed, a.n_train, a.n_eval, a.n_test)
        == (b.d_in, b.classes, b.inputs, b.seed, b.n_train, b.n_eval, b.n_test)
}

/// Every example of the task `opts` describes: training, then held-out, then test.
pub(crate) fn all_data(opts: &GlorotOptions) -> Result<(Tensor, Tensor)> {
    let n = opts.n_train + opts.n_eval + opts.n_test;
    let d = lab::data::teacher(n, opts.d_in, opts.classes, opts.seed)?;
    let x = match opts.inputs {
        Inputs::Gaussian => d.x,
        Inputs::Positive => candle_nn::ops::sigmoid(&d.x)?,
    };
    Ok((x, d.y))
}

/// Bins of the activation histograms: 0.01 wide for sigmoid, 0.02 for tanh.
pub const HISTOGRAM_BINS: usize = 100;

fn histograms(net: &lab::Mlp, x: &Tensor, act: Activation) -> Result<Vec<Histogram>> {
    let (lo, hi) = if act == Activation::Sigmoid { (0.0, 1.0) } else { (-1.0, 1.0) };
    net.forward_trace(x, false)?.post.iter().map(|a| Histogram::of(a, lo, hi, HISTOGRAM_BINS)).collect()
}

/// Trains for `steps` steps (a prefix of the run `opts` describes: the same seed gives the same first
/// steps whatever `steps` is) and probes every `opts.probe_every` steps.
pub fn run(opts: &GlorotOptions, steps: usize, progress: bool) -> Result<GlorotRun> {
    run_on(opts, &all_data(opts)?, steps, progress)
}

/// [`run`] on the task `all_data(opts)` drew (networks that differ only in activation, init or
/// steps share one draw).
pub(crate) fn run_on(opts: &GlorotOptions, task: &(Tensor, Tensor), steps: usize, progress: bool) -> Result<GlorotRun> {
    ensure!(opts.probe_every > 0, "probe interval must be at least 1");
    cli::ensure_at_most("batch", opts.batch, "n-train", opts.n_train)?;
    ensure!(opts.n_test > 0, "the test set is empty");
    // The teacher task, split into training, held-out and test examples.
    let (xa, ya) = task;
    let split = |start, len| -> Result<(Tensor, Tensor)> { Ok((xa.narrow(0, start, len)?, ya.narrow(0, start, len)?)) };
    let (x, y) = split(0, opts.n_train)?;
    let (xe, ye) = split(opts.n_train, opts.n_eval)?;
    let (xt, yt) = split(opts.n_train + opts.n_eval, opts.n_test)?;
    let mut test_error = None;
    let net = MlpConfig::new(opts.d_in, opts.width, opts.depth, opts.classes, opts.activation, opts.init)
        .with_seed(opts.seed)
        .build(&DEVICE)?;
    let histograms_start = histograms(&net, &xe, opts.activation)?;
    let mut snapshots = Vec::new();
    let bar = lab::train::progress_bar(progress && steps >= 1000, steps as u64, opts.activation.name());
    let mut done = 0;
    loop {
        let p = probe(&net, &xe, &ye)?;
        snapshots.push(Snapshot {
            step: done,
            loss: p.loss,
            accuracy: p.accuracy,
            mean: p.layers.iter().map(|l| l.act_mean).collect(),
            std: p.layers.iter().map(|l| l.act_std).collect(),
            saturated: p.layers.iter().map(|l| l.saturated).collect(),
        });
        if done == opts.table_steps {
            test_error = Some(1.0 - lab::net::accuracy(&net.forward(&xt)?, &yt)?);
        }
        if done >= steps {
            break;
        }
        let chunk = opts.probe_every.min(steps - done);
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: opts.lr }, chunk, opts.batch);
        cfg.progress = false;
        // Each chunk shuffles with its own seed, so a run is a deterministic function of `opts`.
        cfg.seed = opts.seed.wrapping_mul(1_000_003).wrapping_add((done / opts.probe_every) as u64);
        let h = train(&net, &x, &y, None, &cfg)?;
        ensure!(
            !h.diverged,
            "training diverged at step {} (learning rate {} too high?)",
            done + h.steps.len(),
            opts.lr
        );
        done += chunk;
        bar.inc(chunk as u64);
    }
    bar.finish_and_clear();
    Ok(GlorotRun { snapshots, test_error, histograms_start, histograms_end: histograms(&net, &xe, opts.activation)? })
}

/// The numbers the chapter quotes from one network's full run.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotSummary {
    pub initial_means: Vec<f64>,
    pub final_means: Vec<f64>,
    pub final_std: Vec<f64>,
    pub final_saturated: Vec<f64>,
    pub initial_saturated: Vec<f64>,
    pub top_initial_mean: f64,
    pub top_final_mean: f64,
    pub top_final_saturated: f64,
    /// The mean slope left in the top layer, from its activations' mean m and std s:
    /// E[σ′] = E[a(1 − a)] = m − m² − s² for sigmoid, E[tanh′] = E[1 − a²] = 1 − m² − s² for tanh.
    pub top_initial_mean_slope: f64,
    pub top_final_mean_slope: f64,
    pub top_slope_fall: f64,
    /// The final mean of the layer below the top (none in a one-layer network).
    pub below_top_final_mean: Option<f64>,
    /// Per layer, the first probe at which at least 1 % of its activations were saturated (`null` if
    /// none was): the order in which saturation reaches the layers.
    pub saturation_onset: Vec<Option<usize>>,
    pub max_final_saturated: f64,
    pub initial_loss: f64,
    pub final_loss: f64,
    pub final_accuracy: f64,
    pub final_error: f64,
    pub chance_loss: f64,
    /// Sigmoid only: the first probe at which the top layer's mean activation had fallen below 0.1
    /// (`null` if it never did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_below_0_1_at: Option<Option<usize>>,
}

impl GlorotSummary {
    fn of(opts: &GlorotOptions, snapshots: &[Snapshot]) -> GlorotSummary {
        let first = &snapshots[0];
        let last = snapshots.last().expect("snapshots");
        let top = opts.depth - 1;
        let slope = |m: f64, s: f64| match opts.activation {
            Activation::Sigmoid => m - m * m - s * s,
            _ => 1.0 - m * m - s * s,
        };
        GlorotSummary {
            initial_means: first.mean.clone(),
            final_means: last.mean.clone(),
            final_std: last.std.clone(),
            final_saturated: last.saturated.clone(),
            initial_saturated: first.saturated.clone(),
            top_initial_mean: first.mean[top],
            top_final_mean: last.mean[top],
            top_final_saturated: last.saturated[top],
            top_initial_mean_slope: slope(first.mean[top], first.std[top]),
            top_final_mean_slope: slope(last.mean[top], last.std[top]),
            top_slope_fall: slope(first.mean[top], first.std[top]) / slope(last.mean[top], last.std[top]),
            below_top_final_mean: (top > 0).then(|| last.mean[top - 1]),
            saturation_onset: (0..opts.depth)
                .map(|l| snapshots.iter().find(|s| s.saturated[l] >= 0.01).map(|s| s.step))
                .collect(),
            max_final_saturated: last.saturated.iter().copied().fold(0.0, f64::max),
            initial_loss: first.loss,
            final_loss: last.loss,
            final_accuracy: last.accuracy,
            final_error: 1.0 - last.accuracy,
            chance_loss: (opts.classes as f64).ln(),
            top_below_0_1_at: (opts.activation == Activation::Sigmoid)
                .then(|| snapshots.iter().find(|s| s.mean[top] < 0.1).map(|s| s.step)),
        }
    }
}

/// One network of the experiment: Figure 2-9's (sigmoid) or 2-10's (tanh) data.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotNet {
    pub options: GlorotOptions,
    pub snapshots: Vec<Snapshot>,
    /// Error on the test set at step `table_steps` (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_error: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<GlorotSummary>,
}

/// Figure 2-12's data for one network: the activation histograms at the start and the end.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotHistograms {
    pub histograms_start: Vec<Histogram>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histograms_end: Option<Vec<Histogram>>,
}

/// One network of Glorot & Bengio's Table 1, as we ran it.
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// The paper's name: "Sigmoid", "Tanh", "Tanh N", "Softsign", "Softsign N" (N: normalized init).
    pub network: &'static str,
    pub activation: Activation,
    pub init: Init,
    /// Held-out error at every probe (the sigmoid's to `steps`, the others' to `table_steps`).
    pub held_out_error: Vec<f64>,
    /// Test error at step `table_steps` (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_error: Option<f64>,
    /// The test error's binomial standard error, √(e(1 − e)/n_test) (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
    /// Rank of the test error among the five, 1 = lowest (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    /// The paper's Table 1 test error on Shapeset-3×2, in percent, where the chapter quotes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper_shapeset_percent: Option<f64>,
}

/// Figure 2-11's data: held-out error of the five networks of Table 1, and their test errors.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotTable {
    pub table_steps: usize,
    pub n_test: usize,
    pub probe_every: usize,
    pub rows: Vec<TableRow>,
    /// Test error with the normalized init over the standard one, for tanh and for softsign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tanh_normalized_over_standard: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub softsign_normalized_over_standard: Option<f64>,
    /// The normalized init's gain in test error (standard − normalized) in standard errors of the
    /// difference, for tanh and for softsign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tanh_gain_in_standard_errors: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub softsign_gain_in_standard_errors: Option<f64>,
}

/// The networks of Glorot & Bengio's Table 1 besides the sigmoid and the standard tanh:
/// (name, activation, init, the paper's Shapeset-3×2 test error in percent where quoted).
pub fn table_networks() -> [(&'static str, Activation, Init, Option<f64>); 5] {
    [
        ("Sigmoid", Activation::Sigmoid, Init::Standard, Some(82.61)),
        ("Tanh", Activation::Tanh, Init::Standard, None),
        ("Tanh N", Activation::Tanh, Init::XAVIER, Some(15.60)),
        ("Softsign", Activation::Softsign, Init::Standard, None),
        ("Softsign N", Activation::Softsign, Init::XAVIER, None),
    ]
}

/// What Figures 2-9 to 2-12 measured (quick mode: the first probe interval, no summaries, no final
/// histograms).
#[derive(Debug, Clone, Serialize)]
pub struct GlorotData {
    pub sigmoid: GlorotNet,
    pub tanh: GlorotNet,
    pub sigmoid_histograms: GlorotHistograms,
    pub tanh_histograms: GlorotHistograms,
    pub table: GlorotTable,
}

/// Figures 2-9 to 2-12: per-layer mean activations of the sigmoid network during training, the tanh
/// network's spread, held-out error of both, and activation histograms.
pub struct Glorot;

/// Trains one network of the figures: all its steps, or in quick mode the first probe interval.
fn glorot_net(
    opts: GlorotOptions,
    task: &(Tensor, Tensor),
    run_mode: &GenOptions,
) -> Result<(GlorotNet, GlorotHistograms)> {
    let steps = if run_mode.quick { opts.probe_every.min(opts.steps) } else { opts.steps };
    let run = run_on(&opts, task, steps, run_mode.progress)?;
    let summary = (!run_mode.quick).then(|| GlorotSummary::of(&opts, &run.snapshots));
    let histograms_end = (!run_mode.quick).then_some(run.histograms_end);
    Ok((
        GlorotNet { options: opts, snapshots: run.snapshots, test_error: run.test_error, summary },
        GlorotHistograms { histograms_start: run.histograms_start, histograms_end },
    ))
}

fn steps_of(net: &GlorotNet) -> Vec<f64> {
    net.snapshots.iter().map(|s| s.step as f64).collect()
}

fn draw_sigmoid(net: &GlorotNet) -> Result<Drawing> {
    let s = &net.options;
    let mut chart = LineChart::new(format!(
        "Mean sigmoid activation per hidden layer during SGD ({} × {}, U(±1/√n), η = {})",
        s.depth, s.width, s.lr
    ))
    .x_label("SGD step (minibatch of 10)")
    .y_label("mean activation on held-out data")
    .y_range(0.0, 1.0)
    .hline(0.5, "σ(0) = ½");
    let steps = steps_of(net);
    for l in 0..s.depth {
        let mean = net.snapshots.iter().map(|x| x.mean[l]).collect::<Vec<_>>();
        chart = chart.series(format!("layer {}", l + 1), steps.iter().copied().zip(mean).collect());
    }
    let alt = "Mean activation of each sigmoid hidden layer against training step: the top layer's mean falls from one half towards zero within the first few thousand steps, the layer below it rises above one half, the lowest layers stay near one half";
    Drawing::new("glorot-sigmoid", alt, chart.legend(Legend::Outside).render(alt)?, net)
}

fn draw_tanh(net: &GlorotNet) -> Result<Drawing> {
    let t = &net.options;
    let mut chart = LineChart::new(format!(
        "tanh network: spread and saturation per hidden layer ({} × {}, η = {})",
        t.depth, t.width, t.lr
    ))
    .x_label("SGD step (minibatch of 10)")
    .y_label("std of activations · saturated fraction")
    .y_range(0.0, 1.0);
    let steps = steps_of(net);
    for l in 0..t.depth {
        let std = net.snapshots.iter().map(|x| x.std[l]).collect::<Vec<_>>();
        let sat = net.snapshots.iter().map(|x| x.saturated[l]).collect::<Vec<_>>();
        chart = chart
            .series_with(
                format!("layer {} std", l + 1),
                steps.iter().copied().zip(std).collect(),
                SeriesStyle::solid().color(l),
            )
            .series_with(
                format!("layer {} saturated", l + 1),
                steps.iter().copied().zip(sat).collect(),
                SeriesStyle::dotted().color(l),
            );
    }
    let alt = "Standard deviation and saturated fraction of each tanh hidden layer's activations against training step: the spread grows in every layer as the network learns, and a growing minority of units saturate";
    Drawing::new("glorot-tanh", alt, chart.legend(Legend::Outside).render(alt)?, net)
}

fn draw_error(table: &GlorotTable) -> Result<Drawing> {
    let every = table.probe_every as f64;
    let mut chart = LineChart::new("Held-out error during training: the five networks of Glorot & Bengio's Table 1")
        .x_label("SGD step (minibatch of 10)")
        .y_label("held-out error (10 classes)")
        .y_range(0.0, 1.0)
        .hline(0.9, "chance");
    for (k, row) in table.rows.iter().enumerate() {
        let points = row.held_out_error.iter().enumerate().map(|(i, &e)| (i as f64 * every, e)).collect();
        let style = if row.init == Init::Standard { SeriesStyle::solid() } else { SeriesStyle::dashed() };
        chart = chart.series_with(row.network, points, style.color(k));
    }
    let alt = "Held-out classification error against training step for five networks: the sigmoid network stays at chance, about 90 percent error, for its whole run, while the tanh and softsign networks, with the standard (solid) or normalized (dashed) initialisation, fall within a few hundred steps and then slowly";
    Drawing::new(
        "glorot-error",
        alt,
        chart.vline(table.table_steps as f64, "test set").legend(Legend::Outside).render(alt)?,
        table,
    )
}

fn draw_histograms(name: &str, net: &GlorotNet, hists: &GlorotHistograms) -> Result<Drawing> {
    let (opts, act) = (&net.options, net.options.activation);
    let alt = format!(
        "Histograms of each hidden layer's {act} activations on held-out data, at initialisation and after training, with the saturated ends shaded; panel titles give the saturated fraction"
    );
    let Some(end) = &hists.histograms_end else {
        // A quick run has no final histograms (and its figure is never drawn).
        return Drawing::new(name, &alt, String::new(), hists);
    };
    let (lo, hi) = if act == Activation::Sigmoid { (0.0, 1.0) } else { (-1.0, 1.0) };
    let m = lab::act::SATURATION_MARGIN;
    let mut grid = HistogramGrid::new(format!(
        "{act} activations per layer: at initialisation (top) and after {} steps (bottom)",
        opts.steps
    ))
    .x_label(format!("activation {act}(z)"))
    .x_range(lo, hi)
    .columns(opts.depth)
    .shade(lo, lo + m, "saturated")
    .shade(hi - m, hi, "saturated");
    if act == Activation::Sigmoid {
        // A saturated sigmoid layer piles into one bin; a shared scale would flatten every other panel.
        grid = grid.independent_y();
    }
    let last = net.snapshots.last().expect("snapshots");
    for (when, hists, sat) in
        [("init", &hists.histograms_start, &net.snapshots[0].saturated), ("end", end, &last.saturated)]
    {
        for (l, h) in hists.iter().enumerate() {
            let title = format!("L{} {when} · {:.0}% sat", l + 1, 100.0 * sat[l]);
            grid = grid.panel_counts(title, h.counts.iter().map(|&c| c as f64).collect());
        }
    }
    let svg = grid.render(&alt)?;
    Drawing::new(name, &alt, svg, hists)
}

impl Experiment for Glorot {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "glorot";
    const ABOUT: &'static str = "Per-layer activations of deep sigmoid and tanh nets during SGD, after Glorot & Bengio 2010 §3.1 (Figures 2-9 to 2-12)";
    type Options = GlorotOptions;
    type Data = GlorotData;

    fn run(opts: &GlorotOptions, run_mode: &GenOptions) -> Result<GlorotData> {
        cli::ensure_at_most("batch", opts.batch, "n-train", opts.n_train)?;
        ensure!(
            opts.table_steps <= opts.steps && opts.table_steps.is_multiple_of(opts.probe_every),
            "--table-steps {} must be a multiple of --probe-every {} and at most --steps {}",
            opts.table_steps,
            opts.probe_every,
            opts.steps
        );
        // Every network starts from the same options; the sigmoid runs `steps`, the others `table_steps`.
        let net_opts = |activation, init, steps| GlorotOptions { activation, init, steps, ..opts.clone() };
        let task = all_data(opts)?;
        let (sigmoid, sigmoid_histograms) =
            glorot_net(net_opts(Activation::Sigmoid, opts.init, opts.steps), &task, run_mode)?;
        let (tanh, tanh_histograms) =
            glorot_net(net_opts(Activation::Tanh, opts.init, opts.table_steps), &task, run_mode)?;
        let mut rows = Vec::new();
        for (network, activation, init, paper) in table_networks() {
            let net = match (activation, init) {
                (Activation::Sigmoid, Init::Standard) => sigmoid.clone(),
                (Activation::Tanh, Init::Standard) => tanh.clone(),
                _ => glorot_net(net_opts(activation, init, opts.table_steps), &task, run_mode)?.0,
            };
            rows.push(TableRow {
                network,
                activation,
                init,
                held_out_error: net.snapshots.iter().map(|s| 1.0 - s.accuracy).collect(),
                test_error: net.test_error,
                standard_error: net.test_error.map(|e| (e * (1.0 - e) / opts.n_test as f64).sqrt()),
                rank: None,
                paper_shapeset_percent: paper,
            });
        }
        let errors: Vec<Option<f64>> = rows.iter().map(|r| r.test_error).collect();
        if errors.iter().all(Option::is_some) {
            for (i, row) in rows.iter_mut().enumerate() {
                let mine = errors[i].unwrap_or(f64::NAN);
                row.rank = Some(1 + errors.iter().filter(|e| e.unwrap_or(f64::NAN) < mine).count());
            }
        }
        let ratio = |n: usize, s: usize| Some(errors[n]? / errors[s]?);
        let gain = |n: usize, s: usize| {
            let (en, es) = (rows[n].standard_error?, rows[s].standard_error?);
            Some((errors[s]? - errors[n]?) / (en * en + es * es).sqrt())
        };
        let table = GlorotTable {
            table_steps: opts.table_steps,
            n_test: opts.n_test,
            probe_every: opts.probe_every,
            tanh_normalized_over_standard: ratio(2, 1),
            softsign_normalized_over_standard: ratio(4, 3),
            tanh_gain_in_standard_errors: gain(2, 1),
            softsign_gain_in_standard_errors: gain(4, 3),
            rows,
        };
        Ok(GlorotData { sigmoid, tanh, sigmoid_histograms, tanh_histograms, table })
    }

    fn draw(data: &GlorotData) -> Result<Vec<Drawing>> {
        Ok(vec![
            draw_sigmoid(&data.sigmoid)?,
            draw_tanh(&data.tanh)?,
            draw_error(&data.table)?,
            draw_histograms("glorot-histograms-sigmoid", &data.sigmoid, &data.sigmoid_histograms)?,
            draw_histograms("glorot-histograms-tanh", &data.tanh, &data.tanh_histograms)?,
        ])
    }
}

impl std::fmt::Display for GlorotData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for (name, net) in [("sigmoid", &self.sigmoid), ("tanh", &self.tanh)] {
            let Some(s) = &net.summary else {
                let last = net.snapshots.last().expect("snapshots");
                writeln!(f, "{name}: quick run to step {}, mean activations {:?}", last.step, last.mean)?;
                continue;
            };
            writeln!(f, "{:<34} {:?}", format!("{name}: initial_means"), s.initial_means)?;
            writeln!(f, "{:<34} {:?}", format!("{name}: final_means"), s.final_means)?;
            writeln!(f, "{:<34} {:?}", format!("{name}: final_saturated"), s.final_saturated)?;
            writeln!(f, "{:<34} {:?}", format!("{name}: final_accuracy"), s.final_accuracy)?;
        }
        for row in &self.table.rows {
            if let Some(e) = row.test_error {
                writeln!(f, "{:<10} test error at step {}: {e:.3}", row.network, self.table.table_steps)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_is_a_prefix_of_a_longer_one() -> Result<()> {
        let opts = GlorotOptions {
            depth: 2,
            width: 16,
            d_in: 8,
            n_train: 200,
            n_eval: 50,
            probe_every: 5,
            ..Default::default()
        };
        let short = run(&opts, 10, false)?;
        let long = run(&opts, 20, false)?;
        assert_eq!(short.snapshots.len(), 3);
        assert_eq!(long.snapshots.len(), 5);
        for (a, b) in short.snapshots.iter().zip(&long.snapshots) {
            assert_eq!(a.mean, b.mean);
        }
        // Sigmoid activations start near ½ and every histogram counts every activation.
        assert!(short.snapshots[0].mean.iter().all(|m| (m - 0.5).abs() < 0.1));
        assert!(short.histograms_end.iter().all(|h| h.counts.iter().sum::<u64>() == 50 * 16));
        Ok(())
    }
}

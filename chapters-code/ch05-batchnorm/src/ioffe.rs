//! Figures 5-2 to 5-5: Ioffe & Szegedy's (2015, §4.1) MNIST experiment at small scale — a deep sigmoid
//! MLP trained with and without BatchNorm: held-out accuracy and the 15th/50th/85th percentiles of one
//! last-hidden-layer unit's input to its sigmoid over training, the per-layer gradient profile at
//! initialisation and after training, and what evaluating in training mode does to the trained network.

use crate::digits::digit_split;
use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::Dataset;
use lab::experiments::{Phase, train_phases};
use lab::plot::{LayerProfile, LineChart, SeriesStyle};
use lab::probe::error_rms;
use lab::train::Optim;
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig, Norm};
use serde::Serialize;

/// Settings of Figures 5-2 to 5-5.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct IoffeOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// SGD steps.
    #[arg(long, default_value_t = 3000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Minibatch size (Ioffe & Szegedy: 60).
    #[arg(long, default_value_t = 60, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.5, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Evaluate (accuracy, percentiles) every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub eval_every: usize,
    /// Training digits.
    #[arg(long, default_value_t = 6000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_examples: usize,
    /// Held-out digits (at least 1000).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub test_examples: usize,
    /// The last hidden layer's unit whose sigmoid input is tracked.
    #[arg(long, default_value_t = 0)]
    pub unit: usize,
    /// Seed of the digits (plus one: of the weights; plus two: of the batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(IoffeOptions);

/// The percentiles Ioffe & Szegedy plot (their Figure 1(b, c)).
pub const PERCENTILES: [f64; 3] = [0.15, 0.5, 0.85];
/// Evaluations the quick run makes (it trains `QUICK_EVALS · eval_every` steps).
const QUICK_EVALS: usize = 1;
/// Batch sizes at which the trained network is (wrongly) evaluated in training mode.
pub const TRAIN_MODE_BATCHES: [usize; 7] = [1, 2, 4, 8, 16, 64, 1000];

/// What one training run recorded.
#[derive(Debug, Clone, Serialize)]
pub struct IoffeRun {
    pub name: &'static str,
    pub norm: Norm,
    /// Steps of the evaluations (0 = at initialisation).
    pub steps: Vec<usize>,
    /// Held-out accuracy, in evaluation mode.
    pub accuracy: Vec<f64>,
    /// The tracked unit's input to its sigmoid over the held-out set: 15th, 50th, 85th percentiles, at
    /// every evaluation but the first (at step 0 the running statistics have not seen a batch yet, so
    /// evaluation mode would show the raw pre-activation).
    pub percentiles: Vec<[f64; 3]>,
    /// gˡ (the book's gradient measure, `lab::probe::error_rms`) per hidden layer on a fixed batch at
    /// initialisation.
    pub delta_init: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_trained: Option<Vec<f64>>,
    /// Accuracy of the trained network evaluated in training mode, batch by batch, per [`TRAIN_MODE_BATCHES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_mode_accuracy: Option<Vec<f64>>,
}

/// Accuracy on `test` when the network is run in *training* mode on consecutive batches of `batch`
/// examples — the "forgot to switch to evaluation" mistake.
pub fn train_mode_accuracy(net: &Mlp, test: &Dataset, batch: usize) -> Result<f64> {
    let mut correct = 0.0;
    let mut seen = 0;
    let mut start = 0;
    while start + batch <= test.len() {
        let idx: Vec<usize> = (start..start + batch).collect();
        let (x, y) = test.batch(&idx)?;
        // Training mode also moves the running statistics: call this after the last evaluation.
        let logits = if batch == 1 { train_mode_single(net, &x)? } else { net.forward_trace(&x, true)?.logits };
        correct += lab::net::accuracy(&logits, &y)? * batch as f64;
        seen += batch;
        start += batch;
    }
    Ok(correct / seen as f64)
}

/// A batch of one in training mode: every normalised unit is x − mean(x) = 0, so the output is the
/// network's response to β alone, whatever the input (BatchNorm refuses B = 1; this is what it would compute).
fn train_mode_single(net: &Mlp, x: &Tensor) -> Result<Tensor> {
    let mut h = x.clone();
    for layer in net.hidden() {
        let beta = layer.beta.as_ref().expect("BatchNorm has β").as_tensor().unsqueeze(0)?;
        h = net.config.activation.forward(&beta)?;
    }
    let head = net.head();
    Ok(h.matmul(&head.weight.as_tensor().t()?)?.broadcast_add(head.bias.as_tensor())?)
}

/// Trains one network and records Figure 5-2/5-3's series; `extra` sees the network (and the training
/// set) at every evaluation too.
pub(crate) fn run_one(
    opts: &IoffeOptions,
    norm: Norm,
    name: &'static str,
    steps: usize,
    quick: bool,
    mut extra: impl FnMut(usize, &Mlp, &Dataset) -> Result<()>,
) -> Result<(IoffeRun, Mlp)> {
    let (train, test) = digit_split(opts.train_examples, opts.test_examples, opts.seed)?;
    let config =
        MlpConfig::new(train.dim(), opts.width, opts.depth, 10, Activation::Sigmoid, Init::XavierNormal { gain: 1.0 })
            .with_norm(norm)
            .with_seed(opts.seed + 1);
    let probe_idx: Vec<usize> = (0..opts.batch).collect();
    let (probe_x, probe_y) = train.batch(&probe_idx)?;
    // A twin of the network for the initial probe: probing runs a training-mode forward pass, which
    // would nudge the running statistics of the network being trained.
    let delta_init = error_rms(&config.build(&DEVICE)?, &probe_x, &probe_y)?;
    let net = config.build(&DEVICE)?;
    let (mut at, mut accuracy, mut percentiles) = (Vec::new(), Vec::new(), Vec::new());
    let last = opts.depth - 1;
    let phases = [Phase { optim: Optim::Sgd { lr: opts.lr }, steps }];
    train_phases(&net, &train, &phases, opts.batch, opts.seed + 2, opts.eval_every, |step, net| {
        let trace = net.forward_trace(&test.x, false)?;
        accuracy.push(lab::net::accuracy(&trace.logits, &test.y)?);
        if step > 0 {
            let q = lab::stats::quantiles(&lab::stats::unit_values(&trace.pre[last], opts.unit)?, &PERCENTILES)?;
            percentiles.push([q[0], q[1], q[2]]);
        }
        at.push(step);
        extra(step, net, &train)
    })?;
    let (delta_trained, train_mode) = if quick {
        (None, None)
    } else {
        let modes = if norm == Norm::Batch {
            Some(TRAIN_MODE_BATCHES.iter().map(|&b| train_mode_accuracy(&net, &test, b)).collect::<Result<Vec<_>>>()?)
        } else {
            None
        };
        (Some(error_rms(&net, &probe_x, &probe_y)?), modes)
    };
    let run = IoffeRun {
        name,
        norm,
        steps: at,
        accuracy,
        percentiles,
        delta_init,
        delta_trained,
        train_mode_accuracy: train_mode,
    };
    Ok((run, net))
}

/// The numbers the chapter quotes from Figures 5-2 to 5-5.
#[derive(Debug, Clone, Serialize)]
pub struct IoffeSummary {
    pub plain_final_accuracy: f64,
    pub bn_final_accuracy: f64,
    pub plain_final_step: usize,
    pub bn_step_reaching_plain_final: Option<usize>,
    pub level: f64,
    pub plain_step_reaching_level: Option<usize>,
    pub bn_step_reaching_level: Option<usize>,
    pub plain_median_range: f64,
    pub bn_median_range: f64,
    pub plain_spread_first: f64,
    pub plain_spread_end: f64,
    pub bn_spread_first: f64,
    pub bn_spread_end: f64,
    pub plain_percentiles_first: [f64; 3],
    pub plain_percentiles_end: [f64; 3],
    pub bn_percentiles_first: [f64; 3],
    pub bn_percentiles_end: [f64; 3],
    pub plain_delta_ratio_init: f64,
    pub bn_delta_ratio_init: f64,
    pub plain_delta_ratio_trained: Option<f64>,
    pub bn_delta_ratio_trained: Option<f64>,
    pub train_mode_batches: [usize; 7],
    pub bn_train_mode_accuracy_b1: Option<f64>,
    pub bn_train_mode_accuracy_b2: Option<f64>,
    pub bn_train_mode_accuracy_b16: Option<f64>,
    pub bn_train_mode_accuracy_full: Option<f64>,
}

impl IoffeSummary {
    fn of(plain: &IoffeRun, bn: &IoffeRun, depth: usize) -> IoffeSummary {
        let first_step_reaching =
            |r: &IoffeRun, level: f64| r.steps.iter().zip(&r.accuracy).find(|(_, a)| **a >= level).map(|(s, _)| *s);
        let target = plain.accuracy.last().copied().unwrap_or(f64::NAN);
        let level = 0.95;
        let spread = |r: &IoffeRun, i: usize| r.percentiles[i][2] - r.percentiles[i][0];
        let end = plain.steps.len() - 1;
        let pend = plain.percentiles.len() - 1;
        let drift = |r: &IoffeRun| {
            let meds: Vec<f64> = r.percentiles.iter().map(|p| p[1]).collect();
            meds.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - meds.iter().cloned().fold(f64::INFINITY, f64::min)
        };
        let top = depth - 1;
        let train_mode = |i: usize| bn.train_mode_accuracy.as_ref().map(|a| a[i]);
        IoffeSummary {
            plain_final_accuracy: plain.accuracy[end],
            bn_final_accuracy: bn.accuracy[end],
            plain_final_step: plain.steps[end],
            bn_step_reaching_plain_final: first_step_reaching(bn, target),
            level,
            plain_step_reaching_level: first_step_reaching(plain, level),
            bn_step_reaching_level: first_step_reaching(bn, level),
            plain_median_range: drift(plain),
            bn_median_range: drift(bn),
            plain_spread_first: spread(plain, 0),
            plain_spread_end: spread(plain, pend),
            bn_spread_first: spread(bn, 0),
            bn_spread_end: spread(bn, pend),
            plain_percentiles_first: plain.percentiles[0],
            plain_percentiles_end: plain.percentiles[pend],
            bn_percentiles_first: bn.percentiles[0],
            bn_percentiles_end: bn.percentiles[pend],
            plain_delta_ratio_init: plain.delta_init[0] / plain.delta_init[top],
            bn_delta_ratio_init: bn.delta_init[0] / bn.delta_init[top],
            plain_delta_ratio_trained: plain.delta_trained.as_ref().map(|d| d[0] / d[top]),
            bn_delta_ratio_trained: bn.delta_trained.as_ref().map(|d| d[0] / d[top]),
            train_mode_batches: TRAIN_MODE_BATCHES,
            bn_train_mode_accuracy_b1: train_mode(0),
            bn_train_mode_accuracy_b2: train_mode(1),
            bn_train_mode_accuracy_b16: train_mode(4),
            bn_train_mode_accuracy_full: bn.train_mode_accuracy.as_ref().and_then(|a| a.last().copied()),
        }
    }
}

/// What Figures 5-2 to 5-5 measured (Figure 5-2's JSON holds all of it; the others point at it).
/// Quick mode: the runs' first evaluation period, without the trained network's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct IoffeData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<IoffeOptions>,
    /// [`PERCENTILES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentiles: Option<[f64; 3]>,
    /// Without BatchNorm, then with it.
    pub runs: Vec<IoffeRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<IoffeSummary>,
}

/// The data of Figures 5-3 to 5-5: where their numbers are.
#[derive(Serialize)]
struct Source {
    source: &'static str,
}

const SOURCE: Source = Source { source: "ioffe.json" };

/// Figures 5-2 (accuracy), 5-3 (percentiles), 5-4 (gradient profile) and 5-5 (evaluation mode).
pub struct Ioffe;

impl Experiment for Ioffe {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "ioffe";
    const ABOUT: &'static str =
        "Ioffe & Szegedy §4.1 at small scale: a deep sigmoid MLP with and without BatchNorm (Figures 5-2 to 5-5)";
    type Options = IoffeOptions;
    type Data = IoffeData;

    fn run(opts: &IoffeOptions, run_mode: &GenOptions) -> Result<IoffeData> {
        cli::ensure_at_most("batch", opts.batch, "train-examples", opts.train_examples)?;
        ensure!(
            opts.depth >= 1 && opts.width > 0 && opts.steps > 0 && opts.eval_every > 0,
            "need depth, width, steps and --eval-every ≥ 1"
        );
        ensure!(
            opts.steps >= opts.eval_every,
            "--steps {} must be at least --eval-every {}",
            opts.steps,
            opts.eval_every
        );
        ensure!(opts.batch >= 2, "the batch must hold 2 to --train-examples examples");
        ensure!(opts.unit < opts.width, "unit {} does not exist in a layer of {} units", opts.unit, opts.width);
        ensure!(opts.lr.is_finite() && opts.lr > 0.0, "learning rate must be a finite positive number");
        ensure!(
            opts.test_examples >= *TRAIN_MODE_BATCHES.last().unwrap_or(&1),
            "need at least {} test examples",
            TRAIN_MODE_BATCHES.last().unwrap_or(&1)
        );
        let steps = if run_mode.quick { opts.steps.min(QUICK_EVALS * opts.eval_every) } else { opts.steps };
        let mut runs = Vec::new();
        for (norm, name) in [(Norm::None, "without BatchNorm"), (Norm::Batch, "with BatchNorm")] {
            runs.push(run_one(opts, norm, name, steps, run_mode.quick, |_, _, _| Ok(()))?.0);
        }
        if run_mode.quick {
            return Ok(IoffeData { options: None, percentiles: None, runs, summary: None });
        }
        let summary = IoffeSummary::of(&runs[0], &runs[1], opts.depth);
        Ok(IoffeData { options: Some(opts.clone()), percentiles: Some(PERCENTILES), runs, summary: Some(summary) })
    }

    fn draw(data: &IoffeData) -> Result<Vec<Drawing>> {
        const COMPANIONS: [&str; 3] = ["ioffe-percentiles", "bn-profile", "bn-eval-mode"];
        let Some(opts) = &data.options else {
            // The companion figures only point at ioffe.json; quick mode names them so the book's tests
            // know which generator owns them.
            let mut figs = vec![Drawing::data_only("ioffe", data)?];
            for name in COMPANIONS {
                figs.push(Drawing::new(name, "", String::new(), &SOURCE)?);
            }
            return Ok(figs);
        };
        let runs = &data.runs;
        let (plain, bn) = (&runs[0], &runs[1]);
        let end = plain.steps.len() - 1;
        let title_net = format!("sigmoid MLP, {} hidden layers × {}", opts.depth, opts.width);

        // Figure 5-2: accuracy over training.
        let mut acc = LineChart::new(format!("Held-out accuracy, {title_net}, batch {}", opts.batch))
            .x_label("step")
            .y_label("test accuracy");
        for (slot, r) in runs.iter().enumerate() {
            let pts = r.steps.iter().zip(&r.accuracy).map(|(&s, &a)| (s as f64, a)).collect();
            acc = acc.series_with(r.name, pts, SeriesStyle::solid().color(slot));
        }
        let alt_acc = format!(
            "Test accuracy against training step for the same sigmoid network with and without BatchNorm. With BatchNorm accuracy rises within the first few hundred steps and ends at {:.3}; without it accuracy climbs more slowly and ends at {:.3}.",
            bn.accuracy[end], plain.accuracy[end]
        );
        let fig_acc = Drawing::new("ioffe", &alt_acc, acc.render(&alt_acc)?, data)?;

        // Figure 5-3: percentiles of the tracked unit's sigmoid input.
        let mut pct = LineChart::new(format!(
            "Input to one sigmoid of layer {}: 15th, 50th, 85th percentiles over the test set",
            opts.depth
        ))
        .x_label("step")
        .y_label("input to the sigmoid");
        for (slot, r) in runs.iter().enumerate() {
            for (k, label) in ["15th", "50th", "85th"].iter().enumerate() {
                let pts = r.steps[1..].iter().zip(&r.percentiles).map(|(&s, p)| (s as f64, p[k])).collect();
                let style = if k == 1 { SeriesStyle::solid() } else { SeriesStyle::dashed() };
                pct = pct.series_with(format!("{}, {label}", r.name), pts, style.color(slot));
            }
        }
        let alt_pct = "Three percentiles of one unit's input to its sigmoid against training step. Without BatchNorm the band drifts and widens as training changes the layers below; with BatchNorm it stays centred and of nearly constant width.";
        let fig_pct = Drawing::new(COMPANIONS[0], alt_pct, pct.render(alt_pct)?, &SOURCE)?;

        // Figure 5-4: the gradient profile at initialisation and after training.
        let mut prof = LayerProfile::new(format!("gˡ per layer, {title_net}")).y_label("gˡ (per-example RMS of ∂L/∂z)");
        for (slot, r) in runs.iter().enumerate() {
            let short = if r.norm == Norm::Batch { "BN" } else { "no BN" };
            prof = prof.series_with(
                format!("{short}, at initialisation"),
                r.delta_init.clone(),
                SeriesStyle::dashed().color(slot),
            );
            if let Some(d) = &r.delta_trained {
                prof = prof.series_with(
                    format!("{short}, after {} steps", opts.steps),
                    d.clone(),
                    SeriesStyle::solid().color(slot),
                );
            }
        }
        let alt_prof = "The gradient at each layer (per-example RMS of the error at the pre-activation), log scale, at initialisation (dashed) and after training (solid). At initialisation the network without BatchNorm loses orders of magnitude towards the input, while with BatchNorm the three upper hidden layers are level and the first is a few times lower. After training the profile without BatchNorm is level too.";
        let fig_prof = Drawing::new(COMPANIONS[1], alt_prof, prof.render(alt_prof)?, &SOURCE)?;

        // Figure 5-5: the trained BatchNorm network evaluated in training mode.
        let modes = bn.train_mode_accuracy.clone().unwrap_or_default();
        let pts = TRAIN_MODE_BATCHES.iter().zip(&modes).map(|(&b, &a)| (b as f64, a)).collect();
        let eval_chart = LineChart::new("The trained BatchNorm network, run in training mode on test batches")
            .x_label("test batch size")
            .y_label("test accuracy")
            .log_x()
            .markers()
            .series_with("training mode (batch statistics)", pts, SeriesStyle::solid().color(1))
            .hline(bn.accuracy[end], "evaluation mode (running statistics)")
            .hline(0.1, "chance");
        let alt_eval = format!(
            "Test accuracy of the trained BatchNorm network evaluated in training mode against the test batch size, log axis. At batch 1 every input gives the same output and accuracy is {:.2}; it recovers as the batch grows towards the evaluation-mode accuracy of {:.3}.",
            modes.first().copied().unwrap_or(f64::NAN),
            bn.accuracy[end]
        );
        let fig_eval = Drawing::new(COMPANIONS[2], &alt_eval, eval_chart.render(&alt_eval)?, &SOURCE)?;
        Ok(vec![fig_acc, fig_pct, fig_prof, fig_eval])
    }
}

/// A number as the JSON shows it (`null` for none).
fn json_number(v: Option<f64>) -> String {
    serde_json::to_string(&v).unwrap_or_default()
}

impl std::fmt::Display for IoffeData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            let first = r.accuracy.first().copied().unwrap_or(f64::NAN);
            let last = r.accuracy.last().copied().unwrap_or(f64::NAN);
            let percentiles = |p: Option<&[f64; 3]>| p.map(|p| serde_json::to_string(p).unwrap_or_default());
            writeln!(
                f,
                "{:<18} accuracy {first:.3} → {last:.3}; sigmoid input percentiles {} → {} (first evaluation → last)",
                r.name,
                percentiles(r.percentiles.first()).unwrap_or_default(),
                percentiles(r.percentiles.last()).unwrap_or_else(|| "null".into()),
            )?;
        }
        if let Some(s) = &self.summary {
            writeln!(
                f,
                "training-mode accuracy of the BatchNorm net at test batch 1, 2, 16, all: {} {} {} {}",
                json_number(s.bn_train_mode_accuracy_b1),
                json_number(s.bn_train_mode_accuracy_b2),
                json_number(s.bn_train_mode_accuracy_b16),
                json_number(s.bn_train_mode_accuracy_full)
            )?;
        }
        Ok(())
    }
}

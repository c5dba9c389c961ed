//! Figures 3-6 and 3-7: dying ReLU. A few steps at a too-large learning rate switch off most ReLU
//! units for good; leaky ReLU and GELU units come back.

use crate::digits::digits;
use crate::shapes::label;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::Dataset;
use lab::experiments::{self, Phase};
use lab::plot::{Legend, LineChart, SeriesStyle};
use lab::threads::parallel_map;
use lab::train::Optim;
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// One network of the dying experiment.
#[derive(Debug, Clone, Serialize)]
pub struct DyingNet {
    pub label: String,
    pub activation: Activation,
    /// Adam's learning rate during the first `spike_steps` steps (None: the control, no spike).
    pub spike_lr: Option<f64>,
}

/// Settings of Figures 3-6 and 3-7.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct DyingOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_train: usize,
    /// Training images the dead units are counted on (the first of the training set).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_probe: usize,
    /// Test images.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_test: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Adam's learning rate during the mild spike (Figure 3-6).
    #[arg(long = "mild-spike", value_name = "LR", default_value_t = 0.03, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub mild_spike_lr: f64,
    /// Adam's learning rate during the strong spike (Figure 3-7).
    #[arg(long = "strong-spike", value_name = "LR", default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub strong_spike_lr: f64,
    /// Steps of each spike (a multiple of --every).
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub spike_steps: usize,
    /// Adam's learning rate after the spike (and throughout for the control).
    #[arg(long, default_value_t = 0.003, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Steps after the spike.
    #[arg(long, default_value_t = 450, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 25, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub every: usize,
    /// Seeds (weights and batches) per network; curves are their mean.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Seed of the digit images.
    #[arg(long = "seed", value_name = "SEED", default_value_t = 0)]
    pub data_seed: u64,
}
chapter_kit::defaults_from_flags!(DyingOptions);

impl DyingOptions {
    /// The networks: the ReLU control, ReLU, leaky ReLU (α = 0.01 and 0.1) and GELU after the mild spike,
    /// and ReLU, leaky ReLU (α = 0.1) and GELU after the strong one.
    pub fn nets(&self) -> Vec<DyingNet> {
        let net = |activation: Activation, spike_lr: Option<f64>| DyingNet {
            label: match spike_lr {
                None => format!("{}, no spike", label(activation)),
                Some(lr) => format!("{}, spike {lr}", label(activation)),
            },
            activation,
            spike_lr,
        };
        let (mild, strong) = (Some(self.mild_spike_lr), Some(self.strong_spike_lr));
        vec![
            net(Activation::Relu, None),
            net(Activation::Relu, mild),
            net(Activation::LeakyRelu(0.01), mild),
            net(Activation::LeakyRelu(0.1), mild),
            net(Activation::Gelu, mild),
            net(Activation::Relu, strong),
            net(Activation::LeakyRelu(0.1), strong),
            net(Activation::Gelu, strong),
        ]
    }
}

/// One (network, seed) run of the dying experiment.
#[derive(Debug, Clone, Serialize)]
pub struct DyingRun {
    pub seed: u64,
    pub steps: Vec<usize>,
    /// Share of all hidden units inactive (z ≤ 0) on every probe image, at each measured step.
    pub inactive: Vec<f64>,
    /// Per hidden layer right after the spike (step `spike_steps`) and at the last step.
    pub inactive_by_layer_after_spike: Vec<f64>,
    pub inactive_by_layer_end: Vec<f64>,
    pub test_accuracy: Vec<f64>,
}

/// Trains one network of the dying experiment with one seed for `total_steps` steps (the spike, then
/// the normal rate; a prefix of the full schedule in quick mode).
pub fn dying_run(
    opts: &DyingOptions,
    net_spec: &DyingNet,
    seed: u64,
    total_steps: usize,
    sets: &(Dataset, Dataset, Dataset),
) -> Result<DyingRun> {
    let (train, probe, test) = sets;
    let config = MlpConfig::new(train.dim(), opts.width, opts.depth, train.classes, net_spec.activation, Init::HE)
        .with_seed(seed);
    let net = config.build(&DEVICE)?;
    let adam = |lr: f64| Optim::AdamW { lr, weight_decay: 0.0 };
    let spike = if net_spec.spike_lr.is_some() { opts.spike_steps.min(total_steps) } else { 0 };
    let mut phases = vec![];
    if let Some(lr) = net_spec.spike_lr.filter(|_| spike > 0) {
        phases.push(Phase { optim: adam(lr), steps: spike });
    }
    if total_steps > spike {
        phases.push(Phase { optim: adam(opts.lr), steps: total_steps - spike });
    }
    let mut run = DyingRun {
        seed,
        steps: vec![],
        inactive: vec![],
        inactive_by_layer_after_spike: vec![],
        inactive_by_layer_end: vec![],
        test_accuracy: vec![],
    };
    experiments::train_phases(&net, train, &phases, opts.batch, seed, opts.every, |step, net| {
        let by_layer = experiments::inactive_fractions(net, &probe.x)?;
        run.steps.push(step);
        run.inactive.push(by_layer.iter().sum::<f64>() / by_layer.len() as f64);
        run.test_accuracy.push(lab::train::evaluate(net, &test.x, &test.y, step)?.accuracy);
        if step == opts.spike_steps {
            run.inactive_by_layer_after_spike = by_layer.clone();
        }
        run.inactive_by_layer_end = by_layer;
        Ok(())
    })?;
    Ok(run)
}

fn mean_curve(runs: &[DyingRun], pick: impl Fn(&DyingRun) -> &Vec<f64>) -> Vec<f64> {
    let n = runs.iter().map(|r| pick(r).len()).min().unwrap_or(0);
    (0..n).map(|i| runs.iter().map(|r| pick(r)[i]).sum::<f64>() / runs.len() as f64).collect()
}

/// The first seed's inactive share, all a quick run records (not the accuracies: counts over 1000
/// images, where one flipped prediction on another CPU would exceed the freshness test's tolerance).
#[derive(Debug, Clone, Serialize)]
pub struct InactiveCurve {
    pub steps: Vec<usize>,
    pub inactive: Vec<f64>,
}

/// A network's runs: every seed's record, or in quick mode the first seed's inactive share.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DyingRuns {
    Full(Vec<DyingRun>),
    Quick([InactiveCurve; 1]),
}

/// What the full run derives from a network's seeds: their means and where they end.
#[derive(Debug, Clone, Serialize)]
pub struct DyingSummary {
    pub steps: Vec<usize>,
    pub inactive_mean: Vec<f64>,
    pub test_accuracy_mean: Vec<f64>,
    pub inactive_after_spike: f64,
    pub inactive_end: Option<f64>,
    pub accuracy_after_spike: f64,
    pub accuracy_end: Option<f64>,
    pub accuracy_end_min: f64,
    pub accuracy_end_max: f64,
    pub inactive_by_layer_after_spike: Vec<f64>,
    pub inactive_by_layer_end: Vec<f64>,
}

/// One network of Figures 3-6 and 3-7.
#[derive(Debug, Clone, Serialize)]
pub struct DyingSeries {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// `Some(None)`: the control, no spike (full run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spike_lr: Option<Option<f64>>,
    pub runs: DyingRuns,
    #[serde(flatten)]
    pub summary: Option<DyingSummary>,
}

/// What Figures 3-6 and 3-7 measured (Figure 3-6's data; Figure 3-7's is the options).
#[derive(Debug, Clone, Serialize)]
pub struct DyingData {
    pub options: DyingOptions,
    pub series: Vec<DyingSeries>,
}

/// Figures 3-6 (inactive units after the mild spike) and 3-7 (test accuracy after the strong one).
pub struct Dying;

impl Experiment for Dying {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "dying";
    const ABOUT: &'static str =
        "Dying ReLU after a spike of too-large learning rate, and leaky ReLU and GELU as fixes (Figures 3-6, 3-7)";
    type Options = DyingOptions;
    type Data = DyingData;

    fn run(opts: &DyingOptions, go: &GenOptions) -> Result<DyingData> {
        ensure!(opts.every > 0 && opts.seeds > 0, "need a probe interval (--every) and a seed (--seeds)");
        ensure!(
            opts.spike_steps.is_multiple_of(opts.every),
            "the spike length ({} steps) must be a multiple of the probe interval (--every {})",
            opts.spike_steps,
            opts.every
        );
        let (train, _, test) = digits(opts.n_train, 0, opts.n_test, opts.data_seed)?;
        let probe = train.take(opts.n_probe)?;
        let sets = (train, probe, test);
        let nets = opts.nets();
        let (total, seeds) = if go.quick { (opts.every * 2, 1) } else { (opts.spike_steps + opts.steps, opts.seeds) };
        let jobs: Vec<(usize, u64)> = (0..nets.len()).flat_map(|n| (0..seeds as u64).map(move |s| (n, s))).collect();
        let runs = parallel_map(&jobs, 2, |&(n, s)| dying_run(opts, &nets[n], s, total, &sets))?;
        let at_spike = opts.spike_steps / opts.every;
        let mut series = Vec::new();
        for (n, spec) in nets.iter().enumerate() {
            let these: Vec<DyingRun> = runs[n * seeds..(n + 1) * seeds].to_vec();
            if go.quick {
                let first = InactiveCurve { steps: these[0].steps.clone(), inactive: these[0].inactive.clone() };
                series.push(DyingSeries {
                    label: spec.label.clone(),
                    activation: None,
                    spike_lr: None,
                    runs: DyingRuns::Quick([first]),
                    summary: None,
                });
                continue;
            }
            let inactive = mean_curve(&these, |r| &r.inactive);
            let accuracy = mean_curve(&these, |r| &r.test_accuracy);
            let ends: Vec<f64> = these.iter().map(|r| *r.test_accuracy.last().unwrap_or(&0.0)).collect();
            let summary = DyingSummary {
                steps: these[0].steps.clone(),
                inactive_after_spike: inactive[at_spike],
                inactive_end: inactive.last().copied(),
                accuracy_after_spike: accuracy[at_spike],
                accuracy_end: accuracy.last().copied(),
                accuracy_end_min: ends.iter().copied().fold(1.0, f64::min),
                accuracy_end_max: ends.iter().copied().fold(0.0, f64::max),
                inactive_by_layer_after_spike: mean_curve(&these, |r| &r.inactive_by_layer_after_spike),
                inactive_by_layer_end: mean_curve(&these, |r| &r.inactive_by_layer_end),
                inactive_mean: inactive,
                test_accuracy_mean: accuracy,
            };
            series.push(DyingSeries {
                label: spec.label.clone(),
                activation: Some(spec.activation),
                spike_lr: Some(spec.spike_lr),
                runs: DyingRuns::Full(these),
                summary: Some(summary),
            });
        }
        Ok(DyingData { options: opts.clone(), series })
    }

    fn draw(data: &DyingData) -> Result<Vec<Drawing>> {
        #[derive(Serialize)]
        struct Settings<'a> {
            options: &'a DyingOptions,
        }
        let opts = &data.options;
        let settings = Settings { options: opts };
        if data.series.iter().any(|s| s.summary.is_none()) {
            // A quick run: the first probes of one seed, nothing to draw.
            return Ok(vec![
                Drawing::data_only("dying-units", data)?,
                Drawing::new("dying-accuracy", "", String::new(), &settings)?,
            ]);
        }
        // Colours follow the activation, so a network keeps its colour in both figures.
        let slot = |a: Activation| match a {
            Activation::Relu => 0,
            Activation::LeakyRelu(x) if x < 0.05 => 1,
            Activation::LeakyRelu(_) => 2,
            _ => 3,
        };
        let spike_end = opts.spike_steps as f64;
        let drop = |lr: f64| format!("learning rate {lr} → {}", opts.lr);
        let mut units = LineChart::new(format!(
            "Units inactive on all {} probe images after {} steps at rate {} (mean of {} seeds)",
            opts.n_probe, opts.spike_steps, opts.mild_spike_lr, opts.seeds
        ))
        .x_label("Adam step")
        .y_label("share of hidden units with z ≤ 0 on every image")
        .y_range(0.0, 1.0)
        .vline(spike_end, drop(opts.mild_spike_lr));
        let mut acc = LineChart::new(format!(
            "Test accuracy after {} steps at rate {} (mean of {} seeds)",
            opts.spike_steps, opts.strong_spike_lr, opts.seeds
        ))
        .x_label("Adam step")
        .y_label("test accuracy")
        .y_range(0.0, 1.0)
        .vline(spike_end, drop(opts.strong_spike_lr));
        for s in &data.series {
            let (Some(summary), Some(act), Some(spike)) = (&s.summary, s.activation, s.spike_lr) else { continue };
            let xy = |v: &[f64]| summary.steps.iter().zip(v).map(|(&a, &b)| (a as f64, b)).collect::<Vec<_>>();
            let style =
                if spike.is_none() { SeriesStyle::dashed().color(4) } else { SeriesStyle::solid().color(slot(act)) };
            if spike.is_none() || spike == Some(opts.mild_spike_lr) {
                units = units.series_with(s.label.clone(), xy(&summary.inactive_mean), style);
            }
            if spike.is_none() || spike == Some(opts.strong_spike_lr) {
                acc = acc.series_with(s.label.clone(), xy(&summary.test_accuracy_mean), style);
            }
        }
        let alt_units = "Share of hidden units inactive on every probe image against training step: the spike of too-large learning rate switches off about half the units of every network; afterwards the ReLU network's dead units stay dead, while leaky ReLU with slope 0.1 recovers to the level of the unspiked control, and leaky ReLU with slope 0.01 and GELU recover part of the way";
        let alt_acc = "Test accuracy against training step after a stronger spike: the ReLU network stays far below the control, GELU barely recovers, and leaky ReLU with slope 0.1 climbs steadily back towards the control";
        Ok(vec![
            Drawing::new(
                "dying-units",
                alt_units,
                units.legend(Legend::Outside).size(800, 420).render(alt_units)?,
                data,
            )?,
            Drawing::new(
                "dying-accuracy",
                alt_acc,
                acc.legend(Legend::Outside).size(800, 420).render(alt_acc)?,
                &settings,
            )?,
        ])
    }
}

impl std::fmt::Display for DyingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<34} {:>16} {:>12} {:>16} {:>12}",
            "network", "inactive, spike", "acc., spike", "inactive, end", "acc., end"
        )?;
        for s in &self.series {
            let (nan, m) = (f64::NAN, s.summary.as_ref());
            writeln!(
                f,
                "{:<34} {:>16.3} {:>12.3} {:>16.3} {:>12.3}",
                s.label,
                m.map_or(nan, |m| m.inactive_after_spike),
                m.map_or(nan, |m| m.accuracy_after_spike),
                m.and_then(|m| m.inactive_end).unwrap_or(nan),
                m.and_then(|m| m.accuracy_end).unwrap_or(nan)
            )?;
        }
        Ok(())
    }
}

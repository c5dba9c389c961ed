//! The chapter's figures: each a library function, called by its example and by `book figures`.
//!
//! Every experiment runs on chapter 2's task — lab's procedurally drawn 28×28 digits, seed 0 — with
//! fan-in-scaled Gaussian weights N(0, σ_w²/n) and zero biases, so the ReLU curves sit next to sigmoid
//! and tanh curves measured the same way. Quick mode (the figure-freshness test) runs a prefix of each
//! experiment: the same seeds, fewer of them, or fewer steps, so its JSON is a sub-document of the full.

use crate::born_dead;
use crate::shapes::{self, label};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::data::Dataset;
use lab::experiments::{self, Phase, Score};
use lab::init::Fan;
use lab::plot::{Legend, LineChart, SeriesStyle};
use lab::train::{Optim, TrainConfig};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;
use serde_json::{Value, json};

const CHAPTER: &str = "ch03";

/// A figure with no SVG, for quick mode: the freshness test compares data only.
fn quick_figure(name: &str, data: Value) -> Result<Figure> {
    Figure::new(CHAPTER, name, "", String::new(), &data)
}

/// The digits task of chapters 2 and 3: `n_train + n_val + n_test` images drawn from `seed`, split in
/// that order (the first 1000 are chapter 2's probe batch).
pub fn digits(n_train: usize, n_val: usize, n_test: usize, seed: u64) -> Result<(Dataset, Dataset, Dataset)> {
    let all = lab::data::digits(n_train + n_val + n_test, seed)?;
    let (train, rest) = all.split(n_train)?;
    let (val, test) = rest.split(n_val)?;
    Ok((train, val, test))
}

/// He-style fan-in init with σ_w² = `gain2`: N(0, gain2/n).
pub fn fan_in_init(gain2: f64) -> Init {
    Init::HeNormal { gain: gain2.sqrt(), fan: Fan::In }
}

/// Runs `f` on every item, on `workers` threads, and returns the results in order. Each job is seeded
/// by its own arguments, so the results do not depend on the scheduling.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *slots[i].lock().expect("slot") = Some(r);
                }
            });
        }
    });
    slots.into_iter().map(|s| s.into_inner().expect("slot").expect("every job ran")).collect()
}

// ---------------------------------------------------------------------------------------------------
// Figures 3-1 and 3-2: the activations and their derivatives
// ---------------------------------------------------------------------------------------------------

/// Figures 3-1 (the activations) and 3-2 (their derivatives), with the table of slopes.
pub fn shapes_figures(go: &GenOptions) -> Result<Vec<Figure>> {
    let acts = shapes::compared();
    let zs: Vec<f64> = (0..=800).map(|i| -4.0 + i as f64 * 0.01).collect();
    let table = shapes::slope_table(&acts);
    let ((zmin, dmin), (zmax, dmax)) = shapes::gelu_derivative_extremes();
    let data = json!({
        "z_range": [-4.0, 4.0],
        "table": table,
        "gelu_min_slope": { "z": zmin, "slope": dmin },
        "gelu_max_slope": { "z": zmax, "slope": dmax },
        "relu_mean_slope2": shapes::mean_slope2(Activation::Relu, 1.0),
    });
    if go.quick {
        return Ok(vec![quick_figure("activations", json!({}))?, quick_figure("derivatives", data)?]);
    }
    let curve = |f: &dyn Fn(f64) -> f64| zs.iter().map(|&z| (z, f(z))).collect::<Vec<_>>();
    let mut values = LineChart::new("The activations").x_label("pre-activation z").y_label("f(z)").y_range(-1.5, 4.0);
    let mut slopes = LineChart::new("Their derivatives: the factor each layer multiplies the error by")
        .x_label("pre-activation z")
        .y_label("f′(z)")
        .y_range(-0.2, 1.2);
    // The colours of the later figures: sigmoid, tanh, ReLU in slots 0, 1, 2.
    let slot = |a: Activation| match a {
        Activation::Sigmoid => 0,
        Activation::Tanh => 1,
        Activation::Relu => 2,
        Activation::LeakyRelu(_) => 3,
        _ => 4,
    };
    for &act in &acts {
        let style = SeriesStyle::solid().color(slot(act)).width(if act == Activation::Relu { 3.0 } else { 2.0 });
        values = values.series_with(label(act), curve(&|z| act.value(z)), style);
        slopes = slopes.series_with(label(act), curve(&|z| act.derivative(z)), style);
    }
    let alt_values = "The five activations on z from −4 to 4: sigmoid rises from 0 to 1, tanh from −1 to 1, ReLU is zero for negative z and the identity for positive z, leaky ReLU has slope 0.1 on the negative side, and GELU follows ReLU but curves smoothly through zero with a small dip below it";
    let alt_slopes = "The derivatives of the five activations: sigmoid's peaks at 0.25, tanh's at 1 at z = 0 and both fall to 0 in the tails; ReLU's is exactly 0 for negative z and exactly 1 for positive z; leaky ReLU's is 0.1 then 1; GELU's rises smoothly from slightly below 0 to slightly above 1";
    let values_svg = values.hline(0.0, "").legend(Legend::TopLeft).render(alt_values)?;
    let slopes_svg = slopes.legend(Legend::TopLeft).render(alt_slopes)?;
    Ok(vec![
        Figure::new(CHAPTER, "activations", alt_values, values_svg, &json!({ "z_range": [-4.0, 4.0] }))?,
        Figure::new(CHAPTER, "derivatives", alt_slopes, slopes_svg, &data)?,
    ])
}

// ---------------------------------------------------------------------------------------------------
// Figure 3-3: the per-layer error profile at initialisation
// ---------------------------------------------------------------------------------------------------

/// One network family of the profile figures.
#[derive(Debug, Clone, Serialize)]
pub struct NetFamily {
    pub label: String,
    pub activation: Activation,
    /// σ_w² of the N(0, σ_w²/n) weights.
    pub weight_gain2: f64,
}

impl NetFamily {
    pub fn new(activation: Activation, weight_gain2: f64) -> NetFamily {
        NetFamily {
            label: format!("{}, σ_w² = {}", label(activation), fmt_gain2(weight_gain2)),
            activation,
            weight_gain2,
        }
    }

    pub fn config(&self, d_in: usize, width: usize, depth: usize, classes: usize) -> MlpConfig {
        MlpConfig::new(d_in, width, depth, classes, self.activation, fan_in_init(self.weight_gain2))
    }
}

fn fmt_gain2(g: f64) -> String {
    if (g - 25.0 / 9.0).abs() < 1e-12 {
        return "25/9".into();
    }
    // Four significant digits, trailing zeros dropped: √2² prints as 2, not 2.0000000000000004.
    let s = format!("{:.4}", g);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Settings of Figure 3-3.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileOptions {
    pub depth: usize,
    pub width: usize,
    /// Images in the probe batch.
    pub n: usize,
    pub seeds: usize,
    pub families: Vec<NetFamily>,
    pub data_seed: u64,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            depth: 20,
            width: 128,
            n: 1000,
            seeds: 3,
            families: vec![
                NetFamily::new(Activation::Sigmoid, 1.0),
                NetFamily::new(Activation::Tanh, 1.0),
                NetFamily::new(Activation::Relu, 1.0),
                NetFamily::new(Activation::Relu, 2.0),
            ],
            data_seed: 0,
        }
    }
}

/// Figure 3-3: ‖δˡ‖ per hidden layer at initialisation, measured and predicted by mean-field theory.
pub fn profile_figure(opts: &ProfileOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 2 && opts.seeds > 0 && !opts.families.is_empty(), "need depth ≥ 2, a seed and a family");
    let (probe, _, _) = digits(opts.n, 0, 0, opts.data_seed)?;
    let m2 = probe.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
    // Quick: the first seed of the first two families — a prefix of every array.
    let seeds: Vec<u64> = (0..if go.quick { 1 } else { opts.seeds } as u64).collect();
    let families = if go.quick { &opts.families[..opts.families.len().min(2)] } else { &opts.families[..] };
    let mut series = Vec::new();
    for fam in families {
        let config = fam.config(probe.dim(), opts.width, opts.depth, probe.classes);
        let p = experiments::init_profile(&config, &probe.x, &probe.y, &seeds)?;
        if go.quick {
            series.push(json!({ "label": fam.label, "per_seed": p.per_seed }));
            continue;
        }
        let theory = experiments::meanfield_profile(&config, m2)?;
        let top = p.per_example_norms[opts.depth - 1];
        // The per-layer factor, fitted and predicted: (‖δ¹‖/‖δᴸ‖)^(1/(L−1)).
        let per_layer = p.ratio_first_last.powf(1.0 / (opts.depth - 1) as f64);
        series.push(json!({
            "label": fam.label,
            "activation": fam.activation,
            "weight_gain2": fam.weight_gain2,
            "per_seed": p.per_seed,
            "delta_norms": p.delta_norms,
            "ratios": p.ratios,
            "ratio_first_last": p.ratio_first_last,
            "per_layer_factor": per_layer,
            "per_example_per_seed": p.per_example_per_seed,
            "per_example_norms": p.per_example_norms,
            "per_example_ratio": p.per_example_ratio,
            "per_example_ratios": p.per_example_per_seed.iter().map(|r| r[0] / r[opts.depth - 1]).collect::<Vec<_>>(),
            "per_example_ratio_min": p.per_example_per_seed.iter().map(|r| r[0] / r[opts.depth - 1]).fold(f64::INFINITY, f64::min),
            "per_example_ratio_max": p.per_example_per_seed.iter().map(|r| r[0] / r[opts.depth - 1]).fold(0.0, f64::max),
            "per_example_per_layer_factor": p.per_example_ratio.powf(1.0 / (opts.depth - 1) as f64),
            "theory_relative": theory,
            "theory_anchored": theory.iter().map(|t| t * top).collect::<Vec<_>>(),
            "theory_ratio": theory[0],
            "theory_per_layer_factor": theory[0].powf(1.0 / (opts.depth - 1) as f64),
        }));
    }
    let data = json!({ "options": opts, "input_second_moment": m2, "series": series });
    if go.quick {
        return quick_figure("delta-profile", data);
    }
    let mut chart = LineChart::new(format!(
        "Per-example ‖δˡ‖ at initialisation: {} hidden layers of {} units, digits",
        opts.depth, opts.width
    ))
    .x_label("hidden layer ℓ (input side first)")
    .y_label(format!("‖δˡ‖ per example (RMS over {} images)", opts.n))
    .log_y()
    .integer_x();
    let xy = |v: &[f64]| v.iter().enumerate().map(|(l, &d)| ((l + 1) as f64, d)).collect::<Vec<_>>();
    for (i, s) in series.iter().enumerate() {
        let measured: Vec<f64> = serde_json::from_value(s["per_example_norms"].clone())?;
        let theory: Vec<f64> = serde_json::from_value(s["theory_anchored"].clone())?;
        let name = s["label"].as_str().unwrap_or("?").to_string();
        chart = chart.series_with(
            name.clone(),
            xy(&measured),
            SeriesStyle::solid().color(i).marker(lab::plot::Marker::ALL[i % 4]),
        );
        chart = chart.series_with(format!("{name}: theory"), xy(&theory), SeriesStyle::dashed().color(i).width(1.5));
    }
    let alt = "Per-layer error norms at initialisation on a log scale for four 20-layer networks: the sigmoid network's falls about four-fold per layer towards the input, tanh's and ReLU's with σ_w² = 1 fall slowly, and ReLU with He's σ_w² = 2 stays flat; dashed mean-field predictions follow each measured curve";
    let svg = chart.legend(Legend::Outside).size(780, 460).render(alt)?;
    Figure::new(CHAPTER, "delta-profile", alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 3-4: the profile during training
// ---------------------------------------------------------------------------------------------------

/// One network trained in Figure 3-4.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedFamily {
    pub family: NetFamily,
    /// Learning rate of momentum SGD (momentum 0.9).
    pub lr: f64,
}

/// Settings of Figure 3-4.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingOptions {
    pub depth: usize,
    pub width: usize,
    pub n_train: usize,
    /// Training images the profile is measured on (the first of the training set).
    pub n_probe: usize,
    pub n_test: usize,
    pub batch: usize,
    pub steps: usize,
    /// Measure the profile every this many steps.
    pub every: usize,
    pub momentum: f64,
    pub nets: Vec<TrainedFamily>,
    pub seed: u64,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            depth: 10,
            width: 64,
            n_train: 5000,
            n_probe: 500,
            n_test: 1000,
            batch: 32,
            steps: 1000,
            every: 25,
            momentum: 0.9,
            nets: vec![
                TrainedFamily { family: NetFamily::new(Activation::Sigmoid, 1.0), lr: 0.1 },
                TrainedFamily {
                    family: NetFamily::new(Activation::Tanh, lab::init::gain(Activation::Tanh).powi(2)),
                    lr: 0.01,
                },
                TrainedFamily { family: NetFamily::new(Activation::Relu, 2.0), lr: 0.01 },
            ],
            seed: 0,
        }
    }
}

/// Figure 3-4: ‖δ¹‖/‖δᴸ‖ during training, and each network's test accuracy.
pub fn training_figure(opts: &TrainingOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(
        opts.depth >= 2 && opts.every > 0 && !opts.nets.is_empty(),
        "need depth ≥ 2, a probe interval and a network"
    );
    let (train, _, test) = digits(opts.n_train, 0, opts.n_test, opts.seed)?;
    let probe = train.take(opts.n_probe)?;
    let steps = if go.quick { opts.every * 2 } else { opts.steps };
    let runs = parallel_map(&opts.nets, 2, |n| -> Result<Value> {
        let config = n.family.config(train.dim(), opts.width, opts.depth, train.classes).with_seed(opts.seed);
        let phases = [Phase { optim: Optim::Momentum { lr: n.lr, momentum: opts.momentum }, steps }];
        let (p, net) = experiments::training_profile(
            &config,
            &train,
            (&probe.x, &probe.y),
            &phases,
            opts.batch,
            opts.seed,
            opts.every,
        )?;
        let mut v = json!({
            "label": n.family.label, "lr": n.lr, "steps": p.steps, "ratios": p.ratios,
            "delta_norms": p.delta_norms, "probe_losses": p.probe_losses,
        });
        if !go.quick {
            let acc = lab::train::evaluate(&net, &test.x, &test.y, steps)?.accuracy;
            let obj = v.as_object_mut().expect("object");
            obj.insert("test_accuracy".into(), json!(acc));
            obj.insert("diverged".into(), json!(p.diverged));
            obj.insert("initial_ratio".into(), json!(p.ratios[0]));
            obj.insert("final_ratio".into(), json!(p.ratios.last()));
            obj.insert("min_ratio".into(), json!(p.ratios.iter().copied().fold(f64::INFINITY, f64::min)));
            obj.insert("max_ratio".into(), json!(p.ratios.iter().copied().fold(0.0, f64::max)));
        }
        Ok(v)
    })?;
    let data = json!({ "options": opts, "runs": runs });
    if go.quick {
        return quick_figure("delta-training", data);
    }
    let mut chart = LineChart::new(format!(
        "‖δ¹‖/‖δᴸ‖ during training: {} hidden layers of {} units, digits",
        opts.depth, opts.width
    ))
    .x_label("SGD step")
    .y_label("‖δ¹‖ / ‖δᴸ‖ (first over last hidden layer)")
    .log_y();
    for (i, r) in runs.iter().enumerate() {
        let pts: Vec<(f64, f64)> = r["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(r["ratios"].as_array().into_iter().flatten())
            .map(|(s, q)| (s.as_f64().unwrap_or(0.0), q.as_f64().unwrap_or(f64::NAN)))
            .collect();
        let name = format!(
            "{} (test acc. {:.0}%)",
            r["label"].as_str().unwrap_or("?"),
            100.0 * r["test_accuracy"].as_f64().unwrap_or(0.0)
        );
        chart = chart.series_with(name, pts, SeriesStyle::solid().color(i));
    }
    let alt = "Log-scale ratio of the first to the last hidden layer's error norm over 1000 training steps: the sigmoid network's stays below one in ten thousand throughout, while the tanh and ReLU networks' stay near one";
    let svg = chart.hline(1.0, "equal").legend(Legend::Outside).size(780, 440).render(alt)?;
    Figure::new(CHAPTER, "delta-training", alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 3-5: accuracy against depth under one budget
// ---------------------------------------------------------------------------------------------------

/// Settings of Figure 3-5.
#[derive(Debug, Clone, Serialize)]
pub struct DepthOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    pub n_train: usize,
    pub n_val: usize,
    pub n_test: usize,
    pub batch: usize,
    pub steps: usize,
    /// The learning-rate grid (momentum SGD); the best on the validation set is kept.
    pub lrs: Vec<f64>,
    pub momentum: f64,
    /// Each activation with its recommended σ_w² (`lab::init::gain` squared).
    pub families: Vec<NetFamily>,
    pub seed: u64,
    /// Worker threads running independent trainings.
    pub workers: usize,
}

impl Default for DepthOptions {
    fn default() -> Self {
        DepthOptions {
            depths: vec![1, 2, 3, 4, 8, 16],
            width: 32,
            n_train: 5000,
            n_val: 1000,
            n_test: 1000,
            batch: 32,
            steps: 500,
            lrs: vec![0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
            momentum: 0.9,
            families: [Activation::Sigmoid, Activation::Tanh, Activation::Relu]
                .into_iter()
                .map(|a| NetFamily::new(a, lab::init::gain(a).powi(2)))
                .collect(),
            seed: 0,
            workers: 2,
        }
    }
}

/// Figure 3-5: test accuracy against depth, each (activation, depth) at its best learning rate.
pub fn depth_figure(opts: &DepthOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(
        !opts.depths.is_empty() && !opts.lrs.is_empty() && !opts.families.is_empty(),
        "need depths, learning rates and families"
    );
    let (train, val, test) = digits(opts.n_train, opts.n_val, opts.n_test, opts.seed)?;
    // Quick: the first family's first depth at the first learning rate — a prefix of every array.
    let (families, depths, lrs) = if go.quick {
        (&opts.families[..1], &opts.depths[..1], &opts.lrs[..1])
    } else {
        (&opts.families[..], &opts.depths[..], &opts.lrs[..])
    };
    let mut cfg = TrainConfig::new(Optim::Sgd { lr: 0.1 }, opts.steps, opts.batch);
    cfg.progress = false;
    cfg.seed = opts.seed;
    let jobs: Vec<(usize, usize, usize)> = (0..families.len())
        .flat_map(|f| (0..depths.len()).flat_map(move |d| (0..lrs.len()).map(move |l| (f, d, l))))
        .collect();
    let scores: Vec<Score> = parallel_map(&jobs, opts.workers, |&(f, d, l)| {
        let config = families[f].config(train.dim(), opts.width, depths[d], train.classes).with_seed(opts.seed);
        let cfg = TrainConfig { optim: Optim::Momentum { lr: lrs[l], momentum: opts.momentum }, ..cfg.clone() };
        experiments::train_and_score(&config, &cfg, &train, &val, &test)
    })?;
    let score = |f: usize, d: usize, l: usize| &scores[(f * depths.len() + d) * lrs.len() + l];
    let mut series = Vec::new();
    for (f, fam) in families.iter().enumerate() {
        let all: Vec<Vec<&Score>> =
            (0..depths.len()).map(|d| (0..lrs.len()).map(|l| score(f, d, l)).collect()).collect();
        if go.quick {
            // Losses only: an accuracy is a count over 1000 images, where one flipped prediction on
            // another CPU would exceed the freshness test's tolerance.
            let losses: Vec<Vec<Value>> = all
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|s| json!({ "lr": s.lr, "final_train_loss": s.final_train_loss, "diverged": s.diverged }))
                        .collect()
                })
                .collect();
            series.push(json!({ "scores": losses }));
            continue;
        }
        let best: Vec<usize> = all
            .iter()
            .map(|row| (0..row.len()).fold(0, |b, i| if row[i].val_accuracy > row[b].val_accuracy { i } else { b }))
            .collect();
        series.push(json!({
            "label": fam.label,
            "activation": fam.activation,
            "weight_gain2": fam.weight_gain2,
            "scores": all,
            "best_lr": best.iter().map(|&b| lrs[b]).collect::<Vec<_>>(),
            "test_accuracy": best.iter().zip(&all).map(|(&b, row)| row[b].test_accuracy).collect::<Vec<_>>(),
            "val_accuracy": best.iter().zip(&all).map(|(&b, row)| row[b].val_accuracy).collect::<Vec<_>>(),
        }));
    }
    let mut data = json!({ "options": opts, "series": series });
    if go.quick {
        return quick_figure("depth-accuracy", data);
    }
    // Where each activation first drops below 50 % test accuracy.
    let accuracy: Vec<Vec<f64>> = (0..families.len())
        .map(|f| serde_json::from_value(data["series"][f]["test_accuracy"].clone()))
        .collect::<Result<_, _>>()?;
    let at = |f: usize, depth: usize| -> f64 {
        let d = depths.iter().position(|&x| x == depth).expect("depth");
        accuracy[f][d]
    };
    let first_fail: Vec<Value> =
        (0..families.len()).map(|f| json!(depths.iter().copied().find(|&d| at(f, d) < 0.5))).collect();
    data.as_object_mut().expect("object").insert("first_depth_below_half".into(), json!(first_fail));
    let mut chart = LineChart::new(format!(
        "Test accuracy against depth ({} SGD steps, best of {} learning rates)",
        opts.steps,
        lrs.len()
    ))
    .x_label(format!("hidden layers of {} units", opts.width))
    .y_label("test accuracy")
    .y_range(0.0, 1.0)
    .integer_x()
    .markers();
    for (f, s) in data["series"].as_array().into_iter().flatten().enumerate() {
        let pts = depths.iter().map(|&x| (x as f64, at(f, x))).collect();
        chart = chart.series_with(
            s["label"].as_str().unwrap_or("?").to_string(),
            pts,
            SeriesStyle::solid().color(f).marker(lab::plot::Marker::ALL[f % 4]),
        );
    }
    let alt = "Test accuracy against depth from 1 to 16 hidden layers: sigmoid networks reach about 96% at one and two layers, less at three, and sit at chance, 10%, from four layers on; tanh and ReLU networks stay above 90% to eight layers and decline at sixteen, ReLU more";
    let svg = chart.hline(0.1, "chance").render(alt)?;
    Figure::new(CHAPTER, "depth-accuracy", alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figures 3-6 and 3-7: dying ReLU after a too-large learning rate
// ---------------------------------------------------------------------------------------------------

/// One network of the dying experiment.
#[derive(Debug, Clone, Serialize)]
pub struct DyingNet {
    pub label: String,
    pub activation: Activation,
    /// Adam's learning rate during the first `spike_steps` steps (None: the control, no spike).
    pub spike_lr: Option<f64>,
}

/// Settings of Figures 3-6 and 3-7.
#[derive(Debug, Clone, Serialize)]
pub struct DyingOptions {
    pub depth: usize,
    pub width: usize,
    pub n_train: usize,
    /// Training images the dead units are counted on.
    pub n_probe: usize,
    pub n_test: usize,
    pub batch: usize,
    /// The two spikes: Figure 3-6 shows the mild one, Figure 3-7 the strong one.
    pub mild_spike_lr: f64,
    pub strong_spike_lr: f64,
    pub spike_steps: usize,
    /// Adam's learning rate after the spike (and throughout for the control), and for how many steps.
    pub lr: f64,
    pub steps: usize,
    /// Measure every this many steps.
    pub every: usize,
    pub seeds: usize,
    pub data_seed: u64,
}

impl Default for DyingOptions {
    fn default() -> Self {
        DyingOptions {
            depth: 4,
            width: 64,
            n_train: 5000,
            n_probe: 1000,
            n_test: 1000,
            batch: 32,
            mild_spike_lr: 0.03,
            strong_spike_lr: 0.1,
            spike_steps: 50,
            lr: 0.003,
            steps: 450,
            every: 25,
            seeds: 3,
            data_seed: 0,
        }
    }
}

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

fn mean_by_layer(runs: &[DyingRun], pick: impl Fn(&DyingRun) -> &Vec<f64>) -> Vec<f64> {
    let layers = runs.iter().map(|r| pick(r).len()).min().unwrap_or(0);
    (0..layers).map(|l| runs.iter().map(|r| pick(r)[l]).sum::<f64>() / runs.len() as f64).collect()
}

/// Figures 3-6 (inactive units after the mild spike) and 3-7 (test accuracy after the strong one).
pub fn dying_figures(opts: &DyingOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    ensure!(opts.every > 0 && opts.seeds > 0, "need a probe interval and a seed");
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
            let first = &these[0];
            // Not the accuracies: counts over 1000 images, where one flipped prediction on another CPU
            // would exceed the freshness test's tolerance.
            series.push(json!({ "label": spec.label, "runs": [{ "steps": first.steps, "inactive": first.inactive }] }));
            continue;
        }
        let inactive = mean_curve(&these, |r| &r.inactive);
        let accuracy = mean_curve(&these, |r| &r.test_accuracy);
        let ends: Vec<f64> = these.iter().map(|r| *r.test_accuracy.last().unwrap_or(&0.0)).collect();
        series.push(json!({
            "label": spec.label,
            "activation": spec.activation,
            "spike_lr": spec.spike_lr,
            "runs": these,
            "steps": these[0].steps,
            "inactive_mean": inactive,
            "test_accuracy_mean": accuracy,
            "inactive_after_spike": inactive[at_spike],
            "inactive_end": inactive.last(),
            "accuracy_after_spike": accuracy[at_spike],
            "accuracy_end": accuracy.last(),
            "accuracy_end_min": ends.iter().copied().fold(1.0, f64::min),
            "accuracy_end_max": ends.iter().copied().fold(0.0, f64::max),
            "inactive_by_layer_after_spike": mean_by_layer(&these, |r| &r.inactive_by_layer_after_spike),
            "inactive_by_layer_end": mean_by_layer(&these, |r| &r.inactive_by_layer_end),
        }));
    }
    let data = json!({ "options": opts, "series": series });
    if go.quick {
        return Ok(vec![quick_figure("dying-units", data)?, quick_figure("dying-accuracy", json!({}))?]);
    }
    let xy = |s: &Value, key: &str| -> Vec<(f64, f64)> {
        s["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(s[key].as_array().into_iter().flatten())
            .map(|(a, b)| (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(f64::NAN)))
            .collect()
    };
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
    for s in data["series"].as_array().into_iter().flatten() {
        let name = s["label"].as_str().unwrap_or("?").to_string();
        let act: Activation = serde_json::from_value(s["activation"].clone())?;
        let spike = s["spike_lr"].as_f64();
        let style =
            if spike.is_none() { SeriesStyle::dashed().color(4) } else { SeriesStyle::solid().color(slot(act)) };
        if spike.is_none() || spike == Some(opts.mild_spike_lr) {
            units = units.series_with(name.clone(), xy(s, "inactive_mean"), style);
        }
        if spike.is_none() || spike == Some(opts.strong_spike_lr) {
            acc = acc.series_with(name, xy(s, "test_accuracy_mean"), style);
        }
    }
    let alt_units = "Share of hidden units inactive on every probe image against training step: the spike of too-large learning rate switches off about half the units of every network; afterwards the ReLU network's dead units stay dead, while leaky ReLU with slope 0.1 recovers to the level of the unspiked control, and leaky ReLU with slope 0.01 and GELU recover part of the way";
    let alt_acc = "Test accuracy against training step after a stronger spike: the ReLU network stays far below the control, GELU barely recovers, and leaky ReLU with slope 0.1 climbs steadily back towards the control";
    Ok(vec![
        Figure::new(
            CHAPTER,
            "dying-units",
            alt_units,
            units.legend(Legend::Outside).size(800, 420).render(alt_units)?,
            &data,
        )?,
        Figure::new(
            CHAPTER,
            "dying-accuracy",
            alt_acc,
            acc.legend(Legend::Outside).size(800, 420).render(alt_acc)?,
            &json!({ "options": opts }),
        )?,
    ])
}

// ---------------------------------------------------------------------------------------------------
// Figure 3-8: born dead
// ---------------------------------------------------------------------------------------------------

/// Settings of Figure 3-8.
#[derive(Debug, Clone, Serialize)]
pub struct BornDeadOptions {
    pub widths: Vec<usize>,
    pub max_depth: usize,
    /// Random networks per width.
    pub samples: usize,
    /// Points of [−1, 1] each network is evaluated on.
    pub n_inputs: usize,
    /// An extra curve: this width with `d_in_extra`-dimensional Gaussian inputs.
    pub extra_width: usize,
    pub d_in_extra: usize,
    pub seed: u64,
}

impl Default for BornDeadOptions {
    fn default() -> Self {
        BornDeadOptions {
            widths: vec![2, 3, 4, 6, 8],
            max_depth: 50,
            samples: 2000,
            n_inputs: 64,
            extra_width: 3,
            d_in_extra: 16,
            seed: 0,
        }
    }
}

/// Figure 3-8: P(born dead) against depth for narrow ReLU nets, with the two bounds.
pub fn born_dead_figure(opts: &BornDeadOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(!opts.widths.is_empty(), "need at least one width");
    // Quick: the same networks of the first two widths, followed for 10 layers — a prefix of every curve.
    let depth = if go.quick { opts.max_depth.min(10) } else { opts.max_depth };
    let widths = if go.quick { &opts.widths[..opts.widths.len().min(2)] } else { &opts.widths[..] };
    let mut curves = Vec::new();
    for &w in widths {
        curves.push(born_dead::width_curve(w, 1, depth, opts.samples, opts.n_inputs, opts.seed)?);
    }
    if go.quick {
        return quick_figure("born-dead", json!({ "curves": curves }));
    }
    let extra =
        born_dead::width_curve(opts.extra_width, opts.d_in_extra, depth, opts.samples, opts.n_inputs, opts.seed)?;
    let report = |c: &born_dead::WidthCurve, l: usize| json!({ "depth": l, "measured": c.measured[l - 1], "upper": c.upper[l - 1], "lower": c.lower[l - 1], "std_error": c.std_error[l - 1] });
    let at: Vec<Value> = curves
        .iter()
        .map(|c| json!({ "width": c.width, "at10": report(c, 10), "at20": report(c, 20), "at50": report(c, depth) }))
        .collect();
    let data = json!({
        "options": opts,
        "curves": curves,
        "extra": extra,
        "at": at,
        "extra_at10": report(&extra, 10),
        "extra_at20": report(&extra, 20),
        "extra_at50": report(&extra, depth),
        "min_width_1pct_depth50": born_dead::min_width_for(50, 0.01),
        "min_width_1pct_depth100": born_dead::min_width_for(100, 0.01),
    });
    let xy = |v: &[f64]| v.iter().enumerate().map(|(i, &p)| ((i + 1) as f64, p)).collect::<Vec<_>>();
    let mut chart = LineChart::new(format!(
        "Born dead: share of {} random zero-bias ReLU nets whose output is constant",
        opts.samples
    ))
    .x_label("depth L (hidden layers)")
    .y_label("P(born dead)")
    .y_range(0.0, 1.0);
    for (i, c) in curves.iter().enumerate() {
        chart = chart.series_with(
            format!("N = {}, inputs in [−1, 1]", c.width),
            xy(&c.measured),
            SeriesStyle::solid().color(i),
        );
        chart = chart.series_with(
            format!("N = {}: bound 1 − (1 − 2⁻ᴺ)ᴸ", c.width),
            xy(&c.upper),
            SeriesStyle::dashed().color(i).width(1.5),
        );
    }
    chart = chart.series_with(
        format!("N = {}, {}-d Gaussian inputs", extra.width, extra.d_in),
        xy(&extra.measured),
        SeriesStyle::dotted().color(opts.widths.len()),
    );
    let alt = "Probability that a random zero-bias ReLU network is born dead against depth, for widths 2, 3, 4, 6 and 8: each measured curve rises with depth and sits below its dashed single-input bound; width 2 is dead almost surely by depth 50, width 8 rarely";
    let svg = chart.legend(Legend::Outside).size(820, 460).render(alt)?;
    Figure::new(CHAPTER, "born-dead", alt, svg, &data)
}

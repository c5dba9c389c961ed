//! He, Zhang, Ren & Sun (2015), §2.2: the variance of a deep ReLU network's signal under Xavier and He
//! initialisation, and what it does to training.

use crate::common::{gaussian_inputs, mean_sq_norm, running_mean, standardized_digits, std_of};
use anyhow::{Result, ensure};
use lab::figure::{Figure, GenOptions};
use lab::plot::{LayerProfile, LineChart, SeriesStyle};
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-3.
#[derive(Debug, Clone, Serialize)]
pub struct HeVarianceOptions {
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for HeVarianceOptions {
    fn default() -> Self {
        HeVarianceOptions { depth: 30, width: 512, batch: 256, seed: 0 }
    }
}

/// The schemes of Figure 4-3: Xavier as He et al. implement it for the comparison (N(0, 1/n)), He,
/// and the U(±1/√n) that PyTorch's `nn.Linear` uses by default.
pub fn he_variance_inits() -> [(&'static str, Init); 3] {
    [
        ("He: N(0, 2/n)", Init::HE),
        ("Xavier: N(0, 1/n)", Init::XavierNormal { gain: 1.0 }),
        ("U(±1/√n), PyTorch's default", Init::Standard),
    ]
}

/// Predicted std of zˡ in a ReLU net with inputs of unit second moment: Var z¹ = n Var(W), then each
/// layer multiplies the variance by ½ n Var(W) (He et al. 2015, §2.2).
pub fn relu_pre_activation_std(n_var_w: f64, layer: usize) -> f64 {
    (n_var_w * (0.5 * n_var_w).powi(layer as i32 - 1)).sqrt()
}

#[derive(Serialize)]
struct VarianceRun {
    name: &'static str,
    init: Init,
    n_var_w: f64,
    pre_std: Vec<f64>,
    theory_std: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta_rms: Option<Vec<f64>>,
}

/// Figure 4-3: the std of the pre-activations of every layer of a deep ReLU MLP.
pub fn he_variance_figure(opts: &HeVarianceOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 2 && opts.width > 0 && opts.batch > 0, "need depth ≥ 2, width ≥ 1, batch ≥ 1");
    // Quick mode builds only the first 10 layers: the same weights (drawn input side first), so the
    // per-layer forward statistics are a prefix of the full run's; the backward pass needs the whole net.
    let depth = if gen_opts.quick { opts.depth.min(10) } else { opts.depth };
    let (x, y) = gaussian_inputs(opts.batch, opts.width, 10, opts.seed + 1)?;
    let mut runs = Vec::new();
    for (name, init) in he_variance_inits() {
        let net = MlpConfig::new(opts.width, opts.width, depth, 10, Activation::Relu, init)
            .with_seed(opts.seed)
            .build(&DEVICE)?;
        let trace = net.forward_trace(&x, true)?;
        let pre_std = trace.pre.iter().map(std_of).collect::<Result<Vec<_>>>()?;
        let n_var_w = opts.width as f64 * init.variance(opts.width, opts.width);
        let theory_std = (1..=depth).map(|l| relu_pre_activation_std(n_var_w, l)).collect();
        let delta_rms = if gen_opts.quick {
            None
        } else {
            let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
            Some(deltas.iter().map(|d| mean_sq_norm(d).map(f64::sqrt)).collect::<Result<Vec<_>>>()?)
        };
        runs.push(VarianceRun { name, init, n_var_w, pre_std, theory_std, delta_rms });
    }
    if gen_opts.quick {
        return Figure::new("ch04", "he-variance", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let last = depth - 1;
    let summary = serde_json::json!({
        "he_last_std": runs[0].pre_std[last],
        "xavier_last_std": runs[1].pre_std[last],
        "standard_last_std": runs[2].pre_std[last],
        "xavier_theory_last_std": runs[1].theory_std[last],
        "he_over_xavier_last": runs[0].pre_std[last] / runs[1].pre_std[last],
        "he_delta_ratio": runs[0].delta_rms.as_ref().map(|d| d[0] / d[last]),
        "xavier_delta_ratio": runs[1].delta_rms.as_ref().map(|d| d[0] / d[last]),
    });
    let mut chart =
        LayerProfile::new(format!("ReLU MLP, {depth} layers × {}: std of the pre-activations zˡ", opts.width))
            .y_label("std of zˡ");
    for (slot, r) in runs.iter().enumerate() {
        chart = chart.series_with(r.name, r.pre_std.clone(), SeriesStyle::solid().color(slot));
    }
    for (slot, r) in runs.iter().enumerate() {
        chart = chart.series_with(
            format!("theory, {}", r.name.split(':').next().unwrap_or("")),
            r.theory_std.clone(),
            SeriesStyle::dashed().color(slot),
        );
    }
    let alt = format!(
        "Log-scale std of each layer's pre-activations in a {depth}-layer ReLU network of width {}. Under He initialisation it stays flat at about 1.4; under Xavier it halves in variance every layer, reaching about {:.0e} at layer {depth}; U(±1/√n) falls faster still. Dashed theory lines lie on the measurements.",
        opts.width, runs[1].pre_std[last]
    );
    let svg = chart.render(&alt)?;
    let data = serde_json::json!({ "options": opts, "runs": runs, "summary": summary });
    Figure::new("ch04", "he-variance", &alt, svg, &data)
}

/// Settings of Figure 4-4.
#[derive(Debug, Clone, Serialize)]
pub struct HeTrainingOptions {
    pub depth: usize,
    pub width: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub train_examples: usize,
    pub test_examples: usize,
    pub seed: u64,
}

impl Default for HeTrainingOptions {
    fn default() -> Self {
        HeTrainingOptions {
            depth: 30,
            width: 128,
            steps: 300,
            batch: 64,
            lr: 0.005,
            momentum: 0.9,
            train_examples: 2000,
            test_examples: 500,
            seed: 0,
        }
    }
}

/// The runs of Figure 4-4.
pub fn he_training_inits() -> [(&'static str, Init, bool); 3] {
    [
        ("He", Init::HE, false),
        ("Xavier", Init::XavierNormal { gain: 1.0 }, false),
        ("LSUV (orthogonal, then rescaled)", Init::Orthogonal { gain: 1.0 }, true),
    ]
}

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 5;
/// Smoothing window of the plotted losses.
const SMOOTH: usize = 20;

/// Figure 4-4: training curves of a deep ReLU MLP under each initialisation.
pub fn he_training_figure(opts: &HeTrainingOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 1 && opts.width > 0 && opts.steps > 0, "need depth, width and steps ≥ 1");
    let (x, y) = standardized_digits(opts.train_examples + opts.test_examples, opts.seed)?;
    let (train_x, test_x) =
        (x.narrow(0, 0, opts.train_examples)?, x.narrow(0, opts.train_examples, opts.test_examples)?);
    let (train_y, test_y) =
        (y.narrow(0, 0, opts.train_examples)?, y.narrow(0, opts.train_examples, opts.test_examples)?);
    let steps = if gen_opts.quick { opts.steps.min(QUICK_STEPS) } else { opts.steps };
    let mut runs = Vec::new();
    for (name, init, use_lsuv) in he_training_inits() {
        let net = MlpConfig::new(x.dim(1)?, opts.width, opts.depth, 10, Activation::Relu, init)
            .with_seed(opts.seed)
            .build(&DEVICE)?;
        if use_lsuv {
            lab::init::lsuv(&net, &train_x.narrow(0, 0, opts.batch.min(opts.train_examples))?, 0.01, 10)?;
        }
        let mut cfg = TrainConfig::new(Optim::Momentum { lr: opts.lr, momentum: opts.momentum }, steps, opts.batch);
        cfg.seed = opts.seed + 1;
        cfg.progress = gen_opts.progress;
        let history = train(&net, &train_x, &train_y, Some((&test_x, &test_y)), &cfg)?;
        let losses = history.losses();
        let mut run = serde_json::json!({ "name": name, "init": init, "lsuv": use_lsuv, "losses": losses });
        if !gen_opts.quick {
            let eval = history.final_eval().expect("train evaluates at the end");
            run["test_accuracy"] = serde_json::json!(eval.accuracy);
            run["test_loss"] = serde_json::json!(eval.loss);
            run["final_train_loss"] = serde_json::json!(running_mean(&losses, SMOOTH).last().copied());
            run["diverged"] = serde_json::json!(history.diverged);
        }
        runs.push(run);
    }
    if gen_opts.quick {
        return Figure::new("ch04", "he-training", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let mut chart =
        LineChart::new(format!("Training a {}-layer ReLU MLP (width {}) on digits", opts.depth, opts.width))
            .x_label("step")
            .y_label(format!("training loss (mean of {SMOOTH} steps)"));
    for r in &runs {
        let losses: Vec<f64> = r["losses"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
        let smooth = running_mean(&losses, SMOOTH);
        chart = chart.series(
            r["name"].as_str().unwrap_or("?"),
            smooth.iter().enumerate().map(|(i, &l)| (i as f64, l)).collect(),
        );
    }
    let chance = (10f64).ln();
    chart = chart.hline(chance, "chance: ln 10");
    let alt = "Training loss against step for three initialisations of a deep ReLU MLP. He and LSUV fall steadily; Xavier stays flat at ln 10, the loss of a uniform guess.";
    let svg = chart.render(alt)?;
    let data = serde_json::json!({ "options": opts, "smooth": SMOOTH, "chance_loss": chance, "runs": runs });
    Figure::new("ch04", "he-training", alt, svg, &data)
}

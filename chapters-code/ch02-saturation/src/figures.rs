//! The chapter's figure generators. Each takes its options (the defaults are the book's figures) and
//! [`GenOptions`]; in quick mode it returns a sub-document of the full figure's data (the same keys
//! and values, arrays cut to prefixes) and no SVG.

use crate::glorot::{self, GlorotOptions, GlorotRun, Inputs};
use crate::nielsen::{Cost, DataSource, NIELSEN_INITIAL_SPEEDS, NetSpec, speed_of_learning};
use crate::sweep;
use crate::training::{self, DepthTrainingOptions, NIELSEN_FINAL_SPEEDS_4, SpeedTrainingOptions};
use crate::window;
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::experiments::geo_mean;
use lab::meanfield::{self, Prior};
use lab::plot::{HistogramGrid, LayerProfile, Legend, LineChart, SeriesStyle};
use lab::{Activation, Init, MlpConfig};
use serde::Serialize;
use serde_json::{Value, json};

const CHAPTER: &str = "ch02";

fn xy(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect()
}

fn quick_figure(name: &str, data: Value) -> Result<Figure> {
    Figure::new(CHAPTER, name, "", String::new(), &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-1: the functions
// ---------------------------------------------------------------------------------------------------

/// Figure 2-1: σ, σ′, tanh and tanh′ on z ∈ [−8, 8], with the saturated ranges of z marked.
pub fn functions_figure(go: &GenOptions) -> Result<Figure> {
    let zs: Vec<f64> = (-160..=160).map(|i| i as f64 / 20.0).collect();
    let curve = |f: &dyn Fn(f64) -> f64| zs.iter().map(|&z| (z, f(z))).collect::<Vec<_>>();
    let (sig, tanh) = (Activation::Sigmoid, Activation::Tanh);
    let fine: Vec<f64> = (-800_000..=800_000).map(|i| i as f64 / 100_000.0).collect();
    let max_sigmoid_prime = fine.iter().map(|&z| sig.derivative(z)).fold(0.0, f64::max);
    let max_tanh_prime = fine.iter().map(|&z| tanh.derivative(z)).fold(0.0, f64::max);
    let ts = window::saturation_threshold(sig).expect("sigmoid saturates");
    let tt = window::saturation_threshold(tanh).expect("tanh saturates");
    let data = json!({
        "z_range": [-8.0, 8.0],
        "max_sigmoid_prime": max_sigmoid_prime,
        "max_tanh_prime": max_tanh_prime,
        "sigmoid_threshold": ts,
        "tanh_threshold": tt,
        "sigmoid_prime_at_threshold": sig.derivative(ts),
        "tanh_prime_at_threshold": tanh.derivative(tt),
        "sigmoid_prime_at_threshold_fraction": sig.derivative(ts) / max_sigmoid_prime,
        "tanh_prime_at_threshold_fraction": tanh.derivative(tt) / max_tanh_prime,
        "sigmoid_prime_at_5": sig.derivative(5.0),
        "saturation_margin": lab::act::SATURATION_MARGIN,
    });
    if go.quick {
        return quick_figure("functions", data);
    }
    // The saturated ranges are drawn as thick bars under the curves; NaN breaks a bar in two.
    let bar = |t: f64, y: f64| {
        let mut v: Vec<(f64, f64)> = zs.iter().filter(|z| **z <= -t).map(|&z| (z, y)).collect();
        v.push((0.0, f64::NAN));
        v.extend(zs.iter().filter(|z| **z >= t).map(|&z| (z, y)));
        v
    };
    let alt = format!(
        "The sigmoid σ rises from 0 to 1 and its slope σ′ peaks at {max_sigmoid_prime} at z = 0; tanh rises from −1 to 1 and its slope peaks at {max_tanh_prime}. Bars under the curves mark where each is saturated: |z| > {ts:.2} for σ, |z| > {tt:.2} for tanh, where the slopes are nearly zero."
    );
    let svg = LineChart::new("σ and tanh, their slopes, and where they saturate")
        .x_label("pre-activation z")
        .y_label("value")
        .y_range(-1.35, 1.1)
        .series_with("σ(z)", curve(&|z| sig.value(z)), SeriesStyle::solid().color(0))
        .series_with("σ′(z) ≤ ¼", curve(&|z| sig.derivative(z)), SeriesStyle::dashed().color(0))
        .series_with("tanh(z)", curve(&|z| tanh.value(z)), SeriesStyle::solid().color(1))
        .series_with("tanh′(z) ≤ 1", curve(&|z| tanh.derivative(z)), SeriesStyle::dashed().color(1))
        .series_with(format!("σ saturated (|z| > {ts:.2})"), bar(ts, -1.12), SeriesStyle::solid().color(0).width(7.0))
        .series_with(
            format!("tanh saturated (|z| > {tt:.2})"),
            bar(tt, -1.26),
            SeriesStyle::solid().color(1).width(7.0),
        )
        .legend(Legend::TopLeft)
        .render(&alt)?;
    Figure::new(CHAPTER, "functions", &alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-2: the product bound
// ---------------------------------------------------------------------------------------------------

/// Settings of Figure 2-2.
#[derive(Debug, Clone, Serialize)]
pub struct BoundOptions {
    pub depth: usize,
    pub chains: usize,
    /// Standard deviations of the chains' weights.
    pub weight_stds: Vec<f64>,
    /// The depth whose values the prose quotes.
    pub report_depth: usize,
    pub seed: u64,
}

impl Default for BoundOptions {
    fn default() -> Self {
        BoundOptions { depth: 30, chains: 10_000, weight_stds: vec![1.0, 6.0], report_depth: 10, seed: 0 }
    }
}

/// Figure 2-2: the bound ∏σ′ ≤ 4⁻ᴸ against depth, and |∂aᴸ/∂a⁰| of random scalar sigmoid chains.
pub fn bound_figure(opts: &BoundOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(opts.report_depth >= 1 && opts.report_depth <= opts.depth, "report depth must be within 1..=depth");
    ensure!(opts.chains > 0 && !opts.weight_stds.is_empty(), "need at least one chain and one weight std");
    let bound = window::product_bound(opts.depth);
    let mut rng = lab::init::rng(opts.seed);
    let stats: Vec<window::ChainStats> =
        opts.weight_stds.iter().map(|&s| window::random_chains(s, opts.depth, opts.chains, &mut rng)).collect();
    let at = opts.report_depth - 1;
    let data = json!({
        "depth": opts.depth,
        "chains": opts.chains,
        "report_depth": opts.report_depth,
        "bound": bound,
        "bound_at_report": bound[at],
        "stats": stats,
        "at_report": stats.iter().map(|s| json!({ "weight_std": s.weight_std, "median": s.median[at], "p90": s.p90[at] })).collect::<Vec<_>>(),
    });
    if go.quick {
        return quick_figure("product-bound", data);
    }
    let mut chart = LineChart::new("|∂aᴸ/∂a⁰| = ∏ |w σ′(z)| in random sigmoid chains")
        .x_label("depth L")
        .y_label("|∂aᴸ/∂a⁰|")
        .log_y()
        .integer_x()
        .series_with("bound 4⁻ᴸ (|w| ≤ 1)", xy(&bound), SeriesStyle::dashed().color(6));
    for (i, s) in stats.iter().enumerate() {
        chart = chart
            .series_with(format!("median, w ~ N(0, {}²)", s.weight_std), xy(&s.median), SeriesStyle::solid().color(i))
            .series_with(
                format!("90th percentile, w ~ N(0, {}²)", s.weight_std),
                xy(&s.p90),
                SeriesStyle::dotted().color(i),
            );
    }
    let alt = format!(
        "Log-scale plot of the chain-rule product against depth 1 to {}: the dashed bound 4^-L falls as a straight line; the medians of {} random sigmoid chains fall faster for both weight scales, and even their 90th percentiles vanish with depth",
        opts.depth, opts.chains
    );
    let svg = chart.legend(Legend::BottomLeft).render(&alt)?;
    Figure::new(CHAPTER, "product-bound", &alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-3: the window of inputs where a factor reaches 1
// ---------------------------------------------------------------------------------------------------

/// Figure 2-3: the width of the input interval where |w σ′(wa + b)| ≥ 1 against |w|, closed form and
/// bisection.
pub fn window_figure(go: &GenOptions) -> Result<Figure> {
    let (best_w, best_width) = window::widest_window();
    // Agreement of the closed form with bisection over a grid of weights and biases.
    let mut max_diff = 0f64;
    for i in 0..=200 {
        let w = 4.0 + i as f64 * 0.48;
        for b in [-5.0, -1.0, 0.0, 0.7, 3.0] {
            max_diff =
                max_diff.max((window::window_width(w).unwrap() - window::window_width_numeric(w, b).unwrap()).abs());
        }
    }
    let checks = [4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 30.0, 40.0];
    let numeric: Vec<(f64, f64)> = checks.iter().map(|&w| (w, window::window_width_numeric(w, 0.7).unwrap())).collect();
    let data = json!({
        "best_w": best_w,
        "best_width": best_width,
        "best_factor_peak": window::max_factor(best_w),
        "max_abs_difference": max_diff.max(f64::EPSILON),
        "numeric_b": 0.7,
        "numeric": numeric.iter().map(|&(w, width)| json!({ "w": w, "width": width })).collect::<Vec<_>>(),
        "width_at_4_5": window::window_width(4.5),
        "width_at_20": window::window_width(20.0),
        "width_at_40": window::window_width(40.0),
    });
    if go.quick {
        return quick_figure("window", data);
    }
    let curve: Vec<(f64, f64)> =
        (0..=720).map(|i| 4.0 + i as f64 * 0.05).map(|w| (w, window::window_width(w).unwrap())).collect();
    let alt = format!(
        "The width of the range of inputs a for which |w σ′(wa + b)| ≥ 1, against |w| from 4 to 40: zero at |w| = 4, peaking at {best_width:.3} near |w| = {best_w:.2}, then falling; points found by bisection lie on the closed-form curve"
    );
    let svg = LineChart::new("Inputs a where one factor |w σ′(wa + b)| reaches 1")
        .x_label("weight |w|")
        .y_label("width of the interval of a")
        .series_with("closed form (2/|w|)·ln(|w|(1+√(1−4/|w|))/2 − 1)", curve, SeriesStyle::solid().color(0))
        .series_with("bisection on σ′ (b = 0.7)", numeric, SeriesStyle::points().color(1))
        .vline(best_w, format!("|w| = {best_w:.2}"))
        .render(&alt)?;
    Figure::new(CHAPTER, "window", &alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-4: Nielsen's speed of learning at initialisation
// ---------------------------------------------------------------------------------------------------

/// Settings of Figure 2-4.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedInitOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    /// Images the gradient is averaged over (Nielsen: the first 1000).
    pub n: usize,
    pub seeds: usize,
    pub cost: Cost,
    pub data: DataSource,
    pub init: Init,
    pub bias_std: f64,
    pub activation: Activation,
}

impl Default for SpeedInitOptions {
    fn default() -> Self {
        SpeedInitOptions {
            depths: vec![2, 3, 4],
            width: 30,
            n: 1000,
            seeds: 10,
            cost: Cost::SigmoidCrossEntropy,
            data: DataSource::Digits { seed: 0 },
            init: Init::LecunNormal,
            bias_std: 1.0,
            activation: Activation::Sigmoid,
        }
    }
}

/// Figure 2-4: ‖δˡ‖ per hidden layer at initialisation for nets with 2, 3 and 4 hidden layers, next to
/// Nielsen's published values.
pub fn speed_init_figure(opts: &SpeedInitOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(opts.seeds > 0 && !opts.depths.is_empty(), "need at least one seed and one depth");
    let (train, _) = opts.data.load(opts.n, 0)?;
    let seeds = if go.quick { 1 } else { opts.seeds };
    let nielsen_setup = opts.width == 30
        && opts.cost == Cost::SigmoidCrossEntropy
        && opts.init == Init::LecunNormal
        && opts.bias_std == 1.0
        && opts.activation == Activation::Sigmoid;
    let mut rows = Vec::new();
    for &depth in &opts.depths {
        let spec = |seed| NetSpec {
            d_in: train.dim(),
            width: opts.width,
            activation: opts.activation,
            init: opts.init,
            bias_std: opts.bias_std,
            ..NetSpec::nielsen(depth, seed)
        };
        let per_seed: Vec<Vec<f64>> = (0..seeds as u64)
            .map(|s| speed_of_learning(&spec(s).build()?, &train.x, &train.y, opts.cost))
            .collect::<Result<_>>()?;
        let nielsen = if nielsen_setup && (2..=4).contains(&depth) {
            Some(NIELSEN_INITIAL_SPEEDS[depth - 2].to_vec())
        } else {
            None
        };
        let mut row = json!({ "depth": depth, "per_seed": per_seed, "nielsen": nielsen });
        if !go.quick {
            let layers = per_seed[0].len();
            let column = |l: usize| per_seed.iter().map(move |s| s[l]);
            let mean: Vec<f64> = (0..layers).map(|l| column(l).sum::<f64>() / seeds as f64).collect();
            let min: Vec<f64> = (0..layers).map(|l| column(l).fold(f64::INFINITY, f64::min)).collect();
            let max: Vec<f64> = (0..layers).map(|l| column(l).fold(0.0, f64::max)).collect();
            let ratios: Vec<f64> = per_seed.iter().map(|s| s[0] / s[layers - 1]).collect();
            // The same networks with a softmax output layer, for comparison.
            let softmax: Vec<Vec<f64>> = (0..seeds as u64)
                .map(|s| speed_of_learning(&spec(s).build()?, &train.x, &train.y, Cost::Softmax))
                .collect::<Result<_>>()?;
            let softmax_mean: Vec<f64> =
                (0..layers).map(|l| softmax.iter().map(|s| s[l]).sum::<f64>() / seeds as f64).collect();
            let obj = row.as_object_mut().expect("object");
            obj.insert("mean".into(), json!(mean));
            obj.insert("min".into(), json!(min));
            obj.insert("max".into(), json!(max));
            obj.insert("ratio_first_last_mean".into(), json!(geo_mean(ratios.iter().copied())));
            // The mean growth of the speed from one layer to the next, first to last.
            obj.insert(
                "per_layer_growth".into(),
                json!(geo_mean(ratios.iter().copied()).powf(-1.0 / (layers as f64 - 1.0).max(1.0))),
            );
            obj.insert("ratio_first_last_min".into(), json!(ratios.iter().copied().fold(f64::INFINITY, f64::min)));
            obj.insert("ratio_first_last_max".into(), json!(ratios.iter().copied().fold(0.0, f64::max)));
            obj.insert("softmax_mean".into(), json!(softmax_mean));
            obj.insert("softmax_over_sigmoid_top".into(), json!(softmax_mean[layers - 1] / mean[layers - 1]));
            if let Some(n) = &nielsen {
                obj.insert("nielsen_ratio_first_last".into(), json!(n[0] / n[n.len() - 1]));
                let ratio: Vec<f64> = mean.iter().zip(n).map(|(a, b)| a / b).collect();
                obj.insert("ours_over_nielsen_min".into(), json!(ratio.iter().copied().fold(f64::INFINITY, f64::min)));
                obj.insert("ours_over_nielsen_max".into(), json!(ratio.iter().copied().fold(0.0, f64::max)));
                obj.insert("ours_over_nielsen".into(), json!(ratio));
            }
        }
        rows.push(row);
    }
    let data = json!({
        "data": opts.data.describe(),
        "n": opts.n,
        "width": opts.width,
        "seeds": opts.seeds,
        "cost": opts.cost,
        "init": opts.init,
        "bias_std": opts.bias_std,
        "activation": opts.activation,
        "nets": rows,
    });
    if go.quick {
        return quick_figure("speed-init", data);
    }
    let mut chart = LayerProfile::new(format!(
        "Speed of learning ‖δˡ‖ at initialisation ({}, {} seeds)",
        opts.data.describe(),
        opts.seeds
    ))
    .y_label("‖δˡ‖ = ‖∂C/∂bˡ‖")
    .x_label("hidden layer ℓ");
    for (i, row) in rows.iter().enumerate() {
        let depth = row["depth"].as_u64().unwrap_or(0);
        let mean: Vec<f64> = serde_json::from_value(row["mean"].clone())?;
        chart = chart.series_with(format!("ours, {depth} hidden layers"), mean, SeriesStyle::solid().color(i));
        if let Ok(n) = serde_json::from_value::<Vec<f64>>(row["nielsen"].clone()) {
            chart = chart.series_with(format!("Nielsen (MNIST), {depth} hidden"), n, SeriesStyle::dashed().color(i));
        }
    }
    let alt = "Per-layer gradient norms at initialisation on a log scale for sigmoid networks with 2, 3 and 4 hidden layers of 30 units: in every network the norm grows about five-fold per layer towards the output, and our curves lie close to Nielsen's dashed MNIST curves";
    let svg = chart.legend(Legend::Outside).size(760, 440).render(alt)?;
    Figure::new(CHAPTER, "speed-init", alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-5: the speed of learning across training
// ---------------------------------------------------------------------------------------------------

/// Figure 2-5: ‖δˡ‖ of each hidden layer of the four-hidden-layer network during Nielsen's 500 epochs.
pub fn speed_training_figure(opts: &SpeedTrainingOptions, go: &GenOptions) -> Result<Figure> {
    let epochs = if go.quick { opts.epochs.min(5) } else { opts.epochs };
    let run = training::speed_training(opts, epochs)?;
    let layers = opts.depth;
    let per_layer: Vec<Vec<f64>> = (0..layers).map(|l| run.speeds.iter().map(|s| s[l]).collect()).collect();
    let mut data = json!({
        "options": opts,
        "speeds": per_layer,
        "costs": run.costs,
        "initial": run.speeds[0],
        "initial_ratio_first_last": run.speeds[0][0] / run.speeds[0][layers - 1],
    });
    if go.quick {
        return quick_figure("speed-training", data);
    }
    let last = run.speeds.last().expect("at least one epoch");
    let nielsen = (layers == 4).then(|| {
        json!({
            "initial": NIELSEN_INITIAL_SPEEDS[2],
            "final": NIELSEN_FINAL_SPEEDS_4,
            "initial_ratio_first_last": NIELSEN_INITIAL_SPEEDS[2][0] / NIELSEN_INITIAL_SPEEDS[2][3],
            "final_ratio_first_last": NIELSEN_FINAL_SPEEDS_4[0] / NIELSEN_FINAL_SPEEDS_4[3],
            "top_fall": NIELSEN_INITIAL_SPEEDS[2][3] / NIELSEN_FINAL_SPEEDS_4[3],
        })
    });
    let obj = data.as_object_mut().expect("object");
    obj.insert("final".into(), json!(last));
    obj.insert("final_ratio_first_last".into(), json!(last[0] / last[layers - 1]));
    obj.insert("top_fall".into(), json!(run.speeds[0][layers - 1] / last[layers - 1]));
    obj.insert("first_fall".into(), json!(run.speeds[0][0] / last[0]));
    obj.insert("accuracy_start".into(), json!(run.accuracy_start));
    obj.insert("accuracy_end".into(), json!(run.accuracy_end));
    obj.insert("final_cost".into(), json!(run.costs.last()));
    obj.insert("prior_only_cost".into(), json!(run.prior_only_cost));
    obj.insert("nielsen".into(), nielsen.unwrap_or(Value::Null));
    let mut chart =
        LineChart::new(format!("Speed of learning during training: {layers} hidden layers, {}", opts.data.describe()))
            .x_label("epoch (one gradient step on the 1000 images)")
            .y_label("‖δˡ‖")
            .log_y();
    for (l, v) in per_layer.iter().enumerate() {
        chart = chart
            .series(format!("hidden layer {}", l + 1), v.iter().enumerate().map(|(e, &s)| (e as f64, s)).collect());
    }
    let alt = format!(
        "Log-scale gradient norms of the {layers} hidden layers over {} epochs of training: all fall, and they stay ordered, the first layer's more than a hundred times below the last's throughout",
        opts.epochs
    );
    let svg = chart.legend(Legend::TopRight).render(&alt)?;
    Figure::new(CHAPTER, "speed-training", &alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figures 2-6 and 2-7: depth against a fixed training budget
// ---------------------------------------------------------------------------------------------------

/// Figures 2-6 (test accuracy during training, per depth) and 2-7 (how far each layer's weights moved).
pub fn depth_training_figures(opts: &DepthTrainingOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    ensure!(!opts.depths.is_empty(), "need at least one depth");
    let (train, test) = opts.data.load(opts.n_train, opts.n_test)?;
    let (depths, steps) = if go.quick {
        (&opts.depths[..opts.depths.len().min(2)], opts.eval_every)
    } else {
        (&opts.depths[..], opts.steps)
    };
    let mut runs = Vec::new();
    for &d in depths {
        runs.push(training::depth_run(opts, &train, &test, d, steps)?);
    }
    let mut runs_json: Vec<Value> = Vec::new();
    for r in &runs {
        let mut v = json!({
            "depth": r.depth,
            "eval_steps": r.eval_steps,
            "test_cost": r.test_cost,
            "test_accuracy": r.test_accuracy,
            "initial_speeds": r.initial_speeds,
            "initial_ratio_first_last": r.initial_speeds[0] / r.initial_speeds[r.initial_speeds.len() - 1],
        });
        if !go.quick {
            let wc = &r.weight_change;
            let obj = v.as_object_mut().expect("object");
            obj.insert("weight_change".into(), json!(wc));
            obj.insert("weight_change_first_over_last".into(), json!(wc[0] / wc[wc.len() - 1]));
            obj.insert("final_accuracy".into(), json!(r.test_accuracy.last()));
            obj.insert("final_error".into(), json!(1.0 - r.test_accuracy.last().copied().unwrap_or(0.0)));
            obj.insert("final_cost".into(), json!(r.test_cost.last()));
            // Steps until the test accuracy first reached 20 % (off the plateau) and 80 %.
            let first_at = |level: f64| {
                r.eval_steps
                    .iter()
                    .zip(&r.test_accuracy)
                    .find(|(_, a)| **a >= level)
                    .map_or(json!("never"), |(s, _)| json!(s))
            };
            obj.insert("left_plateau_at".into(), first_at(0.2));
            obj.insert("steps_to_80".into(), first_at(0.8));
        }
        runs_json.push(v);
    }
    let mut data = json!({ "options": opts, "data_source": opts.data.describe(), "runs": runs_json });
    if go.quick {
        return Ok(vec![
            quick_figure("depth-training", data)?,
            quick_figure("layer-change", json!({ "options": opts }))?,
        ]);
    }
    let best = runs.iter().map(|r| *r.test_accuracy.last().unwrap_or(&0.0)).fold(0.0, f64::max);
    let best_depth = runs.iter().find(|r| *r.test_accuracy.last().unwrap_or(&0.0) == best).map(|r| r.depth);
    let deepest = runs.last().expect("a run");
    data.as_object_mut().expect("object").extend([
        ("best_accuracy".to_string(), json!(best)),
        ("best_depth".to_string(), json!(best_depth)),
        ("deepest_depth".to_string(), json!(deepest.depth)),
        ("deepest_accuracy".to_string(), json!(deepest.test_accuracy.last())),
        ("deepest_weight_change".to_string(), json!(deepest.weight_change)),
        ("nielsen".to_string(), json!(training::NIELSEN_MNIST_RUNS)),
    ]);
    let mut chart = LineChart::new(format!(
        "Test accuracy during training, by depth ({}, width {})",
        opts.data.describe(),
        opts.width
    ))
    .x_label("SGD step (minibatch of 10)")
    .y_label("test accuracy")
    .y_range(0.0, 1.0);
    for r in &runs {
        let pts = r.eval_steps.iter().zip(&r.test_accuracy).map(|(&s, &a)| (s as f64, a)).collect();
        chart = chart.series(format!("{} hidden", r.depth), pts);
    }
    let alt = format!(
        "Test accuracy against training step for sigmoid networks of {:?} hidden layers: the shallow ones climb quickly, each extra layer delays the climb, and from four layers on the networks stay at chance for all {} steps",
        depths, opts.steps
    );
    let acc_svg = chart.legend(Legend::Outside).render(&alt)?;
    let acc = Figure::new(CHAPTER, "depth-training", &alt, acc_svg, &data)?;

    let mut profile = LayerProfile::new("How far each layer's weights moved in training")
        .y_label("‖Wˡ − W₀ˡ‖ / ‖W₀ˡ‖")
        .x_label("hidden layer ℓ");
    for r in runs.iter().filter(|r| r.depth >= 2) {
        profile = profile.series(format!("{} hidden", r.depth), r.weight_change.clone());
    }
    let alt2 = "Relative change of each hidden layer's weights after training, on a log scale, for each depth: in every network the layers near the output moved most and the first layers least, by orders of magnitude in the deepest";
    let change_svg = profile.legend(Legend::Outside).render(alt2)?;
    let change_data = json!({
        "options": opts,
        "weight_change": runs.iter().map(|r| json!({ "depth": r.depth, "weight_change": r.weight_change })).collect::<Vec<_>>(),
    });
    let change = Figure::new(CHAPTER, "layer-change", alt2, change_svg, &change_data)?;
    Ok(vec![acc, change])
}

// ---------------------------------------------------------------------------------------------------
// Figure 2-8: the depth sweep against theory
// ---------------------------------------------------------------------------------------------------

/// Settings of Figure 2-8.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    /// Examples in the probe batch.
    pub n: usize,
    pub seeds: usize,
    pub init: Init,
    pub activations: Vec<Activation>,
    pub data: DataSource,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            depths: vec![2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 40, 50],
            width: 128,
            n: 500,
            seeds: 3,
            init: Init::LecunNormal,
            activations: sweep::SWEEP_ACTIVATIONS.to_vec(),
            data: DataSource::Digits { seed: 0 },
        }
    }
}

/// Figure 2-8: ‖δ¹‖/‖δᴸ‖ at initialisation against depth, measured and predicted (zero biases, softmax
/// output: lab's standard network, so the theory has nothing to average over but the weights).
pub fn sweep_figure(opts: &SweepOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(
        opts.seeds > 0 && !opts.depths.is_empty() && !opts.activations.is_empty(),
        "need seeds, depths and activations"
    );
    ensure!(opts.depths.iter().all(|&d| d >= 2), "every depth must be at least 2 (a ratio of two layers)");
    let (train, _) = opts.data.load(opts.n, 0)?;
    let input_second_moment = train.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
    let (depths, seeds) =
        if go.quick { (&opts.depths[..opts.depths.len().min(2)], 1) } else { (&opts.depths[..], opts.seeds) };
    let seeds: Vec<u64> = (0..seeds as u64).collect();
    let mut series = Vec::new();
    for &act in &opts.activations {
        let mut points = Vec::new();
        for &depth in depths {
            let config = MlpConfig::new(train.dim(), opts.width, depth, train.classes, act, opts.init);
            let p = sweep::measure(&config, &train.x, &train.y, &seeds, input_second_moment)?;
            let mut v = json!({
                "depth": depth, "bias_ratios": p.bias_ratios, "per_example_ratios": p.per_example_ratios,
                "chi_ratios": p.chi_ratios, "theory": p.theory,
            });
            if !go.quick {
                let (bias, per_example, chi) = p.means();
                let obj = v.as_object_mut().expect("object");
                obj.insert("bias_ratio".into(), json!(bias));
                obj.insert("per_example_ratio".into(), json!(per_example));
                obj.insert("chi_ratio".into(), json!(chi));
            }
            points.push(v);
        }
        let mut s = json!({ "activation": act, "points": points });
        if !go.quick {
            let get = |key: &str| -> Vec<(f64, f64)> {
                s["points"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| (p["depth"].as_f64().unwrap_or(0.0), p[key].as_f64().unwrap_or(f64::NAN)))
                    .collect()
            };
            let (bias, per_ex, chi, theory) =
                (get("bias_ratio"), get("per_example_ratio"), get("chi_ratio"), get("theory"));
            // How far the measurements sit from theory, in decades, at worst over the depths.
            let worst = |pts: &[(f64, f64)]| {
                pts.iter().zip(&theory).map(|(a, t)| (a.1.log10() - t.1.log10()).abs()).fold(0.0, f64::max)
            };
            let deepest = theory.len() - 1;
            let prior =
                Prior::fan_in(lab::experiments::weight_gain2(&MlpConfig::new(1, opts.width, 1, 1, act, opts.init)));
            let theory_layers =
                meanfield::propagate(act, &prior, input_second_moment, *opts.depths.iter().max().expect("depths"));
            let deep = theory_layers.last().expect("layers");
            let (fit_bias, fit_theory) = (sweep::per_layer_factor(&bias), sweep::per_layer_factor(&theory));
            let obj = s.as_object_mut().expect("object");
            obj.insert("fit_per_layer_bias".into(), json!(fit_bias));
            obj.insert("fit_per_layer_per_example".into(), json!(sweep::per_layer_factor(&per_ex)));
            obj.insert("fit_per_layer_theory".into(), json!(fit_theory));
            obj.insert("fit_relative_difference".into(), json!((fit_bias / fit_theory - 1.0).abs()));
            obj.insert("theory_per_layer_deep".into(), json!(deep.chi.sqrt()));
            obj.insert("theory_q_deep".into(), json!(deep.q));
            obj.insert("theory_slope2_deep".into(), json!(deep.slope2));
            obj.insert("worst_decades_bias".into(), json!(worst(&bias)));
            obj.insert("worst_decades_per_example".into(), json!(worst(&per_ex)));
            obj.insert("worst_decades_chi".into(), json!(worst(&chi)));
            obj.insert(
                "deepest".into(),
                json!({
                    "depth": theory[deepest].0, "bias_ratio": bias[deepest].1, "per_example_ratio": per_ex[deepest].1,
                    "chi_ratio": chi[deepest].1, "theory": theory[deepest].1,
                    "orders_of_magnitude": -bias[deepest].1.log10(),
                }),
            );
        }
        series.push(s);
    }
    let data = json!({ "options": opts, "input_second_moment": input_second_moment, "series": series });
    if go.quick {
        return quick_figure("depth-sweep", data);
    }
    let mut chart = LineChart::new(format!("‖δ¹‖/‖δᴸ‖ at initialisation: N(0, 1/n) weights, width {}", opts.width))
        .x_label("depth L (hidden layers)")
        .y_label("‖δ¹‖ / ‖δᴸ‖")
        .log_y();
    for (i, s) in series.iter().enumerate() {
        let name = s["activation"].as_str().unwrap_or("?").to_string();
        let pts = |key: &str| -> Vec<(f64, f64)> {
            s["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (p["depth"].as_f64().unwrap_or(0.0), p[key].as_f64().unwrap_or(f64::NAN)))
                .collect()
        };
        chart = chart
            .series_with(format!("{name}: bias gradients"), pts("bias_ratio"), SeriesStyle::points().color(i))
            .series_with(
                format!("{name}: per-example δ"),
                pts("per_example_ratio"),
                SeriesStyle::solid().color(i).width(1.5),
            )
            .series_with(format!("{name}: mean-field theory"), pts("theory"), SeriesStyle::dashed().color(i));
    }
    let alt = "Log-scale ratio of the first to the last hidden layer's error norm against depth 2 to 50: for sigmoid it falls in a straight line, about 30 orders of magnitude by depth 50, with the mean-field prediction on top of the measurements; for tanh the per-example ratio falls slowly, to about a third, and the bias-gradient ratio stays near one";
    let svg = chart.legend(Legend::BottomLeft).render(alt)?;
    Figure::new(CHAPTER, "depth-sweep", alt, svg, &data)
}

// ---------------------------------------------------------------------------------------------------
// Figures 2-9 to 2-12: Glorot & Bengio's saturation experiment
// ---------------------------------------------------------------------------------------------------

/// Settings of the Glorot & Bengio figures: the sigmoid run, and its tanh contrast.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotFigureOptions {
    pub sigmoid: GlorotOptions,
    pub tanh: GlorotOptions,
}

impl Default for GlorotFigureOptions {
    fn default() -> Self {
        let sigmoid = GlorotOptions::default();
        GlorotFigureOptions { tanh: GlorotOptions { activation: Activation::Tanh, ..sigmoid.clone() }, sigmoid }
    }
}

fn summary(opts: &GlorotOptions, run: &GlorotRun) -> Value {
    let first = &run.snapshots[0];
    let last = run.snapshots.last().expect("snapshots");
    let top = opts.depth - 1;
    // The mean slope left in the top layer, from the activations' mean m and std s:
    // E[σ′] = E[a(1 − a)] = m − m² − s² for sigmoid, E[tanh′] = E[1 − a²] = 1 − m² − s² for tanh.
    let slope = |m: f64, s: f64| match opts.activation {
        Activation::Sigmoid => m - m * m - s * s,
        _ => 1.0 - m * m - s * s,
    };
    let mut v = json!({
        "initial_means": first.mean,
        "final_means": last.mean,
        "final_std": last.std,
        "final_saturated": last.saturated,
        "initial_saturated": first.saturated,
        "top_initial_mean": first.mean[top],
        "top_final_mean": last.mean[top],
        "top_final_saturated": last.saturated[top],
        "top_initial_mean_slope": slope(first.mean[top], first.std[top]),
        "top_final_mean_slope": slope(last.mean[top], last.std[top]),
        "top_slope_fall": slope(first.mean[top], first.std[top]) / slope(last.mean[top], last.std[top]),
        "below_top_final_mean": if top > 0 { json!(last.mean[top - 1]) } else { Value::Null },
        "max_final_saturated": last.saturated.iter().copied().fold(0.0, f64::max),
        "initial_loss": first.loss,
        "final_loss": last.loss,
        "final_accuracy": last.accuracy,
        "final_error": 1.0 - last.accuracy,
        "chance_loss": (opts.classes as f64).ln(),
    });
    if opts.activation == Activation::Sigmoid {
        // The first probe at which the top layer's mean activation had fallen below 0.1.
        let below = run.snapshots.iter().find(|s| s.mean[top] < 0.1).map(|s| s.step);
        v.as_object_mut().expect("object").insert("top_below_0_1_at".into(), json!(below));
    }
    v
}

fn histogram_figure(
    name: &str,
    act: Activation,
    opts: &GlorotOptions,
    run: &GlorotRun,
    data: &Value,
) -> Result<Figure> {
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
    let last = run.snapshots.last().expect("snapshots");
    for (when, hists, sat) in
        [("init", &run.histograms_start, &run.snapshots[0].saturated), ("end", &run.histograms_end, &last.saturated)]
    {
        for (l, h) in hists.iter().enumerate() {
            let title = format!("L{} {when} · {:.0}% sat", l + 1, 100.0 * sat[l]);
            grid = grid.panel_counts(title, h.counts.iter().map(|&c| c as f64).collect());
        }
    }
    let alt = format!(
        "Histograms of each hidden layer's {act} activations on held-out data, at initialisation and after training, with the saturated ends shaded; panel titles give the saturated fraction"
    );
    let svg = grid.render(&alt)?;
    Figure::new(CHAPTER, name, &alt, svg, data)
}

/// Figures 2-9 to 2-12: per-layer mean activations of the sigmoid network during training, the tanh
/// network's spread, held-out error of both, and activation histograms.
pub fn glorot_figures(opts: &GlorotFigureOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    let quick_steps = |o: &GlorotOptions| if go.quick { o.probe_every.min(o.steps) } else { o.steps };
    let sig = glorot::run(&opts.sigmoid, quick_steps(&opts.sigmoid), go.progress)?;
    let tanh = glorot::run(&opts.tanh, quick_steps(&opts.tanh), go.progress)?;
    let mut sig_data = json!({ "options": opts.sigmoid, "snapshots": sig.snapshots });
    let mut tanh_data = json!({ "options": opts.tanh, "snapshots": tanh.snapshots });
    let error_data = json!({ "sources": ["glorot-sigmoid.json", "glorot-tanh.json"] });
    let hist_data = |run: &GlorotRun| {
        if go.quick {
            json!({ "histograms_start": run.histograms_start })
        } else {
            json!({ "histograms_start": run.histograms_start, "histograms_end": run.histograms_end })
        }
    };
    let (sig_hist, tanh_hist) = (hist_data(&sig), hist_data(&tanh));
    if go.quick {
        return [
            ("glorot-sigmoid", sig_data),
            ("glorot-tanh", tanh_data),
            ("glorot-error", error_data),
            ("glorot-histograms-sigmoid", sig_hist),
            ("glorot-histograms-tanh", tanh_hist),
        ]
        .into_iter()
        .map(|(name, data)| quick_figure(name, data))
        .collect();
    }
    sig_data.as_object_mut().expect("object").insert("summary".into(), summary(&opts.sigmoid, &sig));
    tanh_data.as_object_mut().expect("object").insert("summary".into(), summary(&opts.tanh, &tanh));
    let steps_of = |run: &GlorotRun| run.snapshots.iter().map(|s| s.step as f64).collect::<Vec<_>>();
    let mut figs = Vec::new();

    let s = &opts.sigmoid;
    let mut chart = LineChart::new(format!(
        "Mean sigmoid activation per hidden layer during SGD ({} × {}, U(±1/√n), η = {})",
        s.depth, s.width, s.lr
    ))
    .x_label("SGD step (minibatch of 10)")
    .y_label("mean activation on held-out data")
    .y_range(0.0, 1.0)
    .hline(0.5, "σ(0) = ½");
    let steps = steps_of(&sig);
    for l in 0..s.depth {
        let mean = sig.snapshots.iter().map(|x| x.mean[l]).collect::<Vec<_>>();
        chart = chart.series(format!("layer {}", l + 1), steps.iter().copied().zip(mean).collect());
    }
    let alt = "Mean activation of each sigmoid hidden layer against training step: the top layer's mean falls from one half towards zero within the first few thousand steps, the layer below it rises above one half, the lowest layers stay near one half";
    figs.push(Figure::new(CHAPTER, "glorot-sigmoid", alt, chart.legend(Legend::Outside).render(alt)?, &sig_data)?);

    let t = &opts.tanh;
    let mut chart = LineChart::new(format!(
        "tanh network: spread and saturation per hidden layer ({} × {}, η = {})",
        t.depth, t.width, t.lr
    ))
    .x_label("SGD step (minibatch of 10)")
    .y_label("std of activations · saturated fraction")
    .y_range(0.0, 1.0);
    let steps = steps_of(&tanh);
    for l in 0..t.depth {
        let std = tanh.snapshots.iter().map(|x| x.std[l]).collect::<Vec<_>>();
        let sat = tanh.snapshots.iter().map(|x| x.saturated[l]).collect::<Vec<_>>();
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
    figs.push(Figure::new(CHAPTER, "glorot-tanh", alt, chart.legend(Legend::Outside).render(alt)?, &tanh_data)?);

    let err = |run: &GlorotRun| run.snapshots.iter().map(|x| (x.step as f64, 1.0 - x.accuracy)).collect::<Vec<_>>();
    let alt = "Held-out classification error against training step: the sigmoid network stays at chance, about 90 percent error, while the tanh network's error falls quickly in the first few hundred steps and then slowly";
    let svg = LineChart::new("Held-out error during training (10 classes)")
        .x_label("SGD step (minibatch of 10)")
        .y_label("held-out error")
        .y_range(0.0, 1.0)
        .series("sigmoid", err(&sig))
        .series("tanh", err(&tanh))
        .hline(1.0 - 1.0 / s.classes as f64, "chance")
        .render(alt)?;
    figs.push(Figure::new(CHAPTER, "glorot-error", alt, svg, &error_data)?);

    figs.push(histogram_figure("glorot-histograms-sigmoid", Activation::Sigmoid, s, &sig, &sig_hist)?);
    figs.push(histogram_figure("glorot-histograms-tanh", Activation::Tanh, t, &tanh, &tanh_hist)?);
    Ok(figs)
}

/// One condition of the sensitivity study.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub label: String,
    pub options: GlorotOptions,
}

/// Settings of Figure 2-13: the same sigmoid experiment under varied conditions.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionsOptions {
    pub conditions: Vec<Condition>,
}

impl Default for ConditionsOptions {
    fn default() -> Self {
        let base = GlorotOptions { steps: 2000, probe_every: 200, ..GlorotOptions::default() };
        let c = |label: &str, options: GlorotOptions| Condition { label: label.into(), options };
        ConditionsOptions {
            conditions: vec![
                c("η = 0.1 (baseline)", base.clone()),
                c("η = 0.01", GlorotOptions { lr: 0.01, ..base.clone() }),
                c("η = 1", GlorotOptions { lr: 1.0, ..base.clone() }),
                c("positive inputs σ(x)", GlorotOptions { inputs: Inputs::Positive, ..base.clone() }),
                c("5 hidden layers", GlorotOptions { depth: 5, ..base.clone() }),
                c("Xavier init", GlorotOptions { init: Init::XAVIER, ..base.clone() }),
            ],
        }
    }
}

/// Figure 2-13: the top hidden layer's mean activation during training under each condition.
pub fn conditions_figure(opts: &ConditionsOptions, go: &GenOptions) -> Result<Figure> {
    ensure!(!opts.conditions.is_empty(), "need at least one condition");
    let conditions = if go.quick { &opts.conditions[..1] } else { &opts.conditions[..] };
    let mut rows = Vec::new();
    let mut chart = LineChart::new("Top hidden layer's mean sigmoid activation under varied conditions")
        .x_label("SGD step (minibatch of 10)")
        .y_label("mean activation of the top hidden layer")
        .log_y();
    for c in conditions {
        let o = &c.options;
        let steps = if go.quick { o.probe_every.min(o.steps) } else { o.steps };
        let run = glorot::run(o, steps, go.progress)?;
        let top = o.depth - 1;
        let mut row =
            json!({ "label": c.label, "top_mean": run.snapshots.iter().map(|s| s.mean[top]).collect::<Vec<_>>() });
        if !go.quick {
            let last = run.snapshots.last().expect("snapshots");
            let obj = row.as_object_mut().expect("object");
            obj.insert("final_top_mean".into(), json!(last.mean[top]));
            obj.insert("final_top_saturated".into(), json!(last.saturated[top]));
            obj.insert("final_below_top_mean".into(), json!(if top > 0 { last.mean[top - 1] } else { f64::NAN }));
            obj.insert("final_accuracy".into(), json!(last.accuracy));
            obj.insert("final_loss".into(), json!(last.loss));
            obj.insert("final_means".into(), json!(last.mean));
            chart = chart.series(c.label.clone(), run.snapshots.iter().map(|s| (s.step as f64, s.mean[top])).collect());
        }
        rows.push(row);
    }
    let data = json!({ "options": opts, "conditions": rows });
    if go.quick {
        return quick_figure("glorot-conditions", data);
    }
    let alt = "The top hidden layer's mean activation against training step on a log scale for six variants of the sigmoid experiment: it falls from one half towards zero in every variant with the standard initialisation, faster with a larger learning rate and barely at η = 0.01";
    let svg = chart.hline(0.03, "saturation threshold 0.03").legend(Legend::Outside).render(alt)?;
    Figure::new(CHAPTER, "glorot-conditions", alt, svg, &data)
}

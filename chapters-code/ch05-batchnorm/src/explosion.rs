//! Figures 5-6 and 5-7: Yang et al.'s (2019) gradient explosion of batch-normalised networks at
//! initialisation, measured — the per-layer growth of ‖∂L/∂Wˡ‖² towards the input against the batch
//! size, for ReLU and linear networks with BatchNorm and for ReLU with LayerNorm.

use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::norm::{backward_growth, linear_bn_growth, linear_loss_weight_grads, relu_bn_growth_limit};
use lab::plot::{LayerProfile, LineChart, SeriesStyle};
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
use serde::Serialize;

/// Settings of Figures 5-6 and 5-7.
#[derive(Debug, Clone, Serialize)]
pub struct ExplosionOptions {
    pub depth: usize,
    pub width: usize,
    /// Batch sizes, ascending.
    pub batches: Vec<usize>,
    /// Networks (weight draws) per batch size.
    pub seeds: usize,
    /// Layers dropped at each end before fitting the geometric growth.
    pub skip: usize,
    pub seed: u64,
}

impl Default for ExplosionOptions {
    fn default() -> Self {
        ExplosionOptions {
            depth: 50,
            width: 256,
            batches: vec![4, 8, 16, 32, 64, 128, 256],
            seeds: 4,
            skip: 5,
            seed: 0,
        }
    }
}

/// The networks of Figure 5-6: (name, activation, init, norm).
pub fn explosion_configs() -> [(&'static str, Activation, Init, Norm); 3] {
    [
        ("ReLU + BatchNorm", Activation::Relu, Init::HE, Norm::Batch),
        ("linear + BatchNorm", Activation::Linear, Init::XavierNormal { gain: 1.0 }, Norm::Batch),
        ("ReLU + LayerNorm", Activation::Relu, Init::HE, Norm::Layer),
    ]
}

/// Batch sizes the quick run measures (a prefix of the defaults).
const QUICK_BATCHES: usize = 3;

#[derive(Serialize)]
struct BatchRun {
    batch: usize,
    /// Fitted per-layer growth of ‖∂L/∂Wˡ‖² towards the input, one per seed.
    growth_per_seed: Vec<f64>,
    /// ‖∂L/∂Wˡ‖² per layer (input side first) of the first seed's network.
    profile: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    growth: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted: Option<f64>,
}

/// The per-layer growth factor of one network's weight gradients, with the profile it was fitted to.
pub fn measure_growth(config: &MlpConfig, batch: usize, skip: usize, seed: u64) -> Result<(f64, Vec<f64>)> {
    let net = config.build(&DEVICE)?;
    let x = Init::Normal { std: 1.0 }.tensor(batch, config.d_in, &mut lab::init::rng(seed + 1000), &DEVICE)?;
    let profile = linear_loss_weight_grads(&net, &x, seed + 2000)?;
    Ok((backward_growth(&profile, skip)?.ratio, profile))
}

/// Figures 5-6 (growth against batch size) and 5-7 (the per-layer profiles behind it).
pub fn explosion_figures(opts: &ExplosionOptions, gen_opts: &GenOptions) -> Result<Vec<Figure>> {
    ensure!(
        opts.depth >= 2 * opts.skip + 4,
        "depth {} is too shallow to fit after skipping {} layers at each end",
        opts.depth,
        opts.skip
    );
    ensure!(opts.width > 0 && opts.seeds > 0, "need width ≥ 1 and seeds ≥ 1");
    ensure!(!opts.batches.is_empty() && opts.batches.iter().all(|&b| b >= 4), "every batch size must be at least 4");
    ensure!(opts.batches.windows(2).all(|w| w[0] < w[1]), "batch sizes must be ascending");
    let (batches, seeds) = if gen_opts.quick {
        (&opts.batches[..opts.batches.len().min(QUICK_BATCHES)], 1)
    } else {
        (&opts.batches[..], opts.seeds)
    };
    let bar = lab::train::progress_bar(gen_opts.progress, (3 * batches.len() * seeds) as u64, "networks");
    let mut configs = Vec::new();
    for (name, activation, init, norm) in explosion_configs() {
        let mut runs = Vec::new();
        for &batch in batches {
            let (mut growth_per_seed, mut profile) = (Vec::new(), Vec::new());
            for s in 0..seeds as u64 {
                let config = MlpConfig::new(opts.width, opts.width, opts.depth, 10, activation, init)
                    .with_norm(norm)
                    .with_seed(opts.seed + s);
                let (g, p) = measure_growth(&config, batch, opts.skip, opts.seed + s)?;
                growth_per_seed.push(g);
                if s == 0 {
                    profile = p;
                }
                bar.inc(1);
            }
            let predicted = match (activation, norm) {
                (Activation::Linear, Norm::Batch) => linear_bn_growth(batch),
                _ => None,
            };
            let growth = (!gen_opts.quick).then(|| lab::experiments::geo_mean(growth_per_seed.iter().copied()));
            runs.push(BatchRun { batch, growth_per_seed, profile, growth, predicted });
        }
        configs.push(
            serde_json::json!({ "name": name, "activation": activation, "init": init, "norm": norm, "runs": runs }),
        );
    }
    bar.finish_and_clear();
    let relu_limit = relu_bn_growth_limit();
    if gen_opts.quick {
        let data = serde_json::json!({ "configs": configs });
        let source = serde_json::json!({ "source": "bn-explosion.json" });
        return Ok(vec![
            Figure::new("ch05", "bn-explosion", "", String::new(), &data)?,
            Figure::new("ch05", "bn-explosion-profile", "", String::new(), &source)?,
        ]);
    }
    let growth = |c: usize, i: usize| configs[c]["runs"][i]["growth"].as_f64().unwrap_or(f64::NAN);
    let last = batches.len() - 1;
    let summary = serde_json::json!({
        "relu_limit": relu_limit,
        "relu_growth_largest_batch": growth(0, last),
        "relu_growth_smallest_batch": growth(0, 0),
        "relu_percent_below_limit_largest_batch": 100.0 * (1.0 - growth(0, last) / relu_limit),
        "linear_growth_smallest_batch": growth(1, 0),
        "linear_predicted_smallest_batch": linear_bn_growth(batches[0]),
        "linear_max_rel_error": (0..batches.len()).map(|i| (growth(1, i) / linear_bn_growth(batches[i]).unwrap_or(f64::NAN) - 1.0).abs()).fold(0.0, f64::max),
        "ln_growth_min": (0..batches.len()).map(|i| growth(2, i)).fold(f64::INFINITY, f64::min),
        "ln_growth_max": (0..batches.len()).map(|i| growth(2, i)).fold(0.0, f64::max),
        "relu_total_growth_smallest_batch": growth(0, 0).powi(opts.depth as i32 - 1),
        "relu_total_growth_largest_batch": growth(0, last).powi(opts.depth as i32 - 1),
        "smallest_batch": batches[0],
        "largest_batch": batches[last],
    });
    let mut chart = LineChart::new(format!(
        "Growth of ‖∂L/∂Wˡ‖² per layer towards the input, {} layers × {} at initialisation",
        opts.depth, opts.width
    ))
    .x_label("batch size B")
    .y_label("growth factor per layer")
    .log_x()
    .markers();
    for (c, cfg) in configs.iter().enumerate() {
        let points = (0..batches.len()).map(|i| (batches[i] as f64, growth(c, i))).collect();
        chart = chart.series_with(cfg["name"].as_str().unwrap_or("?"), points, SeriesStyle::solid().color(c));
    }
    let theory: Vec<(f64, f64)> =
        batches.iter().map(|&b| (b as f64, linear_bn_growth(b).unwrap_or(f64::NAN))).collect();
    chart = chart.series_with("Yang et al.: (B − 2)/(B − 3), linear", theory, SeriesStyle::dashed().color(1));
    chart = chart.hline(relu_limit, "Yang et al.: π/(π − 1), ReLU, B → ∞");
    chart = chart.hline(1.0, "no growth");
    let alt = format!(
        "Per-layer growth factor of the squared weight-gradient norm against batch size on a log axis. ReLU with BatchNorm grows by {:.2} per layer at B = {} and falls towards π/(π−1) ≈ 1.47 as the batch grows, reaching {:.3} at B = {}. Linear with BatchNorm lies on the dashed (B−2)/(B−3) curve, from 2 at B = 4 towards 1. ReLU with LayerNorm stays at about 1 for every batch size.",
        growth(0, 0),
        batches[0],
        growth(0, last),
        batches[last]
    );
    let svg = chart.render(&alt)?;
    let data = serde_json::json!({ "options": opts, "configs": configs, "summary": summary });
    let growth_fig = Figure::new("ch05", "bn-explosion", &alt, svg, &data)?;

    // Figure 5-7: the profiles the growth factors were fitted to.
    let pick = [0, batches.len() / 2, last];
    let mut prof =
        LayerProfile::new(format!("‖∂L/∂Wˡ‖² per layer at initialisation, {} layers × {}", opts.depth, opts.width))
            .y_label("‖∂L/∂Wˡ‖² (random linear loss)");
    for (slot, &i) in pick.iter().enumerate() {
        let p: Vec<f64> =
            configs[0]["runs"][i]["profile"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
        prof = prof.series_with(format!("ReLU + BatchNorm, B = {}", batches[i]), p, SeriesStyle::solid().color(slot));
    }
    let ln: Vec<f64> =
        configs[2]["runs"][last]["profile"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
    prof = prof.series_with(format!("ReLU + LayerNorm, B = {}", batches[last]), ln, SeriesStyle::dashed().color(3));
    let alt_p = format!(
        "Squared weight-gradient norm per layer on a log axis for ReLU networks of {} layers at initialisation. With BatchNorm each profile is a straight line rising towards the input, steepest for the smallest batch: the first layer's gradient is many orders of magnitude larger than the last's. With LayerNorm the profile is flat.",
        opts.depth
    );
    let svg_p = prof.render(&alt_p)?;
    let data_p = serde_json::json!({ "options": opts, "batches_shown": pick.iter().map(|&i| batches[i]).collect::<Vec<_>>(), "source": "bn-explosion.json" });
    let profile_fig = Figure::new("ch05", "bn-explosion-profile", &alt_p, svg_p, &data_p)?;
    Ok(vec![growth_fig, profile_fig])
}

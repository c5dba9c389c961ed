//! The residual stream's variance along depth (Figure 6-3), and how far one SGD step moves the
//! network's function, with and without Fixup / SkipInit-style initialisation (Figure 6-4).

use crate::common::{digits, rms_row_norm, second_moment};
use anyhow::{Result, ensure};
use candle_core::Module;
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::ResMlpConfig;
use serde::Serialize;

/// The predicted second moment q_l of the stream after block l, from q₀ after the stem. A
/// He-initialised branch returns a signal with the second moment of its input, so without a norm
/// each block multiplies q by 1 + α²; with a LayerNorm in front the branch sees unit second moment
/// and each block adds α².
pub fn stream_second_moment(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
    if layer_norm { q0 + l as f64 * alpha * alpha } else { q0 * (1.0 + alpha * alpha).powi(l as i32) }
}

/// Settings of Figure 6-3.
#[derive(Debug, Clone, Serialize)]
pub struct VarianceOptions {
    pub blocks: usize,
    pub width: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for VarianceOptions {
    fn default() -> Self {
        VarianceOptions { blocks: 64, width: 256, batch: 256, seed: 0 }
    }
}

/// The networks of Figure 6-3, with the α and norm of their prediction.
pub fn variance_configs(width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let base = ResMlpConfig::new(width, width, blocks, 10);
    let scaled = 1.0 / (blocks as f64).sqrt();
    vec![
        ("α = 1", base.clone()),
        ("α = 1/√L", base.clone().with_alpha(scaled)),
        ("α = 1, pre-LN", base.clone().with_layer_norm(true)),
        ("α = 1/√L, pre-LN", base.clone().with_alpha(scaled).with_layer_norm(true)),
        ("zero-init W₂", base.clone().with_zero_init_last(true)),
        ("plain", base.plain()),
    ]
}

/// Figure 6-3: the second moment of the stream after every block, measured and predicted.
pub fn variance_figure(opts: &VarianceOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.blocks >= 1 && opts.width > 0 && opts.batch > 0, "blocks, width and batch must be at least 1");
    let x = lab::Init::Normal { std: 1.0 }.tensor(
        opts.batch,
        opts.width,
        &mut lab::init::rng(opts.seed + 1),
        &lab::DEVICE,
    )?;
    let configs = variance_configs(opts.width, opts.blocks);
    // Quick mode: the first three networks (the same ones).
    let count = if gen_opts.quick { 3 } else { configs.len() };
    let mut runs = Vec::new();
    for (name, cfg) in configs.into_iter().take(count) {
        let net = cfg.clone().with_seed(opts.seed).build()?;
        let measured = net.stream(&x, None)?.iter().map(second_moment).collect::<Result<Vec<_>>>()?;
        let q0 = measured[0];
        let theory: Vec<f64> = (0..=opts.blocks)
            .map(|l| match (cfg.skip, cfg.zero_init_last) {
                (false, _) | (true, true) => q0,
                (true, false) => stream_second_moment(q0, cfg.alpha, cfg.layer_norm, l),
            })
            .collect();
        let last_over_theory = measured[opts.blocks] / theory[opts.blocks];
        runs.push(serde_json::json!({
            "name": name, "alpha": cfg.alpha, "layer_norm": cfg.layer_norm, "measured": measured, "theory": theory,
            "last": measured[opts.blocks], "last_over_theory": last_over_theory,
        }));
    }
    if gen_opts.quick {
        return Figure::new("ch06", "res-variance", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let mut chart =
        LineChart::new(format!("Second moment of the residual stream, {} blocks of width {}", opts.blocks, opts.width))
            .x_label("block l")
            .y_label("E[(xˡ)²] per coordinate")
            .log_y();
    let series = |r: &serde_json::Value, key: &str| -> Vec<(f64, f64)> {
        r[key].as_array().into_iter().flatten().enumerate().filter_map(|(l, v)| Some((l as f64, v.as_f64()?))).collect()
    };
    for (i, r) in runs.iter().enumerate() {
        chart =
            chart.series_with(r["name"].as_str().unwrap_or("?"), series(r, "measured"), SeriesStyle::solid().color(i));
    }
    for (i, r) in runs.iter().enumerate().take(4) {
        let name = format!("predicted, {}", r["name"].as_str().unwrap_or("?"));
        chart = chart.series_with(name, series(r, "theory"), SeriesStyle::dashed().color(i));
    }
    let alt = "Log-scale second moment of the residual stream against block index for six 64-block networks. With α = 1 and no norm it doubles every block; α = 1/√L keeps it below e; with a LayerNorm in front of each branch it grows linearly, by α² per block; zero-initialised branches and the plain network keep it flat. Dashed predictions lie on the measurements.";
    let svg = chart.render(alt)?;
    let data = serde_json::json!({ "options": opts, "runs": runs });
    Figure::new("ch06", "res-variance", alt, svg, &data)
}

/// Settings of Figure 6-4.
#[derive(Debug, Clone, Serialize)]
pub struct OneStepOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    pub batch: usize,
    pub lr: f64,
    /// Independently drawn networks averaged per point.
    pub networks: usize,
    pub seed: u64,
}

impl Default for OneStepOptions {
    fn default() -> Self {
        OneStepOptions { depths: vec![2, 4, 8, 16, 32, 64], width: 128, batch: 128, lr: 0.01, networks: 4, seed: 0 }
    }
}

/// The initialisations of Figure 6-4 for `blocks` blocks.
pub fn one_step_configs(d_in: usize, width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let base = ResMlpConfig::new(d_in, width, blocks, 10);
    vec![
        ("residual, α = 1", base.clone()),
        ("plain", base.clone().plain()),
        ("residual, α = 1/√L", base.clone().with_alpha(1.0 / (blocks as f64).sqrt())),
        ("SkipInit: α = 0, trainable", base.clone().with_alpha(0.0)),
        ("zero-init W₂ only", base.clone().with_zero_init_last(true)),
        ("Fixup: W₂ = 0, W₁ × L^(−1/2)", base.fixup()),
    ]
}

/// ‖f_{θ−η∇L}(x) − f_θ(x)‖, root-mean-square over the batch, after one SGD step on that batch that
/// moves only the branches' weights W₁, W₂ and α (stem, head and biases held fixed).
pub fn one_step_change(cfg: &ResMlpConfig, x: &candle_core::Tensor, y: &candle_core::Tensor, lr: f64) -> Result<f64> {
    let net = cfg.build()?;
    let before = net.forward(x)?;
    let grads = net.loss(x, y)?.backward()?;
    net.sgd_step(&net.branch_weights(), &grads, lr)?;
    rms_row_norm(&(net.forward(x)? - before)?)
}

/// Figure 6-4: the size of the function change after one SGD step against depth.
pub fn one_step_figure(opts: &OneStepOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 1), "every depth must be at least 1");
    ensure!(opts.lr.is_finite() && opts.lr > 0.0, "the learning rate must be a finite positive number");
    ensure!(opts.networks > 0, "networks must be at least 1");
    let (x, y) = digits(opts.batch, opts.seed + 1)?;
    let depths = if gen_opts.quick { &opts.depths[..opts.depths.len().min(3)] } else { &opts.depths[..] };
    let names: Vec<&str> = one_step_configs(784, opts.width, 1).iter().map(|c| c.0).collect();
    let mut change = vec![Vec::new(); names.len()];
    for &depth in depths {
        for (i, (_, cfg)) in one_step_configs(784, opts.width, depth).into_iter().enumerate() {
            let mut sq = 0.0;
            for k in 0..opts.networks {
                let c = one_step_change(&cfg.clone().with_seed(opts.seed + 100 * k as u64), &x, &y, opts.lr)?;
                sq += c * c / opts.networks as f64;
            }
            // Root-mean-square over the networks; a non-finite change (an exploded network) is null.
            change[i].push(sq.is_finite().then_some(sq.sqrt()));
        }
    }
    let runs: Vec<_> =
        names.iter().zip(&change).map(|(name, c)| serde_json::json!({ "name": name, "change": c })).collect();
    if gen_opts.quick {
        return Figure::new("ch06", "res-one-step", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let ratio = |i: usize| -> Option<f64> { Some(change[i].last().copied()?? / change[i].first().copied()??) };
    let summary = serde_json::json!({
        "depth_ratio": opts.depths.last().unwrap() / opts.depths[0],
        "alpha_one_last": change[0].last().copied().flatten(),
        "plain_growth": ratio(1),
        "scaled_growth": ratio(2),
        "skipinit_growth": ratio(3),
        "zero_init_growth": ratio(4),
        "fixup_growth": ratio(5),
    });
    let mut chart =
        LineChart::new(format!("Function change after one SGD step (η = {}, width {})", opts.lr, opts.width))
            .x_label("blocks L")
            .y_label("rms ‖f(x; θ − η∇L) − f(x; θ)‖")
            .log_x()
            .log_y()
            .markers();
    for (i, name) in names.iter().enumerate() {
        let points =
            opts.depths.iter().zip(&change[i]).filter_map(|(&d, c)| Some((d as f64, (*c)?))).collect::<Vec<_>>();
        chart = chart.series_with(*name, points, SeriesStyle::solid().color(i));
    }
    let alt = "Log-log plot of the size of the change in the logits after one SGD step against the number of blocks, for six initialisations. With α = 1 it explodes with depth; zero-initialising only the last layer of each branch, or SkipInit's α = 0, gives a change that grows in proportion to depth; Fixup's depth-scaled init keeps it nearly flat.";
    let svg = chart.render(alt)?;
    let data = serde_json::json!({ "options": opts, "runs": runs, "summary": summary });
    Figure::new("ch06", "res-one-step", alt, svg, &data)
}

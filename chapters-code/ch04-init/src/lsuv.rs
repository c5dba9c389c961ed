//! LSUV (Mishkin & Matas 2016) on several activations: the forward variance it fixes, and the
//! backward signal it does not.

use crate::common::{mean_sq_norm, standardized_digits, std_of};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{LayerProfile, SeriesStyle};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-9.
#[derive(Debug, Clone, Serialize)]
pub struct LsuvOptions {
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for LsuvOptions {
    fn default() -> Self {
        LsuvOptions { depth: 20, width: 256, batch: 256, seed: 0 }
    }
}

/// The activations of Figure 4-9.
pub const LSUV_ACTIVATIONS: [Activation; 4] =
    [Activation::Relu, Activation::Tanh, Activation::Gelu, Activation::Sigmoid];

/// Figure 4-9: per-layer δ after LSUV, for several activations.
pub fn lsuv_figure(opts: &LsuvOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 2 && opts.width > 0 && opts.batch > 1, "need depth ≥ 2, width ≥ 1, batch ≥ 2");
    let (x, y) = standardized_digits(opts.batch, opts.seed)?;
    // Quick mode: the first two activations.
    let acts = if gen_opts.quick { &LSUV_ACTIVATIONS[..2] } else { &LSUV_ACTIVATIONS[..] };
    let mut runs = Vec::new();
    // One orthogonal draw shared by every activation (orthogonalisation is the slow part).
    let base =
        MlpConfig::new(x.dim(1)?, opts.width, opts.depth, 10, Activation::Linear, Init::Orthogonal { gain: 1.0 })
            .with_seed(opts.seed)
            .build(&DEVICE)?;
    for act in acts {
        let net = MlpConfig::new(x.dim(1)?, opts.width, opts.depth, 10, *act, Init::Zeros).build(&DEVICE)?;
        for (i, layer) in base.layers.iter().enumerate() {
            net.set_layer(i, layer.weight.as_tensor(), layer.bias.as_tensor())?;
        }
        let before: Vec<f64> = net.forward_trace(&x, true)?.pre.iter().map(std_of).collect::<Result<_>>()?;
        let steps = lab::init::lsuv(&net, &x, 0.01, 10)?;
        let after: Vec<f64> = net.forward_trace(&x, true)?.pre.iter().map(std_of).collect::<Result<_>>()?;
        let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
        let sq: Vec<f64> = deltas.iter().map(mean_sq_norm).collect::<Result<_>>()?;
        let top = *sq.last().expect("depth ≥ 2");
        let delta_ratio: Vec<f64> = sq.iter().map(|v| (v / top).sqrt()).collect();
        let hidden_scales: Vec<f64> = steps[..opts.depth].iter().map(|s| s.scale).collect();
        // The effective gain of the settled layers (all but the first, whose input is the data).
        let settled = &hidden_scales[1..];
        let gain = settled.iter().sum::<f64>() / settled.len() as f64;
        runs.push(serde_json::json!({
            "activation": act, "pre_std_before": before, "pre_std_after": after, "steps": steps,
            "delta_ratio": delta_ratio, "delta_first_over_last": delta_ratio[0], "mean_gain": gain,
            "max_std_error_after": after.iter().map(|s| (s - 1.0).abs()).fold(0.0, f64::max),
        }));
    }
    let data = serde_json::json!({ "options": opts, "runs": runs });
    if gen_opts.quick {
        return Figure::new("ch04", "lsuv", "", String::new(), &data);
    }
    let mut chart = LayerProfile::new(format!(
        "Back-propagated error per layer after LSUV ({} layers × {})",
        opts.depth, opts.width
    ))
    .y_label(format!("rms ‖δˡ‖ relative to layer {}", opts.depth));
    for (slot, r) in runs.iter().enumerate() {
        let v: Vec<f64> = r["delta_ratio"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
        let name = r["activation"].as_str().map(str::to_string).unwrap_or_else(|| r["activation"].to_string());
        chart = chart.series_with(
            format!("{name} (LSUV gain ≈ {:.2})", r["mean_gain"].as_f64().unwrap_or(f64::NAN)),
            v,
            SeriesStyle::solid().color(slot),
        );
    }
    let alt = "Per-layer root-mean-square back-propagated error relative to the top layer after LSUV, log scale. ReLU stays flat, tanh and GELU grow towards the input, and sigmoid collapses by many orders of magnitude.";
    let svg = chart.render(alt)?;
    Figure::new("ch04", "lsuv", alt, svg, &data)
}

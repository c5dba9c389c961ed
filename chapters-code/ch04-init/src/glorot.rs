//! Glorot & Bengio (2010), §4.2: a tanh MLP at initialisation under the "standard" and the
//! "normalized" (Xavier) initialisation — activations, back-propagated gradients and weight gradients
//! per layer, and the mean singular value of the layer Jacobians.

use crate::common::{standardized_digits, std_of};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{HistogramGrid, LayerProfile, Legend, Marker, SeriesStyle};
use lab::probe::Histogram;
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figures 4-1 and 4-2.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotOptions {
    pub width: usize,
    pub depth: usize,
    /// Examples the statistics are taken over.
    pub batch: usize,
    /// Examples whose layer Jacobians are decomposed.
    pub jacobian_examples: usize,
    pub seed: u64,
}

impl Default for GlorotOptions {
    fn default() -> Self {
        GlorotOptions { width: 256, depth: 5, batch: 256, jacobian_examples: 8, seed: 0 }
    }
}

impl GlorotOptions {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.width > 0 && self.depth >= 2 && self.batch > 0, "need width ≥ 1, depth ≥ 2 and batch ≥ 1");
        ensure!(
            self.jacobian_examples >= 1 && self.jacobian_examples <= self.batch,
            "jacobian examples must be between 1 and the batch size ({})",
            self.batch
        );
        Ok(())
    }
}

/// The two schemes Glorot & Bengio compare.
pub fn glorot_inits() -> [(&'static str, Init); 2] {
    [("standard", Init::Standard), ("normalized", Init::XavierUniform { gain: 1.0 })]
}

const BINS: usize = 40;

#[derive(Serialize)]
struct LayerData {
    layer: usize,
    act_std: f64,
    delta_std: f64,
    grad_w_std: f64,
    act_hist: Vec<u64>,
}

/// Figures 4-1 (activation histograms) and 4-2 (per-layer spread of activations and gradients).
pub fn glorot_figures(opts: &GlorotOptions, gen_opts: &GenOptions) -> Result<Vec<Figure>> {
    opts.validate()?;
    let (x, y) = standardized_digits(opts.batch, opts.seed)?;
    let d_in = x.dim(1)?;
    // Quick mode decomposes one example's Jacobians instead of all of them.
    let jac_examples = if gen_opts.quick { 1 } else { opts.jacobian_examples };
    let mut inits = Vec::new();
    let mut histograms = Vec::new();
    for (name, init) in glorot_inits() {
        let net = MlpConfig::new(d_in, opts.width, opts.depth, 10, Activation::Tanh, init)
            .with_seed(opts.seed)
            .build(&DEVICE)?;
        let trace = net.forward_trace(&x, true)?;
        let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
        let grads = net.loss(&x, &y)?.backward()?;
        let mut layers = Vec::new();
        for (l, ((layer, post), delta)) in net.hidden().iter().zip(&trace.post).zip(&deltas).enumerate() {
            let grad_w = grads.get(&layer.weight).expect("every weight has a gradient");
            let act_hist = Histogram::of(post, -1.0, 1.0, BINS)?;
            histograms.push((name, l + 1, act_hist.density()));
            layers.push(LayerData {
                layer: l + 1,
                act_std: std_of(post)?,
                delta_std: std_of(delta)?,
                grad_w_std: std_of(grad_w)?,
                act_hist: act_hist.counts,
            });
        }
        // Mean singular value of Jˡ = diag(f'(zˡ)) Wˡ for the square layers (2…depth), per example.
        let mut per_example = Vec::new();
        for i in 0..jac_examples {
            let js = lab::jacobian::layer_jacobians(&net, &x.narrow(0, i, 1)?)?;
            let mut means = Vec::new();
            for j in &js[1..] {
                let sv = lab::jacobian::singular_values(j)?;
                means.push(sv.iter().sum::<f64>() / sv.len() as f64);
            }
            per_example.push(means);
        }
        let n_var_w = opts.width as f64 * init.variance(opts.width, opts.width);
        inits.push((name, init, n_var_w, layers, per_example));
    }
    let mean_sv = |per_example: &[Vec<f64>]| {
        let all: Vec<f64> = per_example.iter().flatten().copied().collect();
        all.iter().sum::<f64>() / all.len() as f64
    };
    let quarter = lab::jacobian::QUARTER_CIRCLE_MEAN;
    let inits_json: Vec<_> = inits
        .iter()
        .map(|(name, init, n_var_w, layers, per_example)| {
            let first_over_last = |f: fn(&LayerData) -> f64| f(&layers[0]) / f(&layers[layers.len() - 1]);
            let mut v = serde_json::json!({
                "name": name, "init": init, "n_var_w": n_var_w, "layers": layers,
                "act_std_first_over_last": first_over_last(|l| l.act_std),
                "delta_std_first_over_last": first_over_last(|l| l.delta_std),
                "grad_w_std_first_over_last": first_over_last(|l| l.grad_w_std),
                // Linear-regime prediction of the first two: (n Var W)^(±(depth−1)/2).
                "theory_act_first_over_last": n_var_w.powf(-((layers.len() - 1) as f64) / 2.0),
                "theory_delta_first_over_last": n_var_w.powf((layers.len() - 1) as f64 / 2.0),
                "jacobian_mean_sv": per_example,
                // Random-matrix baseline: quarter-circle mean × √(n Var W), ignoring tanh's slope.
                "quarter_circle_prediction": quarter * n_var_w.sqrt(),
            });
            if !gen_opts.quick {
                v["jacobian_mean_sv_avg"] = serde_json::json!(mean_sv(per_example));
            }
            v
        })
        .collect();
    let data = serde_json::json!({
        "options": opts, "d_in": d_in, "quarter_circle_mean": quarter, "inits": inits_json,
    });
    if gen_opts.quick {
        return Ok(vec![
            Figure::new(
                "ch04",
                "glorot-activations",
                "",
                String::new(),
                &serde_json::json!({ "inits": data["inits"].as_array().map(|a| a.iter().map(|i| serde_json::json!({"name": i["name"], "layers": i["layers"]})).collect::<Vec<_>>()) }),
            )?,
            Figure::new("ch04", "glorot-profile", "", String::new(), &data)?,
        ]);
    }

    // Figure 4-1: activation histograms, one row per init, one panel per layer.
    let mut grid = HistogramGrid::new(
        "tanh activations per layer at initialisation — top: standard U(±1/√n), bottom: normalized (Xavier)",
    )
    .x_label("activation value tanh(z)")
    .x_range(-1.0, 1.0)
    .bins(BINS)
    .columns(opts.depth);
    for (name, layer, density) in &histograms {
        let std = inits.iter().find(|i| i.0 == *name).map(|i| i.3[layer - 1].act_std).unwrap_or(f64::NAN);
        grid = grid.panel_counts(format!("ℓ{layer} · sd {std:.2}"), density.clone());
    }
    let alt_hist = "Histograms of tanh activations for layers 1 to 5. Top row, standard initialisation: the distribution narrows to a spike at zero in higher layers. Bottom row, normalized initialisation: every layer keeps a broad distribution.";
    let hist_svg = grid.render(alt_hist)?;
    let hist_data = serde_json::json!({
        "options": opts, "bins": BINS, "range": [-1.0, 1.0],
        "inits": inits.iter().map(|(name, _, _, layers, _)| serde_json::json!({
            "name": name, "layers": layers,
        })).collect::<Vec<_>>(),
    });

    // Figure 4-2: spreads relative to the top hidden layer, against the linear-regime theory.
    let top = opts.depth - 1;
    let rel = |layers: &[LayerData], f: fn(&LayerData) -> f64| -> Vec<f64> {
        layers.iter().map(|l| f(l) / f(&layers[top])).collect()
    };
    let mut profile = LayerProfile::new(format!(
        "Spread per layer relative to the top hidden layer (tanh, {} × {})",
        opts.depth, opts.width
    ))
    .y_label(format!("std relative to layer {}", opts.depth))
    .legend(Legend::Outside)
    .size(760, 440);
    type Quantity = (&'static str, fn(&LayerData) -> f64);
    let quantities: [Quantity; 3] =
        [("activations", |l| l.act_std), ("δ (back-prop.)", |l| l.delta_std), ("∂L/∂W", |l| l.grad_w_std)];
    for (slot, (qname, f)) in quantities.iter().enumerate() {
        for (k, (name, _, _, layers, _)) in inits.iter().enumerate() {
            let style = if k == 0 {
                SeriesStyle::solid().color(slot).marker(Marker::Circle)
            } else {
                SeriesStyle::dotted().color(slot).marker(Marker::Square)
            };
            profile = profile.series_with(format!("{qname}, {name}"), rel(layers, *f), style);
        }
    }
    // Linear regime (tanh ≈ identity), standard init: each layer scales variance by n·Var(W) = 1/3
    // forwards and backwards; the weight gradient, a product of the two, is the same in every layer.
    let n_var = inits[0].2;
    let depth = opts.depth as i32;
    let theory_act: Vec<f64> = (1..=depth).map(|l| n_var.powf((l - depth) as f64 / 2.0)).collect();
    let theory_delta: Vec<f64> = (1..=depth).map(|l| n_var.powf((depth - l) as f64 / 2.0)).collect();
    profile = profile
        .series_with(format!("theory, standard: 3^(({depth}−ℓ)/2)"), theory_act, SeriesStyle::dashed().color(0))
        .series_with(format!("theory, standard: 3^((ℓ−{depth})/2)"), theory_delta, SeriesStyle::dashed().color(1))
        .hline(1.0, "theory: normalized, and ∂L/∂W");
    let alt_profile = "Per-layer standard deviations relative to layer 5, log scale. Under the standard initialisation the activations shrink and the back-propagated gradients grow from layer 1 to layer 5 by about a factor √3 per layer, following the dashed linear-regime theory, while the weight gradients stay level. Under the normalized initialisation all three stay near 1.";
    let profile_svg = profile.render(alt_profile)?;
    Ok(vec![
        Figure::new("ch04", "glorot-activations", alt_hist, hist_svg, &hist_data)?,
        Figure::new("ch04", "glorot-profile", alt_profile, profile_svg, &data)?,
    ])
}

//! The edge of chaos for tanh (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017): χ₁ over the
//! (σ_w², σ_b²) plane from the mean-field recursion, and simulated per-layer gradients against it.

use crate::common::{gaussian_inputs, mean_sq_norm, randomize_hidden_biases};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::chaos::{critical_sigma_w2, phase, predicted_delta_ratio, propagate};
use lab::plot::{Heatmap, LayerProfile, SeriesStyle};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-5.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseOptions {
    pub sigma_w2_range: (f64, f64),
    pub sigma_b2_range: (f64, f64),
    pub columns: usize,
    pub rows: usize,
}

impl Default for PhaseOptions {
    fn default() -> Self {
        PhaseOptions { sigma_w2_range: (0.5, 4.0), sigma_b2_range: (0.0, 0.3), columns: 36, rows: 31 }
    }
}

fn grid(range: (f64, f64), n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![range.0];
    }
    (0..n).map(|i| range.0 + (range.1 - range.0) * i as f64 / (n - 1) as f64).collect()
}

/// Figure 4-5: χ₁ of a tanh network over (σ_w², σ_b²).
pub fn phase_figure(opts: &PhaseOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.columns >= 2 && opts.rows >= 2, "the grid needs at least 2 × 2 cells");
    ensure!(
        opts.sigma_w2_range.0 > 0.0 && opts.sigma_w2_range.1 > opts.sigma_w2_range.0,
        "σ_w² range must be increasing and positive"
    );
    ensure!(
        opts.sigma_b2_range.0 >= 0.0 && opts.sigma_b2_range.1 > opts.sigma_b2_range.0,
        "σ_b² range must be increasing and ≥ 0"
    );
    let (ws, bs) = (grid(opts.sigma_w2_range, opts.columns), grid(opts.sigma_b2_range, opts.rows));
    // Quick mode: the first two rows.
    let rows = if gen_opts.quick { 2 } else { opts.rows };
    let mut chi = Vec::with_capacity(rows);
    let mut critical = Vec::with_capacity(rows);
    for &b in &bs[..rows] {
        chi.push(ws.iter().map(|&w| Ok(phase(Activation::Tanh, w, b)?.chi1)).collect::<Result<Vec<f64>>>()?);
        critical.push(critical_sigma_w2(Activation::Tanh, b)?);
    }
    let data = serde_json::json!({
        "options": opts, "sigma_w2": ws, "sigma_b2": bs, "chi1": chi, "critical_sigma_w2": critical,
        "tanh_gains": tanh_gains()?,
    });
    if gen_opts.quick {
        return Figure::new("ch04", "chaos-phase", "", String::new(), &data);
    }
    let alt = "Heatmap of chi-1 for a tanh network over sigma_w squared (horizontal, 0.5 to 4) and sigma_b squared (vertical, 0 to 0.3), on a blue-white-red scale centred at 1 and saturating below 0.8 and above 1.25. Blue, ordered, on the left; red, chaotic, on the right; the white band of the critical line starts at sigma_w squared = 1 without bias and moves right as the bias variance grows.";
    let svg = Heatmap::new("tanh: χ₁ = σ_w² E[tanh′(√q* z)²] — ordered (blue), chaotic (red)", chi)
        .x_label("σ_w²  (weight variance × fan-in)")
        .y_label("σ_b²  (bias variance)")
        .x_centers(ws[0], *ws.last().expect("columns"))
        .y_centers(bs[0], *bs.last().expect("rows"))
        .colorbar_label("χ₁ (log scale, clipped to 0.8–1.25)")
        .log_color()
        .diverging(1.0)
        .color_range(0.8, 1.25)
        .render(alt)?;
    Figure::new("ch04", "chaos-phase", alt, svg, &data)
}

/// Where common tanh gains put a bias-free network (σ_b² = 0): the gain-5/3 of PyTorch's
/// `calculate_gain`, Xavier's gain 1, and the gain whose fixed point is q* = 1.
pub fn tanh_gains() -> Result<serde_json::Value> {
    let five_thirds = phase(Activation::Tanh, 25.0 / 9.0, 0.0)?;
    let xavier = phase(Activation::Tanh, 1.0, 0.0)?;
    let unit_q_sigma_w2 = 1.0 / lab::chaos::second_moment(Activation::Tanh, 1.0);
    let unit_q = phase(Activation::Tanh, unit_q_sigma_w2, 0.0)?;
    Ok(serde_json::json!({
        "five_thirds": five_thirds,
        "xavier": xavier,
        "unit_q": unit_q,
        "unit_q_gain": unit_q_sigma_w2.sqrt(),
        // Gain 1/E[tanh'(z)], z ~ N(0, 1): one reading of where 5/3 ≈ 1.65 might come from.
        "inverse_mean_slope": 1.0 / lab::chaos::gaussian_expectation(|z| Activation::Tanh.derivative(z), 1.0),
    }))
}

/// Settings of Figure 4-6.
#[derive(Debug, Clone, Serialize)]
pub struct GradientOptions {
    pub sigma_b2: f64,
    /// σ_w² of the ordered and chaotic networks; the third network sits on the critical line.
    pub ordered_sigma_w2: f64,
    pub chaotic_sigma_w2: f64,
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for GradientOptions {
    fn default() -> Self {
        GradientOptions {
            sigma_b2: 0.05,
            ordered_sigma_w2: 1.2,
            chaotic_sigma_w2: 3.0,
            depth: 50,
            width: 256,
            batch: 32,
            seed: 0,
        }
    }
}

/// Figure 4-6: E‖δˡ‖² / E‖δᴸ‖² per layer in tanh networks in each phase, measured and predicted.
pub fn gradients_figure(opts: &GradientOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 2 && opts.width > 0 && opts.batch > 0, "need depth ≥ 2, width ≥ 1, batch ≥ 1");
    let critical = critical_sigma_w2(Activation::Tanh, opts.sigma_b2)?;
    let points = [("ordered", opts.ordered_sigma_w2), ("critical", critical), ("chaotic", opts.chaotic_sigma_w2)];
    // Quick mode: the first network only.
    let points = if gen_opts.quick { &points[..1] } else { &points[..] };
    let (x, y) = gaussian_inputs(opts.batch, opts.width, 10, opts.seed + 1)?;
    let mut runs = Vec::new();
    for (k, (name, w2)) in points.iter().enumerate() {
        let init = Init::Normal { std: (w2 / opts.width as f64).sqrt() };
        let net = MlpConfig::new(opts.width, opts.width, opts.depth, 10, Activation::Tanh, init)
            .with_seed(opts.seed + k as u64)
            .build(&DEVICE)?;
        randomize_hidden_biases(&net, opts.sigma_b2, opts.seed + 100 + k as u64)?;
        let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
        let sq: Vec<f64> = deltas.iter().map(mean_sq_norm).collect::<Result<_>>()?;
        let top = *sq.last().expect("depth ≥ 2");
        let measured: Vec<f64> = sq.iter().map(|v| v / top).collect();
        let layers = propagate(Activation::Tanh, *w2, opts.sigma_b2, 1.0, opts.depth)?;
        let predicted = predicted_delta_ratio(&layers);
        let p = phase(Activation::Tanh, *w2, opts.sigma_b2)?;
        runs.push(serde_json::json!({
            "name": name, "sigma_w2": w2, "q_star": p.q_star, "chi1": p.chi1, "depth_scale": p.depth_scale,
            "measured": measured, "predicted": predicted,
            "measured_first": measured[0], "predicted_first": predicted[0],
        }));
    }
    let data = serde_json::json!({ "options": opts, "critical_sigma_w2": critical, "runs": runs });
    if gen_opts.quick {
        return Figure::new("ch04", "chaos-gradients", "", String::new(), &data);
    }
    let series = |r: &serde_json::Value, key: &str| -> Vec<f64> {
        r[key].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect()
    };
    let mut chart = LayerProfile::new(format!(
        "tanh, {} layers × {}, σ_b² = {}: gradient size per layer",
        opts.depth, opts.width, opts.sigma_b2
    ))
    .y_label("E‖δˡ‖² / E‖δᴸ‖²");
    for (slot, r) in runs.iter().enumerate() {
        let label =
            format!("{}, σ_w² = {:.2}", r["name"].as_str().unwrap_or("?"), r["sigma_w2"].as_f64().unwrap_or(f64::NAN));
        chart = chart.series_with(label, series(r, "measured"), SeriesStyle::solid().color(slot));
    }
    for (slot, r) in runs.iter().enumerate() {
        chart = chart.series_with(
            format!("mean field, {}", r["name"].as_str().unwrap_or("?")),
            series(r, "predicted"),
            SeriesStyle::dashed().color(slot),
        );
    }
    let alt = "Per-layer mean squared back-propagated error relative to the top layer, log scale, for three tanh networks. The ordered network's gradient shrinks geometrically towards the input, the chaotic one's grows, and the critical one's stays near 1; dashed mean-field predictions follow each.";
    let svg = chart.render(alt)?;
    Figure::new("ch04", "chaos-gradients", alt, svg, &data)
}

//! The edge of chaos, simulated (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017): per-layer
//! gradients of tanh networks in the ordered phase, on the critical line and in the chaotic phase,
//! against the mean-field prediction (Figure 4-6).

use crate::inputs::gaussian_inputs;
use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::chaos::{critical_sigma_w2, phase, predicted_delta_ratio, propagate};
use lab::plot::{LayerProfile, SeriesStyle};
use lab::stats::mean_sq_norm;
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig};
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// Settings of Figure 4-6.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct GradientOptions {
    /// Bias variance of the simulated networks.
    #[arg(long, default_value_t = 0.05, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub sigma_b2: f64,
    /// σ_w² of the ordered network (the critical one is computed).
    #[arg(long = "ordered", value_name = "SIGMA_W2", default_value_t = 1.2, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub ordered_sigma_w2: f64,
    /// σ_w² of the chaotic network.
    #[arg(long = "chaotic", value_name = "SIGMA_W2", default_value_t = 3.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub chaotic_sigma_w2: f64,
    /// Hidden layers.
    #[arg(long, default_value_t = 50, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per layer (and input dimension).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Gaussian inputs E‖δˡ‖² is averaged over.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the networks (plus one: of the inputs; plus 100: of the biases).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(GradientOptions);

/// One simulated network of Figure 4-6, measured and predicted.
#[derive(Debug, Clone, Serialize)]
pub struct GradientRun {
    pub name: &'static str,
    pub sigma_w2: f64,
    pub q_star: f64,
    pub chi1: f64,
    pub depth_scale: f64,
    /// E‖δˡ‖² / E‖δᴸ‖² per layer, simulated.
    pub measured: Vec<f64>,
    /// The same from the mean-field recursion.
    pub predicted: Vec<f64>,
    pub measured_first: f64,
    pub predicted_first: f64,
}

/// What Figure 4-6 shows (quick mode: the ordered network only).
#[derive(Debug, Clone, Serialize)]
pub struct GradientData {
    pub options: GradientOptions,
    pub critical_sigma_w2: f64,
    pub runs: Vec<GradientRun>,
    #[serde(skip)]
    pub quick: bool,
}

/// Redraws every hidden bias of `net` from N(0, σ_b²) (mean-field theory's biases; lab's configs set
/// a constant bias).
pub fn randomize_hidden_biases(net: &Mlp, sigma_b2: f64, seed: u64) -> Result<()> {
    let mut rng = lab::init::rng(seed);
    let d = Normal::new(0.0, sigma_b2.sqrt()).map_err(|e| anyhow::anyhow!("bad σ_b²: {e}"))?;
    for layer in net.hidden() {
        let n = layer.bias.dims()[0];
        let b: Vec<f32> = (0..n).map(|_| d.sample(&mut rng) as f32).collect();
        layer.bias.set(&Tensor::from_vec(b, n, &DEVICE)?.to_dtype(layer.bias.dtype())?)?;
    }
    Ok(())
}

/// Figure 4-6: E‖δˡ‖² / E‖δᴸ‖² per layer in tanh networks in each phase, measured and predicted.
pub struct ChaosGradients;

impl Experiment for ChaosGradients {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "chaos-gradients";
    const ABOUT: &'static str = "The edge of chaos for tanh: simulated per-layer gradients in each phase against mean-field theory (Figure 4-6)";
    type Options = GradientOptions;
    type Data = GradientData;

    fn run(opts: &GradientOptions, run_mode: &GenOptions) -> Result<GradientData> {
        ensure!(opts.depth >= 2 && opts.width > 0 && opts.batch > 0, "need depth ≥ 2, width ≥ 1, batch ≥ 1");
        let critical = critical_sigma_w2(Activation::Tanh, opts.sigma_b2)?;
        let points = [("ordered", opts.ordered_sigma_w2), ("critical", critical), ("chaotic", opts.chaotic_sigma_w2)];
        // Quick mode: the first network only.
        let points = if run_mode.quick { &points[..1] } else { &points[..] };
        let (x, y) = gaussian_inputs(opts.batch, opts.width, 10, opts.seed + 1)?;
        let mut runs = Vec::new();
        for (k, &(name, w2)) in points.iter().enumerate() {
            let init = Init::Normal { std: (w2 / opts.width as f64).sqrt() };
            let net = MlpConfig::new(opts.width, opts.width, opts.depth, 10, Activation::Tanh, init)
                .with_seed(opts.seed + k as u64)
                .build(&DEVICE)?;
            randomize_hidden_biases(&net, opts.sigma_b2, opts.seed + 100 + k as u64)?;
            let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
            let sq: Vec<f64> = deltas.iter().map(mean_sq_norm).collect::<Result<_>>()?;
            let top = *sq.last().expect("depth ≥ 2");
            let measured: Vec<f64> = sq.iter().map(|v| v / top).collect();
            let layers = propagate(Activation::Tanh, w2, opts.sigma_b2, 1.0, opts.depth)?;
            let predicted = predicted_delta_ratio(&layers);
            let p = phase(Activation::Tanh, w2, opts.sigma_b2)?;
            runs.push(GradientRun {
                name,
                sigma_w2: w2,
                q_star: p.q_star,
                chi1: p.chi1,
                depth_scale: p.depth_scale,
                measured_first: measured[0],
                predicted_first: predicted[0],
                measured,
                predicted,
            });
        }
        Ok(GradientData { options: opts.clone(), critical_sigma_w2: critical, runs, quick: run_mode.quick })
    }

    fn draw(data: &GradientData) -> Result<Vec<Drawing>> {
        if data.quick {
            return Ok(vec![Drawing::data_only("chaos-gradients", data)?]);
        }
        let opts = &data.options;
        let mut chart = LayerProfile::new(format!(
            "tanh, {} layers × {}, σ_b² = {}: gradient size per layer",
            opts.depth, opts.width, opts.sigma_b2
        ))
        .y_label("E‖δˡ‖² / E‖δᴸ‖²");
        for (slot, r) in data.runs.iter().enumerate() {
            let label = format!("{}, σ_w² = {:.2}", r.name, r.sigma_w2);
            chart = chart.series_with(label, r.measured.clone(), SeriesStyle::solid().color(slot));
        }
        for (slot, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(
                format!("mean field, {}", r.name),
                r.predicted.clone(),
                SeriesStyle::dashed().color(slot),
            );
        }
        let alt = "Per-layer mean squared back-propagated error relative to the top layer, log scale, for three tanh networks. The ordered network's gradient shrinks geometrically towards the input, the chaotic one's grows, and the critical one's stays near 1; dashed mean-field predictions follow each.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("chaos-gradients", alt, svg, data)?])
    }
}

impl std::fmt::Display for GradientData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<10} {:>8} {:>8} {:>8} {:>10} {:>14} {:>14}",
            "network", "σ_w²", "q*", "χ₁", "ξ_∇", "E‖δ¹‖²/E‖δᴸ‖²", "mean field"
        )?;
        for r in &self.runs {
            let xi = if r.depth_scale > 1e6 { "∞".to_string() } else { format!("{:.1}", r.depth_scale) };
            writeln!(
                f,
                "{:<10} {:>8.3} {:>8.4} {:>8.4} {:>10} {:>14.3e} {:>14.3e}",
                r.name, r.sigma_w2, r.q_star, r.chi1, xi, r.measured_first, r.predicted_first
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_biases_have_the_requested_spread() -> Result<()> {
        let net = lab::MlpConfig::new(4, 2000, 2, 2, lab::Activation::Tanh, Init::XAVIER).build(&DEVICE)?;
        randomize_hidden_biases(&net, 0.09, 1)?;
        for l in net.hidden() {
            let (m, s) = lab::probe::mean_std(l.bias.as_tensor())?;
            assert!(m.abs() < 0.02 && (s - 0.3).abs() < 0.02, "{m} {s}");
        }
        Ok(())
    }
}

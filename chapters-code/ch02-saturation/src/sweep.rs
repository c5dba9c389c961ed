//! The depth sweep: how much weaker the first layer's error is than the last's, ‖δ¹‖/‖δᴸ‖, at
//! initialisation, for depths 2…50 — measured, predicted from the network's own pre-activations, and
//! predicted by mean-field theory before any network exists.
//!
//! Backpropagation multiplies the error by one factor per layer, δˡ = (δˡ⁺¹Wˡ⁺¹) ⊙ f′(zˡ). For
//! independent weights of variance Var(W) = σ_w²/n, a layer of n units passes back, on average,
//!
//! ```text
//! ‖δˡ‖² / ‖δˡ⁺¹‖² ≈ n · Var(Wˡ⁺¹) · E[f′(zˡ)²] = σ_w² · E[f′(zˡ)²] = χˡ
//! ```
//!
//! so the per-layer factor is √χˡ. [`measured_chi`] evaluates it with the network's actual weights and
//! pre-activations; [`lab::experiments::meanfield_profile`] evaluates it from the init's σ_w² alone, and
//! [`lab::experiments::init_profile`] measures the ratio itself, for the bias gradients (Nielsen's
//! measure) and for the per-example errors (the quantity the theory describes).

use anyhow::Result;
use candle_core::Tensor;
use lab::experiments::{geo_mean, init_profile, meanfield_profile};
use lab::net::Trace;
use lab::{Activation, Mlp, MlpConfig};
use serde::Serialize;

/// The measured per-layer factor χ̂ˡ = (‖Wˡ⁺¹‖²_F / nˡ⁺¹) · mean over batch and units of f′(zˡ)², for
/// l = 1…L−1 (the factor that carries the error from layer l+1 back to layer l), from a forward trace.
pub fn measured_chi(net: &Mlp, trace: &Trace) -> Result<Vec<f64>> {
    let act = net.config.activation;
    let hidden = net.hidden();
    let mut chi = Vec::with_capacity(hidden.len().saturating_sub(1));
    for l in 0..hidden.len().saturating_sub(1) {
        let slope2 = lab::probe::mean_std(&act.derivative_tensor(&trace.pre[l])?.sqr()?)?.0;
        let w = hidden[l + 1].weight.as_tensor();
        let gain2 = lab::probe::norm(w)?.powi(2) / w.dim(0)? as f64;
        chi.push(gain2 * slope2);
    }
    Ok(chi)
}

/// What the sweep measures at one depth, over several weight draws.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub depth: usize,
    /// ‖δ¹‖/‖δᴸ‖ per seed, δ the bias gradient (Nielsen's speed of learning).
    pub bias_ratios: Vec<f64>,
    /// The same for the root-mean-square per-example error, per seed.
    pub per_example_ratios: Vec<f64>,
    /// ∏ √χ̂ˡ from each network's own weights and pre-activations, per seed.
    pub chi_ratios: Vec<f64>,
    /// The mean-field prediction.
    pub theory: f64,
}

impl SweepPoint {
    /// Geometric means over seeds: (bias, per-example, measured-χ).
    pub fn means(&self) -> (f64, f64, f64) {
        let g = |v: &[f64]| geo_mean(v.iter().copied());
        (g(&self.bias_ratios), g(&self.per_example_ratios), g(&self.chi_ratios))
    }
}

/// Measures `config` (its seed replaced by each of `seeds`) on `(x, y)`, whose inputs have mean
/// square `input_second_moment` per feature.
pub fn measure(
    config: &MlpConfig,
    x: &Tensor,
    y: &Tensor,
    seeds: &[u64],
    input_second_moment: f64,
) -> Result<SweepPoint> {
    let profile = init_profile(config, x, y, seeds)?;
    let chi_ratios = seeds
        .iter()
        .map(|&s| {
            let net = config.clone().with_seed(s).build(&lab::DEVICE)?;
            Ok(measured_chi(&net, &net.forward_trace(x, true)?)?.iter().map(|c| c.sqrt()).product())
        })
        .collect::<Result<Vec<f64>>>()?;
    let layers = profile.per_example_per_seed[0].len();
    Ok(SweepPoint {
        depth: config.depth(),
        bias_ratios: profile.ratios,
        per_example_ratios: profile.per_example_per_seed.iter().map(|s| s[0] / s[layers - 1]).collect(),
        chi_ratios,
        theory: meanfield_profile(config, input_second_moment)?[0],
    })
}

/// The per-layer factor of a geometric decay fitted to `(depth, ratio)` points: 10^slope of
/// log₁₀(ratio) against depth.
pub fn per_layer_factor(points: &[(f64, f64)]) -> f64 {
    let logs: Vec<(f64, f64)> = points.iter().map(|&(d, r)| (d, r.log10())).collect();
    10f64.powf(lab::experiments::fit_line(&logs).slope)
}

/// The activations compared in the sweep figure.
pub const SWEEP_ACTIVATIONS: [Activation; 2] = [Activation::Sigmoid, Activation::Tanh];

#[cfg(test)]
mod tests {
    use super::*;
    use lab::{DEVICE, Init};

    #[test]
    fn measured_chi_of_a_linear_network_is_the_weight_gain() -> Result<()> {
        let x = Init::Normal { std: 1.0 }.tensor(16, 6, &mut lab::init::rng(4), &DEVICE)?;
        let net = MlpConfig::new(6, 200, 3, 3, Activation::Linear, Init::LecunNormal).build(&DEVICE)?;
        let chi = measured_chi(&net, &net.forward_trace(&x, true)?)?;
        assert_eq!(chi.len(), 2);
        assert!(chi.iter().all(|c| (c - 1.0).abs() < 0.02), "{chi:?}");
        Ok(())
    }

    #[test]
    fn sigmoid_theory_and_measurement_agree_within_a_decade_at_depth_8() -> Result<()> {
        let data = lab::data::teacher(200, 16, 4, 1)?;
        let m2 = data.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        let config = MlpConfig::new(16, 64, 8, 4, Activation::Sigmoid, Init::LecunNormal);
        let p = measure(&config, &data.x, &data.y, &[0, 1], m2)?;
        let (bias, per_example, chi) = p.means();
        // Seven factors of about √(1/17) ≈ 0.24: around 5e-5.
        assert!(p.theory < 1e-4 && p.theory > 1e-5, "{}", p.theory);
        for m in [bias, per_example, chi] {
            assert!((m.log10() - p.theory.log10()).abs() < 1.0, "{m} vs theory {}", p.theory);
        }
        Ok(())
    }

    #[test]
    fn line_fit_recovers_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 - 0.5 * i as f64)).collect();
        let lab::experiments::LineFit { slope: s, intercept: c, .. } = lab::experiments::fit_line(&pts);
        assert!((s + 0.5).abs() < 1e-12 && (c - 3.0).abs() < 1e-12);
        let geometric: Vec<(f64, f64)> = (2..20).map(|d| (d as f64, 0.25f64.powi(d - 1))).collect();
        assert!((per_layer_factor(&geometric) - 0.25).abs() < 1e-12);
    }
}

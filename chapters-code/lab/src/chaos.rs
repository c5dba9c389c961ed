//! The order-to-chaos phase diagram of a wide random network, from the mean-field recursions of
//! Poole et al. (2016) and Schoenholz et al. (2017, "Deep information propagation"), and the spread of
//! the input–output Jacobian's spectrum of Pennington, Schoenholz & Ganguli (2017).
//!
//! Weights are N(0, σ_w²/fan_in) and biases N(0, σ_b²), independently per unit. A pre-activation of
//! layer l is then Gaussian with variance qˡ, and
//!
//! ```text
//! qˡ = σ_w² E[φ(√qˡ⁻¹ z)²] + σ_b²                (z ~ N(0, 1))
//! χ₁ = σ_w² E[φ'(√q* z)²]                       at the fixed point q* of that map
//! ```
//!
//! χ₁ is the factor by which ‖δ‖² grows per layer going backwards once the forward signal has settled
//! at q*: gradients vanish like χ₁^(L−l) for χ₁ < 1 (the *ordered* phase: nearby inputs converge),
//! explode for χ₁ > 1 (the *chaotic* phase: nearby inputs diverge), and survive any depth only on the
//! critical line χ₁ = 1, the *edge of chaos*. The depth scale ξ_∇ = −1/ln χ₁ (Schoenholz et al. 2017,
//! §4) is the number of layers over which the gradient changes by a factor e.
//!
//! Expectations over z ~ N(0, 1) use [`gaussian_expectation`]: composite 5-point Gauss–Legendre on
//! [−12, 0] and [0, 12] separately, so the kinks of ReLU-like activations at 0 fall on a panel edge and
//! are never evaluated (a jump in φ' at a node costs a rule like Simpson's O(h) accuracy).
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use lab::Activation;
//! use lab::chaos::phase;
//! // A tanh net with σ_w² = 1.5 and σ_b² = 0.05 is ordered but close to the edge; σ_w² = 3 is chaotic.
//! assert!(phase(Activation::Tanh, 1.5, 0.05)?.chi1 < 1.0);
//! assert!(phase(Activation::Tanh, 3.0, 0.05)?.chi1 > 1.0);
//! # Ok(())
//! # }
//! ```

use crate::Activation;
use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Serialize};

/// E[g(√var · z)] for z ~ N(0, 1): composite 5-point Gauss–Legendre, 60 panels on each side of 0
/// (600 evaluations; ~1e-13 for smooth g, and for g with a kink or jump at 0).
pub fn gaussian_expectation(g: impl Fn(f64) -> f64, var: f64) -> f64 {
    const NODES: [f64; 5] =
        [-0.906_179_845_938_664, -0.538_469_310_105_683_1, 0.0, 0.538_469_310_105_683_1, 0.906_179_845_938_664];
    const WEIGHTS: [f64; 5] = [
        0.236_926_885_056_189_1,
        0.478_628_670_499_366_5,
        0.568_888_888_888_888_9,
        0.478_628_670_499_366_5,
        0.236_926_885_056_189_1,
    ];
    const PANELS: usize = 60;
    const REACH: f64 = 12.0;
    let sd = var.max(f64::MIN_POSITIVE).sqrt();
    let width = REACH / PANELS as f64;
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let mut sum = 0.0;
    for p in 0..2 * PANELS {
        let centre = -REACH + (p as f64 + 0.5) * width;
        for (x, w) in NODES.iter().zip(WEIGHTS) {
            let u = centre + 0.5 * width * x;
            sum += w * g(sd * u) * (-0.5 * u * u).exp();
        }
    }
    sum * 0.5 * width * norm
}

/// E[φ(√q z)²].
pub fn second_moment(act: Activation, q: f64) -> f64 {
    gaussian_expectation(|z| act.value(z).powi(2), q)
}

/// E[φ'(√q z)^(2k)].
pub fn slope_moment(act: Activation, q: f64, k: i32) -> f64 {
    gaussian_expectation(|z| act.derivative(z).powi(2 * k), q)
}

/// The variance map q ↦ σ_w² E[φ(√q z)²] + σ_b².
pub fn variance_map(act: Activation, sigma_w2: f64, sigma_b2: f64, q: f64) -> f64 {
    sigma_w2 * second_moment(act, q) + sigma_b2
}

fn check(sigma_w2: f64, sigma_b2: f64) -> Result<()> {
    ensure!(sigma_w2.is_finite() && sigma_w2 > 0.0, "σ_w² must be a finite positive number, got {sigma_w2}");
    ensure!(sigma_b2.is_finite() && sigma_b2 >= 0.0, "σ_b² must be a finite number ≥ 0, got {sigma_b2}");
    Ok(())
}

/// The stable fixed point q* of the variance map, found by bracketing and the Illinois variant of
/// regula falsi (robust, and superlinear in practice). Fails when the variance grows without bound
/// (e.g. ReLU with σ_w² > 2).
pub fn fixed_point_q(act: Activation, sigma_w2: f64, sigma_b2: f64) -> Result<f64> {
    check(sigma_w2, sigma_b2)?;
    let g = |q: f64| variance_map(act, sigma_w2, sigma_b2, q) - q;
    // g(σ_b²) ≥ 0 always; the fixed point lies above σ_b².
    let mut lo = sigma_b2;
    let mut g_lo = g(lo);
    if g_lo <= 0.0 {
        return Ok(lo);
    }
    let mut hi = lo.max(1.0);
    let mut g_hi = g(hi);
    while g_hi > 0.0 {
        lo = hi;
        g_lo = g_hi;
        hi *= 2.0;
        if hi > 1e8 {
            bail!("the variance map of {act} with σ_w² = {sigma_w2}, σ_b² = {sigma_b2} has no finite fixed point");
        }
        g_hi = g(hi);
    }
    // Illinois: regula falsi that halves the stale end's value when the same end survives twice.
    let mut side = 0i8;
    for _ in 0..200 {
        if hi - lo <= 1e-15 * hi.max(1e-300) {
            break;
        }
        let mut q = (lo * g_hi - hi * g_lo) / (g_hi - g_lo);
        if !(q > lo && q < hi) {
            q = 0.5 * (lo + hi);
        }
        let gq = g(q);
        if gq.abs() <= 1e-16 * q.max(1e-300) {
            return Ok(q);
        }
        if gq > 0.0 {
            lo = q;
            g_lo = gq;
            if side == 1 {
                g_hi *= 0.5;
            }
            side = 1;
        } else {
            hi = q;
            g_hi = gq;
            if side == -1 {
                g_lo *= 0.5;
            }
            side = -1;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// χ₁ = σ_w² E[φ'(√q z)²].
pub fn chi1(act: Activation, sigma_w2: f64, q: f64) -> f64 {
    sigma_w2 * slope_moment(act, q, 1)
}

/// Where a network sits in the phase diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub sigma_w2: f64,
    pub sigma_b2: f64,
    /// The fixed point of the variance map.
    pub q_star: f64,
    /// Per-layer growth of ‖δ‖² at the fixed point: < 1 ordered, > 1 chaotic.
    pub chi1: f64,
    /// ξ_∇ = 1/|ln χ₁|: layers per e-fold of gradient change (infinite on the critical line).
    pub depth_scale: f64,
}

/// The fixed point, χ₁ and depth scale at (σ_w², σ_b²).
pub fn phase(act: Activation, sigma_w2: f64, sigma_b2: f64) -> Result<Phase> {
    let q_star = fixed_point_q(act, sigma_w2, sigma_b2)?;
    let chi1 = chi1(act, sigma_w2, q_star);
    Ok(Phase { sigma_w2, sigma_b2, q_star, chi1, depth_scale: 1.0 / chi1.ln().abs() })
}

/// Layer l's pre-activation variance qˡ and its χˡ = σ_w² E[φ'(√qˡ z)²].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerChi {
    pub layer: usize,
    pub q: f64,
    pub chi: f64,
}

/// qˡ and χˡ for layers 1..=depth of a network whose inputs have second moment `input_second_moment`
/// per coordinate: q¹ = σ_w² E\[x²\] + σ_b², then the variance map. The mean ‖δˡ‖² of a wide square
/// network is then ‖δᴸ‖² ∏ₖ₌ₗᴸ⁻¹ χᵏ ([`predicted_delta_ratio`]).
pub fn propagate(
    act: Activation,
    sigma_w2: f64,
    sigma_b2: f64,
    input_second_moment: f64,
    depth: usize,
) -> Result<Vec<LayerChi>> {
    check(sigma_w2, sigma_b2)?;
    let mut q = sigma_w2 * input_second_moment + sigma_b2;
    let mut out = Vec::with_capacity(depth);
    for layer in 1..=depth {
        out.push(LayerChi { layer, q, chi: chi1(act, sigma_w2, q) });
        q = variance_map(act, sigma_w2, sigma_b2, q);
    }
    Ok(out)
}

/// The predicted E‖δˡ‖² / E‖δᴸ‖² for every layer l = 1..=L of `layers` (L = its length): ∏ₖ₌ₗᴸ⁻¹ χᵏ.
pub fn predicted_delta_ratio(layers: &[LayerChi]) -> Vec<f64> {
    let mut out = vec![1.0; layers.len()];
    for l in (0..layers.len().saturating_sub(1)).rev() {
        out[l] = out[l + 1] * layers[l].chi;
    }
    out
}

/// The point (σ_w², σ_b²) on the critical line χ₁ = 1 whose fixed point is `q_star`:
/// σ_w² = 1/E[φ'(√q* z)²], σ_b² = q* − σ_w² E[φ(√q* z)²]. Fails when that σ_b² would be negative.
pub fn critical_point(act: Activation, q_star: f64) -> Result<(f64, f64)> {
    ensure!(q_star.is_finite() && q_star > 0.0, "q* must be a finite positive number, got {q_star}");
    let sigma_w2 = 1.0 / slope_moment(act, q_star, 1);
    let sigma_b2 = q_star - sigma_w2 * second_moment(act, q_star);
    ensure!(
        sigma_b2 >= -1e-6 * q_star,
        "{act} has no critical point with q* = {q_star} (it would need σ_b² = {sigma_b2})"
    );
    Ok((sigma_w2, sigma_b2.max(0.0)))
}

/// The σ_w² at which χ₁ = 1 for a given σ_b² (bisection on σ_w² in (0, 100]; χ₁ rises with σ_w² for
/// tanh).
pub fn critical_sigma_w2(act: Activation, sigma_b2: f64) -> Result<f64> {
    let chi = |w: f64| -> Result<f64> { Ok(phase(act, w, sigma_b2)?.chi1 - 1.0) };
    let (mut lo, mut hi) = (1e-3, 100.0);
    ensure!(chi(lo)? < 0.0 && chi(hi)? > 0.0, "no critical σ_w² in (0.001, 100] for {act} at σ_b² = {sigma_b2}");
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if chi(mid)? < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// The weight matrices of a random network, for the Jacobian-spectrum prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightEnsemble {
    /// i.i.d. Gaussian entries: WWᵀ has a Marchenko–Pastur spectrum (variance/mean² = 1 when square).
    Gaussian,
    /// Scaled orthogonal: WWᵀ = σ_w² I, no spread at all.
    Orthogonal,
}

/// The growth per layer of the normalized variance (variance / mean²) of the squared singular values
/// of the input–output Jacobian, for a wide square network sitting at the fixed point q:
///
/// ```text
/// μ₂/μ₁² − 1 + s,    μ_k = E[φ'(√q z)^(2k)],   s = 1 (Gaussian) or 0 (orthogonal)
/// ```
///
/// Normalized variances add under free multiplicative convolution, so after L layers the spread is L
/// times this. This is the second moment of the spectrum Pennington, Schoenholz & Ganguli (2017, §2–3)
/// compute in full with free probability; ReLU gives μ₂/μ₁² − 1 = 1, so its Jacobian spreads with
/// depth whatever the weights, while tanh at small q has μ₂/μ₁² ≈ 1 and with orthogonal weights stays
/// nearly isometric.
pub fn spectrum_spread_per_layer(act: Activation, q: f64, weights: WeightEnsemble) -> f64 {
    let (mu1, mu2) = (slope_moment(act, q, 1), slope_moment(act, q, 2));
    let s = match weights {
        WeightEnsemble::Gaussian => 1.0,
        WeightEnsemble::Orthogonal => 0.0,
    };
    mu2 / (mu1 * mu1) - 1.0 + s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrature_matches_known_moments() {
        let e = |g: fn(f64) -> f64, var: f64| gaussian_expectation(g, var);
        assert!((e(|z| z * z, 2.0) - 2.0).abs() < 1e-13);
        assert!((e(|z| z.powi(4), 1.5) - 6.75).abs() < 1e-12);
        assert!((e(f64::cos, 1.0) - (-0.5f64).exp()).abs() < 1e-14);
        // A jump at 0: P(z > 0) = 1/2 exactly, and E[max(z, 0)²] = var/2 (a kink).
        assert!((e(|z| if z > 0.0 { 1.0 } else { 0.0 }, 3.0) - 0.5).abs() < 1e-14);
        assert!((e(|z| z.max(0.0).powi(2), 3.0) - 1.5).abs() < 1e-13);
        // Zero variance: g at 0 (approached from both sides for a jump).
        assert!((e(f64::cos, 0.0) - 1.0).abs() < 1e-14);
    }

    #[test]
    fn fixed_points_in_closed_form() -> Result<()> {
        // Linear: q = σ_w² q + σ_b² ⇒ q* = σ_b²/(1 − σ_w²).
        let q = fixed_point_q(Activation::Linear, 0.5, 0.3)?;
        assert!((q - 0.6).abs() < 1e-12, "{q}");
        // ReLU: q = σ_w² q/2 + σ_b² ⇒ q* = σ_b²/(1 − σ_w²/2).
        let q = fixed_point_q(Activation::Relu, 1.0, 0.2)?;
        assert!((q - 0.4).abs() < 1e-6, "{q}");
        assert!(fixed_point_q(Activation::Relu, 2.5, 0.1).unwrap_err().to_string().contains("no finite fixed point"));
        // tanh without bias: q* = 0 for σ_w² ≤ 1 and q* > 0 above, where it is a true fixed point.
        assert!(fixed_point_q(Activation::Tanh, 0.8, 0.0)? < 1e-10);
        let q = fixed_point_q(Activation::Tanh, 2.0, 0.0)?;
        assert!(q > 0.1 && (variance_map(Activation::Tanh, 2.0, 0.0, q) - q).abs() < 1e-12, "{q}");
        // For small q, E[tanh²(√q z)] ≈ q − 2q², so with σ_b = 0: q* ≈ (1 − 1/σ_w²)/2.
        let q = fixed_point_q(Activation::Tanh, 1.02, 0.0)?;
        let approx = (1.0 - 1.0 / 1.02) / 2.0;
        assert!((q / approx - 1.0).abs() < 0.05, "{q} vs {approx}");
        assert!(fixed_point_q(Activation::Tanh, f64::NAN, 0.0).is_err());
        assert!(fixed_point_q(Activation::Tanh, 1.0, -0.1).is_err());
        Ok(())
    }

    #[test]
    fn chi_one_and_the_critical_line() -> Result<()> {
        // He init for ReLU is exactly critical: χ₁ = 2 · 1/2.
        assert!((phase(Activation::Relu, 2.0, 0.0)?.chi1 - 1.0).abs() < 1e-6);
        assert!((phase(Activation::Linear, 1.0, 0.0)?.chi1 - 1.0).abs() < 1e-12);
        // tanh: (1, 0) is the end of the critical line; a critical point with q* recovers q* and χ₁ = 1.
        for q_star in [1.0 / 64.0, 0.25, 1.0] {
            let (w, b) = critical_point(Activation::Tanh, q_star)?;
            let p = phase(Activation::Tanh, w, b)?;
            assert!((p.q_star / q_star - 1.0).abs() < 1e-6, "{p:?}");
            assert!((p.chi1 - 1.0).abs() < 1e-8, "{p:?}");
            assert!(p.depth_scale > 1e6);
            assert!((critical_sigma_w2(Activation::Tanh, b)? / w - 1.0).abs() < 1e-6);
        }
        // Along the line σ_w² rises with σ_b²; below it the net is ordered, above chaotic.
        let (w1, w2) = (critical_sigma_w2(Activation::Tanh, 0.01)?, critical_sigma_w2(Activation::Tanh, 0.1)?);
        assert!(1.0 < w1 && w1 < w2, "{w1} {w2}");
        assert!(phase(Activation::Tanh, 0.9 * w2, 0.1)?.chi1 < 1.0);
        assert!(phase(Activation::Tanh, 1.1 * w2, 0.1)?.chi1 > 1.0);
        // ReLU with q* > 0 needs σ_b² < 0: no critical point.
        assert!(critical_point(Activation::Relu, 1.0).is_ok());
        assert!(critical_point(Activation::Sigmoid, 1.0).is_err());
        Ok(())
    }

    #[test]
    fn propagation_settles_at_the_fixed_point() -> Result<()> {
        let p = phase(Activation::Tanh, 1.8, 0.05)?;
        let layers = propagate(Activation::Tanh, 1.8, 0.05, 1.0, 40)?;
        assert_eq!(layers[0].q, 1.85);
        assert!((layers[39].q / p.q_star - 1.0).abs() < 1e-9 && (layers[39].chi / p.chi1 - 1.0).abs() < 1e-9);
        let ratio = predicted_delta_ratio(&layers);
        assert_eq!(ratio[39], 1.0);
        assert!((ratio[38] - layers[38].chi).abs() < 1e-15);
        // He-initialised ReLU: χ = 1 exactly at every layer, nothing vanishes.
        let relu = predicted_delta_ratio(&propagate(Activation::Relu, 2.0, 0.0, 1.0, 30)?);
        assert!(relu.iter().all(|r| (r - 1.0).abs() < 1e-10), "{relu:?}");
        Ok(())
    }

    #[test]
    fn spectrum_spread_closed_forms() {
        use WeightEnsemble::*;
        // Linear: nothing but the weights; ReLU: φ'² ∈ {0, 1} with p = 1/2 gives μ₂/μ₁² = 2.
        assert!((spectrum_spread_per_layer(Activation::Linear, 1.0, Gaussian) - 1.0).abs() < 1e-12);
        assert!(spectrum_spread_per_layer(Activation::Linear, 1.0, Orthogonal).abs() < 1e-12);
        assert!((spectrum_spread_per_layer(Activation::Relu, 1.0, Orthogonal) - 1.0).abs() < 1e-6);
        assert!((spectrum_spread_per_layer(Activation::Relu, 1.0, Gaussian) - 2.0).abs() < 1e-6);
        // tanh at small q: μ₂/μ₁² − 1 ≈ Var(φ'²) ≈ 8q² → 0.
        let q = 1.0 / 64.0;
        let t = spectrum_spread_per_layer(Activation::Tanh, q, Orthogonal);
        assert!(t > 0.0 && (t / (8.0 * q * q) - 1.0).abs() < 0.2, "{t}");
    }
}

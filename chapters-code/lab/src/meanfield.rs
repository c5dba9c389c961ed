//! Mean-field theory of a wide random MLP at initialisation: what the variance of the forward signal
//! and the size of the backward error *should* be, layer by layer, before any network is built.
//!
//! For a layer `z = h Wᵀ + b` with independent weights of variance `Var(W) = σ_w² / fan_in` and biases
//! of mean `μ_b` and variance `σ_b²`, every pre-activation is (for a wide layer) Gaussian with mean `μ_b`
//! and variance
//!
//! ```text
//! qˡ = σ_w² · E[(hˡ⁻¹)²] + σ_b²,        hˡ = f(zˡ),  zˡ ~ N(μ_b, qˡ)
//! ```
//!
//! (the second moment of the previous layer's output, not its variance: a sigmoid's mean of ½ counts).
//! Backwards, `δˡ = (δˡ⁺¹ Wˡ⁺¹) ⊙ f'(zˡ)` gives, per layer,
//!
//! ```text
//! ‖δˡ‖² / ‖δˡ⁺¹‖² ≈ χˡ = σ_w² · E[f'(zˡ)²]
//! ```
//!
//! whatever the widths (for fan-in-scaled weights), so `‖δ¹‖/‖δᴸ‖ ≈ ∏ₗ₌₁ᴸ⁻¹ √χˡ`. These are the
//! recursions of Poole et al. (2016) and Schoenholz et al. (2017), and the argument of Glorot & Bengio
//! (2010, §4.2) and He et al. (2015, §2.2) for choosing σ_w². Expectations over the Gaussian are computed
//! by composite Simpson quadrature on ±12 standard deviations, accurate to ~1e-12 for the book's
//! activations (kinks included, to ~1e-7; ReLU's jump in slope at z = 0 is handled exactly).
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use lab::Activation;
//! use lab::meanfield::{Prior, propagate};
//! // tanh with σ_w² = 1, no bias: the forward variance shrinks slowly, χ stays just below 1.
//! let layers = propagate(Activation::Tanh, &Prior::fan_in(1.0), 0.5, 10);
//! assert!(layers[9].q < layers[0].q);
//! assert!(layers.iter().all(|l| l.chi < 1.0 && l.chi > 0.3));
//! # Ok(())
//! # }
//! ```

use crate::Activation;
use serde::{Deserialize, Serialize};

/// The distribution of a layer's weights and biases, in mean-field terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// σ_w² = fan_in · Var(W): 1 for N(0, 1/fan_in), 1/3 for U(±1/√fan_in), 2 for He.
    pub weight_gain2: f64,
    /// Mean of every bias.
    pub bias_mean: f64,
    /// Variance of the biases across units (1 for Nielsen's N(0, 1) biases).
    pub bias_var: f64,
}

impl Prior {
    /// Fan-in-scaled weights with σ_w² = `weight_gain2` and zero biases.
    pub fn fan_in(weight_gain2: f64) -> Prior {
        Prior { weight_gain2, bias_mean: 0.0, bias_var: 0.0 }
    }

    pub fn with_bias(mut self, mean: f64, var: f64) -> Prior {
        self.bias_mean = mean;
        self.bias_var = var;
        self
    }
}

/// What mean-field theory predicts for one hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerMoments {
    /// 1-based layer index.
    pub layer: usize,
    /// Variance of the pre-activation z (across units and inputs).
    pub q: f64,
    /// E[f(z)²], the second moment of the layer's output.
    pub second_moment: f64,
    /// E[f(z)], the mean output.
    pub mean: f64,
    /// E[f'(z)²].
    pub slope2: f64,
    /// χ = σ_w² · E[f'(z)²]: the predicted ‖δˡ‖² / ‖δˡ⁺¹‖² when the next layer has the same prior.
    pub chi: f64,
}

/// E[g(z)] for z ~ N(mean, var), by composite Simpson quadrature on mean ± 12 σ (step 0.01 σ).
///
/// The book's activations are smooth except at z = 0, where ReLU's derivative *jumps* (0 → 1). With
/// g(0) = relu′(0) = 0 at a node, Simpson would make an O(h) error there (E[relu′(z)²] would come out
/// 0.4987 instead of ½). So the grid is placed with z = 0 on a node between two Simpson panels, and that
/// node takes the mean of the one-sided limits g(0⁻) and g(0⁺) — the same as g(0) wherever g is
/// continuous, so smooth integrands keep their accuracy, and a jump costs nothing.
pub fn gaussian_expectation(g: impl Fn(f64) -> f64, mean: f64, var: f64) -> f64 {
    if var <= 0.0 {
        return g(mean);
    }
    let sd = var.sqrt();
    let (reach, h) = (12.0, 0.01);
    let density = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // Nodes u = lo + i·h for i = 0 … n, with z = 0 (u = split) at node i = left, an even index (so
    // between two panels), covering at least [−12, 12]; when z = 0 is out of that range, a grid
    // centred on the mean. For mean 0 these are exactly the nodes −12 + i·h, i = 0 … 2400.
    let at_zero = (-mean / sd).abs() < reach;
    let split = if at_zero { -mean / sd } else { 0.0 };
    let even = |x: f64| ((x - 1e-9).ceil() / 2.0).ceil() as usize * 2;
    let (left, right) = (even((reach + split) / h), even((reach - split) / h));
    let (lo, n) = (split - left as f64 * h, left + right);
    let tiny = f64::MIN_POSITIVE;
    // Divided by the same rule's integral of the density, so E[c] = c exactly (1 − 1.2e-15 otherwise).
    let (mut sum, mut mass) = (0.0, 0.0);
    for i in 0..=n {
        let u = lo + i as f64 * h;
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let value = if at_zero && i == left { 0.5 * (g(-tiny) + g(tiny)) } else { g(mean + sd * u) };
        sum += w * value * density(u);
        mass += w * density(u);
    }
    sum / mass
}

/// The moments of a layer whose pre-activation is N(`prior.bias_mean`, q).
pub fn layer_moments(act: Activation, prior: &Prior, q: f64, layer: usize) -> LayerMoments {
    let mu = prior.bias_mean;
    let second_moment = gaussian_expectation(|z| act.value(z).powi(2), mu, q);
    let mean = gaussian_expectation(|z| act.value(z), mu, q);
    let slope2 = gaussian_expectation(|z| act.derivative(z).powi(2), mu, q);
    LayerMoments { layer, q, second_moment, mean, slope2, chi: prior.weight_gain2 * slope2 }
}

/// Propagates the forward variance through `depth` hidden layers with the same prior, starting from
/// inputs whose second moment per feature (mean of x² over features and examples) is
/// `input_second_moment`.
pub fn propagate(act: Activation, prior: &Prior, input_second_moment: f64, depth: usize) -> Vec<LayerMoments> {
    let mut out = Vec::with_capacity(depth);
    let mut m = input_second_moment;
    for l in 1..=depth {
        let q = prior.weight_gain2 * m + prior.bias_var;
        let moments = layer_moments(act, prior, q, l);
        m = moments.second_moment;
        out.push(moments);
    }
    out
}

/// The predicted ln(‖δ¹‖ / ‖δᴸ‖) of an `L = layers.len()`-layer network: ½ Σₗ₌₁ᴸ⁻¹ ln χˡ.
pub fn log_delta_ratio(layers: &[LayerMoments]) -> f64 {
    let n = layers.len();
    if n < 2 {
        return 0.0;
    }
    layers[..n - 1].iter().map(|l| 0.5 * l.chi.ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrature_matches_known_moments() {
        // E[z²] = var + mean², E[z⁴] = 3 var² for a centred Gaussian, E[e^z] = e^(μ + var/2).
        assert!((gaussian_expectation(|z| z * z, 0.3, 2.0) - 2.09).abs() < 1e-12);
        assert!((gaussian_expectation(|z| z.powi(4), 0.0, 1.5) - 6.75).abs() < 1e-10);
        assert!((gaussian_expectation(f64::exp, 0.1, 0.5) - (0.35f64).exp()).abs() < 1e-10);
        // E[relu′(z)²] = P(z > 0): a jump at 0, exact because 0 is a node that takes the one-sided mean.
        let step = |z: f64| if z > 0.0 { 1.0 } else { 0.0 };
        assert!((gaussian_expectation(step, 0.0, 2.0) - 0.5).abs() < 1e-12);
        assert!((gaussian_expectation(step, 0.4, 1.0) - 0.655_421_741_610_324_2).abs() < 1e-9);
        // E[max(z, 0)²] = var / 2 (a kink).
        assert!((gaussian_expectation(|z| z.max(0.0).powi(2), 0.0, 3.0) - 1.5).abs() < 1e-7);
        assert_eq!(gaussian_expectation(|z| z + 1.0, 2.0, 0.0), 3.0);
    }

    #[test]
    fn linear_and_he_relu_networks_keep_their_variance() {
        let lin = propagate(Activation::Linear, &Prior::fan_in(1.0), 0.7, 20);
        assert!(lin.iter().all(|l| (l.q - 0.7).abs() < 1e-10 && (l.chi - 1.0).abs() < 1e-12));
        assert_eq!(log_delta_ratio(&lin), 0.0);
        let relu = propagate(Activation::Relu, &Prior::fan_in(2.0), 1.0, 20);
        // q¹ = 2, then E[relu(z)²] = q/2 so q stays 2; E[relu'²] = 1/2 so χ = 1.
        assert!(relu.iter().all(|l| (l.q - 2.0).abs() < 1e-6 && (l.chi - 1.0).abs() < 1e-6), "{relu:?}");
    }

    #[test]
    fn sigmoid_slope_is_a_quarter_at_zero_variance() {
        let m = layer_moments(Activation::Sigmoid, &Prior::fan_in(1.0), 0.0, 1);
        assert!((m.slope2 - 1.0 / 16.0).abs() < 1e-15 && (m.mean - 0.5).abs() < 1e-15);
        // With variance the average slope can only fall: σ' peaks at 0.
        let wide = layer_moments(Activation::Sigmoid, &Prior::fan_in(1.0), 1.0, 1);
        assert!(wide.slope2 < 1.0 / 16.0);
        // Sigmoid's output has second moment ≥ ¼, so qˡ ≥ σ_w²/4 after the first layer.
        let layers = propagate(Activation::Sigmoid, &Prior::fan_in(1.0), 0.0, 5);
        assert!(layers[1..].iter().all(|l| l.q >= 0.25));
        // Every χ is a little below 1/16, so ‖δ¹‖/‖δ⁴‖ is a little below (1/4)³.
        let r = log_delta_ratio(&layers[..4]).exp();
        assert!(r < 0.25f64.powi(3) && r > 0.2f64.powi(3), "{r}");
    }

    #[test]
    fn tanh_chi_tends_to_one_as_the_signal_shrinks() {
        let layers = propagate(Activation::Tanh, &Prior::fan_in(1.0), 1.0, 200);
        for w in layers.windows(2) {
            assert!(w[1].q < w[0].q && w[1].chi > w[0].chi);
        }
        // For small q, E[tanh'(z)²] = E[(1 − z² + …)²] ≈ 1 − 2q.
        let small = layer_moments(Activation::Tanh, &Prior::fan_in(1.0), 1e-3, 1);
        assert!((small.chi - (1.0 - 2e-3)).abs() < 1e-4, "{}", small.chi);
    }
}

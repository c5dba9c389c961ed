//! The chain rule as a product of per-layer factors.
//!
//! In a chain of one-neuron layers aˡ = f(w·aˡ⁻¹ + b), the derivative of the output with respect to
//! the input is ∂aᴸ/∂a⁰ = ∏ₗ w·f'(zˡ): one factor per layer. If every factor is below 1 the product
//! vanishes exponentially with depth, above 1 it explodes, and only factors of exactly 1 keep it
//! steady. [`measured_chain`] computes the product with candle's autograd through a real chain;
//! [`product`] is the closed form it must match.

use anyhow::Result;
use candle_core::{Tensor, Var};
use lab::Activation;
use serde::Serialize;

/// factorᴸ for L = 1..=depth.
pub fn product(factor: f64, depth: usize) -> Vec<f64> {
    (1..=depth as i32).map(|l| factor.powi(l)).collect()
}

/// ∂aᴸ/∂a⁰ measured by autograd for every depth L = 1..=depth, through a chain of scalar neurons
/// aˡ = f(w·aˡ⁻¹ + b) started at a⁰ = `input`. Computed in f64.
pub fn measured_chain(act: Activation, w: f64, b: f64, input: f64, depth: usize) -> Result<Vec<f64>> {
    let x = Var::new(&[input], &lab::DEVICE)?;
    let mut a: Tensor = x.as_tensor().clone();
    let mut out = Vec::with_capacity(depth);
    for _ in 0..depth {
        a = act.forward(&a.affine(w, b)?)?;
        // One backward pass per depth: the gradient of the output of a chain of L layers.
        let grads = a.sum_all()?.backward()?;
        out.push(grads.get(&x).map_or(Ok(0.0), |g| g.to_vec1::<f64>().map(|v| v[0]))?);
    }
    Ok(out)
}

/// The same product computed by hand, factor by factor: ∏ w·f'(zˡ) along the forward pass.
pub fn chain_rule_by_hand(act: Activation, w: f64, b: f64, input: f64, depth: usize) -> Vec<f64> {
    let (mut a, mut prod) = (input, 1.0);
    (0..depth)
        .map(|_| {
            let z = w * a + b;
            prod *= w * act.derivative(z);
            a = act.value(z);
            prod
        })
        .collect()
}

/// One series of the chain figure.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSeries {
    pub label: String,
    /// Product at depth 1, 2, …
    pub values: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_chain_is_exactly_the_power() -> Result<()> {
        for w in [0.5, 1.0, 1.5] {
            let measured = measured_chain(Activation::Linear, w, 0.0, 0.3, 30)?;
            for (m, p) in measured.iter().zip(product(w, 30)) {
                assert!((m / p - 1.0).abs() < 1e-12, "w {w}: {m} vs {p}");
            }
        }
        Ok(())
    }

    #[test]
    fn autograd_agrees_with_the_chain_rule_by_hand() -> Result<()> {
        // candle evaluates erf (inside GELU) with a rational approximation good to ~1e-7, so GELU
        // agrees less exactly than the activations built from exp.
        for (act, tol) in [(Activation::Sigmoid, 1e-10), (Activation::Tanh, 1e-10), (Activation::Gelu, 1e-5)] {
            let measured = measured_chain(act, 1.3, 0.1, 0.5, 20)?;
            let by_hand = chain_rule_by_hand(act, 1.3, 0.1, 0.5, 20);
            for (m, h) in measured.iter().zip(&by_hand) {
                assert!((m / h - 1.0).abs() < tol, "{act}: {m} vs {h}");
            }
        }
        Ok(())
    }

    #[test]
    fn a_sigmoid_chain_with_unit_weights_stays_below_the_quarter_bound() -> Result<()> {
        let measured = measured_chain(Activation::Sigmoid, 1.0, 0.0, 0.0, 40)?;
        for (l, (m, bound)) in measured.iter().zip(product(0.25, 40)).enumerate() {
            assert!(*m <= bound * (1.0 + 1e-12), "depth {}: {m} > {bound}", l + 1);
        }
        Ok(())
    }
}

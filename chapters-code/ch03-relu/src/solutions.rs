//! Reference solutions of the chapter 3 exercises (shown collapsed in the book).

use anyhow::Result;
use candle_core::{DType, Tensor};
use lab::Mlp;

// ANCHOR: exercise_3_1
/// He's σ_w² for a leaky ReLU with negative slope `alpha`: the weight variance (times fan-in) that
/// keeps the error's size from layer to layer, χ = σ_w² · E[f′(z)²] = 1, for z ~ N(0, q).
pub fn leaky_he_gain2(alpha: f64) -> f64 {
    // f′ is 1 on the positive half and α on the negative half, each with probability ½:
    // E[f′²] = (1 + α²)/2, whatever q.
    2.0 / (1.0 + alpha * alpha)
}
// ANCHOR_END: exercise_3_1

// ANCHOR: exercise_3_2
/// The probability that a ReLU network of `depth` hidden layers of `width` units, with zero biases
/// and weights from a symmetric continuous distribution, outputs zero at one given input x ≠ 0.
pub fn dead_at_one_input(width: usize, depth: usize) -> f64 {
    // Given a nonzero input, each unit of a layer is active with probability ½, independently of
    // the others and of the layers below: the whole layer is off with probability 2^(−N), and the
    // net survives L layers with probability (1 − 2^(−N))^L.
    1.0 - (1.0 - 0.5f64.powi(width as i32)).powi(depth as i32)
}
// ANCHOR_END: exercise_3_2

// ANCHOR: exercise_3_3
/// GELU′(z), the derivative of GELU(z) = z Φ(z), with Φ the standard normal CDF
/// (Φ(z) = ½(1 + erf(z/√2)); `lab::act::erf` is the error function).
pub fn gelu_prime(z: f64) -> f64 {
    // The product rule: Φ(z) + z φ(z), with φ the standard normal density.
    let cdf = 0.5 * (1.0 + lab::act::erf(z / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    cdf + z * pdf
}
// ANCHOR_END: exercise_3_3

// ANCHOR: exercise_3_4
/// For every hidden layer of `net` (input side first), the number of units that are dead on the
/// batch `x`: whose pre-activation z is ≤ 0 for every row of `x`. (`net.forward_trace(x, false)`
/// gives each hidden layer's pre-activations, batch × width.)
pub fn dead_units(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
    let trace = net.forward_trace(x, false)?;
    trace
        .pre
        .iter()
        .map(|z| {
            // The largest pre-activation of each unit over the batch (dimension 0): dead if ≤ 0.
            let never_on = z.max(0)?.le(0.0)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            Ok(never_on as usize)
        })
        .collect()
}
// ANCHOR_END: exercise_3_4

// ANCHOR: exercise_3_5
/// Found by doubling from 0.00025 until the dead share reached 10 %:
/// `for k in 0..9 { let lr = 0.00025 * 2f64.powi(k); println!("{lr} {}", dead_after_adam(lr)?); }`
/// prints 0.4 %, 1.6 %, 3.5 %, then 12.5 % at 0.002 — and 13.7 % already at 0.003, Figure 3-6's
/// "normal" rate.
pub fn largest_safe_lr() -> f64 {
    0.001
}
// ANCHOR_END: exercise_3_5

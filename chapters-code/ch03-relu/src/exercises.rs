//! # Chapter 3 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 3.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch03-relu exercise_3_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

use anyhow::Result;
use candle_core::Tensor;
use lab::Mlp;

// ANCHOR: exercise_3_1
/// He's σ_w² for a leaky ReLU with negative slope `alpha`: the weight variance (times fan-in) that
/// keeps the error's size from layer to layer, χ = σ_w² · E[f′(z)²] = 1, for z ~ N(0, q).
pub fn leaky_he_gain2(alpha: f64) -> f64 {
    todo!("exercise 3.1")
}
// ANCHOR_END: exercise_3_1

// ANCHOR: exercise_3_2
/// The probability that a ReLU network of `depth` hidden layers of `width` units, with zero biases
/// and weights from a symmetric continuous distribution, outputs zero at one given input x ≠ 0.
pub fn dead_at_one_input(width: usize, depth: usize) -> f64 {
    todo!("exercise 3.2")
}
// ANCHOR_END: exercise_3_2

// ANCHOR: exercise_3_3
/// GELU′(z), the derivative of GELU(z) = z Φ(z), with Φ the standard normal CDF
/// (Φ(z) = ½(1 + erf(z/√2)); `lab::act::erf` is the error function).
pub fn gelu_prime(z: f64) -> f64 {
    todo!("exercise 3.3")
}
// ANCHOR_END: exercise_3_3

// ANCHOR: exercise_3_4
/// For every hidden layer of `net` (input side first), the number of units that are dead on the
/// batch `x`: whose pre-activation z is ≤ 0 for every row of `x`. (`net.forward_trace(x, false)`
/// gives each hidden layer's pre-activations, batch × width.)
pub fn dead_units(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
    todo!("exercise 3.4")
}
// ANCHOR_END: exercise_3_4

// ANCHOR: exercise_3_5
/// The largest Adam learning rate on the grid 0.00025 · 2ᵏ (0.00025, 0.0005, 0.001, …) after whose 50
/// steps fewer than 10 % of the hidden units of `checks::dead_after_adam`'s ReLU network are dead.
/// Find it by running the experiment: `checks::dead_after_adam(lr)` trains the network at `lr` and
/// returns the share of its hidden units that are dead on the training digits.
pub fn largest_safe_lr() -> f64 {
    todo!("exercise 3.5")
}
// ANCHOR_END: exercise_3_5

/// Your checks: `cargo test -p ch03-relu exercise_3_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch03-relu exercise_3_1 -- --ignored"]
    fn exercise_3_1() {
        pass("3.1", checks::leaky_he_gain2(super::leaky_he_gain2));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch03-relu exercise_3_2 -- --ignored"]
    fn exercise_3_2() {
        pass("3.2", checks::dead_at_one_input(super::dead_at_one_input));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch03-relu exercise_3_3 -- --ignored"]
    fn exercise_3_3() {
        pass("3.3", checks::gelu_prime(super::gelu_prime));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch03-relu exercise_3_4 -- --ignored"]
    fn exercise_3_4() {
        pass("3.4", checks::dead_units(super::dead_units));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch03-relu exercise_3_5 -- --ignored"]
    fn exercise_3_5() {
        pass("3.5", checks::safe_lr(super::largest_safe_lr));
    }
}

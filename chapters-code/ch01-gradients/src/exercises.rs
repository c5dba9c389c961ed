//! # Chapter 1 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 1.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch01-gradients exercise_1_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

use anyhow::Result;
use candle_core::Tensor;
use lab::Activation;

// ANCHOR: exercise_1_1
/// σ′(z), the derivative of the logistic sigmoid σ(z) = 1 / (1 + e^(−z)).
/// It must stay finite for every finite z, including z = ±800.
pub fn sigmoid_prime(z: f64) -> f64 {
    todo!("exercise 1.1")
}
// ANCHOR_END: exercise_1_1

// ANCHOR: exercise_1_2
/// The central-difference estimate of the gradient of `f` at `x` with step `h`:
/// component i is (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h.
pub fn numerical_gradient(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    todo!("exercise 1.2")
}
// ANCHOR_END: exercise_1_2

// ANCHOR: exercise_1_3
/// g¹, the gradient at the first hidden layer as the book measures it (`lab::probe::error_rms`, the
/// per-example RMS size of δ¹), of Listing 1-4's plain network with `depth` hidden layers: 20
/// inputs, width 32, 4 classes, sigmoid, `Init::LecunNormal`, weight seed 1; inputs N(0, 1) from
/// `lab::init::rng(2)`, 256 rows, labels `i % 4`.
pub fn first_layer_gradient(depth: usize) -> Result<f64> {
    todo!("exercise 1.3")
}

/// The smallest depth (number of hidden layers, from 1 up) at which `first_layer_gradient` falls below
/// `threshold`.
pub fn vanishing_depth(threshold: f64) -> Result<usize> {
    todo!("exercise 1.3")
}
// ANCHOR_END: exercise_1_3

// ANCHOR: exercise_1_4
/// The gradients (∂L/∂W, ∂L/∂b) of every layer by the four backpropagation equations — no autograd.
/// `layers[l] = (W, b)` with W of shape (out, in); every layer but the last (the linear head) is
/// followed by `act`. L is the mean softmax cross-entropy of the head's logits against `labels`
/// (u32 class indices). All tensors are f64.
pub fn backprop(
    layers: &[(Tensor, Tensor)],
    act: Activation,
    x: &Tensor,
    labels: &Tensor,
) -> Result<Vec<(Tensor, Tensor)>> {
    todo!("exercise 1.4")
}
// ANCHOR_END: exercise_1_4

// ANCHOR: exercise_1_5
/// Trains `net` on `(x, y)` with `lab::train::train(net, x, y, None, cfg)` and returns, for each
/// hidden layer (not the head), how far training moved its weights relative to where they started:
/// ‖Wˡ_after − Wˡ_before‖ / ‖Wˡ_before‖ (Frobenius norms; `lab::probe::norm` computes one).
pub fn relative_changes(net: &lab::Mlp, x: &Tensor, y: &Tensor, cfg: &lab::train::TrainConfig) -> Result<Vec<f64>> {
    todo!("exercise 1.5")
}
// ANCHOR_END: exercise_1_5

/// Your checks: `cargo test -p ch01-gradients exercise_1_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch01-gradients exercise_1_1 -- --ignored"]
    fn exercise_1_1() {
        pass("1.1", checks::sigmoid_prime(super::sigmoid_prime));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch01-gradients exercise_1_2 -- --ignored"]
    fn exercise_1_2() {
        pass("1.2", checks::numerical_gradient(super::numerical_gradient));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch01-gradients exercise_1_3 -- --ignored"]
    fn exercise_1_3() {
        pass("1.3", checks::vanishing_depth(super::first_layer_gradient, super::vanishing_depth));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch01-gradients exercise_1_4 -- --ignored"]
    fn exercise_1_4() {
        pass("1.4", checks::backprop(super::backprop));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch01-gradients exercise_1_5 -- --ignored"]
    fn exercise_1_5() {
        pass("1.5", checks::which_layers_learn(super::relative_changes));
    }
}

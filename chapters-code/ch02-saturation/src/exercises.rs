//! # Chapter 2 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 2.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch02-saturation exercise_2_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

use lab::Activation;

// ANCHOR: exercise_2_1
/// The pre-activation z* beyond which a unit is saturated, its output within `margin` of an
/// asymptote: σ(z) > 1 − margin for the sigmoid, |tanh z| > 1 − margin for tanh (by symmetry the
/// unit is also saturated for z < −z*). `None` for activations that do not saturate.
pub fn saturation_threshold(act: Activation, margin: f64) -> Option<f64> {
    todo!("exercise 2.1")
}
// ANCHOR_END: exercise_2_1

// ANCHOR: exercise_2_2
/// The interval [a₋, a₊] (with a₋ ≤ a₊) of inputs a for which one factor reaches one,
/// |w·σ′(wa + b)| ≥ 1; `None` when no input achieves it.
pub fn window(w: f64, b: f64) -> Option<(f64, f64)> {
    todo!("exercise 2.2")
}
// ANCHOR_END: exercise_2_2

// ANCHOR: exercise_2_3
/// χ = σ_w²·E[f′(z)²] for z ~ N(0, q): the predicted ‖δˡ‖²/‖δˡ⁺¹‖² of a layer whose weights have
/// variance σ_w²/fan_in (`weight_gain2` = σ_w²) and whose pre-activations have variance `q`.
/// Compute the expectation by numerical integration against the Gaussian density.
pub fn chi(act: Activation, weight_gain2: f64, q: f64) -> f64 {
    todo!("exercise 2.3")
}
// ANCHOR_END: exercise_2_3

// ANCHOR: exercise_2_4
/// The mean-field prediction of ‖δ¹‖/‖δᴸ‖ for a network of `depth` hidden layers with weights of
/// variance σ_w²/fan_in and zero biases, whose inputs have mean square `input_second_moment`:
/// propagate qˡ = σ_w²·E[f(zˡ⁻¹)²] (with q¹ = σ_w²·`input_second_moment`) and multiply √χˡ for
/// l = 1 … L − 1.
pub fn predicted_ratio(act: Activation, weight_gain2: f64, input_second_moment: f64, depth: usize) -> f64 {
    todo!("exercise 2.4")
}
// ANCHOR_END: exercise_2_4

// ANCHOR: exercise_2_5
/// `base` is a ten-layer sigmoid network (`checks::deep_sigmoid()`) that the budget of
/// `checks::rescue_accuracy` leaves near chance. Return it with exactly one thing changed — its
/// activation, its initialisation, its bias, its normalisation or its skip connections (not its
/// size) — so that the same budget reaches 85 % held-out accuracy. Try your candidates with
/// `checks::rescue_accuracy(&config)`.
pub fn rescue(base: lab::MlpConfig) -> lab::MlpConfig {
    todo!("exercise 2.5")
}
// ANCHOR_END: exercise_2_5

/// Your checks: `cargo test -p ch02-saturation exercise_2_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch02-saturation exercise_2_1 -- --ignored"]
    fn exercise_2_1() {
        pass("2.1", checks::saturation_threshold(super::saturation_threshold));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch02-saturation exercise_2_2 -- --ignored"]
    fn exercise_2_2() {
        pass("2.2", checks::window(super::window));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch02-saturation exercise_2_3 -- --ignored"]
    fn exercise_2_3() {
        pass("2.3", checks::chi(super::chi));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch02-saturation exercise_2_4 -- --ignored"]
    fn exercise_2_4() {
        pass("2.4", checks::predicted_ratio(super::predicted_ratio));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch02-saturation exercise_2_5 -- --ignored"]
    fn exercise_2_5() {
        pass("2.5", checks::rescue(super::rescue));
    }
}

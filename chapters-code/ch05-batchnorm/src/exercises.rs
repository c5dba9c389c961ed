//! # Chapter 5 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 5.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch05-batchnorm exercise_5_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

// ANCHOR: exercise_5_1
/// BatchNorm's forward pass in training mode, on plain numbers: `x[i][j]` is feature j of example i.
/// Normalise every feature over the batch with the batch's mean and variance (+ `eps` inside the
/// square root), then scale by `gamma[j]` and shift by `beta[j]`.
pub fn batch_norm_train(x: &[Vec<f64>], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<Vec<f64>> {
    todo!("exercise 5.1")
}
// ANCHOR_END: exercise_5_1

// ANCHOR: exercise_5_2
/// One update of the running statistics from the batch `x` (rows are examples), in PyTorch's and
/// candle_nn's convention for `momentum`. Returns the new (running_mean, running_var).
pub fn running_update(
    running_mean: &[f64],
    running_var: &[f64],
    x: &[Vec<f64>],
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    todo!("exercise 5.2")
}
// ANCHOR_END: exercise_5_2

// ANCHOR: exercise_5_3
/// The per-layer growth factor of a gradient profile towards the input: `profile[l]` is ‖∂L/∂Wˡ‖² of
/// hidden layer l + 1 (input side first). Drop `skip` layers at each end, fit ln profile[l] = a + b·l by
/// least squares, and return the factor by which the profile grows per layer going *towards the input*.
pub fn growth_towards_input(profile: &[f64], skip: usize) -> f64 {
    todo!("exercise 5.3")
}
// ANCHOR_END: exercise_5_3

// ANCHOR: exercise_5_4
/// A normalisation and a learning rate for `checks::deep_sigmoid()`, twenty sigmoid layers that
/// plain SGD cannot train: the check trains it with `checks::normalised_accuracy(norm, lr)` (600
/// SGD steps) and asks for 80 % held-out accuracy. Try your candidates with that function.
pub fn normalise_and_choose_rate() -> (lab::Norm, f64) {
    todo!("exercise 5.4")
}
// ANCHOR_END: exercise_5_4

/// Your checks: `cargo test -p ch05-batchnorm exercise_5_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch05-batchnorm exercise_5_1 -- --ignored"]
    fn exercise_5_1() {
        pass("5.1", checks::batch_norm_train(super::batch_norm_train));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch05-batchnorm exercise_5_2 -- --ignored"]
    fn exercise_5_2() {
        pass("5.2", checks::running_update(super::running_update));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch05-batchnorm exercise_5_3 -- --ignored"]
    fn exercise_5_3() {
        pass("5.3", checks::growth_towards_input(super::growth_towards_input));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch05-batchnorm exercise_5_4 -- --ignored"]
    fn exercise_5_4() {
        pass("5.4", checks::normalised_sigmoid(super::normalise_and_choose_rate));
    }
}

//! # Chapter 6 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 6.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch06-residual exercise_6_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

// ANCHOR: exercise_6_1
/// The second moment per coordinate of the residual stream after `l` blocks, starting from `q0`
/// after the stem, when every branch is He-initialised (it returns a signal with the second moment of
/// its own input), scaled by `alpha`, and — if `layer_norm` — fed through a LayerNorm first (so that
/// its input has second moment 1).
pub fn stream_second_moment(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
    todo!("exercise 6.1")
}
// ANCHOR_END: exercise_6_1

// ANCHOR: exercise_6_2
/// The Jacobian ∂x'/∂x (row i, column j: ∂x'ᵢ/∂xⱼ) of one residual block
/// x' = x + α·W₂ relu(W₁ x + b₁) + b₂ at the point `x`. `w1` and `w2` are square, row-major
/// (`w1[i][j]` multiplies xⱼ into unit i).
pub fn block_jacobian(w1: &[Vec<f64>], b1: &[f64], w2: &[Vec<f64>], alpha: f64, x: &[f64]) -> Vec<Vec<f64>> {
    todo!("exercise 6.2")
}
// ANCHOR_END: exercise_6_2

// ANCHOR: exercise_6_3
/// The normalised autocorrelation of a sequence, ρ(k) = Σᵢ (gᵢ − ḡ)(gᵢ₊ₖ − ḡ) / Σᵢ (gᵢ − ḡ)² for
/// k = 0, 1, …, `max_lag`, where ḡ is the mean of the whole sequence and each sum runs over every
/// index for which both terms exist.
pub fn autocorrelation(g: &[f64], max_lag: usize) -> Vec<f64> {
    todo!("exercise 6.3")
}
// ANCHOR_END: exercise_6_3

// ANCHOR: exercise_6_4
/// `plain` is `checks::plain_deep()`: 32 plain two-layer ReLU blocks, He-initialised, which 100
/// steps of SGD with momentum leave at the loss of a uniform guess. Return it with skip
/// connections — and whatever else the residual stream needs — so that the same budget
/// (`checks::final_loss(&config)`) brings the training loss below 0.5. Keep its size, activation
/// and seed, and leave LayerNorm off.
pub fn make_it_train(plain: lab::resnet::ResMlpConfig) -> lab::resnet::ResMlpConfig {
    todo!("exercise 6.4")
}
// ANCHOR_END: exercise_6_4

/// Your checks: `cargo test -p ch06-residual exercise_6_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch06-residual exercise_6_1 -- --ignored"]
    fn exercise_6_1() {
        pass("6.1", checks::stream_variance(super::stream_second_moment));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch06-residual exercise_6_2 -- --ignored"]
    fn exercise_6_2() {
        pass("6.2", checks::block_jacobian(super::block_jacobian));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch06-residual exercise_6_3 -- --ignored"]
    fn exercise_6_3() {
        pass("6.3", checks::autocorrelation(super::autocorrelation));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch06-residual exercise_6_4 -- --ignored"]
    fn exercise_6_4() {
        pass("6.4", checks::residual_trains(super::make_it_train));
    }
}

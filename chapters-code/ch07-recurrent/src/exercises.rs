//! # Chapter 7 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 7.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch07-recurrent exercise_7_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

// ANCHOR: exercise_7_1
/// Pascanu, Mikolov & Bengio's bound on ‖∂h_T/∂h_t‖₂ at lag k = T − t for the recurrence
/// h_t = φ(W h_{t−1} + U x_t + b), where |φ′| ≤ `gamma` everywhere: (γ·s₁(W))^k, with s₁(W) the
/// largest singular value of the square matrix `w` (row-major, `w[i][j]` multiplies h_j into unit i).
pub fn pascanu_bound(w: &[Vec<f64>], gamma: f64, lag: usize) -> f64 {
    todo!("exercise 7.1")
}
// ANCHOR_END: exercise_7_1

// ANCHOR: exercise_7_2
/// Clips a set of gradients by their global norm ‖g‖ = √(Σ over every tensor and entry of g²): when
/// ‖g‖ > `max`, scales every entry by max/‖g‖; otherwise leaves them alone. Returns ‖g‖ before
/// clipping.
pub fn clip_by_global_norm(grads: &mut [Vec<f64>], max: f64) -> f64 {
    todo!("exercise 7.2")
}
// ANCHOR_END: exercise_7_2

// ANCHOR: exercise_7_3
/// The LSTM's cell-state path: with c_k = f_k ⊙ c_{k−1} + i_k ⊙ g_k and the gates held fixed, the
/// diagonal of ∂c_T/∂c_t, for `forget[k]` the forget-gate vector f_k of step k = 0, …, T (so
/// T = forget.len() − 1) and 0 ≤ t ≤ T.
pub fn carousel_gain(forget: &[Vec<f64>], t: usize) -> Vec<f64> {
    todo!("exercise 7.3")
}
// ANCHOR_END: exercise_7_3

// ANCHOR: exercise_7_4
/// The forget-gate bias that lets `checks::memory_lstm`'s LSTM remember the first symbol over 20
/// steps: the check trains it (300 Adam steps) and asks for 90 % held-out accuracy. Try your
/// candidates with `checks::lstm_accuracy(forget_bias)`.
pub fn forget_bias() -> f64 {
    todo!("exercise 7.4")
}
// ANCHOR_END: exercise_7_4

/// Your checks: `cargo test -p ch07-recurrent exercise_7_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch07-recurrent exercise_7_1 -- --ignored"]
    fn exercise_7_1() {
        pass("7.1", checks::pascanu(super::pascanu_bound));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch07-recurrent exercise_7_2 -- --ignored"]
    fn exercise_7_2() {
        pass("7.2", checks::clipping(super::clip_by_global_norm));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch07-recurrent exercise_7_3 -- --ignored"]
    fn exercise_7_3() {
        pass("7.3", checks::carousel(super::carousel_gain));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch07-recurrent exercise_7_4 -- --ignored"]
    fn exercise_7_4() {
        pass("7.4", checks::remembers(super::forget_bias));
    }
}

//! # Chapter 9 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 9.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch09-diagnosis exercise_9_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

use crate::Setup;
use gradient_doctor::Report;

// ANCHOR: exercise_9_1
/// The update:data ratio of one layer after a plain SGD step, as the doctor reports it:
/// log10(lr·‖g‖/‖w‖), with ‖·‖ the Euclidean norm over every entry of the layer's gradients `grads`
/// and of its parameters `weights`.
pub fn update_data_log10(grads: &[f64], weights: &[f64], lr: f64) -> f64 {
    todo!("exercise 9.1")
}
// ANCHOR_END: exercise_9_1

// ANCHOR: exercise_9_2
/// The dead fraction of a ReLU layer on a batch: `h` holds `batch` rows of activations (row-major,
/// `h.len() / batch` units each); a unit is dead when it is zero on every example of the batch.
pub fn dead_fraction(h: &[f32], batch: usize) -> f64 {
    todo!("exercise 9.2")
}
// ANCHOR_END: exercise_9_2

// ANCHOR: exercise_9_3
/// The book's remedy: given a network that won't learn and the doctor's report on it, return the
/// network to train instead — same depth, with the remedies that the report's findings call for.
pub fn treat(sick: &Setup, report: &Report) -> Setup {
    todo!("exercise 9.3")
}
// ANCHOR_END: exercise_9_3

/// Your checks: `cargo test -p ch09-diagnosis exercise_9_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch09-diagnosis exercise_9_1 -- --ignored"]
    fn exercise_9_1() {
        pass("9.1", checks::update_data(super::update_data_log10));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch09-diagnosis exercise_9_2 -- --ignored"]
    fn exercise_9_2() {
        pass("9.2", checks::dead(super::dead_fraction));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch09-diagnosis exercise_9_3 -- --ignored"]
    fn exercise_9_3() {
        pass("9.3", checks::mystery(super::treat));
    }
}

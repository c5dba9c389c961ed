//! # Chapter 4 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 4.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch04-init exercise_4_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

// ANCHOR: exercise_4_1
/// The predicted standard deviation of the pre-activations zˡ of hidden layer `layer` (1-based) of
/// a deep ReLU MLP without biases, whose every layer has n·Var(W) = `n_var_w`, fed inputs whose
/// second moment per coordinate is `input_second_moment`.
pub fn relu_pre_activation_std(n_var_w: f64, input_second_moment: f64, layer: usize) -> f64 {
    todo!("exercise 4.1")
}
// ANCHOR_END: exercise_4_1

// ANCHOR: exercise_4_2
/// A `candle_nn::Init` that draws Xavier-uniform weights with gain `gain` for a layer with `fan_in`
/// inputs and `fan_out` outputs: Var(W) = gain² · 2 / (fan_in + fan_out).
pub fn xavier_uniform(fan_in: usize, fan_out: usize, gain: f64) -> candle_nn::Init {
    todo!("exercise 4.2")
}
// ANCHOR_END: exercise_4_2

// ANCHOR: exercise_4_3
/// χ₁ of a wide tanh network with weights N(0, σ_w²/fan_in) and biases N(0, σ_b²): iterate the
/// variance map q ← σ_w² E[tanh(√q z)²] + σ_b² to its fixed point q*, then return
/// σ_w² E[tanh′(√q* z)²]. Take the expectations with `lab::chaos::gaussian_expectation(g, q)`
/// (which computes E[g(√q z)] for z ~ N(0, 1)); `lab::chaos::phase` is the answer key, not a tool.
pub fn tanh_chi1(sigma_w2: f64, sigma_b2: f64) -> f64 {
    todo!("exercise 4.3")
}
// ANCHOR_END: exercise_4_3

// ANCHOR: exercise_4_4
/// `net` (a tanh MLP, 10 classes) arrives with every weight of a layer equal to 1/fan_in and every
/// bias zero. Change its weights so that SGD can tell its units apart. Read a layer's shape with
/// `layer.weight.dims2()?`, replace its weights with `layer.weight.set(&new_weights)?`, and draw
/// random numbers from `lab::init::rng(seed)` (for example with `lab::Init::tensor`).
pub fn break_symmetry(net: &lab::Mlp, seed: u64) -> anyhow::Result<()> {
    todo!("exercise 4.4")
}
// ANCHOR_END: exercise_4_4

/// Your checks: `cargo test -p ch04-init exercise_4_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch04-init exercise_4_1 -- --ignored"]
    fn exercise_4_1() {
        pass("4.1", checks::relu_variance(super::relu_pre_activation_std));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch04-init exercise_4_2 -- --ignored"]
    fn exercise_4_2() {
        pass("4.2", checks::xavier_uniform(super::xavier_uniform));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch04-init exercise_4_3 -- --ignored"]
    fn exercise_4_3() {
        pass("4.3", checks::tanh_chi1(super::tanh_chi1));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch04-init exercise_4_4 -- --ignored"]
    fn exercise_4_4() {
        pass("4.4", checks::symmetry(super::break_symmetry));
    }
}

//! # Chapter 8 exercises — edit this file
//!
//! Replace each `todo!()` with your code, then check it (exercise 8.1 shown; the others follow the
//! pattern):
//!
//! ```text
//! cargo test -p ch08-transformers exercise_8_1 -- --ignored
//! ```
//!
//! The checkers are in `src/checks.rs`, the reference solutions in `src/solutions.rs` (and, collapsed,
//! in the book). The exercise tests are `#[ignore]`d so that `cargo test` on the book stays green
//! while the stubs are unsolved; `-- --ignored` runs them.

// The stubs do not use their arguments yet.
#![allow(unused_variables)]

use lab::transformer::{TrainOptions, TransformerConfig};

// ANCHOR: exercise_8_1
/// The entropy, in nats, of the attention row softmax(`logits`): H = −Σⱼ pⱼ ln pⱼ. It must stay
/// finite for logits in the thousands (a saturated head's).
pub fn attention_entropy(logits: &[f64]) -> f64 {
    todo!("exercise 8.1")
}
// ANCHOR_END: exercise_8_1

// ANCHOR: exercise_8_2
/// The gradient through a softmax: given the `logits` z of one row and the gradient `grad_p` of the
/// loss with respect to p = softmax(z), return ∂L/∂z.
pub fn softmax_backward(logits: &[f64], grad_p: &[f64]) -> Vec<f64> {
    todo!("exercise 8.2")
}
// ANCHOR_END: exercise_8_2

// ANCHOR: exercise_8_3
/// Figure 8-5's 6-block Post-LN transformer, trained with Adam at a peak learning rate of 0.01 on the
/// sorting task, learns little. Change the model or the schedule — not the learning rate, the steps
/// or the batch — so that it learns: return the config and options to train.
pub fn make_it_train(config: TransformerConfig, opts: TrainOptions) -> (TransformerConfig, TrainOptions) {
    todo!("exercise 8.3")
}
// ANCHOR_END: exercise_8_3

/// Your checks: `cargo test -p ch08-transformers exercise_8_N -- --ignored`.
#[cfg(test)]
mod tests {
    use crate::checks;
    use chapter_kit::exercise::pass;

    #[test]
    #[ignore = "exercise: cargo test -p ch08-transformers exercise_8_1 -- --ignored"]
    fn exercise_8_1() {
        pass("8.1", checks::entropy(super::attention_entropy));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch08-transformers exercise_8_2 -- --ignored"]
    fn exercise_8_2() {
        pass("8.2", checks::softmax_grad(super::softmax_backward));
    }

    #[test]
    #[ignore = "exercise: cargo test -p ch08-transformers exercise_8_3 -- --ignored"]
    fn exercise_8_3() {
        pass("8.3", checks::trains(super::make_it_train));
    }
}

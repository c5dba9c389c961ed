//! Figures 7-12 and 7-13: Pascanu, Mikolov & Bengio's §2.1 at their scale — the largest singular
//! value of ∂h_T/∂h_0 for 64-unit tanh and sigmoid RNNs over 50 steps, against their bound.
//!
//! `cargo run --release -p ch07-recurrent --example jacobian_norm -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::JacobianNorm>()
}

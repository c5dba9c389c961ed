//! Figure 1-3: the chain-rule product ∂aᴸ/∂a⁰ against depth, measured by autograd.
//!
//! `cargo run --release -p ch01-gradients --example chain -- --help`

fn main() {
    chapter_kit::example_main::<ch01_gradients::ChainProduct>()
}

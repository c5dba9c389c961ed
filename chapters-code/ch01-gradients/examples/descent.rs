//! Figure 1-1: full-batch gradient descent on least squares at fractions of the stability limit 2/λ_max.
//!
//! `cargo run --release -p ch01-gradients --example descent -- --help`

fn main() {
    chapter_kit::example_main::<ch01_gradients::Descent>()
}

//! Figure 1-2: the finite-difference gradient check's relative error against the step h, f32 vs f64.
//!
//! `cargo run --release -p ch01-gradients --example gradcheck -- --help`

fn main() {
    chapter_kit::example_main::<ch01_gradients::Gradcheck>()
}

//! Figure 3-5: test accuracy against depth for sigmoid, tanh and ReLU networks on the digits, each
//! with the same training budget and the best of the same learning-rate grid.
//!
//! `cargo run --release -p ch03-relu --example relu_depth -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::DepthAccuracy>()
}

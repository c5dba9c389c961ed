//! Figure 3-4: ‖δ¹‖/‖δᴸ‖ while sigmoid, tanh and ReLU networks train on the digits.
//!
//! `cargo run --release -p ch03-relu --example relu_training -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::DeltaTraining>()
}

//! Figure 3-3: ‖δˡ‖ per hidden layer at initialisation for sigmoid, tanh and ReLU networks on the
//! digits, next to mean-field theory.
//!
//! `cargo run --release -p ch03-relu --example relu_profile -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::DeltaProfile>()
}

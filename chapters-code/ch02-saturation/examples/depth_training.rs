//! Figures 2-6 and 2-7: sigmoid networks of increasing depth trained with the same SGD budget — test
//! accuracy during training, and how far each layer's weights moved.
//!
//! `cargo run --release -p ch02-saturation --example depth_training -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::DepthTraining>()
}

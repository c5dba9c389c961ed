//! Figure 2-5: the speed of learning of every hidden layer across training, by Nielsen's protocol
//! (gradient descent on 1000 images, η = 0.1, L2 λ = 5, 500 epochs).
//!
//! `cargo run --release -p ch02-saturation --example speed_training -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::SpeedTraining>()
}

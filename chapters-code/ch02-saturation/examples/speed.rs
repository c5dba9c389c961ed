//! Figure 2-4: Nielsen's "speed of learning" ‖δˡ‖ = ‖∂C/∂bˡ‖ of every hidden layer at initialisation,
//! for sigmoid networks with 2, 3 and 4 hidden layers, next to his published values.
//!
//! `cargo run --release -p ch02-saturation --example speed -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::SpeedInit>()
}

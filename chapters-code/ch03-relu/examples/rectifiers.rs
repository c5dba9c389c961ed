//! Figures 3-1 and 3-2: ReLU, leaky ReLU, GELU, sigmoid and tanh, and their derivatives, with the
//! table of slopes that decides how an error signal fares through a random layer.
//!
//! `cargo run --release -p ch03-relu --example rectifiers -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::Activations>()
}

//! Figures 6-5 and 6-6: Balduzzi et al.'s shattered gradients — how correlated dy/dx is at
//! neighbouring inputs of a 1-D network, plain against residual, as depth grows.
//!
//! `cargo run --release -p ch06-residual --example shattered_gradients -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::Shattered>()
}

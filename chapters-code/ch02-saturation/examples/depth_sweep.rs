//! Figure 2-8: ‖δ¹‖/‖δᴸ‖ at initialisation against depth for sigmoid and tanh networks, measured and
//! predicted by mean-field theory.
//!
//! `cargo run --release -p ch02-saturation --example depth_sweep -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::DepthSweep>()
}

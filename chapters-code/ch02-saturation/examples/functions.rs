//! Figures 2-1 to 2-3: σ and tanh with their slopes, the product bound ∏σ′ ≤ 4⁻ᴸ against random
//! chains, and the window of inputs where one factor |w σ′(wa + b)| can reach 1.
//!
//! `cargo run --release -p ch02-saturation --example functions -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::Functions>()
}

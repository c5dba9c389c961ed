//! Figure 6-3: the second moment of the residual stream along depth, for α = 1, α = 1/√L, with and
//! without a LayerNorm in front of each branch, and with zero-initialised branches.
//!
//! `cargo run --release -p ch06-residual --example res_variance -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::ResVariance>()
}

//! Figure 3-9: the variance of log ‖xᴸ‖² over random He-initialised ReLU networks, against the sum
//! of the reciprocal widths Σ 1/nⱼ (Hanin & Rolnick's second failure mode), with the exact
//! finite-width prediction and the law 5 Σ 1/nⱼ.
//!
//! `cargo run --release -p ch03-relu --example length_variance -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::LengthVariance>()
}

//! Figures 5-6 and 5-7: Yang et al.'s (2019) gradient explosion of deep batch-normalised networks at
//! initialisation — the per-layer growth of ‖∂L/∂Wˡ‖² against the batch size.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_explosion -- --help`

fn main() {
    chapter_kit::example_main::<ch05_batchnorm::Explosion>()
}

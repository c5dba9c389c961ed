//! Figure 6-2: training plain, plain + LayerNorm and residual MLPs of 8 to 64 blocks on digits.
//!
//! `cargo run --release -p ch06-residual --example res_training -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::ResTraining>()
}

//! Figure 6-7: Veit et al.'s lesion study — delete one block of a trained plain or residual MLP at
//! test time and measure the damage.
//!
//! `cargo run --release -p ch06-residual --example res_lesion -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::Lesion>()
}

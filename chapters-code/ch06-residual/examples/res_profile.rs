//! Figure 6-1: ‖∂L/∂W₁ˡ‖ of every block at initialisation, plain against residual MLPs of 8 to 64
//! blocks.
//!
//! `cargo run --release -p ch06-residual --example res_profile -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::ResProfile>()
}

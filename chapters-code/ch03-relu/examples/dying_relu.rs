//! Figures 3-6 and 3-7: a few steps at a too-large learning rate kill most ReLU units for good; leaky
//! ReLU and GELU units come back.
//!
//! `cargo run --release -p ch03-relu --example dying_relu -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::Dying>()
}

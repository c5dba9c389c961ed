//! Figures 5-2 to 5-5: Ioffe & Szegedy's (2015, §4.1) experiment at small scale — a deep sigmoid MLP
//! on lab's digits with and without BatchNorm, the input distribution of one sigmoid over training,
//! the gradient profile, and evaluation in training mode.
//!
//! `cargo run --release -p ch05-batchnorm --example ioffe -- --help`

fn main() {
    chapter_kit::example_main::<ch05_batchnorm::Ioffe>()
}

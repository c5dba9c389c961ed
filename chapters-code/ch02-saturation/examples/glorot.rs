//! Figures 2-9 to 2-12: Glorot & Bengio's (2010, §3.1) experiment — the mean activation of every
//! hidden layer of a deep sigmoid network during SGD from the standard init, a tanh network for
//! contrast, their held-out error, and per-layer activation histograms.
//!
//! `cargo run --release -p ch02-saturation --example glorot -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::Glorot>()
}

//! Figures 5-8 and 5-9: chapter 2's saturating sigmoid network (Glorot & Bengio's setup) trained with
//! and without BatchNorm — the held-out error and the top hidden layer's mean activation over training.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_saturation -- --help`

fn main() {
    chapter_kit::example_main::<ch05_batchnorm::BnSaturation>()
}

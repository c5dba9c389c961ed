//! Figure 5-1: the input to every sigmoid of the chapter's network at initialisation, without and
//! with BatchNorm.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_forward -- --help`

fn main() {
    chapter_kit::example_main::<ch05_batchnorm::BnForward>()
}

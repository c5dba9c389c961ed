//! Figures 4-1 and 4-2: Glorot & Bengio's (2010, §4.2) tanh network at initialisation under the
//! "standard" and the "normalized" (Xavier) initialisation, and the mean singular value of its layer
//! Jacobians.
//!
//! `cargo run --release -p ch04-init --example glorot_init -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::Glorot>()
}

//! Figure 6-4: how far one SGD step moves the network's function, against depth, for standard,
//! scaled, SkipInit, zero-init and Fixup initialisations.
//!
//! `cargo run --release -p ch06-residual --example res_one_step -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::ResOneStep>()
}

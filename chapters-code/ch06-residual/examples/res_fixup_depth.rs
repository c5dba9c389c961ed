//! Figure 6-4b: how far one SGD step moves the function, divided by η, at 4 to 256 blocks — plain,
//! zero-init W₂ only and Fixup — with the spread over several networks.
//!
//! `cargo run --release -p ch06-residual --example res_fixup_depth -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::FixupDepth>()
}

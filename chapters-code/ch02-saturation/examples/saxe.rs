//! Figure 2-14: a three-layer linear network learns its target mode by mode, against Saxe,
//! McClelland & Ganguli's (2014) exact solution.
//!
//! `cargo run --release -p ch02-saturation --example saxe -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::Saxe>()
}

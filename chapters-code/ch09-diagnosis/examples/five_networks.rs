//! The verdict table and Figures 9-1 and 9-2: diagnoses the five broken networks of chapter 9 and
//! their fixes, prints each report (`--json` for the JSON) and writes the figures.
//!
//! `cargo run --release -p ch09-diagnosis --example five_networks -- --help`

fn main() {
    chapter_kit::example_main::<ch09_diagnosis::Diagnosis>()
}

//! Figures 8-5 and 8-6: Post-LN and Pre-LN transformers trained with Adam at several peak learning
//! rates, with and without a linear warm-up.
//!
//! `cargo run --release -p ch08-transformers --example warmup -- --help`

fn main() {
    chapter_kit::example_main::<ch08_transformers::Warmup>()
}

//! Figures 8-3 and 8-4: the residual stream's size and the error arriving on it, block by block, for
//! Post-LN, Pre-LN, Pre-LN with GPT-2's 1/√(2N) scaling and DeepNorm.
//!
//! `cargo run --release -p ch08-transformers --example residual_stream -- --help`

fn main() {
    chapter_kit::example_main::<ch08_transformers::ResidualStream>()
}

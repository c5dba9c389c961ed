//! Figures 8-1 and 8-2: per-block weight gradients of untrained Post-LN and Pre-LN transformers at
//! several depths, and the last block's gradient against depth (Xiong et al. 2020).
//!
//! `cargo run --release -p ch08-transformers --example ln_gradients -- --help`

fn main() {
    chapter_kit::example_main::<ch08_transformers::LnGradients>()
}

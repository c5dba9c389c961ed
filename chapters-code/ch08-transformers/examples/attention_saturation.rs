//! Figure 8-7: attention entropy and the gradient through the softmax as the attention logits grow,
//! with and without the 1/√d_k scale of Vaswani et al. (2017, §3.2.1).
//!
//! `cargo run --release -p ch08-transformers --example attention_saturation -- --help`

fn main() {
    chapter_kit::example_main::<ch08_transformers::AttentionSaturation>()
}

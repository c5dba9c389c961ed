//! Figure 4-3: He et al.'s (2015, §2.2) variance argument, measured — the std of every layer's
//! pre-activations in a deep ReLU MLP under He, Xavier and PyTorch's default initialisation.
//!
//! `cargo run --release -p ch04-init --example he_init -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::HeVariance>()
}

//! Figure 4-6: per-layer gradients of simulated tanh networks in the ordered phase, on the critical
//! line and in the chaotic phase, against the mean-field prediction (Schoenholz et al. 2017).
//!
//! `cargo run --release -p ch04-init --example chaos_gradients -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::ChaosGradients>()
}

//! Figure 4-5: the order-to-chaos phase diagram of tanh networks from the mean-field recursion
//! (Schoenholz et al. 2017): χ₁ over (σ_w², σ_b²).
//!
//! `cargo run --release -p ch04-init --example edge_of_chaos -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::ChaosPhase>()
}

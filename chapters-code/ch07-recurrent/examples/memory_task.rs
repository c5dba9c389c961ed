//! Figure 7-2: "remember the first symbol" — held-out accuracy against the sequence length for tanh
//! RNNs and LSTMs trained under the same budget with Adam (Figure 7-3, with SGD, is `memory_sgd`).
//!
//! `cargo run --release -p ch07-recurrent --example memory_task -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::Memory>()
}

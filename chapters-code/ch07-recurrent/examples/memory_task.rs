//! Figures 7-2 and 7-3: "remember the first symbol" — held-out accuracy against the sequence length
//! for tanh RNNs and LSTMs trained under the same budget, with Adam (`memory`) or, with
//! `--optimizer sgd`, SGD (`memory-sgd`, an experiment of its own with its own defaults).
//!
//! `cargo run --release -p ch07-recurrent --example memory_task -- --help`
//! `cargo run --release -p ch07-recurrent --example memory_task -- --optimizer sgd`

fn main() {
    if ch07_recurrent::memory::asks_for_sgd(std::env::args()) {
        chapter_kit::example_main::<ch07_recurrent::MemorySgd>()
    } else {
        chapter_kit::example_main::<ch07_recurrent::Memory>()
    }
}

//! Figure 7-3: the memory task of Figure 7-2 trained with SGD and momentum instead of Adam (its own
//! defaults: the learning-rate grid and momentum of the SGD comparison).
//!
//! `cargo run --release -p ch07-recurrent --example memory_sgd -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::MemorySgd>()
}

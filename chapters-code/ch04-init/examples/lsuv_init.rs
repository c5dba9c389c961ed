//! Figure 4-9: LSUV (Mishkin & Matas 2016) on ReLU, tanh, GELU and sigmoid networks — what it does to
//! each layer's forward variance and to the back-propagated signal.
//!
//! `cargo run --release -p ch04-init --example lsuv_init -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::Lsuv>()
}

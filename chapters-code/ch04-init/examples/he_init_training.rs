//! Figure 4-4: training a deep ReLU MLP from He, Xavier and LSUV initialisation.
//!
//! `cargo run --release -p ch04-init --example he_init_training -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::HeTraining>()
}

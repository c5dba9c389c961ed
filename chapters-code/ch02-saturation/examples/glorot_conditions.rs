//! Figure 2-13: the sigmoid experiment of Figure 2-9 under varied conditions (learning rate, inputs,
//! depth, init): when does the top hidden layer saturate?
//!
//! `cargo run --release -p ch02-saturation --example glorot_conditions -- --help`

fn main() {
    chapter_kit::example_main::<ch02_saturation::GlorotConditions>()
}

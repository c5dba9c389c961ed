//! Figure 7-10: the LSTM's forget-gate product over 100 steps, for forget-gate biases 0, 1 and 3,
//! beside the full gradient of its cell state.
//!
//! `cargo run --release -p ch07-recurrent --example forget_product -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::ForgetProduct>()
}

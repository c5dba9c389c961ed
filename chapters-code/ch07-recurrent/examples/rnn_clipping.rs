//! Figures 7-4 and 7-5: exploding gradients in a tanh RNN with ρ > 1, trained with plain SGD with and without
//! clipping the gradient by its global norm (Pascanu, Mikolov & Bengio 2013).
//!
//! `cargo run --release -p ch07-recurrent --example rnn_clipping -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::Clipping>()
}

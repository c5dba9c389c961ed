//! Figure 7-11: Hochreiter & Schmidhuber's adding problem — a tanh RNN and an LSTM trained alike at
//! several sequence lengths, several seeds each, against the constant predictor's error.
//!
//! `cargo run --release -p ch07-recurrent --example adding_problem -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::Adding>()
}

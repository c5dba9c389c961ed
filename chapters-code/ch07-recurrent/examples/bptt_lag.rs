//! Figures 7-1 and 7-6: the gradient of a recurrent network's loss with respect to its hidden state,
//! against how many steps back that state is — for tanh RNNs with W_hh = ρ·(orthogonal), LSTMs with
//! several forget-gate biases, and a GRU.
//!
//! `cargo run --release -p ch07-recurrent --example bptt_lag -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::BpttLag>()
}

//! Figures 7-7 to 7-9: Pascanu, Mikolov & Bengio's (2013) one-unit recurrence x_t = w·σ(x_{t−1}) + b,
//! its error surface over (w, b) and its gradient norm, and gradient descent from random starts
//! with and without clipping.
//!
//! `cargo run --release -p ch07-recurrent --example cliff -- --help`

fn main() {
    chapter_kit::example_main::<ch07_recurrent::Cliff>()
}

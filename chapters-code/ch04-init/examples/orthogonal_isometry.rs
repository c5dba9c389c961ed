//! Figures 4-7 and 4-8: the singular values of the input–output Jacobian of critical linear, tanh and
//! ReLU networks with Gaussian or orthogonal weights (Pennington, Schoenholz & Ganguli 2017).
//!
//! `cargo run --release -p ch04-init --example orthogonal_isometry -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::Isometry>()
}

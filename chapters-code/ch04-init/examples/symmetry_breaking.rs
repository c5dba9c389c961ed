//! Figure 4-10: a tanh MLP trained from all zeros, from one constant and from a random draw — how
//! far apart its units get, and what it learns.
//!
//! `cargo run --release -p ch04-init --example symmetry_breaking -- --help`

fn main() {
    chapter_kit::example_main::<ch04_init::Symmetry>()
}

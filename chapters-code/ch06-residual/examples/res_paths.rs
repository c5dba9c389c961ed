//! Figure 6-8: Veit et al.'s path lengths — Binomial(n, ½) computed exactly — and the gradient
//! each path length carries in a residual MLP, at initialisation and trained.
//!
//! `cargo run --release -p ch06-residual --example res_paths -- --help`

fn main() {
    chapter_kit::example_main::<ch06_residual::Paths>()
}

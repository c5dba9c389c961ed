//! Figure 3-8: the share of random narrow ReLU networks that are born dead, against depth, with the
//! bounds derived in the chapter.
//!
//! `cargo run --release -p ch03-relu --example born_dead -- --help`

fn main() {
    chapter_kit::example_main::<ch03_relu::BornDead>()
}

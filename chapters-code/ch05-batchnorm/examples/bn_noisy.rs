//! Figure 5-10: Santurkar et al.'s (2018, §2.1) "noisy" BatchNorm — random, time-varying noise
//! injected after every BatchNorm layer of Figure 5-2's network — against BatchNorm and no BatchNorm.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_noisy -- --help`

fn main() {
    chapter_kit::example_main::<ch05_batchnorm::NoisyBatchNorm>()
}

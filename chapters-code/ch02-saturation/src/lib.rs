#![doc = include_str!("../../../src/02-saturation.md")]
//!
//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) run by its example
//! and by `book figures` (the [`GENERATORS`]):
//!
//! - [`functions`]: Figures 2-1 to 2-3, σ and tanh, the product bound and the window (closed forms in
//!   [`window`]);
//! - [`speed`]: Figure 2-4, Nielsen's speed of learning at initialisation, and the book's gˡ beside it
//!   (his networks, cost, data and protocol are in [`nielsen`]);
//! - [`speed_training`]: Figure 2-5, the speed of learning and gˡ across training;
//! - [`depth_training`]: Figures 2-6 and 2-7, depth against a fixed training budget;
//! - [`sweep`]: Figure 2-8, g¹/gᴸ against depth, measured and predicted;
//! - [`glorot`]: Figures 2-9 to 2-12, Glorot & Bengio's saturation experiment;
//! - [`conditions`]: Figure 2-13, that experiment under varied conditions;
//! - [`saxe`]: Figure 2-14, a deep linear network's mode-by-mode learning against Saxe et al.'s exact
//!   solution;
//! - [`exercises`], [`solutions`] and [`checks`]: the chapter's checked exercises.

pub mod checks;
pub mod conditions;
pub mod depth_training;
pub mod exercises;
pub mod functions;
pub mod glorot;
pub mod nielsen;
pub mod saxe;
pub mod solutions;
pub mod speed;
pub mod speed_training;
pub mod sweep;
pub mod window;

pub use conditions::{ConditionsOptions, GlorotConditions};
pub use depth_training::{DepthTraining, DepthTrainingOptions};
pub use functions::{Functions, FunctionsOptions};
pub use glorot::{Glorot, GlorotOptions};
pub use saxe::{Saxe, SaxeOptions};
pub use speed::{SpeedInit, SpeedInitOptions};
pub use speed_training::{SpeedTraining, SpeedTrainingOptions};
pub use sweep::{DepthSweep, SweepOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<Functions>(),
    Generator::of::<SpeedInit>(),
    Generator::of::<SpeedTraining>(),
    Generator::of::<DepthTraining>(),
    Generator::of::<DepthSweep>(),
    Generator::of::<Glorot>(),
    Generator::of::<GlorotConditions>(),
    Generator::of::<Saxe>(),
];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::figure::GenOptions;

    #[test]
    fn every_generator_runs_in_quick_mode() -> anyhow::Result<()> {
        let go = GenOptions::QUICK;
        let mut names = Vec::new();
        for g in GENERATORS {
            let t = std::time::Instant::now();
            let figures = (g.run)(&go)?;
            eprintln!("{}: {:?}", g.name, t.elapsed());
            assert!(!figures.is_empty(), "{} produced nothing", g.name);
            for f in figures {
                assert_eq!(f.chapter, "ch02");
                assert!(f.svg.is_empty(), "quick mode draws no SVG");
                names.push(f.name);
            }
        }
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "two generators write the same figure");
        Ok(())
    }
}

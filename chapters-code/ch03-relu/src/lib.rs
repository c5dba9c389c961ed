#![doc = include_str!("../../../src/03-relu.md")]
//!
//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) whose example is
//! `examples/<name>.rs`:
//!
//! - [`shapes`]: the activations and the averages of their slopes (Figures 3-1 and 3-2, `rectifiers`);
//! - [`profile`]: the gradient at each layer, gˡ, at initialisation (Figure 3-3, `relu_profile`);
//! - [`training`]: g¹/gᴸ during training (Figure 3-4, `relu_training`);
//! - [`depth`]: test accuracy against depth (Figure 3-5, `relu_depth`);
//! - [`dying`]: dying ReLU after a too-large learning rate (Figures 3-6 and 3-7, `dying_relu`);
//! - [`born_dead`]: narrow ReLU networks born dead (Figure 3-8, `born_dead`);
//! - [`wandering`]: the variance of log ‖xᴸ‖² over random networks against Σ 1/nₗ (Figure 3-9,
//!   `length_variance`).
//!
//! Their shared setup: [`digits`] (the task) and [`families`] (the networks compared, and their
//! flags). The exercises: [`exercises`] (stubs), [`solutions`], [`checks`] (checkers and registry).
//!
//! Every experiment runs on chapter 2's task — lab's procedurally drawn 28×28 digits, seed 0 — with
//! fan-in-scaled Gaussian weights N(0, σ_w²/n) and zero biases, so the ReLU curves sit next to sigmoid
//! and tanh curves measured the same way. Quick mode (the figure-freshness test) runs a prefix of each
//! experiment: the same seeds, fewer of them, or fewer steps, so its JSON is a sub-document of the full.

pub mod born_dead;
pub mod checks;
pub mod depth;
pub mod digits;
pub mod dying;
pub mod exercises;
pub mod families;
pub mod profile;
pub mod shapes;
pub mod solutions;
pub mod training;
pub mod wandering;

pub use born_dead::{BornDead, BornDeadOptions};
pub use depth::{DepthAccuracy, DepthOptions};
pub use dying::{Dying, DyingOptions};
pub use families::{NetFamily, TrainedFamily};
pub use profile::{DeltaProfile, ProfileOptions};
pub use shapes::{Activations, ActivationsOptions};
pub use training::{DeltaTraining, TrainingOptions};
pub use wandering::{LengthVariance, LengthVarianceOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<Activations>(),
    Generator::of::<DeltaProfile>(),
    Generator::of::<DeltaTraining>(),
    Generator::of::<DepthAccuracy>(),
    Generator::of::<Dying>(),
    Generator::of::<BornDead>(),
    Generator::of::<LengthVariance>(),
];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

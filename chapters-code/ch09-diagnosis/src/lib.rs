#![doc = include_str!("../../../src/09-diagnosis.md")]
//!
//! ## The crate
//!
//! - [`cases`]: the five networks that won't learn and their fixes, each trained with the doctor on;
//! - [`watch`]: the [`StepObserver`](lab::train::StepObserver) that hands `lab`'s training loop to the
//!   doctor;
//! - [`diagnosis`]: the chapter's figures, an [`Experiment`](chapter_kit::Experiment) run by the
//!   `five_networks` example and by `book figures`: the verdict table, the deep sigmoid network's
//!   dashboards before and after the fix, and every network's time series (the interactive
//!   Figure 9-3);
//! - [`exercises`], [`solutions`] and [`checks`]: the chapter's exercises.

pub mod cases;
pub mod checks;
pub mod diagnosis;
pub mod exercises;
pub mod solutions;
pub mod watch;

pub use cases::{Case, Setup, Variant, diagnose, train_setup};
pub use diagnosis::{Diagnosis, DiagnosisOptions};
pub use watch::Watch;

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its example and by `book figures`.
pub const GENERATORS: &[Generator] = &[Generator::of::<Diagnosis>()];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#![doc = include_str!("../../../src/09-diagnosis.md")]

pub mod cases;
pub mod checks;
pub mod exercises;
pub mod figures;
pub mod solutions;
pub mod watch;

pub use cases::{Case, Setup, Variant, diagnose, train_setup};
pub use watch::Watch;

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by `book figures`.
pub const GENERATORS: &[Generator] =
    &[Generator { chapter: "ch09", name: "diagnosis", run: figures::diagnosis_figures }];

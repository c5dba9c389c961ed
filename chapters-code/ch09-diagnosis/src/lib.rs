//! Companion crate of chapter 9, "Diagnosing a network that won't learn": the book's five broken
//! networks, each diagnosed by [`gradient_doctor`] and fixed with the book's remedy.

pub mod cases;
pub mod figures;
pub mod watch;

pub use cases::{Case, Variant, diagnose};
pub use watch::Watch;

use lab::figure::Generator;

/// The chapter's figure generators (not yet registered in the book's driver: chapter 9's text is to
/// come).
pub const GENERATORS: &[Generator] =
    &[Generator { chapter: "ch09", name: "diagnosis", run: figures::diagnosis_figures }];

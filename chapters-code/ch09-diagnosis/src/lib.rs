//! Companion crate of chapter 9, "Diagnosing a network that won't learn": the book's five broken
//! networks, each diagnosed by [`gradient_doctor`] and fixed with the book's remedy.

pub mod cases;
pub mod watch;

pub use cases::{Case, Variant, diagnose};
pub use watch::Watch;

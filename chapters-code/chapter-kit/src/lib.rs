//! # chapter-kit — what makes a crate a chapter of the book
//!
//! [`lab`] is the laboratory (networks, initialisation, probes, training, data, plots). This crate is
//! the plumbing every chapter crate shares, so a chapter crate holds only its experiments:
//!
//! - [`figure`]: the one shape of a figure ([`Experiment`]: options → `run` → typed data → `draw`),
//!   figures written atomically (SVG + JSON), the generator registry, and the freshness comparison;
//! - [`example`]: the one `main` every figure example calls ([`example_main`]);
//! - [`cli`]: flag parsers and the flags every example shares, with one clear error line on bad input;
//! - [`exercise`](mod@exercise): checked exercises (stubs, solutions, checkers that must be able to fail);
//! - [`example_check`]: the checks every crate's `tests/cli.rs` runs on its example binaries.

pub mod cli;
pub mod example;
pub mod example_check;
pub mod exercise;
pub mod figure;

pub use example::example_main;
pub use figure::{Experiment, GenOptions};

/// CONTRIBUTING.md's recipes ("how to add a figure" is a complete program), compiled and run as this
/// crate's doctests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../CONTRIBUTING.md")]
pub struct ContributingRecipes;

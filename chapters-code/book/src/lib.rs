//! The book's driver, as a library so the binary and the whole-book tests run the same code:
//! [`figures`] regenerates figures, [`site`] builds the book (with the [`exercise`], [`quiz`],
//! [`values`] and [`math`] preprocessors, and the [`teaching`] assets), [`serve`] serves it.

pub mod assets;
pub mod exercise;
pub mod figures;
pub mod interactive;
pub mod listings;
pub mod markdown;
pub mod math;
pub mod quiz;
pub mod runner;
pub mod sandbox;
pub mod serve;
pub mod site;
pub mod teaching;
pub mod values;

use chapter_kit::exercise::Exercise;
use chapter_kit::figure::Generator;
use std::path::PathBuf;

/// Every chapter's figure generators. Adding a chapter is one line here (and its crate in
/// Cargo.toml).
pub fn all_generators() -> Vec<Generator> {
    [
        ch01_gradients::GENERATORS,
        ch02_saturation::GENERATORS,
        ch03_relu::GENERATORS,
        ch04_init::GENERATORS,
        ch05_batchnorm::GENERATORS,
        ch06_residual::GENERATORS,
        ch07_recurrent::GENERATORS,
        ch08_transformers::GENERATORS,
        ch09_diagnosis::GENERATORS,
    ]
    .concat()
}

/// Every chapter's checked exercises (`checks::EXERCISES` of each chapter crate). Adding a chapter's
/// exercises is one entry here.
pub fn all_exercises() -> Vec<Exercise> {
    [
        ch01_gradients::checks::EXERCISES,
        ch02_saturation::checks::EXERCISES,
        ch03_relu::checks::EXERCISES,
        ch04_init::checks::EXERCISES,
        ch05_batchnorm::checks::EXERCISES,
        ch06_residual::checks::EXERCISES,
        ch07_recurrent::checks::EXERCISES,
        ch08_transformers::checks::EXERCISES,
        ch09_diagnosis::checks::EXERCISES,
    ]
    .concat()
}

/// The workspace root: the folder holding book.toml, src/ and chapters-code/.
pub fn workspace_root() -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

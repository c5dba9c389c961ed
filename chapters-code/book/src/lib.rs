//! The book's driver, as a library so the binary and the whole-book tests run the same code:
//! [`figures`] regenerates figures, [`site`] builds the book (with the [`values`] and [`math`]
//! preprocessors), [`serve`] serves it.

pub mod figures;
pub mod markdown;
pub mod math;
pub mod serve;
pub mod site;
pub mod values;

use lab::figure::Generator;
use std::path::PathBuf;

/// Every chapter's figure generators. Adding a chapter is one line here (and its crate in
/// Cargo.toml).
pub fn all_generators() -> Vec<Generator> {
    [ch01_gradients::GENERATORS].concat()
}

/// The workspace root: the folder holding book.toml, src/ and chapters-code/.
pub fn workspace_root() -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

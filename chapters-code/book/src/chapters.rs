//! The book's chapters: the one table that says, for each chapter, its id, its page, its crate, its
//! figure generators and its exercises. Every part of the driver reads it — `book figures` (which
//! crate a chapter's figures depend on), the exercise directive (where the stub and the solution
//! live), the listings and their runner (which crate a listing compiles against), `book outputs
//! --chapter` — and nothing derives a chapter's crate any other way (no folder-prefix search, no
//! scanning of `lib.rs`, no `ch01` ↔ `01-` file-name rule).
//!
//! **Adding a chapter** is one row in [`CHAPTERS`], plus the crate as a dependency in the driver's
//! `Cargo.toml` (so that its `GENERATORS` and `checks::EXERCISES` link in). The tests at the end of
//! this file check the table against the workspace: each row's folder, package name and
//! `#![doc = include_str!("../../../src/<page>")]`, and that every chapter crate has a row.

use chapter_kit::exercise::Exercise;
use chapter_kit::figure::Generator;
use std::path::{Path, PathBuf};

/// One chapter of the book.
#[derive(Clone, Copy)]
pub struct Chapter {
    /// `ch04`: the name of its figures' folder (`src/figures/ch04/`), and the `chapter` of its
    /// generators and exercises.
    pub id: &'static str,
    /// Its page, relative to `src/`: `04-initialization.md`. The crate's docs are this file, so its
    /// listings are the crate's doctests.
    pub markdown: &'static str,
    /// Other pages the crate also carries as docs (a module's `#![doc = include_str!(…)]`): their
    /// listings are doctests of this crate too, and run against it.
    pub also_documents: &'static [&'static str],
    /// The crate's folder under `chapters-code/`, which is also its package name: `ch04-init`.
    /// Its Rust name is [`Chapter::rust_name`].
    pub package: &'static str,
    /// Its figure generators (`ch04_init::GENERATORS`).
    pub generators: &'static [Generator],
    /// Its checked exercises (`ch04_init::checks::EXERCISES`).
    pub exercises: &'static [Exercise],
}

/// The chapters, in the book's order.
pub const CHAPTERS: &[Chapter] = &[
    Chapter {
        id: "ch01",
        markdown: "01-gradients.md",
        also_documents: &["rust-and-candle.md"],
        package: "ch01-gradients",
        generators: ch01_gradients::GENERATORS,
        exercises: ch01_gradients::checks::EXERCISES,
    },
    Chapter {
        id: "ch02",
        markdown: "02-saturation.md",
        also_documents: &[],
        package: "ch02-saturation",
        generators: ch02_saturation::GENERATORS,
        exercises: ch02_saturation::checks::EXERCISES,
    },
    Chapter {
        id: "ch03",
        markdown: "03-relu.md",
        also_documents: &[],
        package: "ch03-relu",
        generators: ch03_relu::GENERATORS,
        exercises: ch03_relu::checks::EXERCISES,
    },
    Chapter {
        id: "ch04",
        markdown: "04-initialization.md",
        also_documents: &[],
        package: "ch04-init",
        generators: ch04_init::GENERATORS,
        exercises: ch04_init::checks::EXERCISES,
    },
    Chapter {
        id: "ch05",
        markdown: "05-batch-norm.md",
        also_documents: &[],
        package: "ch05-batchnorm",
        generators: ch05_batchnorm::GENERATORS,
        exercises: ch05_batchnorm::checks::EXERCISES,
    },
    Chapter {
        id: "ch06",
        markdown: "06-residual.md",
        also_documents: &[],
        package: "ch06-residual",
        generators: ch06_residual::GENERATORS,
        exercises: ch06_residual::checks::EXERCISES,
    },
    Chapter {
        id: "ch07",
        markdown: "07-recurrent.md",
        also_documents: &[],
        package: "ch07-recurrent",
        generators: ch07_recurrent::GENERATORS,
        exercises: ch07_recurrent::checks::EXERCISES,
    },
    Chapter {
        id: "ch08",
        markdown: "08-transformers.md",
        also_documents: &[],
        package: "ch08-transformers",
        generators: ch08_transformers::GENERATORS,
        exercises: ch08_transformers::checks::EXERCISES,
    },
    Chapter {
        id: "ch09",
        markdown: "09-diagnosis.md",
        also_documents: &[],
        package: "ch09-diagnosis",
        generators: ch09_diagnosis::GENERATORS,
        exercises: ch09_diagnosis::checks::EXERCISES,
    },
];

/// A package's Rust name: `ch04-init` → `ch04_init` (cargo's rule). The only place the driver turns
/// one into the other.
pub fn rust_name(package: &str) -> String {
    package.replace('-', "_")
}

impl Chapter {
    /// The crate's Rust name (`ch04_init`), as doctests and `--extern` know it.
    pub fn rust_name(&self) -> String {
        rust_name(self.package)
    }

    /// The crate's folder in the workspace at `workspace`.
    pub fn crate_dir(&self, workspace: &Path) -> PathBuf {
        workspace.join("chapters-code").join(self.package)
    }

    /// Every page whose listings are this crate's doctests: [`Chapter::markdown`] first.
    pub fn pages(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.markdown).chain(self.also_documents.iter().copied())
    }
}

/// The chapter with id `id` (`ch04`).
pub fn by_id(id: &str) -> Option<&'static Chapter> {
    CHAPTERS.iter().find(|c| c.id == id)
}

/// The chapter whose id is `id`, or an error naming the known ids.
pub fn require(id: &str) -> anyhow::Result<&'static Chapter> {
    by_id(id).ok_or_else(|| {
        let known: Vec<_> = CHAPTERS.iter().map(|c| c.id).collect();
        anyhow::anyhow!("no chapter `{id}` in the book's chapters table (known: {})", known.join(", "))
    })
}

/// The chapter whose crate compiles the listings of `page` (a file relative to `src/`) as
/// doctests: its own chapter, or the chapter whose crate also documents the page.
pub fn of_page(page: &Path) -> Option<&'static Chapter> {
    CHAPTERS.iter().find(|c| c.pages().any(|p| Path::new(p) == page))
}

/// Every chapter's figure generators, in the book's order.
pub fn all_generators() -> Vec<Generator> {
    CHAPTERS.iter().flat_map(|c| c.generators.iter().copied()).collect()
}

/// Every chapter's checked exercises, in the book's order.
pub fn all_exercises() -> Vec<Exercise> {
    CHAPTERS.iter().flat_map(|c| c.exercises.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        crate::files::workspace_root()
    }

    #[test]
    fn every_row_matches_its_crate_and_pages() {
        let ws = workspace();
        for (i, chapter) in CHAPTERS.iter().enumerate() {
            assert_eq!(chapter.id, format!("ch{:02}", i + 1), "rows are in the book's order");
            let dir = chapter.crate_dir(&ws);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let manifest: toml::Table = manifest.parse().unwrap();
            assert_eq!(manifest["package"]["name"].as_str(), Some(chapter.package), "{}", dir.display());
            let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
            let included: Vec<String> = lib
                .lines()
                .filter_map(|l| {
                    let l: String = l.split_whitespace().collect();
                    let rest = l.strip_prefix("#![doc=include_str!(\"../../../src/")?;
                    Some(rest.strip_suffix("\")]")?.to_string())
                })
                .collect();
            let pages: Vec<String> = chapter.pages().map(String::from).collect();
            assert_eq!(included, pages, "the pages {} includes as docs", chapter.package);
            assert!(ws.join("src").join(chapter.markdown).is_file());
            for g in chapter.generators {
                assert_eq!(g.chapter, chapter.id, "generator {}", g.name);
            }
            for e in chapter.exercises {
                assert_eq!(e.chapter, chapter.id, "exercise {}", e.id);
            }
        }
    }

    #[test]
    fn every_chapter_crate_has_a_row() {
        let mut folders: Vec<String> = std::fs::read_dir(workspace().join("chapters-code"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ch") && n.as_bytes().get(2).is_some_and(u8::is_ascii_digit))
            .collect();
        folders.sort();
        let rows: Vec<&str> = CHAPTERS.iter().map(|c| c.package).collect();
        assert_eq!(folders, rows);
    }

    #[test]
    fn lookups() {
        assert_eq!(rust_name("ch04-init"), "ch04_init");
        assert_eq!(by_id("ch04").unwrap().rust_name(), "ch04_init");
        assert!(require("ch99").err().unwrap().to_string().contains("ch01, ch02"));
        assert_eq!(of_page(Path::new("rust-and-candle.md")).unwrap().id, "ch01");
        assert_eq!(of_page(Path::new("04-initialization.md")).unwrap().package, "ch04-init");
        assert!(of_page(Path::new("summary.md")).is_none());
        assert_eq!(all_generators().len(), CHAPTERS.iter().map(|c| c.generators.len()).sum::<usize>());
    }
}

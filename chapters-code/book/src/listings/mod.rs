//! The chapters' runnable listings: finding them, running them, recording what they print.
//!
//! - here: what a listing is, its hash, the recorded outputs (`src/outputs/*.json`) and
//!   `book outputs` ([`record_outputs`]);
//! - [`runner`]: compiles and runs one listing as `cargo test` runs it as a doctest (the page's Run
//!   button under `book serve`, and `book outputs`);
//! - [`sandbox`]: the limits a run is held to (time, memory, output) and the process group it dies
//!   with.
//!
//! A *listing* is a ```` ```rust ```` block of a chapter file without `ignore`, `no_run`,
//! `compile_fail`, `noplayground` or `noplaypen`: a complete program that the chapter crate's
//! doctests compile and run. [`program_text`] restores its hidden `# ` lines (mdBook keeps them in
//! the page as hidden spans, and rustdoc compiles them), and [`code_hash`] names that text.
//!
//! `book outputs` (and `book figures`) runs each listing through the same runner as the page's Run
//! button and records what it printed in `src/outputs/<chapter file stem>.json`, one entry per
//! listing, keyed by the hash of its code. The `listings` preprocessor
//! ([`crate::preprocess::listings`]) puts the recorded output under each listing, and marks the listing for the page's Run button (`assets/run.js`). A listing
//! whose code changed has no entry with its new hash: the build shows no stale output, and the
//! `outputs` test fails until `book outputs` records it again.

pub mod runner;
pub mod sandbox;

use crate::chapters;
use crate::markdown::{self, pulldown_cmark::CodeBlockKind, pulldown_cmark::Event, pulldown_cmark::Tag};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Attributes that make a Rust block something other than a program to run.
const NOT_RUNNABLE: &[&str] = &["ignore", "no_run", "compile_fail", "noplayground", "noplaypen"];

/// One runnable listing of a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// 1-based position among the chapter's runnable listings.
    pub index: usize,
    /// 1-based line of the opening fence in the chapter file.
    pub line: usize,
    /// The whole program, hidden lines restored.
    pub code: String,
}

impl Listing {
    pub fn hash(&self) -> String {
        code_hash(&self.code)
    }

    /// The first line of the code, which names the listing in this book (`// Listing 1-1: …`).
    pub fn title(&self) -> &str {
        self.code.lines().next().unwrap_or_default().trim()
    }
}

/// Whether a fenced block with info string `info` is a runnable Rust listing.
pub fn is_runnable(info: &str) -> bool {
    let block = markdown::CodeBlock { info: info.trim().to_string(), line: 0, source: 0..0 };
    block.is_rust() && !block.attributes().iter().any(|a| NOT_RUNNABLE.contains(a))
}

/// The program a Rust block stands for: mdBook's and rustdoc's hidden-line rule, applied line by
/// line — `# code` and a lone `#` are hidden lines (shown without the marker), `##` escapes a `#`,
/// and `#[attr]` or `#!` stay as they are.
pub fn program_text(block: &str) -> String {
    let mut out = String::with_capacity(block.len());
    for line in block.lines() {
        let indent_len = line.len() - line.trim_start().len();
        let (indent, rest) = line.split_at(indent_len);
        match rest.strip_prefix('#') {
            Some("") => out.push_str(indent),
            Some(after) if after.starts_with(' ') => {
                out.push_str(indent);
                out.push_str(&after[1..]);
            }
            Some(after) if after.starts_with('#') => {
                out.push_str(indent);
                out.push_str(after);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    let trimmed = out.trim_end_matches(['\n', ' ']).len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// A stable name for a listing's code: FNV-1a (64 bits) of the text, line endings normalised.
pub fn code_hash(code: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in code.trim_end().replace("\r\n", "\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Every runnable listing of a chapter's Markdown, in order.
pub fn listings(text: &str) -> Vec<Listing> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (event, range) in markdown::parser(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if is_runnable(&info) => {
                current = Some((markdown::line_of(text, range.start), String::new()));
            }
            Event::Text(t) => {
                if let Some((_, code)) = current.as_mut() {
                    code.push_str(&t);
                }
            }
            Event::End(_) => {
                if let Some((line, code)) = current.take() {
                    found.push(Listing { index: found.len() + 1, line, code: program_text(&code) });
                }
            }
            _ => {}
        }
    }
    found
}

/// What one listing printed when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The listing's first line, for people reading the file.
    pub title: String,
    /// [`code_hash`] of the code that printed this.
    pub code_hash: String,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A chapter's recorded outputs (`src/outputs/<stem>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outputs {
    pub about: String,
    pub listings: Vec<Recorded>,
}

impl Outputs {
    pub fn by_hash(&self, hash: &str) -> Option<&Recorded> {
        self.listings.iter().find(|r| r.code_hash == hash)
    }
}

/// Where the recorded outputs of `src/<chapter>` live: `src/outputs/<stem>.json`.
pub fn outputs_path(src_dir: &Path, chapter: &Path) -> PathBuf {
    let stem = chapter.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let sub = chapter.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = sub.map_or_else(|| src_dir.join("outputs"), |sub| src_dir.join("outputs").join(sub));
    dir.join(format!("{stem}.json"))
}

/// The recorded outputs of `src/<chapter>`, empty when there are none yet.
pub fn read_outputs(src_dir: &Path, chapter: &Path) -> Result<Outputs> {
    let path = outputs_path(src_dir, chapter);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Outputs::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn write_outputs(src_dir: &Path, chapter: &Path, outputs: &Outputs) -> Result<PathBuf> {
    let path = outputs_path(src_dir, chapter);
    chapter_kit::figure::write_atomic(&path, (serde_json::to_string_pretty(outputs)? + "\n").as_bytes())?;
    Ok(path)
}

/// The text at the top of every outputs file.
pub fn about(chapter: &Path) -> String {
    format!(
        "What each Rust listing of src/{} printed, recorded by `cargo run -p book -- outputs` and shown \
         under the listing in the built book. Entries are matched to listings by the hash of their code.",
        chapter.display()
    )
}

/// The chapter files (relative to `src/`) that SUMMARY.md lists, in order.
pub fn summary_chapters(src_dir: &Path) -> Result<Vec<PathBuf>> {
    let summary = std::fs::read_to_string(src_dir.join("SUMMARY.md")).context("reading SUMMARY.md")?;
    Ok(markdown::parser(&summary)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. }) if !dest_url.is_empty() => Some(PathBuf::from(dest_url.as_ref())),
            _ => None,
        })
        .filter(|p| src_dir.join(p).is_file())
        .collect())
}

/// The first listing of the book and its crate: what the server compiles at start, so that the
/// reader's first Run finds everything warm.
pub fn first_listing(workspace: &Path) -> Option<(String, Option<String>)> {
    let src_dir = workspace.join("src");
    summary_chapters(&src_dir).ok()?.into_iter().find_map(|chapter| {
        let text = std::fs::read_to_string(src_dir.join(&chapter)).ok()?;
        let first = listings(&text).into_iter().next()?;
        Some((first.code, crate_of(&chapter)))
    })
}

/// The Rust name of the crate whose doctests the listings of `page` (relative to `src/`) are
/// (`ch01_gradients`), from the chapters table; `None` for a page no chapter crate carries.
pub fn crate_of(page: &Path) -> Option<String> {
    chapters::of_page(page).map(chapters::Chapter::rust_name)
}

/// Whether `chapter` (a file relative to `src/`) is selected by `selection`: empty selects all;
/// an entry is a chapter id (`ch01`, the page of that chapter in the chapters table) or a file
/// name (`01-gradients.md`).
pub fn selected(chapter: &Path, selection: &[String]) -> bool {
    let name = chapter.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    selection.is_empty()
        || selection.iter().any(|s| {
            *s == name
                || *s == chapter.display().to_string()
                || chapters::by_id(s).is_some_and(|c| Path::new(c.markdown) == chapter)
        })
}

/// Which listings [`record_outputs`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// Only listings whose code has no recorded output (`book outputs`).
    Missing,
    /// Those, and every listing of a chapter whose outputs were last recorded in full before a
    /// change to the libraries listings link ([`runner::library_sources`]): `book figures`, whose
    /// figures come from the same code. The record of when is a stamp per chapter in the runner's
    /// scratch folder (`recorded/`), so nothing under `src/` changes when nothing needs to run.
    Stale,
    /// Every listing (`book outputs --all`).
    All,
}

impl Rerun {
    /// Whether a chapter's listings all run, given when they last all ran (`recorded`) and when the
    /// libraries they link last changed.
    pub fn runs_every_listing(
        self,
        recorded: Option<std::time::SystemTime>,
        libraries_changed: Option<std::time::SystemTime>,
    ) -> bool {
        match self {
            Rerun::All => true,
            Rerun::Missing => false,
            Rerun::Stale => recorded.is_none_or(|recorded| libraries_changed.is_some_and(|changed| changed > recorded)),
        }
    }
}

/// What [`record_outputs`] says before it first runs a listing (preparing is a build).
pub const PREPARING: &str =
    "preparing: building the workspace crates as `cargo test` does (cargo test --workspace --doc)";

/// Runs the listings of the selected SUMMARY chapters that `rerun` asks for through `runner`
/// (preparing it first, if any is to run), and rewrites their `src/outputs/*.json`; entries of
/// code that no longer exists are dropped. `report` hears a line per listing. A listing that fails
/// to compile or exits unsuccessfully is an error (its doctest fails too), and its chapter's file is left as
/// it was; the other chapters are recorded.
pub fn record_outputs(
    workspace: &Path,
    selection: &[String],
    rerun: Rerun,
    runner: &runner::Runner,
    report: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>> {
    let src_dir = workspace.join("src");
    let stamps = runner.scratch_dir().join("recorded");
    let libraries_changed = match rerun {
        Rerun::Stale => crate::files::newest_mtime(&runner::library_sources(workspace))?,
        _ => None,
    };
    let mut prepared = false;
    let mut written = Vec::new();
    let mut failures = Vec::new();
    for chapter in summary_chapters(&src_dir)?.into_iter().filter(|c| selected(c, selection)) {
        let text = std::fs::read_to_string(src_dir.join(&chapter))?;
        let chapter_listings = listings(&text);
        let old = read_outputs(&src_dir, &chapter)?;
        if chapter_listings.is_empty() && old.listings.is_empty() {
            continue;
        }
        let stamp = stamps.join(&chapter).with_extension("stamp");
        let recorded = std::fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        let run_all = rerun.runs_every_listing(recorded, libraries_changed);
        let started = std::time::SystemTime::now();
        let crate_name = crate_of(&chapter);
        let mut new = Outputs { about: about(&chapter), listings: Vec::new() };
        let failed_before = failures.len();
        for listing in &chapter_listings {
            let hash = listing.hash();
            let label = format!("src/{} listing {} (line {})", chapter.display(), listing.index, listing.line);
            if let (false, Some(recorded)) = (run_all, old.by_hash(&hash)) {
                new.listings.push(recorded.clone());
                continue;
            }
            if !prepared {
                report(PREPARING);
                runner.prepare()?;
                prepared = true;
            }
            let outcome = runner.run(&listing.code, crate_name.as_deref(), &mut |_| {})?;
            if !outcome.compiled {
                failures.push(format!("{label} does not compile:\n{}", outcome.compiler));
                continue;
            }
            if !outcome.success {
                failures.push(format!("{label}: {}\n{}{}", outcome.ending, outcome.stdout, outcome.stderr));
                continue;
            }
            report(&format!(
                "{label}: ran in {:.2} s (compiled in {:.2} s)",
                outcome.run_ms as f64 / 1e3,
                outcome.compile_ms as f64 / 1e3
            ));
            new.listings.push(Recorded {
                title: listing.title().to_string(),
                code_hash: hash,
                exit_code: outcome.exit_code.unwrap_or(-1),
                stdout: outcome.stdout,
                stderr: outcome.stderr,
            });
        }
        // A chapter with a failed listing keeps its file as it was: a broken build or a crashed run
        // must not erase the outputs recorded before it.
        if new != old && failures.len() == failed_before {
            written.push(write_outputs(&src_dir, &chapter, &new)?);
        }
        if run_all && failures.len() == failed_before {
            stamp_recorded(&stamp, started)?;
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("{} listing(s) failed:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(written)
}

/// Marks a chapter's outputs as recorded in full at `when`.
fn stamp_recorded(stamp: &Path, when: std::time::SystemTime) -> Result<()> {
    if let Some(dir) = stamp.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(stamp).with_context(|| format!("writing {}", stamp.display()))?;
    file.set_modified(when).with_context(|| format!("dating {}", stamp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_lines_are_restored_like_mdbook_and_rustdoc() {
        let block =
            "# use std::fmt;\n#\n#[derive(Debug)]\nstruct S;\n## not hidden\n    # fn indented() {}\n#![allow(x)]\n";
        assert_eq!(
            program_text(block),
            "use std::fmt;\n\n#[derive(Debug)]\nstruct S;\n# not hidden\n    fn indented() {}\n#![allow(x)]\n"
        );
    }

    #[test]
    fn finds_runnable_listings_only() {
        let md = "# T\n\n```rust\n# fn main() {\nprintln!(\"a\");\n# }\n```\n\n```rust,ignore\nx\n```\n\n\
                  ```text\ny\n```\n\n```rust,noplayground\nz\n```\n\n```rust,should_panic\nfn main() { panic!() }\n```\n";
        let found = listings(md);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].index, found[0].line), (1, 3));
        assert_eq!(found[0].code, "fn main() {\nprintln!(\"a\");\n}\n");
        assert_eq!(found[1].index, 2);
        assert!(is_runnable("rust,edition2024") && !is_runnable("rust,no_run") && !is_runnable("toml"));
    }

    #[test]
    fn hashes_ignore_trailing_space_and_line_endings_only() {
        assert_eq!(code_hash("fn main() {}\n"), code_hash("fn main() {}\r\n\n"));
        assert_ne!(code_hash("fn main() {}"), code_hash("fn main() { }"));
        assert_eq!(code_hash("").len(), 16);
    }

    #[test]
    fn stale_outputs_are_those_recorded_before_the_libraries_changed() {
        let t = |s| Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert!(Rerun::Stale.runs_every_listing(None, t(1)), "never recorded in full");
        assert!(Rerun::Stale.runs_every_listing(t(1), t(2)));
        assert!(!Rerun::Stale.runs_every_listing(t(2), t(1)));
        assert!(Rerun::All.runs_every_listing(t(2), t(1)) && !Rerun::Missing.runs_every_listing(None, t(2)));
    }

    #[test]
    fn outputs_live_next_to_the_chapter_name() {
        let src = Path::new("/b/src");
        assert_eq!(outputs_path(src, Path::new("01-gradients.md")), Path::new("/b/src/outputs/01-gradients.json"));
        assert_eq!(outputs_path(src, Path::new("part/x.md")), Path::new("/b/src/outputs/part/x.json"));
    }
}

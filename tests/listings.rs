//! Every Rust listing in the book is compiled and run by a doctest: each chapter file with Rust
//! blocks is the crate docs (`#![doc = include_str!("../../../src/<file>")]`) of exactly one crate
//! under chapters-code, and no block opts out with `ignore` or `no_run`.
//!
//! Rustdoc also compiles fences without an info string and indented code blocks as Rust, where
//! mdBook shows them as plain text; in a chapter that is crate docs they are reported too, so the
//! chapter says what it means.

use anyhow::{Context, Result};
use book::markdown::pulldown_cmark::{CodeBlockKind, Event, Tag};
use std::path::{Path, PathBuf};

/// Blocks allowed to carry `ignore`/`no_run`: (chapter file, 1-based line of the fence, reason).
/// Empty on purpose; an entry needs a reason a reader would accept.
const EXCEPTIONS: &[(&str, usize, &str)] = &[];

/// Attributes that stop rustdoc from compiling or running a block.
const OPT_OUTS: &[&str] = &["ignore", "no_run"];

/// The `.md` files under `src/`, relative to it (SUMMARY.md included: it must hold no Rust).
fn chapter_files(src: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = book::files::files_under(src)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(src).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;
    files.sort();
    Ok(files)
}

/// What rustdoc compiles in `text`: (line, description) of every Rust block, and the problems of
/// blocks that are Rust only by accident.
fn rust_blocks(text: &str) -> (Vec<(usize, String)>, Vec<String>) {
    let (mut blocks, mut problems) = (Vec::new(), Vec::new());
    for (event, range) in book::markdown::parser(text).into_offset_iter() {
        let line = book::markdown::line_of(text, range.start);
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if info.trim().is_empty() => problems.push(format!(
                "line {line}: a fence without a language is Rust to rustdoc but text to mdBook: write ```text (or ```rust)"
            )),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)) => problems.push(format!(
                "line {line}: an indented code block is Rust to rustdoc but text to mdBook: use a fenced block"
            )),
            _ => {}
        }
    }
    for block in book::markdown::code_blocks(text).into_iter().filter(|b| b.is_rust()) {
        blocks.push((block.line, block.info.clone()));
    }
    (blocks, problems)
}

/// The crates (folder names under chapters-code) whose lib.rs includes `src/<file>` as crate docs.
fn crates_including(chapters_code: &Path, file: &Path) -> Result<Vec<String>> {
    let wanted = format!("#![doc=include_str!(\"../../../src/{}\")]", file.display());
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(chapters_code)? {
        let lib = entry?.path().join("src/lib.rs");
        let Ok(text) = std::fs::read_to_string(&lib) else {
            continue;
        };
        let includes = text.lines().any(|line| line.split_whitespace().collect::<String>() == wanted);
        if includes {
            crates.push(lib.parent().unwrap().parent().unwrap().file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    crates.sort();
    Ok(crates)
}

/// Every problem with the listings of a book, and how many Rust blocks each file has.
struct Report {
    problems: Vec<String>,
    rust_blocks: Vec<(PathBuf, usize)>,
}

fn listing_problems(root: &Path) -> Result<Report> {
    let (src, chapters_code) = (root.join("src"), root.join("chapters-code"));
    let (mut problems, mut counts) = (Vec::new(), Vec::new());
    for file in chapter_files(&src)? {
        let text = std::fs::read_to_string(src.join(&file)).with_context(|| format!("reading {}", file.display()))?;
        let (blocks, accidental) = rust_blocks(&text);
        let name = file.display();
        counts.push((file.clone(), blocks.len()));
        let crates = crates_including(&chapters_code, &file)?;
        if !crates.is_empty() {
            problems.extend(accidental.iter().map(|p| format!("src/{name} {p}")));
        }
        match crates.len() {
            0 if blocks.is_empty() => {}
            0 => problems.push(format!(
                "src/{name} has {} Rust block(s) but no crate under chapters-code includes it as crate docs \
                 (#![doc = include_str!(\"../../../src/{name}\")] in its lib.rs), so no doctest compiles them",
                blocks.len()
            )),
            1 => {}
            _ => problems.push(format!(
                "src/{name} is the crate docs of several crates ({}): its doctests would run twice",
                crates.join(", ")
            )),
        }
        for (line, info) in &blocks {
            let attributes: Vec<&str> = info.split([',', ' ', '\t']).skip(1).collect();
            let opted_out = attributes.iter().find(|a| OPT_OUTS.iter().any(|o| a.starts_with(o)));
            let excused = EXCEPTIONS.iter().any(|(f, l, _)| Path::new(f) == file && l == line);
            if let Some(attribute) = opted_out.filter(|_| !excused) {
                problems.push(format!(
                    "src/{name} line {line}: ```{info}: `{attribute}` keeps rustdoc from running the listing \
                     (make it run, or add it to EXCEPTIONS in tests/listings.rs with a reason)"
                ));
            }
        }
    }
    Ok(Report { problems, rust_blocks: counts })
}

#[test]
fn every_rust_listing_is_a_doctest() -> Result<()> {
    let Report { problems, rust_blocks: counts } = listing_problems(&book::workspace_root())?;
    for (file, count) in counts.iter().filter(|(_, n)| *n > 0) {
        eprintln!("src/{}: {count} Rust block(s)", file.display());
    }
    assert!(problems.is_empty(), "{} listing problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn the_check_catches_uncompiled_listings() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let write = |path: &str, text: &str| -> Result<()> {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap())?;
        Ok(std::fs::write(path, text)?)
    };
    let rust = "```rust\nfn main() {}\n```\n";
    write("src/SUMMARY.md", "# Summary\n")?;
    write("src/01-ok.md", &format!("# Ok\n\n{rust}\n```text\nplain\n```\n"))?;
    write("src/02-orphan.md", &format!("# Orphan\n\n{rust}"))?;
    write("src/03-twice.md", &format!("# Twice\n\n{rust}"))?;
    write("src/04-opt-out.md", "# Opt out\n\n```rust,ignore\nx\n```\n\n```rust,no_run\nfn main() {}\n```\n")?;
    write("src/05-accidental.md", "# Accidental\n\n```\nplain?\n```\n\n    indented\n")?;
    write("chapters-code/ch01-ok/src/lib.rs", "#![doc = include_str!(\"../../../src/01-ok.md\")]\n")?;
    write("chapters-code/ch03-a/src/lib.rs", "#![doc = include_str!(\"../../../src/03-twice.md\")]\n")?;
    write("chapters-code/ch03-b/src/lib.rs", "#![doc = include_str!(\"../../../src/03-twice.md\")]\n")?;
    write("chapters-code/ch04/src/lib.rs", "#![doc = include_str!(\"../../../src/04-opt-out.md\")]\n")?;
    write("chapters-code/ch05/src/lib.rs", "#![doc = include_str!(\"../../../src/05-accidental.md\")]\n")?;
    write("src/06-prose.md", "# Prose only, not crate docs\n\n```\nplain\n```\n")?;
    write("src/07-commented.md", &format!("# Commented-out include\n\n{rust}"))?;
    write("chapters-code/ch07/src/lib.rs", "// #![doc = include_str!(\"../../../src/07-commented.md\")]\n")?;
    let Report { problems, rust_blocks: counts } = listing_problems(root)?;
    let all = problems.join("\n");
    assert!(
        counts.contains(&(PathBuf::from("01-ok.md"), 1)) && counts.contains(&(PathBuf::from("04-opt-out.md"), 2)),
        "{counts:?}"
    );
    assert!(!all.contains("01-ok.md"), "{all}");
    assert!(all.contains("src/02-orphan.md has 1 Rust block(s) but no crate"), "{all}");
    assert!(all.contains("src/03-twice.md is the crate docs of several crates (ch03-a, ch03-b)"), "{all}");
    assert!(all.contains("src/04-opt-out.md line 3: ```rust,ignore"), "{all}");
    assert!(all.contains("src/04-opt-out.md line 7: ```rust,no_run"), "{all}");
    assert!(all.contains("src/05-accidental.md line 3: a fence without a language"), "{all}");
    assert!(all.contains("src/05-accidental.md line 7: an indented code block"), "{all}");
    assert!(all.contains("src/07-commented.md has 1 Rust block(s) but no crate"), "{all}");
    assert!(!all.contains("06-prose"), "{all}");
    assert_eq!(problems.len(), 7, "{all}");
    Ok(())
}

/// The widest line a book listing may have: what the page shows without scrolling sideways (and
/// what fits a printed page). The crates' own code is left to rustfmt.
const LISTING_COLUMNS: usize = 80;

/// `src/<file>:<line>: N columns` for every line a reader sees in a Rust block of `text` (hidden
/// `# ` lines skipped) that is wider than [`LISTING_COLUMNS`].
fn wide_listing_lines(file: &Path, text: &str) -> Vec<String> {
    let mut wide = Vec::new();
    for block in book::markdown::code_blocks(text).into_iter().filter(|b| b.is_rust()) {
        let source = &text[block.source.clone()];
        // The opening fence is the block's first line; its closing fence is not code.
        for (offset, line) in source.lines().enumerate().skip(1) {
            let code = line.trim_start();
            if code.starts_with("```") || code.starts_with("~~~") {
                break;
            }
            if code == "#" || code.starts_with("# ") {
                continue;
            }
            let columns = line.chars().count();
            if columns > LISTING_COLUMNS {
                wide.push(format!("src/{}:{}: {columns} columns", file.display(), block.line + offset));
            }
        }
    }
    wide
}

#[test]
fn every_listing_fits_the_page() -> Result<()> {
    let src = book::workspace_root().join("src");
    let mut wide = Vec::new();
    for file in chapter_files(&src)? {
        let text = std::fs::read_to_string(src.join(&file))?;
        wide.extend(wide_listing_lines(&file, &text));
    }
    assert!(
        wide.is_empty(),
        "{} listing line(s) wider than {LISTING_COLUMNS} columns (rewrap them: the page cuts them off):\n{}",
        wide.len(),
        wide.join("\n")
    );
    Ok(())
}

#[test]
fn the_width_check_counts_what_a_reader_sees() {
    let long = "x".repeat(LISTING_COLUMNS + 1);
    let fits = "σ".repeat(LISTING_COLUMNS - "    // ".len());
    let text = format!(
        "# T\n\n```rust\nfn main() {{\n# {long}\n    // {fits}\n}}\n```\n\n```text\n{long}\n```\n\n\
         Prose {long}\n\n```rust,ignore\nlet a = 1;\n{long}\n```\n"
    );
    let wide = wide_listing_lines(Path::new("01-t.md"), &text);
    assert_eq!(wide, vec![format!("src/01-t.md:18: {} columns", LISTING_COLUMNS + 1)]);
}

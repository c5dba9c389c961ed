//! Every command the book tells a reader to type names something real: each
//! `cargo run -p <crate> --example <name> -- <flags>` (and each bare `--example <name>` that follows
//! one) in `src/` and `README.md` names a workspace crate, an example of that crate, and flags the
//! example's `--help` lists; each `cargo test -p <crate>` names a workspace crate.
//!
//! Flags are checked against the example binaries `cargo test --workspace` builds (examples are
//! built before any test runs). When a binary is missing — e.g. `cargo test --test commands` alone —
//! its flags are skipped loudly, except under `CI=true`, where that is a failure.

use anyhow::{Context, Result};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A command found in the book: where, which crate, which example (if any), which flags.
#[derive(Debug)]
struct Mention {
    file: PathBuf,
    krate: String,
    example: Option<String>,
    flags: Vec<String>,
}

/// Workspace crates by package name, with their examples (file stems under `examples/`).
fn workspace_crates(root: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let name = Regex::new(r#"(?m)^name\s*=\s*"([^"]+)""#)?;
    let mut crates = BTreeMap::new();
    for dir in std::fs::read_dir(root.join("chapters-code"))? {
        let dir = dir?.path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let package = name.captures(&manifest).context("a crate without a name")?[1].to_string();
        let examples = std::fs::read_dir(dir.join("examples"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                if p.extension()? != "rs" {
                    return None;
                }
                Some(p.file_stem()?.to_string_lossy().into_owned())
            })
            .collect();
        crates.insert(package, examples);
    }
    Ok(crates)
}

/// Every command mention in `text`. Whitespace is collapsed first, so a command a paragraph wraps
/// across lines is still one command. A bare `--example x` belongs to the last `-p crate` before it.
fn mentions(file: &Path, text: &str) -> Vec<Mention> {
    static TOKEN: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"cargo (?:run|test|bench|build)\b[^`]*?-p ([a-z0-9_-]+)|--example ([a-z0-9_]+)").unwrap()
    });
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut krate: Option<String> = None;
    for c in TOKEN.captures_iter(&text) {
        if let Some(k) = c.get(1) {
            krate = Some(k.as_str().to_string());
            out.push(Mention { file: file.to_path_buf(), krate: k.as_str().to_string(), example: None, flags: vec![] });
        } else if let (Some(example), Some(k)) = (c.get(2), krate.clone()) {
            // The example's arguments run to the end of the code span, table cell or command.
            let after = &text[example.end()..];
            let end = [after.find('`'), after.find('|'), after.find('·'), after.find(" cargo ")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(after.len());
            let rest = &after[..end];
            let flags = rest
                .split_once(" -- ")
                .map(|(_, args)| {
                    args.split(' ')
                        .filter(|t| t.starts_with("--") && t.len() > 2)
                        .map(|t| t.split('=').next().unwrap().trim_end_matches([',', '.', ')', ';']).to_string())
                        .collect()
                })
                .unwrap_or_default();
            out.push(Mention { file: file.to_path_buf(), krate: k, example: Some(example.as_str().into()), flags });
        }
    }
    out
}

fn markdown_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = book::files::files_under(&root.join("src"))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(root.join("README.md"));
    Ok(files)
}

/// The `--help` text of a built example, if it was built.
fn help_of(root: &Path, example: &str) -> Option<String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    ["debug", "release"].iter().find_map(|profile| {
        let bin = target.join(profile).join("examples").join(example);
        let out = Command::new(&bin).arg("--help").output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

fn problems(root: &Path, files: &[PathBuf], crates: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut unbuilt = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for m in mentions(file, &text) {
            let rel = m.file.strip_prefix(root).unwrap_or(&m.file).display().to_string();
            let Some(examples) = crates.get(&m.krate) else {
                if m.krate != "vanishing-gradients-book" {
                    problems.push(format!("{rel}: `-p {}` is not a workspace crate", m.krate));
                }
                continue;
            };
            let Some(example) = &m.example else { continue };
            if !examples.contains(example) {
                problems.push(format!("{rel}: crate {} has no example `{example}` (it has: {examples:?})", m.krate));
                continue;
            }
            if m.flags.is_empty() {
                continue;
            }
            match help_of(root, example) {
                Some(help) => {
                    for flag in &m.flags {
                        let listed = help.split(|c: char| c.is_whitespace() || c == ',').any(|w| w == flag);
                        if !listed {
                            problems.push(format!("{rel}: `--example {example}` has no flag `{flag}`"));
                        }
                    }
                }
                None => {
                    unbuilt.insert(example.clone());
                }
            }
        }
    }
    if !unbuilt.is_empty() {
        let message =
            format!("examples not built, their flags unchecked: {unbuilt:?} (`cargo test --workspace` builds them)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            problems.push(message);
        } else {
            eprintln!("WARNING: {message}");
        }
    }
    Ok(problems)
}

#[test]
fn every_command_in_the_book_names_a_real_crate_example_and_flag() -> Result<()> {
    let root = book::workspace_root();
    let crates = workspace_crates(&root)?;
    let files = markdown_files(&root)?;
    let found: usize = files.iter().map(|f| mentions(f, &std::fs::read_to_string(f).unwrap_or_default()).len()).sum();
    assert!(found > 20, "only {found} commands found in the book: is the pattern broken?");
    let problems = problems(&root, &files, &crates)?;
    assert!(problems.is_empty(), "{} stale commands:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn the_check_catches_a_wrong_crate_example_and_flag() -> Result<()> {
    let root = book::workspace_root();
    let crates = workspace_crates(&root)?;
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "Run `cargo run --release -p ch01-gradients --example chain -- --no-such-flag 3`, then\n\
         `--example nonexistent`, and `cargo test -p no-such-crate`.\n",
    )?;
    let problems = problems(&root, &[page], &crates)?;
    let joined = problems.join("\n");
    assert!(joined.contains("no example `nonexistent`"), "{joined}");
    assert!(
        joined.contains("`no-such-crate` is not a workspace crate") || joined.contains("-p no-such-crate"),
        "{joined}"
    );
    if help_of(&root, "chain").is_some() {
        assert!(joined.contains("no flag `--no-such-flag`"), "{joined}");
    }
    Ok(())
}

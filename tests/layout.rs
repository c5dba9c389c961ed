//! Every chapter crate has the one layout CONTRIBUTING.md describes, and every figure has the one
//! shape: registered as `Generator::of::<X>()` and run by an example that is `example_main::<X>()`.

use regex::Regex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn chapter_crates() -> Vec<PathBuf> {
    let root = book::workspace_root().join("chapters-code");
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("chapters-code/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| Regex::new(r"^ch\d\d-").unwrap().is_match(&n.to_string_lossy())))
        .collect();
    crates.sort();
    assert!(crates.len() >= 9, "found {} chapter crates", crates.len());
    crates
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The problems of one crate's layout (empty when it has the common one).
fn layout_problems(dir: &Path) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems = Vec::new();
    for required in ["src/lib.rs", "src/exercises.rs", "src/solutions.rs", "src/checks.rs", "tests/cli.rs", "examples"]
    {
        if !dir.join(required).exists() {
            problems.push(format!("{name}: missing {required}"));
        }
    }
    for grab_bag in ["src/figures.rs", "src/cli.rs", "src/common.rs"] {
        if dir.join(grab_bag).exists() {
            problems.push(format!("{name}: {grab_bag} is a grab-bag: one module per experiment instead"));
        }
    }
    problems
}

/// `X` of every `Generator::of::<X>()` in lib.rs, and whether any entry is written another way.
fn registered(dir: &Path) -> (BTreeSet<String>, Vec<String>) {
    let lib = read(&dir.join("src/lib.rs"));
    let of = Regex::new(r"Generator::of::<([A-Za-z0-9_:]+)>\(\)").unwrap();
    let names = of.captures_iter(&lib).map(|c| last_segment(&c[1])).collect();
    let mut problems = Vec::new();
    if lib.contains("Generator {") {
        problems.push(format!("{}: a GENERATORS entry is not `Generator::of::<…>()`", dir.display()));
    }
    (names, problems)
}

fn last_segment(path: &str) -> String {
    path.rsplit("::").next().unwrap_or(path).to_string()
}

#[test]
fn every_chapter_crate_has_the_common_layout() {
    let problems: Vec<String> = chapter_crates().iter().flat_map(|d| layout_problems(d)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_registered_figure_has_a_one_line_example_and_every_figure_example_is_registered() {
    let main = Regex::new(r"chapter_kit::example_main::<([A-Za-z0-9_:]+)>\(\)").unwrap();
    let mut problems = Vec::new();
    for dir in chapter_crates() {
        let (registered, mut bad) = registered(&dir);
        problems.append(&mut bad);
        let mut run_by_examples = BTreeSet::new();
        for entry in std::fs::read_dir(dir.join("examples")).into_iter().flatten().flatten() {
            let text = read(&entry.path());
            if let Some(c) = main.captures(&text) {
                run_by_examples.insert(last_segment(&c[1]));
                let code_lines =
                    text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//")).count();
                if code_lines > 3 {
                    problems.push(format!(
                        "{}: a figure example is its doc comment and a one-line main",
                        entry.path().display()
                    ));
                }
            }
        }
        for missing in registered.difference(&run_by_examples) {
            problems.push(format!("{}: {missing} is registered but no example runs it", dir.display()));
        }
        for missing in run_by_examples.difference(&registered) {
            problems.push(format!("{}: an example runs {missing}, which GENERATORS does not register", dir.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks above can fail: a crate folder without the layout is caught.
#[test]
fn a_crate_without_the_layout_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("ch99-fake");
    std::fs::create_dir_all(fake.join("src")).unwrap();
    std::fs::write(fake.join("src/lib.rs"), "").unwrap();
    std::fs::write(fake.join("src/figures.rs"), "").unwrap();
    let problems = layout_problems(&fake);
    assert!(problems.iter().any(|p| p.contains("missing tests/cli.rs")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("figures.rs is a grab-bag")), "{problems:?}");
}

/// The README's table of chapters lists every example a chapter crate has (readers find them there).
#[test]
fn the_readme_lists_every_chapter_example() {
    let readme = read(&book::workspace_root().join("README.md"));
    let mut missing = Vec::new();
    for dir in chapter_crates() {
        for entry in std::fs::read_dir(dir.join("examples")).into_iter().flatten().flatten() {
            let name = entry.path().file_stem().unwrap().to_string_lossy().into_owned();
            if !readme.contains(&format!("--example {name}`")) && !readme.contains(&format!("--example {name} ")) {
                missing.push(format!("{}: {name}", dir.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(missing.is_empty(), "README.md does not list these examples:\n{}", missing.join("\n"));
}

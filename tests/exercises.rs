//! Every exercise is sound and wired in:
//! - both directions: each reference solution passes its checker; each stub, and each plausible
//!   mistake the chapter lists, fails it (`chapter_kit::exercise::prove`) — a check that cannot fail is a
//!   defect;
//! - each registered exercise has its anchored stub (`todo!("exercise N.M")`) and solution, an
//!   `#[ignore]`d student test named as the book's command says, and a heading and directive in its
//!   chapter; each directive names a registered exercise; each crate with exercises is registered;
//! - every chapter in SUMMARY.md ends with at least three exercises and a quiz, and its learning
//!   objectives are anchored for the instructor guide.

use anyhow::{Context, Result};
use chapter_kit::exercise::Exercise;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    book::workspace_root()
}

#[test]
fn every_solution_passes_and_every_stub_and_mistake_fails() {
    let exercises = book::all_exercises();
    assert!(!exercises.is_empty(), "no exercises are registered (book::all_exercises)");
    let problems: Vec<String> = exercises.iter().flat_map(chapter_kit::exercise::prove).collect();
    assert!(problems.is_empty(), "{} unsound exercises:\n{}", problems.len(), problems.join("\n"));
}

/// The chapter file a crate includes as its docs (`#![doc = include_str!("../../../src/<file>")]`).
fn chapter_file_of(crate_dir: &Path) -> Result<Option<String>> {
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).context("reading lib.rs")?;
    Ok(lib.lines().find_map(|line| {
        let compact: String = line.split_whitespace().collect();
        compact
            .strip_prefix("#![doc=include_str!(\"../../../src/")
            .and_then(|r| r.strip_suffix("\")]"))
            .map(String::from)
    }))
}

/// The folder `chapters-code/<chapter>-*` of the book at `root`: found on disk, so that the checks
/// below also run on a fixture book (the driver itself reads `book::chapters::CHAPTERS`).
fn crate_dir_of(root: &Path, chapter: &str) -> Result<PathBuf> {
    let prefix = format!("{chapter}-");
    std::fs::read_dir(root.join("chapters-code"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
        .with_context(|| format!("no crate chapters-code/{prefix}* for chapter {chapter}"))
}

/// Problems with the wiring of `exercises` in the book at `root`.
fn wiring_problems(root: &Path, exercises: &[Exercise]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let chapters_code = root.join("chapters-code");
    let mut directive_ids = Vec::new();
    for file in
        book::files::files_under(&root.join("src"))?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(&file)?;
        for (_, parsed) in book::preprocess::exercise::directives(&text) {
            match parsed {
                Ok(id) => directive_ids.push((file.clone(), id)),
                Err(e) => problems.push(format!("{}: {e}", file.display())),
            }
        }
    }
    for (file, id) in &directive_ids {
        if !exercises.iter().any(|e| e.id == *id) {
            problems.push(format!("{}: the directive for exercise {id} names no registered exercise", file.display()));
        }
    }
    for exercise in exercises {
        let label = format!("exercise {} ({})", exercise.id, exercise.chapter);
        let crate_dir = match crate_dir_of(root, exercise.chapter) {
            Ok(dir) => dir,
            Err(e) => {
                problems.push(format!("{label}: {e}"));
                continue;
            }
        };
        let package = exercise.package(&chapters_code).unwrap_or_default();
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains(&format!("name = \"{package}\"")) {
            problems.push(format!("{label}: the package of {} is not named {package}", crate_dir.display()));
        }
        if !exercise.id.starts_with(&format!("{}.", exercise.chapter.trim_start_matches("ch").trim_start_matches('0')))
        {
            problems.push(format!("{label}: the id does not start with the chapter's number"));
        }
        let anchor = exercise.test_name();
        let read = |name: &str| std::fs::read_to_string(crate_dir.join("src").join(name)).unwrap_or_default();
        let (stubs, solutions) = (read("exercises.rs"), read("solutions.rs"));
        match book::preprocess::exercise::anchored(&stubs, &anchor) {
            Some(stub) if stub.contains(&format!("todo!(\"exercise {}\")", exercise.id)) => {}
            Some(_) => problems.push(format!("{label}: the stub does not `todo!(\"exercise {}\")`", exercise.id)),
            None => {
                problems.push(format!("{label}: no `// ANCHOR: {anchor}` … `// ANCHOR_END: {anchor}` in exercises.rs"))
            }
        }
        if book::preprocess::exercise::anchored(&solutions, &anchor).is_none() {
            problems.push(format!("{label}: no `// ANCHOR: {anchor}` … `// ANCHOR_END: {anchor}` in solutions.rs"));
        }
        // The student's test: `#[ignore …]` on one of the three lines above `fn exercise_N_M()`.
        let lines: Vec<&str> = stubs.lines().collect();
        let test_line = lines.iter().position(|l| l.trim_start().starts_with(&format!("fn {anchor}()")));
        let ignored = test_line
            .is_some_and(|i| lines[i.saturating_sub(3)..i].iter().any(|l| l.trim_start().starts_with("#[ignore")));
        if !ignored {
            problems.push(format!(
                "{label}: exercises.rs has no `#[ignore]`d test `fn {anchor}()` (`{}`)",
                exercise.command(&package)
            ));
        }
        // The chapter: a heading, then the directive.
        let chapter = chapter_file_of(&crate_dir)?;
        let text =
            chapter.as_ref().and_then(|c| std::fs::read_to_string(root.join("src").join(c)).ok()).unwrap_or_default();
        let heading = format!("### Exercise {}: {}", exercise.id, exercise.title);
        let directives = directive_ids
            .iter()
            .filter(|(f, id)| id == exercise.id && f.ends_with(chapter.as_deref().unwrap_or("-")))
            .count();
        if directives != 1 {
            problems.push(format!(
                "{label}: its chapter ({}) has {directives} directives for it, not 1",
                chapter.as_deref().unwrap_or("none")
            ));
        }
        if !text.lines().any(|l| l.trim_end() == heading) {
            problems.push(format!("{label}: its chapter has no heading `{heading}` (the registry's title)"));
        }
    }
    // Every crate with exercises is registered, or CI proves nothing about it.
    for entry in std::fs::read_dir(&chapters_code)? {
        let dir = entry?.path();
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if dir.join("src/exercises.rs").exists()
            && !exercises.iter().any(|e| name.starts_with(&format!("{}-", e.chapter)))
        {
            problems.push(format!("chapters-code/{name} has src/exercises.rs but no exercises in book::all_exercises"));
        }
    }
    Ok(problems)
}

#[test]
fn every_exercise_is_wired_into_its_crate_and_chapter() -> Result<()> {
    let problems = wiring_problems(&root(), &book::all_exercises())?;
    assert!(problems.is_empty(), "{} exercise wiring problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

/// The chapters of SUMMARY.md that are a chapter crate's docs, as (file, crate folder name).
fn crate_chapters(root: &Path) -> Result<Vec<(String, String)>> {
    let summary = std::fs::read_to_string(root.join("src/SUMMARY.md"))?;
    let mut chapters = Vec::new();
    for entry in std::fs::read_dir(root.join("chapters-code"))? {
        let dir = entry?.path();
        let Ok(Some(file)) = chapter_file_of(&dir) else { continue };
        if summary.contains(&format!("]({file})")) {
            chapters.push((file, dir.file_name().unwrap_or_default().to_string_lossy().into_owned()));
        }
    }
    chapters.sort();
    Ok(chapters)
}

fn chapter_problems(root: &Path, exercises: &[Exercise]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let guide = std::fs::read_to_string(root.join("src/instructors/guide.md")).unwrap_or_default();
    for (file, crate_name) in crate_chapters(root)? {
        let text = std::fs::read_to_string(root.join("src").join(&file))?;
        let count = exercises.iter().filter(|e| crate_name.starts_with(&format!("{}-", e.chapter))).count();
        if count < 3 {
            problems.push(format!(
                "src/{file}: {count} registered exercises; every chapter ends with at least three \
                 (see the instructor guide, \"Adding your own exercises and quizzes\")"
            ));
        }
        if !book::preprocess::quiz::directives(&text).iter().any(|(_, parsed)| parsed.is_ok()) {
            problems
                .push(format!("src/{file}: no quiz directive; every chapter ends with a quiz (src/quizzes/*.toml)"));
        }
        if book::preprocess::exercise::anchored(&text, "objectives").is_none() {
            problems.push(format!(
                "src/{file}: its learning objectives are not between `<!-- ANCHOR: objectives -->` and \
                 `<!-- ANCHOR_END: objectives -->`, where the instructor guide includes them from"
            ));
        }
        if !guide.contains(&format!("{{{{#include ../{file}:objectives}}}}")) {
            problems.push(format!("src/instructors/guide.md does not include the objectives of src/{file}"));
        }
    }
    Ok(problems)
}

#[test]
fn every_chapter_ends_with_exercises_and_a_quiz_and_states_its_objectives() -> Result<()> {
    let problems = chapter_problems(&root(), &book::all_exercises())?;
    assert!(problems.is_empty(), "{} chapters lack teaching material:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

fn ok() -> Result<(), String> {
    Ok(())
}

/// The wiring and chapter checks can fail: a fixture book with one planted problem each.
#[test]
fn the_checks_catch_what_they_look_for() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let write = |path: &str, text: &str| -> Result<()> {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap())?;
        Ok(std::fs::write(path, text)?)
    };
    write("src/SUMMARY.md", "# Summary\n\n- [One](09-one.md)\n")?;
    write("src/09-one.md", "# One\n\n### Exercise 9.1: t\n\n{{#exercise 9.1}}\n\n{{#exercise 9.3}}\n")?;
    write("src/instructors/guide.md", "# Guide\n")?;
    write("chapters-code/ch09-one/Cargo.toml", "[package]\nname = \"ch09-one\"\n")?;
    write("chapters-code/ch09-one/src/lib.rs", "#![doc = include_str!(\"../../../src/09-one.md\")]\n")?;
    write(
        "chapters-code/ch09-one/src/exercises.rs",
        "// ANCHOR: exercise_9_1\npub fn f() {}\n// ANCHOR_END: exercise_9_1\n#[test]\nfn exercise_9_1() {}\n",
    )?;
    write("chapters-code/ch09-one/src/solutions.rs", "pub fn f() {}\n")?;
    write("chapters-code/ch08-other/src/exercises.rs", "")?;
    let exercise = Exercise { chapter: "ch09", id: "9.1", title: "t", stub: ok, solution: ok, mistakes: &[] };
    let second = Exercise { id: "9.2", title: "u", ..exercise };
    let all = wiring_problems(root, &[exercise, second])?.join("\n");
    for expected in [
        "exercise 9.3 names no registered exercise",
        "exercise 9.1 (ch09): the stub does not `todo!(\"exercise 9.1\")`",
        "exercise 9.1 (ch09): no `// ANCHOR: exercise_9_1` … `// ANCHOR_END: exercise_9_1` in solutions.rs",
        "exercise 9.1 (ch09): exercises.rs has no `#[ignore]`d test `fn exercise_9_1()`",
        "exercise 9.2 (ch09): its chapter (09-one.md) has 0 directives for it, not 1",
        "exercise 9.2 (ch09): its chapter has no heading `### Exercise 9.2: u`",
        "chapters-code/ch08-other has src/exercises.rs but no exercises",
    ] {
        assert!(all.contains(expected), "missed {expected:?} in:\n{all}");
    }
    assert!(!all.contains("exercise 9.1 (ch09): its chapter"), "{all}");
    let all = chapter_problems(root, &[exercise])?.join("\n");
    for expected in [
        "src/09-one.md: 1 registered exercises",
        "src/09-one.md: no quiz directive",
        "src/09-one.md: its learning objectives are not between",
        "does not include the objectives of src/09-one.md",
    ] {
        assert!(all.contains(expected), "missed {expected:?} in:\n{all}");
    }
    Ok(())
}

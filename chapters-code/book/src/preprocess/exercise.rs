//! `{{#exercise N.M}}`: an exercise's stub, the command that checks it, and its reference solution
//! (collapsed), all read from the chapter crate at build time.
//!
//! The code is single-sourced: it lives in `chapters-code/chNN-*/src/exercises.rs` (the stub) and
//! `src/solutions.rs` (the solution), between `// ANCHOR: exercise_N_M` and
//! `// ANCHOR_END: exercise_N_M` (mdBook's anchor syntax), where cargo compiles it and the
//! whole-book test `tests/exercises.rs` proves that every solution passes its checker and every stub
//! fails it. The chapter's Markdown holds only the directive, outside any code block, so rustdoc
//! (which compiles the chapter as crate docs) never sees the exercise code as a doctest, and
//! `tests/listings.rs` needs no exception for it. The expanded blocks are ```` ```rust,noplayground ````:
//! a stub with `todo!()` is not a program to run from the page.
//!
//! The directive stands on a line of its own; the chapter writes the exercise's heading
//! (`### Exercise N.M: <title>`) and statement above it.

use anyhow::{Context, Result, bail};
use chapter_kit::exercise::Exercise;
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::Book;
use std::path::Path;

const OPEN: &str = "{{#exercise";
const CLOSE: &str = "}}";

/// The lines of `source` between `ANCHOR: name` and `ANCHOR_END: name` (mdBook's rules: lines
/// naming other anchors are dropped), with their common indentation removed.
pub fn anchored(source: &str, name: &str) -> Option<String> {
    let is_marker = |line: &str, marker: &str| {
        line.split(marker).nth(1).and_then(|rest| rest.split_whitespace().next()).is_some_and(|n| n == name)
    };
    let mut lines = source.lines();
    lines.find(|l| is_marker(l, "ANCHOR:"))?;
    let mut taken = Vec::new();
    for line in lines.by_ref() {
        if is_marker(line, "ANCHOR_END:") {
            return Some(dedent(&taken));
        }
        if !line.contains("ANCHOR:") && !line.contains("ANCHOR_END:") {
            taken.push(line);
        }
    }
    None
}

fn dedent(lines: &[&str]) -> String {
    let indent = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
    let indent = indent.unwrap_or(0);
    let trimmed: Vec<&str> = lines.iter().map(|l| if l.len() >= indent { &l[indent..] } else { l.trim() }).collect();
    trimmed.join("\n").trim_matches('\n').to_string()
}

/// The exercise `id` among `exercises` (every chapter's, in the book: [`crate::chapters::all_exercises`]).
fn find<'a>(exercises: &'a [Exercise], id: &str) -> Result<&'a Exercise> {
    exercises.iter().find(|e| e.id == id).with_context(|| {
        let known: Vec<_> = exercises.iter().map(|e| e.id).collect();
        format!("no exercise {id} is registered (known: {}); add it to its crate's checks::EXERCISES", known.join(", "))
    })
}

/// The Markdown an exercise expands to.
pub fn render(workspace: &Path, exercise: &Exercise) -> Result<String> {
    let chapter = crate::chapters::require(exercise.chapter)?;
    let (crate_dir, package) = (chapter.crate_dir(workspace), chapter.package);
    let anchor = exercise.test_name();
    let read = |file: &str| -> Result<String> {
        let path = crate_dir.join("src").join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        anchored(&text, &anchor)
            .with_context(|| format!("no `// ANCHOR: {anchor}` … `// ANCHOR_END: {anchor}` in {}", path.display()))
    };
    let (stub, solution) = (read("exercises.rs")?, read("solutions.rs")?);
    if stub.contains("```") || solution.contains("```") {
        bail!("exercise {}: the code contains a Markdown fence (```)", exercise.id);
    }
    let html_id = anchor.replace('_', "-");
    Ok(format!(
        "<div class=\"exercise\" id=\"{html_id}\">\n\n\
         Your code goes in `chapters-code/{package}/src/exercises.rs`:\n\n\
         ```rust,noplayground\n{stub}\n```\n\n\
         Check it (the test fails until the exercise is solved):\n\n\
         ```sh\n{command}\n```\n\n\
         <details class=\"solution\">\n<summary>Solution</summary>\n\n\
         ```rust,noplayground\n{solution}\n```\n\n\
         </details>\n\n</div>\n",
        command = exercise.command(package),
    ))
}

/// The ids of the exercise directives in `text`, with their byte ranges; a malformed directive or
/// one that does not stand on its own line is an error.
pub fn directives(text: &str) -> Vec<crate::markdown::Directive> {
    crate::markdown::line_directives(text, OPEN, CLOSE, |id| {
        let valid = id
            .split_once('.')
            .is_some_and(|(c, n)| [c, n].iter().all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit())));
        if valid { Ok(()) } else { Err("expected an exercise id such as `1.2`".into()) }
    })
}

/// Replaces every exercise directive in `text`.
pub fn expand(text: &str, workspace: &Path, exercises: &[Exercise]) -> Result<String> {
    crate::markdown::expand_directives(text, directives(text), |id| render(workspace, find(exercises, &id)?))
}

/// The mdBook preprocessor; runs before `values` and `math`.
pub struct ExercisePreprocessor;

impl mdbook_preprocessor::Preprocessor for ExercisePreprocessor {
    fn name(&self) -> &str {
        "exercises"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let exercises = crate::chapters::all_exercises();
        super::rewrite_chapters(&mut book, "exercise directives that do not expand", |chapter| {
            if !chapter.content.contains(OPEN) {
                return Ok(None);
            }
            expand(&chapter.content, &ctx.root, &exercises).map(Some)
        })?;
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes() -> Result<(), String> {
        Ok(())
    }

    fn fixture() -> (tempfile::TempDir, Exercise) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("chapters-code/ch09-diagnosis/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("exercises.rs"),
            "use x;\n\n// ANCHOR: exercise_9_1\n/// Doc.\npub fn f() -> u8 {\n    todo!(\"exercise 9.1\")\n}\n\
             // ANCHOR_END: exercise_9_1\n",
        )
        .unwrap();
        std::fs::write(
            src.join("solutions.rs"),
            "mod m {\n    // ANCHOR: exercise_9_1\n    pub fn f() -> u8 {\n        // ANCHOR: other\n        1\n    }\n    \
             // ANCHOR_END: exercise_9_1\n}\n",
        )
        .unwrap();
        let exercise =
            Exercise { chapter: "ch09", id: "9.1", title: "t", stub: passes, solution: passes, mistakes: &[] };
        (dir, exercise)
    }

    #[test]
    fn anchors_follow_mdbook_and_dedent() {
        let text = "a\n  // ANCHOR: x\n  fn f() {\n      1\n  }\n  // ANCHOR: y\n  // ANCHOR_END: x\nb";
        assert_eq!(anchored(text, "x").unwrap(), "fn f() {\n    1\n}");
        assert_eq!(anchored(text, "y"), None, "no end");
        assert_eq!(anchored("// ANCHOR: x_1\nq\n// ANCHOR_END: x_1", "x"), None, "a prefix is another anchor");
    }

    #[test]
    fn expands_to_stub_command_and_collapsed_solution() {
        let (dir, exercise) = fixture();
        let text = "# Ch\n\n### Exercise 9.1: t\n\nDo it.\n\n{{#exercise 9.1}}\n\nAfter.\n";
        let out = expand(text, dir.path(), &[exercise]).unwrap();
        assert!(out.contains("<div class=\"exercise\" id=\"exercise-9-1\">"), "{out}");
        assert!(
            out.contains("```rust,noplayground\n/// Doc.\npub fn f() -> u8 {\n    todo!(\"exercise 9.1\")\n}\n```")
        );
        assert!(out.contains("```sh\ncargo test -p ch09-diagnosis exercise_9_1 -- --ignored\n```"), "{out}");
        let solution = out.split("<summary>Solution</summary>").nth(1).unwrap();
        assert!(solution.starts_with("\n\n```rust,noplayground\npub fn f() -> u8 {\n    1\n}\n```\n\n</details>"));
        assert!(out.ends_with("</div>\n\n\nAfter.\n"), "{out}");
    }

    #[test]
    fn bad_directives_are_errors_with_their_lines() {
        let (dir, exercise) = fixture();
        let text = "{{#exercise 9.2}}\n\ninline {{#exercise 9.1}}\n\n{{#exercise nine}}\n\n{{#exercise 9.1";
        let err = expand(text, dir.path(), &[exercise]).unwrap_err().to_string();
        assert!(err.contains("line 1: no exercise 9.2 is registered (known: 9.1)"), "{err}");
        assert!(err.contains("line 3: `{{#exercise 9.1}}` must stand on a line of its own"), "{err}");
        assert!(err.contains("line 5: `{{#exercise nine}}`: expected an exercise id"), "{err}");
        assert!(err.contains("line 7: `{{#exercise` without a closing"), "{err}");
        std::fs::write(dir.path().join("chapters-code/ch09-diagnosis/src/solutions.rs"), "pub fn f() {}\n").unwrap();
        let err = format!("{:#}", expand("{{#exercise 9.1}}\n", dir.path(), &[exercise]).unwrap_err());
        assert!(err.contains("no `// ANCHOR: exercise_9_1`") && err.contains("solutions.rs"), "{err}");
    }
}

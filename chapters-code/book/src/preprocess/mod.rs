//! The book's mdBook preprocessors, all here: each turns a directive or a kind of block of the
//! chapters' Markdown into Markdown or HTML, at build time, from what the book's code produced.
//!
//! book.toml registers these six, in this order (each `after` the one before), as commands
//! `book preprocess <name>` for the stock `mdbook` CLI; `book build` and `book serve` run the same
//! ones in process ([`PREPROCESSORS`], checked against book.toml and this list by a test):
//!
//! | name          | module           | expands                                                       |
//! |---------------|------------------|---------------------------------------------------------------|
//! | `exercises`   | [`exercise`]     | `{{#exercise N.M}}`: stub, check command, collapsed solution  |
//! | `quizzes`     | [`quiz`]         | `{{#quiz quizzes/NN-slug.toml}}`: a checked quiz              |
//! | `values`      | [`values`]       | `{{#value chNN/file.json:key}}`: a number the code measured    |
//! | `math`        | [`math`]         | `$…$`, `$$…$$`: MathML rendered at build time                 |
//! | `listings`    | [`listings`]     | a Rust listing: its recorded output, marked for the Run button |
//! | `interactive` | [`interactive`]  | an ```` ```interactive ```` block: a figure over its JSON     |
//!
//! Exercises and quizzes come first because they expand to Markdown that may hold values and math;
//! listings and interactive figures come last because they emit raw HTML that no other preprocessor
//! should touch. The stock CLI has no post-processing step, so the last one also inlines the
//! stylesheets and scripts a page needs ([`crate::assets::inline_assets`]).
//!
//! Shared here: [`rewrite_chapters`], the loop every preprocessor runs over the book.

pub mod exercise;
pub mod interactive;
pub mod listings;
pub mod math;
pub mod quiz;
pub mod values;

use anyhow::{Context, Result};
use mdbook_preprocessor::Preprocessor;

/// The driver's preprocessors by name, in the order they run (see the module docs). book.toml
/// registers each one as a command, `book preprocess <name>`, chained by `after` in this same order.
pub const PREPROCESSORS: [&str; 6] = ["exercises", "quizzes", "values", "math", "listings", "interactive"];

/// The preprocessor called `name`.
pub fn preprocessor(name: &str) -> Option<Box<dyn Preprocessor>> {
    Some(match name {
        "exercises" => Box::new(exercise::ExercisePreprocessor),
        "quizzes" => Box::new(quiz::QuizPreprocessor),
        "values" => Box::new(values::ValuesPreprocessor),
        "math" => Box::new(math::MathPreprocessor),
        "listings" => Box::new(listings::ListingsPreprocessor),
        "interactive" => Box::new(interactive::InteractivePreprocessor),
        _ => return None,
    })
}

/// `book preprocess <name>`: one preprocessor speaking mdBook's preprocessor protocol, for the
/// stock `mdbook build` / `mdbook serve` (book.toml registers the commands). Reads
/// `[context, book]` as JSON from `input` and writes the processed book as JSON to `output`, all
/// at once and only on success.
///
/// The stock CLI has no post-processing step, so the last preprocessor also carries what
/// [`crate::site::postprocess`] adds to the driver's pages: each chapter that needs the
/// interactivity, teaching or math stylesheets and scripts gets them inline, at its end (see
/// [`crate::assets::inline_assets`]).
pub fn preprocess_command(name: &str, input: impl std::io::Read, output: &mut impl std::io::Write) -> Result<()> {
    let preprocessor = preprocessor(name)
        .with_context(|| format!("no preprocessor called `{name}` (the book's are: {})", PREPROCESSORS.join(", ")))?;
    let (ctx, book) = mdbook_preprocessor::parse_input(input)
        .context("reading mdBook's input: expected the JSON array [context, book] on standard input")?;
    if ctx.mdbook_version != mdbook_preprocessor::MDBOOK_VERSION {
        eprintln!(
            "warning: the book's preprocessors are built with mdBook {}, but mdbook {} called them",
            mdbook_preprocessor::MDBOOK_VERSION,
            ctx.mdbook_version
        );
    }
    let mut book = preprocessor.run(&ctx, book).with_context(|| format!("the `{name}` preprocessor"))?;
    if Some(&name) == PREPROCESSORS.last() {
        rewrite_chapters(&mut book, "inlining assets", |chapter| Ok(crate::assets::inline_assets(&chapter.content)))?;
    }
    let json = serde_json::to_vec(&book)?;
    output.write_all(&json)?;
    output.flush()?;
    Ok(())
}

/// The loop every preprocessor of the driver shares: `rewrite` returns a chapter's new content (or
/// `None` to leave it), and every chapter's error is collected into one error headed by `what`, so a
/// build reports all the broken chapters at once.
pub fn rewrite_chapters(
    book: &mut mdbook_preprocessor::book::Book,
    what: &str,
    mut rewrite: impl FnMut(&mdbook_preprocessor::book::Chapter) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    book.for_each_mut(|item| {
        let mdbook_preprocessor::book::BookItem::Chapter(chapter) = item else {
            return;
        };
        match rewrite(chapter) {
            Ok(Some(content)) => chapter.content = content,
            Ok(None) => {}
            Err(e) => problems.push(format!("chapter \"{}\" ({}):\n{e:#}", chapter.name, chapter_file(chapter))),
        }
    });
    if !problems.is_empty() {
        anyhow::bail!("{what}:\n{}", problems.join("\n"));
    }
    Ok(())
}

/// How a chapter is named in error messages: its source file, else its path, else `draft`.
pub fn chapter_file(chapter: &mdbook_preprocessor::book::Chapter) -> String {
    chapter.source_path.as_ref().or(chapter.path.as_ref()).map_or("draft".into(), |p| p.display().to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::assets::{INLINE_ASSETS_END, INLINE_ASSETS_START};
    use mdbook_driver::MDBook;
    use mdbook_preprocessor::PreprocessorContext;
    use mdbook_preprocessor::book::Book;
    use std::path::Path;

    /// The `[preprocessor.*]` tables of book.toml, in the order mdBook runs them.
    fn registered(config: &mdbook_driver::config::Config) -> Vec<(String, String)> {
        #[derive(serde::Deserialize)]
        struct Table {
            command: String,
            #[serde(default)]
            after: Vec<String>,
        }
        let tables = config.preprocessors::<Table>().unwrap();
        let mut order = Vec::new();
        let mut previous = vec!["index".to_string(), "links".to_string()];
        while let Some((name, table)) = tables.iter().find(|(_, t)| t.after == previous) {
            order.push((name.clone(), table.command.clone()));
            previous = vec![name.clone()];
        }
        assert_eq!(order.len(), tables.len(), "book.toml's preprocessors are not one `after` chain: {order:?}");
        order
    }

    #[test]
    fn book_toml_registers_every_preprocessor_as_a_command_in_order() {
        let config =
            mdbook_driver::config::Config::from_disk(crate::files::workspace_root().join("book.toml")).unwrap();
        let expected: Vec<(String, String)> = PREPROCESSORS
            .iter()
            .map(|name| (name.to_string(), format!("cargo run -q --release -p book -- preprocess {name}")))
            .collect();
        assert_eq!(registered(&config), expected);
    }

    #[test]
    fn the_module_docs_list_the_six_in_order() {
        let listed: Vec<String> = include_str!("mod.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `")?.split_once('`').map(|(name, _)| name.to_string()))
            .collect();
        assert_eq!(listed, PREPROCESSORS, "the table in the docs of chapters-code/book/src/preprocess/mod.rs");
        for name in PREPROCESSORS {
            assert!(preprocessor(name).is_some_and(|p| p.name() == name), "{name}");
        }
    }

    /// A small book whose book.toml registers `values` and `math` as commands that leave a marker
    /// file when they run.
    pub(crate) fn book_with_command_preprocessors() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let marker = root.join("command-ran");
        let command = format!("sh -c 'touch {}; cat'", marker.display());
        std::fs::write(
            root.join("book.toml"),
            format!(
                "[book]\nsrc = \"src\"\n\n[preprocessor.values]\ncommand = \"{command}\"\n\
                 [preprocessor.math]\ncommand = \"{command}\"\nafter = [\"values\"]\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("src/figures/ch01")).unwrap();
        std::fs::write(root.join("src/SUMMARY.md"), "# Summary\n\n- [A](a.md)\n").unwrap();
        std::fs::write(root.join("src/a.md"), "# A\n\nWorth {{#value ch01/f.json:v.0:.1}}, and $x^2$.\n").unwrap();
        std::fs::write(root.join("src/figures/ch01/f.json"), r#"{"alt": "", "data": {"v": [2.25]}}"#).unwrap();
        dir
    }

    /// What mdBook writes to a preprocessor's stdin: `[context, book]`.
    fn mdbook_input(root: &Path) -> String {
        let book = MDBook::load(root).unwrap();
        let ctx = PreprocessorContext::new(root.to_path_buf(), book.config.clone(), "html".into());
        serde_json::to_string(&(ctx, &book.book)).unwrap()
    }

    fn chapter_text(book: &Book) -> String {
        book.iter()
            .filter_map(|item| match item {
                mdbook_preprocessor::book::BookItem::Chapter(c) => Some(c.content.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_preprocess_command_speaks_mdbooks_protocol() {
        let dir = book_with_command_preprocessors();
        let input = mdbook_input(dir.path());
        let mut out = Vec::new();
        preprocess_command("values", input.as_bytes(), &mut out).unwrap();
        let mut book: Book = serde_json::from_slice(&out).unwrap();
        let text = chapter_text(&book);
        assert!(text.contains("Worth 2.2, and $x^2$."), "{text}");

        // The last one carries the assets the page needs, inline.
        let input = serde_json::to_string(&(
            PreprocessorContext::new(dir.path().to_path_buf(), MDBook::load(dir.path()).unwrap().config, "html".into()),
            &book,
        ))
        .unwrap();
        let mut out = Vec::new();
        preprocess_command("math", input.as_bytes(), &mut out).unwrap();
        book = serde_json::from_slice(&out).unwrap();
        assert!(chapter_text(&book).contains("<math") && !chapter_text(&book).contains(INLINE_ASSETS_START));
        let input = serde_json::to_string(&(
            PreprocessorContext::new(dir.path().to_path_buf(), MDBook::load(dir.path()).unwrap().config, "html".into()),
            &book,
        ))
        .unwrap();
        let mut out = Vec::new();
        preprocess_command("interactive", input.as_bytes(), &mut out).unwrap();
        let text = chapter_text(&serde_json::from_slice(&out).unwrap());
        assert!(
            text.contains(INLINE_ASSETS_START)
                && text.contains("<style>")
                && text.ends_with(&format!("{INLINE_ASSETS_END}\n"))
        );
        assert!(!text.contains("@font-face") && !text.contains("<script>"), "math needs a stylesheet only");

        // Bad input: a clear error, and nothing on stdout.
        let mut out = Vec::new();
        let err = format!("{:#}", preprocess_command("values", "{\"not\": 1}".as_bytes(), &mut out).unwrap_err());
        assert!(err.contains("expected the JSON array [context, book]"), "{err}");
        let err = format!("{:#}", preprocess_command("nope", input.as_bytes(), &mut out).unwrap_err());
        assert!(err.contains("no preprocessor called `nope`") && err.contains("interactive"), "{err}");
        let dir2 = book_with_command_preprocessors();
        std::fs::write(dir2.path().join("src/a.md"), "# A\n\n{{#value ch01/f.json:missing}}\n").unwrap();
        let err =
            format!("{:#}", preprocess_command("values", mdbook_input(dir2.path()).as_bytes(), &mut out).unwrap_err());
        assert!(err.contains("`missing`"), "{err}");
        assert!(out.is_empty(), "a failed run wrote output");
    }
}

//! `book build`: mdBook (through mdbook-driver) with the book's preprocessors ([`crate::preprocess`])
//! run in process, then the post-processing that links each page's assets ([`crate::assets`]) and
//! keeps the site free of network requests.

use crate::assets::{MATHML_CSS, MATHML_DIR, MATHML_FONT, interactivity, teaching};
use crate::files::{files_under, newest_mtime};
use crate::preprocess::{PREPROCESSORS, preprocessor};
use anyhow::{Context, Result, bail};
use mdbook_driver::MDBook;
use mdbook_preprocessor::book::Book;
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::Level;

/// mdBook's stock `book.js` talks to the public Rust playground (to list its crates and to run
/// code). The book never does: its code needs the workspace crates, and the site must work offline.
/// `runnable = false` in book.toml keeps Run buttons off the page, but the script still carries the
/// URLs, so they are rewritten; a later change of the stock script fails the build instead of
/// slipping through.
const PLAYGROUND_HOST: &str = "play.rust-lang.org";
const PLAYGROUND_REWRITES: &[(&str, &str)] = &[
    // An empty crate list, answered without a request.
    ("https://play.rust-lang.org/meta/crates", r#"data:application/json,{"crates":[]}"#),
    // Running code is the local server's job (`book serve`), never a remote playground's.
    (
        "https://play.rust-lang.org/evaluate.json",
        r#"data:application/json,{"result":"Run the code with cargo, or from the page served by `book serve`."}"#,
    ),
    // What is left are comments naming the host.
    ("https://play.rust-lang.org", "the Rust playground"),
    ("play.rust-lang.org", "the Rust playground"),
];

/// A finished build.
#[derive(Debug)]
pub struct Built {
    /// The folder holding `index.html`.
    pub site: PathBuf,
    /// mdBook's warnings (an unclosed HTML tag, an unreferenced footnote…).
    pub warnings: Vec<String>,
}

/// Builds the book at `root` (the folder holding book.toml) into `dest`, or into book.toml's
/// `build-dir`. Errors that mdBook only logs (a failed `{{#include}}`) fail the build.
pub fn build(root: &Path, dest: Option<&Path>) -> Result<Built> {
    let log = MdbookLog::default();
    let site = tracing::subscriber::with_default(log.clone(), || run_mdbook(root, dest))
        .with_context(|| format!("building the book at {}", root.display()))?;
    let (errors, warnings) = log.take();
    if !errors.is_empty() {
        bail!("building the book at {}: mdBook reported errors:\n{}", root.display(), errors.join("\n"));
    }
    postprocess(&site).with_context(|| format!("post-processing {}", site.display()))?;
    Ok(Built { site, warnings })
}

fn run_mdbook(root: &Path, dest: Option<&Path>) -> Result<PathBuf> {
    let mut book = MDBook::load(root).context("loading book.toml and SUMMARY.md")?;
    if let Some(dest) = dest {
        book.config.build.build_dir = std::path::absolute(dest)?;
    }
    let site = book.build_dir_for("html");
    refuse_unsafe_destination(&book.root, &book.source_dir(), &site)?;
    // book.toml registers the same preprocessors as commands (`book preprocess <name>`) for the
    // stock `mdbook` CLI. mdBook keeps its preprocessors by name, so each in-process one replaces
    // its command, in the place book.toml's `after` chain gives it: nothing runs twice, and no
    // process is started. A book.toml without them gets them appended in PREPROCESSORS' order.
    for name in PREPROCESSORS {
        book.with_preprocessor(InProcess(preprocessor(name).expect("PREPROCESSORS are all known")));
    }
    book.build()?;
    Ok(site)
}

/// A boxed preprocessor, for `MDBook::with_preprocessor` (which wants a sized type).
struct InProcess(Box<dyn Preprocessor>);

impl Preprocessor for InProcess {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn run(&self, ctx: &PreprocessorContext, book: Book) -> mdbook_preprocessor::errors::Result<Book> {
        self.0.run(ctx, book)
    }
    fn supports_renderer(&self, renderer: &str) -> mdbook_preprocessor::errors::Result<bool> {
        self.0.supports_renderer(renderer)
    }
}

/// Collects what mdBook logs at WARN and ERROR: it reports some problems (a failed `{{#include}}`
/// leaves the raw directive in the page) only through `tracing`, then carries on.
#[derive(Clone, Default)]
struct MdbookLog {
    messages: Arc<Mutex<Vec<(Level, String)>>>,
}

impl MdbookLog {
    /// (errors, warnings).
    fn take(&self) -> (Vec<String>, Vec<String>) {
        let messages = std::mem::take(&mut *self.messages.lock().expect("no panics hold this lock"));
        let (errors, warnings): (Vec<_>, Vec<_>) = messages.into_iter().partition(|(level, _)| *level == Level::ERROR);
        (errors.into_iter().map(|m| m.1).collect(), warnings.into_iter().map(|m| m.1).collect())
    }
}

impl tracing::Subscriber for MdbookLog {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }

    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let entry = (*event.metadata().level(), message.0);
        self.messages.lock().expect("no panics hold this lock").push(entry);
    }

    // mdBook's spans carry no diagnostics.
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// mdBook empties the build folder before writing, so never point it at the sources or at a folder
/// of other files.
fn refuse_unsafe_destination(root: &Path, src: &Path, site: &Path) -> Result<()> {
    let site = std::path::absolute(site)?;
    let (root, src) = (std::path::absolute(root)?, std::path::absolute(src)?);
    if root.starts_with(&site) || site.starts_with(&src) {
        bail!(
            "refusing to build into {}: mdBook empties the build folder, which holds the book's sources",
            site.display()
        );
    }
    let holds_other_files = std::fs::read_dir(&site).is_ok_and(|mut entries| entries.next().is_some());
    if holds_other_files && !site.join("index.html").exists() {
        bail!(
            "refusing to build into {}: it is not empty and holds no built book (mdBook empties the build folder)",
            site.display()
        );
    }
    Ok(())
}

/// Rewrites the playground URLs, adds the math stylesheet to pages with math and the teaching
/// assets to pages with exercises or quizzes, and checks that no file still names the playground.
pub fn postprocess(site: &Path) -> Result<()> {
    let mut pages_with_math = 0;
    let mut pages_with_teaching = 0;
    let mut pages_with_interactivity = 0;
    for path in files_under(site)? {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !matches!(ext, "html" | "js" | "css" | "json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut new_text = text.clone();
        if ext == "js" {
            for (from, to) in PLAYGROUND_REWRITES {
                new_text = new_text.replace(from, to);
            }
        }
        if ext == "html" && new_text.contains("<math") {
            new_text = link_math_stylesheet(&new_text).with_context(|| format!("in {}", path.display()))?;
            pages_with_math += 1;
        }
        let teaching = teaching::needs(&new_text);
        if ext == "html" && teaching.stylesheet {
            let tags = teaching::head_tags(
                teaching,
                &asset_prefix(&new_text).with_context(|| format!("in {}", path.display()))?,
            );
            new_text = insert_in_head(&new_text, &tags).with_context(|| format!("in {}", path.display()))?;
            pages_with_teaching += 1;
        }
        // The printed book carries the "Going deeper" sections open (see `crate::assets::teaching`).
        if path.file_name().is_some_and(|n| n == "print.html") {
            new_text = teaching::open_going_deeper(&new_text);
        }
        let interactivity = interactivity::needs(&new_text);
        if ext == "html" && interactivity.any() {
            let prefix = asset_prefix(&new_text).with_context(|| format!("in {}", path.display()))?;
            new_text = insert_in_head(&new_text, &interactivity::head_tags(interactivity, &prefix))
                .with_context(|| format!("in {}", path.display()))?;
            pages_with_interactivity += 1;
        }
        if new_text.contains(PLAYGROUND_HOST) {
            bail!(
                "{} mentions {PLAYGROUND_HOST}: the site must not reach the public playground \
                 (if mdBook's book.js changed, update PLAYGROUND_REWRITES in chapters-code/book/src/site.rs)",
                path.display()
            );
        }
        if new_text != text {
            chapter_kit::figure::write_atomic(&path, new_text.as_bytes())?;
        }
    }
    if pages_with_math > 0 {
        chapter_kit::figure::write_atomic(&site.join(MATHML_DIR).join("mathml.css"), MATHML_CSS.as_bytes())?;
        chapter_kit::figure::write_atomic(&site.join(MATHML_DIR).join("latinmodern-math.woff2"), MATHML_FONT)?;
    }
    if pages_with_teaching > 0 {
        teaching::write_assets(site)?;
    }
    if pages_with_interactivity > 0 {
        interactivity::write_assets(site)?;
    }
    Ok(())
}

/// Adds `<link rel="stylesheet" href="…mathml/mathml.css">` to a page's head. The relative prefix
/// is the one mdBook used for its own stylesheet, which accounts for the page's depth and for
/// pages with a `<base>` (404.html).
fn link_math_stylesheet(html: &str) -> Result<String> {
    let prefix = asset_prefix(html)?;
    insert_in_head(html, &format!("<link rel=\"stylesheet\" href=\"{prefix}{MATHML_DIR}/mathml.css\">\n"))
}

/// The relative prefix from a page to the site's root: the one mdBook used for its own stylesheet.
fn asset_prefix(html: &str) -> Result<String> {
    let anchor = html.find("css/variables").context("no link to mdBook's css/variables stylesheet")?;
    let href_start = html[..anchor].rfind("href=\"").context("no href before css/variables")? + "href=\"".len();
    Ok(html[href_start..anchor].to_string())
}

/// `tags` inserted just before `</head>`.
fn insert_in_head(html: &str, tags: &str) -> Result<String> {
    let head_end = html.find("</head>").context("no </head>")?;
    Ok(format!("{}{tags}{}", &html[..head_end], &html[head_end..]))
}

/// Whether the site at `site` is missing or older than book.toml, any file under the book's
/// sources, or the running driver (whose preprocessors shape the output).
pub fn needs_build(root: &Path, site: &Path) -> Result<bool> {
    let Ok(built) = std::fs::metadata(site.join("index.html")).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    let mut inputs = vec![root.join("book.toml"), root.join("src")];
    inputs.extend(std::env::current_exe().ok());
    Ok(newest_mtime(&inputs)?.is_some_and(|newest| newest > built))
}

/// The build folder book.toml names, without building.
pub fn configured_site_dir(root: &Path) -> Result<PathBuf> {
    let config = mdbook_driver::config::Config::from_disk(root.join("book.toml"))
        .with_context(|| format!("reading {}", root.join("book.toml").display()))?;
    Ok(root.join(config.build.build_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_stylesheet_follows_the_pages_own_prefix() {
        let html =
            r#"<head><link rel="stylesheet" href="../css/variables-abc123.css"></head><body><math></math></body>"#;
        let out = link_math_stylesheet(html).unwrap();
        assert!(out.contains(r#"<link rel="stylesheet" href="../mathml/mathml.css">"#), "{out}");
        assert!(out.find("mathml.css").unwrap() < out.find("</head>").unwrap());
    }

    #[test]
    fn playground_urls_are_rewritten_away() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("book-1234.js");
        std::fs::write(
            &js,
            "// used crates vs ones available on https://play.rust-lang.org\n\
             fetch_with_timeout('https://play.rust-lang.org/meta/crates', {});\n\
             fetch_with_timeout('https://play.rust-lang.org/evaluate.json', {});\n",
        )
        .unwrap();
        postprocess(dir.path()).unwrap();
        let out = std::fs::read_to_string(&js).unwrap();
        assert!(!out.contains("play.rust-lang") && !out.contains("http"), "{out}");
        assert!(out.contains("fetch_with_timeout('data:application/json,"), "{out}");
    }

    #[test]
    fn a_page_naming_the_playground_fails_the_build() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ch.html"), "<p>see play.rust-lang.org</p>").unwrap();
        let err = postprocess(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ch.html") && err.contains("play.rust-lang.org"), "{err}");
    }

    #[test]
    fn errors_mdbook_only_logs_fail_the_build_and_warnings_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/SUMMARY.md"), "# Summary\n\n- [A](a.md)\n").unwrap();
        std::fs::write(root.join("src/a.md"), "# A\n\n<div>unclosed\n").unwrap();
        let built = build(root, None).unwrap();
        assert!(built.warnings.iter().any(|w| w.contains("unclosed HTML tag")), "{:?}", built.warnings);
        std::fs::write(root.join("src/a.md"), "# A\n\n{{#include missing.rs}}\n").unwrap();
        let err = format!("{:#}", build(root, None).unwrap_err());
        assert!(err.contains("mdBook reported errors") && err.contains("missing.rs"), "{err}");
    }

    #[test]
    fn the_driver_runs_the_registered_preprocessors_in_process_once() {
        let dir = crate::preprocess::tests::book_with_command_preprocessors();
        let built = build(dir.path(), None).unwrap();
        assert!(!dir.path().join("command-ran").exists(), "the driver started a book.toml command");
        let page = std::fs::read_to_string(built.site.join("a.html")).unwrap();
        assert!(page.contains("Worth 2.2, and <math"), "{page}");
        assert_eq!(page.matches("<math").count(), 1, "{page}");
    }

    #[test]
    fn refuses_to_empty_the_sources_or_a_foreign_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (root, src) = (dir.path().join("book"), dir.path().join("book/src"));
        std::fs::create_dir_all(&src).unwrap();
        assert!(refuse_unsafe_destination(&root, &src, &root).is_err());
        assert!(refuse_unsafe_destination(&root, &src, dir.path()).is_err());
        assert!(refuse_unsafe_destination(&root, &src, &src.join("out")).is_err());
        let foreign = dir.path().join("foreign");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
        assert!(refuse_unsafe_destination(&root, &src, &foreign).is_err());
        assert!(refuse_unsafe_destination(&root, &src, &dir.path().join("fresh")).is_ok());
        std::fs::write(foreign.join("index.html"), "").unwrap();
        assert!(refuse_unsafe_destination(&root, &src, &foreign).is_ok());
    }
}

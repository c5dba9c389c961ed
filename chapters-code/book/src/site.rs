//! `book build`: mdBook (through mdbook-driver) with our preprocessors, then the post-processing
//! that keeps the site free of network requests.

use crate::exercise::ExercisePreprocessor;
use crate::math::MathPreprocessor;
use crate::quiz::QuizPreprocessor;
use crate::values::ValuesPreprocessor;
use anyhow::{Context, Result, bail};
use mdbook_driver::MDBook;
use mdbook_preprocessor::book::Book;
use mdbook_preprocessor::{Preprocessor, PreprocessorContext};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tracing::Level;

/// The folder of the built site where the math stylesheet and font go.
const MATHML_DIR: &str = "mathml";
const MATHML_CSS: &str = include_str!("../assets/mathml.css");
const MATHML_FONT: &[u8] = include_bytes!("../assets/latinmodern-math.woff2");

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

/// The driver's preprocessors by name, in the order they run: exercises and quizzes expand to
/// Markdown that may hold values and math; listings and interactive figures come last because
/// they emit raw HTML that no other preprocessor should touch. book.toml registers each one as a
/// command, `book preprocess <name>`, chained by `after` in this same order.
pub const PREPROCESSORS: [&str; 6] = ["exercises", "quizzes", "values", "math", "listings", "interactive"];

/// The preprocessor called `name`.
pub fn preprocessor(name: &str) -> Option<Box<dyn Preprocessor>> {
    Some(match name {
        "exercises" => Box::new(ExercisePreprocessor),
        "quizzes" => Box::new(QuizPreprocessor),
        "values" => Box::new(ValuesPreprocessor),
        "math" => Box::new(MathPreprocessor),
        "listings" => Box::new(crate::listings::ListingsPreprocessor),
        "interactive" => Box::new(crate::interactive::InteractivePreprocessor),
        _ => return None,
    })
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

/// `book preprocess <name>`: one preprocessor speaking mdBook's preprocessor protocol, for the
/// stock `mdbook build` / `mdbook serve` (book.toml registers the commands). Reads
/// `[context, book]` as JSON from `input` and writes the processed book as JSON to `output`, all
/// at once and only on success.
///
/// The stock CLI has no post-processing step, so the last preprocessor also carries what
/// [`postprocess`] adds to the driver's pages: each chapter that needs the interactivity,
/// teaching or math stylesheets and scripts gets them inline, at its end (see [`inline_assets`]).
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
        crate::markdown::rewrite_chapters(&mut book, "inlining assets", |chapter| Ok(inline_assets(&chapter.content)))?;
    }
    let json = serde_json::to_vec(&book)?;
    output.write_all(&json)?;
    output.flush()?;
    Ok(())
}

/// The first and last line of the block [`inline_assets`] appends.
pub const INLINE_ASSETS_START: &str = "<!-- book: assets for the stock mdbook CLI -->";
pub const INLINE_ASSETS_END: &str = "<!-- book: end of assets -->";

/// `content` with the stylesheets and scripts its page needs appended inline (`None` when it needs
/// none): what [`postprocess`] links from the driver's pages, for a build with the stock `mdbook`
/// CLI. Each `<style>` and `<script>` is a raw HTML block of its own, which CommonMark ends only
/// at its closing tag. The math font is left out (it would be a file the stock build does not
/// write): formulas then use a locally installed math font.
pub fn inline_assets(content: &str) -> Option<String> {
    let teaching = crate::teaching::needs(content);
    let interactivity = crate::assets::needs(content);
    let math = content.contains("<math");
    if !(teaching.stylesheet || interactivity.any() || math) {
        return None;
    }
    let mut styles = Vec::new();
    let mut scripts = Vec::new();
    if math {
        styles.push(without_font_faces(MATHML_CSS));
    }
    if teaching.stylesheet {
        styles.push(crate::teaching::CSS.to_string());
    }
    if teaching.script {
        scripts.push(crate::teaching::QUIZ_JS);
    }
    if interactivity.any() {
        styles.push(crate::assets::CSS.to_string());
    }
    if interactivity.run {
        scripts.push(crate::assets::RUN_JS);
    }
    if interactivity.figures {
        scripts.push(crate::assets::INTERACTIVE_JS);
    }
    let mut out = format!("{}\n\n{INLINE_ASSETS_START}\n\n", content.trim_end());
    for style in styles {
        out.push_str(&format!("<style>\n{}\n</style>\n\n", style.trim_end()));
    }
    for script in scripts {
        out.push_str(&format!("<script>\n{}\n</script>\n\n", script.trim_end()));
    }
    out.push_str(INLINE_ASSETS_END);
    out.push('\n');
    Some(out)
}

/// A stylesheet without its `@font-face` rules.
fn without_font_faces(css: &str) -> String {
    let mut out = String::new();
    let mut rest = css;
    while let Some(at) = rest.find("@font-face") {
        out.push_str(&rest[..at]);
        rest = rest[at..].find('}').map_or("", |end| &rest[at + end + 1..]);
    }
    out.push_str(rest);
    out
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
        let teaching = crate::teaching::needs(&new_text);
        if ext == "html" && teaching.stylesheet {
            let tags = crate::teaching::head_tags(
                teaching,
                &asset_prefix(&new_text).with_context(|| format!("in {}", path.display()))?,
            );
            new_text = insert_in_head(&new_text, &tags).with_context(|| format!("in {}", path.display()))?;
            pages_with_teaching += 1;
        }
        // The printed book carries the "Going deeper" sections open (see `crate::teaching`).
        if path.file_name().is_some_and(|n| n == "print.html") {
            new_text = crate::teaching::open_going_deeper(&new_text);
        }
        let interactivity = crate::assets::needs(&new_text);
        if ext == "html" && interactivity.any() {
            let prefix = asset_prefix(&new_text).with_context(|| format!("in {}", path.display()))?;
            new_text = insert_in_head(&new_text, &crate::assets::head_tags(interactivity, &prefix))
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
        crate::teaching::write_assets(site)?;
    }
    if pages_with_interactivity > 0 {
        crate::assets::write_assets(site)?;
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

/// Every file under `dir`, recursively, in a stable order.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Newest modification time among `paths` (files, or folders searched recursively); missing paths
/// are skipped.
pub fn newest_mtime(paths: &[PathBuf]) -> Result<Option<SystemTime>> {
    let mut newest = None;
    for path in paths.iter().filter(|p| p.exists()) {
        let files = if path.is_dir() { files_under(path)? } else { vec![path.clone()] };
        for file in files {
            let modified = std::fs::metadata(&file)?.modified()?;
            newest = newest.max(Some(modified));
        }
    }
    Ok(newest)
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
        let config = mdbook_driver::config::Config::from_disk(crate::workspace_root().join("book.toml")).unwrap();
        let expected: Vec<(String, String)> = PREPROCESSORS
            .iter()
            .map(|name| (name.to_string(), format!("cargo run -q --release -p book -- preprocess {name}")))
            .collect();
        assert_eq!(registered(&config), expected);
    }

    /// A small book whose book.toml registers `values` and `math` as commands that leave a marker
    /// file when they run.
    fn book_with_command_preprocessors() -> tempfile::TempDir {
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

    #[test]
    fn the_driver_runs_the_registered_preprocessors_in_process_once() {
        let dir = book_with_command_preprocessors();
        let built = build(dir.path(), None).unwrap();
        assert!(!dir.path().join("command-ran").exists(), "the driver started a book.toml command");
        let page = std::fs::read_to_string(built.site.join("a.html")).unwrap();
        assert!(page.contains("Worth 2.2, and <math"), "{page}");
        assert_eq!(page.matches("<math").count(), 1, "{page}");
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

    #[test]
    fn inline_assets_are_only_what_a_page_needs() {
        assert_eq!(inline_assets("# Plain\n"), None);
        let quiz = inline_assets("<div class=\"quiz\" id=\"q\">\n").unwrap();
        assert!(quiz.contains(crate::teaching::CSS.trim_end()) && quiz.contains(crate::teaching::QUIZ_JS.trim_end()));
        assert!(!quiz.contains(crate::assets::INTERACTIVE_JS.trim_end()));
        let figure = inline_assets("<figure class=\"interactive\" id=\"f\">\n").unwrap();
        assert!(
            figure.contains(crate::assets::INTERACTIVE_JS.trim_end())
                && !figure.contains(crate::assets::RUN_JS.trim_end())
        );
        // Each <style>/<script> is a raw HTML block that only its closing tag ends, so blank lines
        // inside stay code.
        for text in [
            crate::teaching::CSS,
            crate::teaching::QUIZ_JS,
            crate::assets::CSS,
            crate::assets::RUN_JS,
            crate::assets::INTERACTIVE_JS,
            MATHML_CSS,
        ] {
            assert!(!text.contains("</style") && !text.contains("</script"));
        }
        assert_eq!(without_font_faces("a{} @font-face { src: url(x); } b{}"), "a{}  b{}");
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

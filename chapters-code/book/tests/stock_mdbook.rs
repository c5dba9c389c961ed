//! The stock `mdbook build` renders the same book as `book build`.
//!
//! `mdbook build` is `MDBook::load(root)?.build()` of the mdbook-driver crate the driver also
//! uses (same version, through Cargo.lock): book.toml's `[preprocessor.*]` commands run as child
//! processes speaking mdBook's JSON protocol. Here the commands are this package's `book` binary
//! (`book preprocess <name>`, what book.toml's `cargo run -q --release -p book -- preprocess
//! <name>` runs) so that the test needs no release build and no installed `mdbook` CLI.
//!
//! Every page's `<main>` must be byte-identical to the driver's, once the block of inline
//! stylesheets and scripts (which the driver links from the page's head instead) is taken out; and
//! that block must carry what the page needs.

use anyhow::{Context, Result};
use book::assets::{INLINE_ASSETS_END, INLINE_ASSETS_START};
use book::preprocess::PREPROCESSORS;
use mdbook_driver::MDBook;
use std::path::Path;

/// A page's `<main>`, or all of it for the pages without one (toc.html).
fn main_of(html: &str) -> &str {
    match (html.find("<main>"), html.rfind("</main>")) {
        (Some(start), Some(end)) => &html[start..end],
        _ => html,
    }
}

/// `main` without the inline assets block, and the block.
fn split_assets(main: &str) -> (String, String) {
    match (main.find(INLINE_ASSETS_START), main.find(INLINE_ASSETS_END)) {
        (Some(start), Some(end)) => {
            let end = end + INLINE_ASSETS_END.len();
            (format!("{}{}", main[..start].trim_end(), main[end..].trim_start()), main[start..end].to_string())
        }
        _ => (main.to_string(), String::new()),
    }
}

#[test]
fn the_stock_mdbook_build_renders_the_drivers_pages() -> Result<()> {
    // `BOOK_TEST_ROOT=/path` tests another book root (default: this workspace).
    let root = std::env::var_os("BOOK_TEST_ROOT").map(std::path::PathBuf::from).unwrap_or_else(book::workspace_root);
    let out = tempfile::tempdir()?;
    let driver = book::site::build(&root, Some(&out.path().join("driver")))?.site;

    let mut config = mdbook_driver::config::Config::from_disk(root.join("book.toml"))?;
    let exe = env!("CARGO_BIN_EXE_book");
    for name in PREPROCESSORS {
        let key = format!("preprocessor.{name}.command");
        let command: String = config.get(&key)?.with_context(|| format!("book.toml has no {key}"))?;
        assert!(command.ends_with(&format!("-p book -- preprocess {name}")), "{command}");
        config.set(&key, format!("{exe} preprocess {name}"))?;
    }
    let mut stock = MDBook::load_with_config(&root, config)?;
    stock.config.build.build_dir = out.path().join("stock");
    stock.build().context("the stock mdBook build")?;
    let stock_site = stock.build_dir_for("html");

    let pages: Vec<_> = book::files::files_under(&driver)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html") && !p.ends_with("print.html"))
        .collect();
    assert!(pages.len() > 5, "{} pages", pages.len());
    let mut with_assets = 0;
    for page in &pages {
        let relative = page.strip_prefix(&driver)?;
        let ours = std::fs::read_to_string(page)?;
        let theirs = std::fs::read_to_string(stock_site.join(relative))
            .with_context(|| format!("the stock build has no {}", relative.display()))?;
        let (theirs_main, assets) = split_assets(main_of(&theirs));
        if main_of(&ours).trim_end() != theirs_main.trim_end() {
            panic!(
                "{}: the stock build's <main> differs:\n{}",
                relative.display(),
                first_difference(main_of(&ours), &theirs_main)
            );
        }
        for (marker, asset) in [
            ("<div class=\"quiz\"", book::assets::teaching::QUIZ_JS),
            ("<figure class=\"interactive\"", book::assets::interactivity::INTERACTIVE_JS),
            ("<div class=\"listing-output\"", book::assets::interactivity::RUN_JS),
        ] {
            assert_eq!(
                ours.contains(marker),
                assets.contains(asset.trim_end()),
                "{}: inline script for {marker}",
                relative.display()
            );
        }
        with_assets += usize::from(!assets.is_empty());
    }
    assert!(with_assets > 3, "only {with_assets} pages carry inline assets");
    no_directive_left(&stock_site)
}

/// Where `a` and `b` part, with some context from each.
fn first_difference(a: &str, b: &str) -> String {
    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let start = a.floor_char_boundary(at.saturating_sub(150));
    let around = |s: &str| s[start..s.ceil_char_boundary((at + 150).min(s.len()))].to_string();
    format!("driver: …{}…\nstock:  …{}…", around(a), around(b))
}

/// No `{{#…}}` directive of the book's preprocessors is left in the stock build.
fn no_directive_left(site: &Path) -> Result<()> {
    for page in book::files::files_under(site)?.iter().filter(|p| p.extension().is_some_and(|e| e == "html")) {
        let text = std::fs::read_to_string(page)?;
        for directive in ["{{#value", "{{#exercise", "{{#quiz", "$$"] {
            assert!(!main_of(&text).contains(directive), "{}: {directive} left", page.display());
        }
    }
    Ok(())
}

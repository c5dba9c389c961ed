//! The built book is whole and works offline: it builds; every SUMMARY entry is a page; every
//! relative link, image and `#anchor` resolves; nothing loads from the network or names the public
//! playground; math is MathML; every `{{#value}}` was expanded.
//!
//! `the_built_book_is_whole` builds the real book into a temporary folder and reports every problem
//! at once. `each_check_catches_its_problem` proves each check can fail, on a small fixture book
//! with one planted problem per check.

use anyhow::{Context, Result};
use book::markdown::pulldown_cmark::{Event, Tag};
use regex::Regex;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// The chapters listed in SUMMARY.md, as paths relative to `src/` (drafts without a file skipped).
fn summary_entries(src: &Path) -> Result<Vec<PathBuf>> {
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).context("reading SUMMARY.md")?;
    Ok(book::markdown::parser(&summary)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. }) if !dest_url.is_empty() => Some(PathBuf::from(dest_url.as_ref())),
            _ => None,
        })
        .collect())
}

/// Where mdBook writes the page of a chapter file (`README.md` becomes `index.html`).
fn page_of(chapter: &Path) -> PathBuf {
    if chapter.file_name().is_some_and(|n| n.eq_ignore_ascii_case("README.md")) {
        chapter.with_file_name("index.html")
    } else {
        chapter.with_extension("html")
    }
}

fn check_summary(src: &Path, site: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for entry in summary_entries(src)? {
        if !src.join(&entry).is_file() {
            problems.push(format!("SUMMARY.md lists {}, which does not exist in src/", entry.display()));
        } else if !site.join(page_of(&entry)).is_file() {
            problems.push(format!(
                "SUMMARY.md lists {}, but {} was not built",
                entry.display(),
                page_of(&entry).display()
            ));
        }
    }
    Ok(problems)
}

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<(a|img|script|link|iframe|source|base)\b([^>]*)>").unwrap());
static URL_ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)\b(src|href)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).unwrap());
static ID_ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)\b(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).unwrap());
static INLINE_SCRIPT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?is)(<script\b[^>]*>).*?</script>").unwrap());
static CSS_URL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?i)url\(\s*['"]?([^'")\s]*)"#).unwrap());
static CSS_IMPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)@import\s+(?:url\(\s*)?['"]?([^'")\s;]*)"#).unwrap());

/// `(tag, attribute, url)` of every URL-bearing tag of a page, inline scripts' text skipped.
fn urls_of(html: &str) -> Vec<(String, String, String)> {
    let html = INLINE_SCRIPT.replace_all(html, "$1</script>");
    let mut urls = Vec::new();
    for tag in TAG.captures_iter(&html) {
        for attr in URL_ATTR.captures_iter(&tag[2]) {
            let value = attr.get(2).or(attr.get(3)).map_or("", |m| m.as_str());
            urls.push((tag[1].to_ascii_lowercase(), attr[1].to_ascii_lowercase(), decode_entities(value)));
        }
    }
    urls
}

fn decode_entities(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            (bytes[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Scheme-relative or with a scheme (`https:`, `mailto:`, `data:`…).
fn has_scheme(url: &str) -> bool {
    url.starts_with("//")
        || url.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        })
}

fn is_network(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//")
}

/// Resolves `path` (no fragment) relative to `dir` inside `site`; `None` if it leaves the site.
fn resolve(site: &Path, dir: &Path, path: &str) -> Option<PathBuf> {
    let mut resolved = if path.starts_with('/') { PathBuf::new() } else { dir.to_path_buf() };
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(name) => resolved.push(name),
            // Popping past the site root leaves the site.
            Component::ParentDir => resolved.pop().then_some(())?,
            _ => {}
        }
    }
    let full = site.join(resolved);
    Some(if full.is_dir() { full.join("index.html") } else { full })
}

struct Pages {
    ids: HashMap<PathBuf, Vec<String>>,
}

impl Pages {
    fn ids_of(&mut self, page: &Path) -> &[String] {
        self.ids.entry(page.to_path_buf()).or_insert_with(|| {
            let html = std::fs::read_to_string(page).unwrap_or_default();
            ID_ATTR
                .captures_iter(&html)
                .map(|c| decode_entities(c.get(1).or(c.get(2)).map_or("", |m| m.as_str())))
                .collect()
        })
    }
}

fn check_links(site: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut pages = Pages { ids: HashMap::new() };
    for page in book::files::files_under(site)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")) {
        let html = std::fs::read_to_string(&page)?;
        let name = page.strip_prefix(site)?.display().to_string();
        let urls = urls_of(&html);
        // 404.html carries <base href="/">: its relative links resolve from the site root.
        let base = urls.iter().find(|(tag, ..)| tag == "base").map(|(.., url)| url.clone());
        let dir = match &base {
            Some(base) if base.starts_with('/') => PathBuf::from(base.trim_start_matches('/')),
            _ => page.parent().unwrap().strip_prefix(site)?.to_path_buf(),
        };
        for (tag, attr, url) in urls.iter().filter(|(tag, ..)| tag != "base") {
            if url.is_empty() || has_scheme(url) {
                continue;
            }
            let (path, fragment) = url.split_once('#').unwrap_or((url, ""));
            let path = path.split('?').next().unwrap_or_default();
            let target = if path.is_empty() { Some(page.clone()) } else { resolve(site, &dir, &percent_decode(path)) };
            let Some(target) = target.filter(|t| t.is_file()) else {
                problems.push(format!("{name}: <{tag} {attr}=\"{url}\"> points to a missing file"));
                continue;
            };
            let fragment = percent_decode(fragment);
            let is_page = target.extension().is_some_and(|e| e == "html");
            if !fragment.is_empty() && is_page && !pages.ids_of(&target).contains(&fragment) {
                problems.push(format!(
                    "{name}: <{tag} {attr}=\"{url}\">: no id=\"{fragment}\" in {}",
                    target.strip_prefix(site)?.display()
                ));
            }
        }
    }
    Ok(problems)
}

/// Relative `url(…)` targets of stylesheets exist (fonts, images).
fn check_stylesheet_urls(site: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for css in book::files::files_under(site)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "css")) {
        let text = std::fs::read_to_string(&css)?;
        let dir = css.parent().unwrap().strip_prefix(site)?;
        for url in CSS_URL.captures_iter(&text).map(|c| c[1].to_string()) {
            let path = url.split(['?', '#']).next().unwrap_or_default();
            if path.is_empty() || has_scheme(&url) {
                continue;
            }
            if !resolve(site, dir, path).is_some_and(|t| t.is_file()) {
                problems.push(format!("{}: url({url}) points to a missing file", css.strip_prefix(site)?.display()));
            }
        }
    }
    Ok(problems)
}

fn check_offline(site: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in book::files::files_under(site)? {
        let name = file.strip_prefix(site)?.display().to_string();
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        }; // fonts and images
        if text.contains("play.rust-lang.org") {
            problems.push(format!("{name} mentions play.rust-lang.org"));
        }
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(ext, "html" | "css" | "js") {
            continue;
        }
        if ext == "html" {
            for (tag, attr, url) in urls_of(&text) {
                if tag != "a" && tag != "base" && is_network(&url) {
                    problems.push(format!("{name}: <{tag} {attr}=\"{url}\"> loads from the network"));
                }
            }
        }
        // Stylesheets (files, <style> blocks, style attributes, CSS in scripts): url() and @import.
        for regex in [&*CSS_URL, &*CSS_IMPORT] {
            for capture in regex.captures_iter(&text) {
                if is_network(&capture[1]) {
                    problems.push(format!("{name}: `{}` loads from the network", &capture[0]));
                }
            }
        }
    }
    Ok(problems)
}

/// Every chapter with math in its source has `<math>` elements on its page (at least one per
/// formula), and no `{{#` placeholder survives anywhere.
fn check_math_and_values(src: &Path, site: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for chapter in summary_entries(src)? {
        let Ok(source) = std::fs::read_to_string(src.join(&chapter)) else {
            continue;
        };
        let formulas = book::markdown::parser(&source)
            .filter(|e| matches!(e, Event::InlineMath(_) | Event::DisplayMath(_)))
            .count();
        let page = std::fs::read_to_string(site.join(page_of(&chapter))).unwrap_or_default();
        let rendered = page.matches("<math").count();
        if rendered < formulas {
            problems.push(format!(
                "{}: {formulas} formulas in the source, {rendered} <math> elements on the page",
                chapter.display()
            ));
        }
    }
    for file in book::files::files_under(site)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")) {
        let html = std::fs::read_to_string(&file)?;
        if let Some(at) = html.find("{{#") {
            let context: String = html[at..].chars().take(60).collect();
            problems.push(format!("{}: unexpanded `{context}`", file.strip_prefix(site)?.display()));
        }
    }
    Ok(problems)
}

fn all_problems(root: &Path, site: &Path) -> Result<Vec<String>> {
    let src = root.join("src");
    let mut problems = check_summary(&src, site)?;
    problems.extend(check_links(site)?);
    problems.extend(check_stylesheet_urls(site)?);
    problems.extend(check_offline(site)?);
    problems.extend(check_math_and_values(&src, site)?);
    Ok(problems)
}

#[test]
fn the_built_book_is_whole() -> Result<()> {
    let out = tempfile::tempdir()?;
    let root = book::workspace_root();
    let built = book::site::build(&root, Some(&out.path().join("site")))?;
    assert!(built.warnings.is_empty(), "mdBook warnings:\n{}", built.warnings.join("\n"));
    let site = built.site;
    let pages = book::files::files_under(&site)?.iter().filter(|p| p.extension().is_some_and(|e| e == "html")).count();
    assert!(pages > 3, "only {pages} pages built");
    let problems = all_problems(&root, &site)?;
    assert!(problems.is_empty(), "{} problems in the built book:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

/// A small book that builds cleanly, then one planted problem per check in its output.
#[test]
fn each_check_catches_its_problem() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::copy(book::workspace_root().join("book.toml"), root.join("book.toml"))?;
    let write = |path: &str, text: &str| -> Result<()> {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap())?;
        Ok(std::fs::write(path, text)?)
    };
    write("src/SUMMARY.md", "# Summary\n\n- [One](one.md)\n  - [Two](part/two.md)\n")?;
    write(
        "src/one.md",
        "# One\n\n## Deep end\n\nInline $x^2$ and\n\n$$\\sum_i a_i$$\n\nworth {{#value ch01/f.json:v.0:.1}}, \\$5.\n\n\
         ![fig](figures/ch01/f.svg)\n\nSee [two](part/two.md#two).\n",
    )?;
    write("src/part/two.md", "# Two\n\nBack to [the deep end](../one.md#deep-end).\n")?;
    write("src/figures/ch01/f.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")?;
    write("src/figures/ch01/f.json", r#"{"alt": "", "data": {"v": [2.25]}}"#)?;
    let site = book::site::build(root, None)?.site;
    assert_eq!(all_problems(root, &site)?, Vec::<String>::new(), "the clean fixture has problems");
    let one = std::fs::read_to_string(site.join("one.html"))?;
    assert!(one.contains("worth 2.2, $5."), "value and escaped dollar");

    let plant = |file: &str, text: &str| -> Result<()> {
        let path = site.join(file);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        Ok(std::fs::write(path, old.replace("</body>", &format!("{text}</body>")))?)
    };
    plant("one.html", r#"<a href="part/missing.html">x</a><img src="figures/ch01/gone.svg">"#)?;
    plant("part/two.html", r##"<a href="../one.html#no-such-anchor">x</a><a href="#nor-here">y</a>"##)?;
    let problems = check_links(&site)?;
    for expected in ["part/missing.html", "gone.svg", "no id=\"no-such-anchor\"", "no id=\"nor-here\""] {
        assert!(problems.iter().any(|p| p.contains(expected)), "link check missed {expected}: {problems:?}");
    }

    plant(
        "one.html",
        r#"<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/x.css">"#,
    )?;
    plant("part/two.html", "<style>@import 'https://fonts.example/f.css';</style>")?;
    std::fs::write(site.join("extra.css"), "@font-face { src: url(https://fonts.example/f.woff2); }")?;
    std::fs::write(site.join("extra.js"), "fetch('https://play.rust-lang.org/evaluate.json')")?;
    let problems = check_offline(&site)?;
    for expected in [
        "x.js",
        "//cdn.example/x.css",
        "@import 'https://fonts.example",
        "f.woff2",
        "extra.js mentions play.rust-lang.org",
    ] {
        assert!(problems.iter().any(|p| p.contains(expected)), "offline check missed {expected}: {problems:?}");
    }
    std::fs::write(site.join("extra.css"), "p { background: url('img/none.png'); }")?;
    assert!(check_stylesheet_urls(&site)?.iter().any(|p| p.contains("none.png")));

    std::fs::write(site.join("one.html"), "<p>$x^2$ {{#value ch01/f.json:v}}</p>")?;
    let problems = check_math_and_values(&root.join("src"), &site)?;
    assert!(problems.iter().any(|p| p.contains("2 formulas in the source, 0 <math>")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("unexpanded `{{#value")), "{problems:?}");

    std::fs::remove_file(site.join("part/two.html"))?;
    assert!(check_summary(&root.join("src"), &site)?.iter().any(|p| p.contains("part/two.html was not built")));

    // And the build itself refuses a placeholder that resolves to nothing.
    write("src/part/two.md", "# Two\n\n{{#value ch01/f.json:missing}}\n")?;
    let err = format!("{:#}", book::site::build(root, None).unwrap_err());
    assert!(err.contains("part/two.md") && err.contains("`missing`") && err.contains("f.json"), "{err}");
    Ok(())
}

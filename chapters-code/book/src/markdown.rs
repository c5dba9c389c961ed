//! Markdown scanning shared by the preprocessors and the whole-book tests: the same parser mdBook
//! uses (pulldown-cmark, with mdBook's options), so "inside a code block" means what mdBook means.

use mdbook_markdown::pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};
use std::fmt::Write as _;
use std::ops::Range;

pub use mdbook_markdown::pulldown_cmark;

/// mdBook's parser options (see `mdbook_markdown::new_cmark_parser`) plus math, so `$…$` and
/// `$$…$$` arrive as math events with their source ranges while code spans and blocks stay code.
pub fn parser(text: &str) -> Parser<'_> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_SMART_PUNCTUATION
        | Options::ENABLE_DEFINITION_LIST
        | Options::ENABLE_GFM
        | Options::ENABLE_MATH;
    Parser::new_ext(text, options)
}

/// A fenced code block: its info string (e.g. `rust,should_panic`) and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub info: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    pub source: Range<usize>,
}

impl CodeBlock {
    /// Rust blocks as mdBook and rustdoc see them: the info string's first word starts with `rust`.
    pub fn is_rust(&self) -> bool {
        self.info.split([',', ' ', '\t']).next().is_some_and(|lang| lang.starts_with("rust"))
    }

    /// The comma/space separated attributes after the language, e.g. `["no_run"]`.
    pub fn attributes(&self) -> Vec<&str> {
        self.info.split([',', ' ', '\t']).skip(1).filter(|a| !a.is_empty()).collect()
    }
}

/// Every fenced code block in `text`.
pub fn code_blocks(text: &str) -> Vec<CodeBlock> {
    parser(text)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                Some(CodeBlock { info: info.trim().to_string(), line: line_of(text, range.start), source: range })
            }
            _ => None,
        })
        .collect()
}

/// Targets of every Markdown image (`![alt](target)`) in `text`, with their lines.
pub fn image_targets(text: &str) -> Vec<(String, usize)> {
    parser(text)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Image { dest_url, .. }) => Some((dest_url.to_string(), line_of(text, range.start))),
            _ => None,
        })
        .collect()
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A directive found by [`line_directives`]: its byte range and its argument (or what is wrong with it).
pub type Directive = (std::ops::Range<usize>, anyhow::Result<String>);

/// Every `open … close` directive in `text` (e.g. `{{#quiz path}}`), with its byte range and its
/// trimmed argument checked by `check` (which gets the argument and returns why it is malformed). A
/// directive must stand on a line of its own; an unclosed one ends the scan.
pub fn line_directives(
    text: &str,
    open: &str,
    close: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Vec<Directive> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(open).map(|i| from + i) {
        let inner = start + open.len();
        let Some(end) = text[inner..].find(close).map(|i| inner + i + close.len()) else {
            found.push((start..text.len(), Err(anyhow::anyhow!("`{open}` without a closing `{close}`"))));
            break;
        };
        let argument = text[inner..end - close.len()].trim().to_string();
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        let alone = text[line_start..start].trim().is_empty() && text[end..line_end].trim().is_empty();
        let parsed = if !alone {
            Err(anyhow::anyhow!("`{}` must stand on a line of its own", &text[start..end]))
        } else {
            check(&argument).map(|()| argument).map_err(|why| anyhow::anyhow!("`{}`: {why}", &text[start..end]))
        };
        found.push((start..end, parsed));
        from = end;
    }
    found
}

/// Replaces each directive in `text` by what `render` makes of its argument; every failure is
/// reported, with its line, in one error.
pub fn expand_directives(
    text: &str,
    directives: Vec<Directive>,
    mut render: impl FnMut(String) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut copied_to = 0;
    for (range, parsed) in directives {
        out.push_str(&text[copied_to..range.start]);
        copied_to = range.end;
        match parsed.and_then(&mut render) {
            Ok(markdown) => out.push_str(&markdown),
            Err(e) => problems.push(format!("line {}: {e:#}", line_of(text, range.start))),
        }
    }
    out.push_str(&text[copied_to..]);
    if problems.is_empty() { Ok(out) } else { anyhow::bail!("{}", problems.join("\n")) }
}

/// Escapes text for HTML, and the characters Markdown or the book's preprocessors could act on
/// (the result goes into Markdown as one line of raw HTML).
pub fn escape_html_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => {}
            c if c.is_ascii_punctuation() && "'`*_{}[]$\\|~#!".contains(c) => {
                write!(out, "&#{};", c as u32).expect("writing to a String");
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rust_blocks_with_their_attributes() {
        let md =
            "# T\n\n```rust,no_run\nfn main() {}\n```\n\n~~~text\nx\n~~~\n\n- item\n\n  ```rust\n  let x = 1;\n  ```\n";
        let blocks = code_blocks(md);
        assert_eq!(blocks.len(), 3);
        assert!(blocks[0].is_rust() && blocks[0].attributes() == ["no_run"] && blocks[0].line == 3);
        assert!(!blocks[1].is_rust());
        assert!(blocks[2].is_rust() && blocks[2].attributes().is_empty());
    }

    #[test]
    fn finds_images_but_not_in_code() {
        let md = "![a](figures/ch01/x.svg)\n\n```text\n![b](nope.svg)\n```\n";
        assert_eq!(image_targets(md), vec![("figures/ch01/x.svg".to_string(), 1)]);
    }
}

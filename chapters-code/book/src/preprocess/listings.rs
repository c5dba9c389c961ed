//! The `listings` preprocessor: each Rust listing of a chapter gets the output recorded for it
//! (`src/outputs/<stem>.json`, see [`crate::listings`]) under it, as one line of raw HTML, marked
//! for the page's Run button (`assets/run.js`) with the listing's hash and its chapter crate.

use crate::listings::{Listing, Outputs, Recorded, code_hash, is_runnable, listings, program_text, read_outputs};
use crate::markdown::{
    self, escape_html_line, pulldown_cmark::CodeBlockKind, pulldown_cmark::Event, pulldown_cmark::Tag,
};
use anyhow::Result;
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::{Book, BookItem};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Text for a `<pre>`: escaped, without trailing line breaks; a leading line break is doubled,
/// since HTML drops the first one after `<pre>`.
fn pre_text(text: &str) -> String {
    let text = text.trim_end_matches('\n');
    let lead = if text.starts_with('\n') { "&#10;" } else { "" };
    format!("{lead}{}", escape_html_line(text))
}

/// The raw HTML that follows a listing: its recorded output, and the marks run.js looks for.
pub fn output_html(listing: &Listing, crate_name: Option<&str>, recorded: Option<&Recorded>) -> String {
    let mut html = format!(
        "<div class=\"listing-output\" data-listing=\"{}\" data-code-hash=\"{}\"{}>",
        listing.index,
        listing.hash(),
        crate_name
            .filter(|c| c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(|c| format!(" data-crate=\"{c}\""))
            .unwrap_or_default()
    );
    match recorded {
        Some(r) => {
            let status = if r.exit_code == 0 { String::new() } else { format!(" (exit code {})", r.exit_code) };
            write!(html, "<div class=\"listing-output-label\">Output{status}</div>").expect("writing to a String");
            if !r.stdout.is_empty() || r.stderr.is_empty() {
                let text = if r.stdout.is_empty() { "(no output)" } else { r.stdout.as_str() };
                write!(html, "<pre class=\"listing-stdout\">{}</pre>", pre_text(text)).expect("writing to a String");
            }
            if !r.stderr.is_empty() {
                write!(html, "<pre class=\"listing-stderr\">{}</pre>", pre_text(&r.stderr))
                    .expect("writing to a String");
            }
        }
        None => html.push_str(
            "<div class=\"listing-output-label listing-output-missing\">No recorded output for this version of the \
             listing (run <code>cargo run -p book -- outputs</code>).</div>",
        ),
    }
    html.push_str("</div>");
    html
}

/// Inserts the output block after every runnable listing of `content` whose code is one of the
/// chapter file's own listings (`known`, by hash); code that a directive expanded into the chapter
/// (an exercise's stub, say) is left alone.
pub fn insert_outputs(
    content: &str,
    known: &HashMap<String, Listing>,
    crate_name: Option<&str>,
    outputs: &Outputs,
) -> String {
    let mut inserts = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (event, range) in markdown::parser(content).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if is_runnable(&info) => {
                current = Some((range.start, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, code)) = current.as_mut() {
                    code.push_str(&t);
                }
            }
            Event::End(_) => {
                if let Some((start, code)) = current.take() {
                    let hash = code_hash(&program_text(&code));
                    if let Some(listing) = known.get(&hash) {
                        let line_start = content[..start].rfind('\n').map_or(0, |i| i + 1);
                        let indent: String =
                            content[line_start..start].chars().take_while(|c| *c == ' ' || *c == '\t').collect();
                        let html = output_html(listing, crate_name, outputs.by_hash(&hash));
                        inserts.push((range.end, format!("\n\n{indent}{html}\n\n")));
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = content.to_string();
    for (at, text) in inserts.into_iter().rev() {
        // A fenced block's range ends after its closing fence's line break, or at the end of text.
        let at = if out[..at].ends_with('\n') { at - 1 } else { at };
        out.insert_str(at, &text);
    }
    out
}

/// The mdBook preprocessor: recorded outputs under listings (see the module docs).
pub struct ListingsPreprocessor;

impl mdbook_preprocessor::Preprocessor for ListingsPreprocessor {
    fn name(&self) -> &str {
        "listings"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let src_dir = ctx.root.join(&ctx.config.book.src);
        let mut problems = Vec::new();
        book.for_each_mut(|item| {
            let BookItem::Chapter(chapter) = item else {
                return;
            };
            let Some(source) = chapter.source_path.clone() else {
                return;
            };
            let Ok(text) = std::fs::read_to_string(src_dir.join(&source)) else {
                return;
            };
            let known: HashMap<String, Listing> = listings(&text).into_iter().map(|l| (l.hash(), l)).collect();
            if known.is_empty() {
                return;
            }
            match read_outputs(&src_dir, &source) {
                Ok(outputs) => {
                    let crate_name = crate::listings::crate_of(&source);
                    chapter.content = insert_outputs(&chapter.content, &known, crate_name.as_deref(), &outputs);
                }
                Err(e) => problems.push(format!("{e:#}")),
            }
        });
        if !problems.is_empty() {
            anyhow::bail!("recorded outputs that do not parse:\n{}", problems.join("\n"));
        }
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_go_under_known_listings_as_one_line_of_html() {
        let md = "Intro.\n\n```rust\nfn main() { println!(\"<b>{}</b>\", 1); }\n```\n\nAfter.\n\n```rust\nfn main() {}\n```\n";
        let known: HashMap<_, _> = listings(md).into_iter().take(1).map(|l| (l.hash(), l)).collect();
        let hash = known.keys().next().unwrap().clone();
        let outputs = Outputs {
            about: String::new(),
            listings: vec![Recorded {
                title: String::new(),
                code_hash: hash.clone(),
                exit_code: 0,
                stdout: "<b>1</b>\n\nline {{#value x}} $y$\n".into(),
                stderr: String::new(),
            }],
        };
        let out = insert_outputs(md, &known, Some("ch01_demo"), &outputs);
        let html_line = out.lines().find(|l| l.starts_with("<div class=\"listing-output\"")).unwrap();
        assert!(
            html_line.contains(&format!("data-code-hash=\"{hash}\"")) && html_line.contains("data-crate=\"ch01_demo\"")
        );
        assert!(
            html_line.contains("&lt;b&gt;1&lt;/b&gt;&#10;&#10;line &#123;&#123;&#35;value x&#125;&#125; &#36;y&#36;")
        );
        assert!(out.contains("```\n\n<div class=\"listing-output\""), "{out}");
        assert_eq!(out.matches("listing-output\"").count(), 1, "only the known listing gets an output: {out}");
        // The HTML is a block of its own: the text after it is still a paragraph.
        let after = out.split("</div>\n\n").nth(1).unwrap_or_default();
        assert!(after.trim_start().starts_with("After."), "{out}");
    }

    #[test]
    fn a_listing_without_a_recorded_output_says_so() {
        let listing = Listing { index: 1, line: 1, code: "fn main() {}\n".into() };
        let html = output_html(&listing, None, None);
        assert!(html.contains("No recorded output") && !html.contains("data-crate"));
    }
}

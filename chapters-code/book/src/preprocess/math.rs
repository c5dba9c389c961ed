//! Offline math: `$…$` (inline) and `$$…$$` (display) become MathML at build time with
//! pulldown-latex, which browsers render natively — no MathJax, no CDN. Code spans and code blocks
//! are left alone, and `\$` stays a dollar sign (it is Markdown's own escape).

use crate::markdown::{
    self,
    pulldown_cmark::{Event, Tag, TagEnd},
};
use anyhow::{Context, Result, bail};
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::Book;
use pulldown_latex::config::{DisplayMode, RenderConfig};
use pulldown_latex::{Parser, Storage};
use std::fmt::Write as _;

/// LaTeX to MathML. A LaTeX error is an error, not red text on the page.
pub fn latex_to_mathml(latex: &str, display: DisplayMode) -> Result<String> {
    let storage = Storage::new();
    let events: Vec<_> = Parser::new(latex, &storage).collect();
    if let Some(Err(e)) = events.iter().find(|e| e.is_err()) {
        bail!("{e}");
    }
    let mut mathml = String::new();
    let config = RenderConfig { display_mode: display, ..RenderConfig::default() };
    pulldown_latex::push_mathml(&mut mathml, events.into_iter(), config)?;
    Ok(mathml)
}

/// Makes MathML safe to paste into Markdown. Text between tags would otherwise be read as Markdown
/// (`*`, `_` as emphasis, `|` as a table cell, `'` turned into a curly quote by smart punctuation):
/// every ASCII punctuation character of text content becomes a numeric character reference. Line
/// breaks become spaces, so the markup stays one inline run. Inside tags, a missing space between
/// attributes (pulldown-latex writes `stretchy="true"minsize=…` for `\big(`) is restored: browsers
/// forgive it, but Markdown then does not see a tag at all.
fn shield_from_markdown(mathml: &str) -> String {
    #[derive(Clone, Copy)]
    enum State {
        Text,
        Entity,
        Tag,
        Quoted,
        AfterQuote,
    }
    let mut out = String::with_capacity(mathml.len() * 2);
    let mut state = State::Text;
    for c in mathml.chars() {
        if c == '\n' || c == '\r' {
            out.push(' ');
            continue;
        }
        state = match (state, c) {
            (State::Text, '<') => State::Tag,
            (State::Text, '&') => State::Entity,
            (State::Text, c) if c.is_ascii_punctuation() => {
                write!(out, "&#{};", c as u32).expect("writing to a String");
                continue;
            }
            (State::Text, _) => State::Text,
            (State::Entity, ';') => State::Text,
            (State::Entity, _) => State::Entity,
            (State::Tag | State::AfterQuote, '>') => State::Text,
            (State::Tag | State::AfterQuote, '"') => State::Quoted,
            (State::AfterQuote, c) if !c.is_whitespace() && c != '/' => {
                out.push(' ');
                State::Tag
            }
            (State::Tag | State::AfterQuote, _) => State::Tag,
            (State::Quoted, '"') => State::AfterQuote,
            (State::Quoted, _) => State::Quoted,
        };
        out.push(c);
    }
    out
}

/// Lines of `$` signs that are neither math delimiters nor escaped (`\$`) nor in code: usually a
/// formula that did not close (`$h = $` is not math: the closing `$` must follow a non-space).
pub fn stray_dollars(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_code_block = false;
    for (event, range) in markdown::parser(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Text(_) if !in_code_block => {
                for (i, _) in text[range.clone()].match_indices('$') {
                    let at = range.start + i;
                    if !text[..at].ends_with('\\') {
                        lines.push(markdown::line_of(text, at));
                    }
                }
            }
            _ => {}
        }
    }
    lines.dedup();
    lines
}

/// Replaces every math span of a chapter's Markdown with MathML. A `$` that opens no formula is an
/// error: it would show on the page as a raw dollar and half a formula.
pub fn render_math(text: &str) -> Result<String> {
    let stray = stray_dollars(text);
    if !stray.is_empty() {
        let lines: Vec<_> = stray.iter().map(usize::to_string).collect();
        bail!(
            "{} {}: a `$` that starts or ends no formula (a closing `$` must follow a non-space, \
             as in `$h = 1$`; write `\\$` for a dollar sign)",
            if lines.len() == 1 { "line" } else { "lines" },
            lines.join(", ")
        );
    }
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    for (event, range) in markdown::parser(text).into_offset_iter() {
        let (latex, display) = match event {
            Event::InlineMath(latex) => (latex, DisplayMode::Inline),
            Event::DisplayMath(latex) => (latex, DisplayMode::Block),
            _ => continue,
        };
        let mathml = latex_to_mathml(&latex, display)
            .with_context(|| format!("line {}: `{}`", markdown::line_of(text, range.start), &text[range.clone()]))?;
        out.push_str(&text[copied_to..range.start]);
        out.push_str(&shield_from_markdown(&mathml));
        copied_to = range.end;
    }
    out.push_str(&text[copied_to..]);
    Ok(out)
}

/// The mdBook preprocessor; runs after `values`, so a value may appear inside math.
pub struct MathPreprocessor;

impl mdbook_preprocessor::Preprocessor for MathPreprocessor {
    fn name(&self) -> &str {
        "math"
    }

    fn run(&self, _ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        super::rewrite_chapters(&mut book, "math that does not render", |chapter| {
            render_math(&chapter.content).map(Some)
        })?;
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_display_math_become_mathml() {
        let out = render_math("Let $x^2$ be.\n\n$$\\sum_i a_i$$\n").unwrap();
        assert!(out.starts_with("Let <math"), "{out}");
        assert!(out.contains("<msup>"), "{out}");
        assert!(out.contains("<math display=\"block\""), "{out}");
        assert!(!out.contains('$'), "{out}");
    }

    #[test]
    fn code_is_untouched() {
        let md = "Inline `$x$` code.\n\n```rust\nlet s = \"$a$ and $$b$$\";\n```\n\n    $indented$\n";
        assert_eq!(render_math(md).unwrap(), md);
    }

    #[test]
    fn escaped_dollars_stay_dollars() {
        let md = "It costs \\$5 and \\$10.";
        assert_eq!(render_math(md).unwrap(), md);
    }

    #[test]
    fn text_inside_mathml_cannot_be_read_as_markdown() {
        let out = render_math("$a * b * c_{x}' | y$").unwrap();
        let text_between_tags: String =
            out.split('<').filter_map(|s| s.split_once('>').map(|(_, text)| text)).collect();
        for c in ['*', '_', '\'', '|', '\\', '$'] {
            assert!(!text_between_tags.contains(c), "{c} in {out}");
        }
        assert!(!out.contains('\n'));
    }

    /// Every tag of the rendered math must reach mdBook as HTML, not as text.
    #[test]
    fn markdown_sees_every_mathml_tag_as_html() {
        use crate::markdown::pulldown_cmark::{Options, Parser};
        let formulas = [
            r"\big(\delta W\big) \odot f'(z)",
            r"\left( \frac{a}{b} \right)^{2}",
            r"\operatorname{softmax}(\text{logits}) - Y",
            r"\begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}",
            r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
            r"\sum_{i=1}^{n} \sqrt{x_i} \, \mathbb{E}[\|g\|^2] < \infty",
            r"\hat{y} = \mathbf{W}^\top x + \vec{b}, \quad a \cdot b",
        ];
        for formula in formulas {
            let rendered = render_math(&format!("| a |\n|---|\n| ${formula}$ |\n\ntext $${formula}$$ more\n")).unwrap();
            let options = Options::ENABLE_TABLES | Options::ENABLE_SMART_PUNCTUATION;
            // The parser splits text at special characters: join it back before looking for tags.
            let text: String = Parser::new_ext(&rendered, options)
                .filter_map(|event| match event {
                    Event::Text(text) => Some(text.into_string()),
                    _ => None,
                })
                .collect();
            let tag_as_text = text.contains("<m") || text.contains("=\"") || text.contains("=“");
            assert!(!tag_as_text, "{formula}: {text:?} in {rendered}");
        }
    }

    #[test]
    fn dollars_outside_math_must_be_escaped() {
        assert_eq!(stray_dollars("at $h = $ 1e-3 and $x$ and \\$5\n\n```text\n$ ls\n```\n\n`$`"), vec![1]);
        assert_eq!(stray_dollars("a\n\nprice $5"), vec![3]);
        let err = render_math("ok\n\nat $h = $ 1e-3").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("\\$"), "{err}");
    }

    #[test]
    fn latex_errors_fail_with_the_line() {
        let err = render_math("ok\n\nbad $\\frac{1}$ here").unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
    }
}

//! The teaching assets that `book build` adds to pages with exercises, quizzes or "Going deeper"
//! sections: a stylesheet for all three, and `quiz.js` for pages with a quiz. Both are plain files
//! in `assets/`, written next to the built pages (no CDN); pages without any of them load neither.
//!
//! **Going deeper.** A chapter's core path is what a newcomer reads; research-level material
//! (mean-field theory, random-matrix spectra, bounds) sits in a collapsible block, closed on
//! screen, open in print, and still compiled and run by rustdoc (a Rust block inside is a doctest
//! like any other):
//!
//! ```markdown
//! <details class="going-deeper">
//! <summary>Going deeper: the edge of chaos</summary>
//!
//! ## The edge of chaos
//!
//! …Markdown, math, listings…
//!
//! </details>
//! ```
//!
//! The blank line after `<summary>` and before `</details>` ends the raw HTML block, so what is
//! between renders as Markdown (in mdBook and in rustdoc alike); a heading inside keeps its anchor,
//! and a link to it opens the block. No JavaScript: the browser's own `<details>`.

use anyhow::Result;
use std::path::Path;

/// The folder of the built site holding the assets.
pub const DIR: &str = "teaching";
pub const CSS: &str = include_str!("../../assets/teaching.css");
pub const QUIZ_JS: &str = include_str!("../../assets/quiz.js");

/// What a built page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub stylesheet: bool,
    pub script: bool,
}

/// Whether `html` holds an exercise or a quiz (the markup of [`crate::preprocess::exercise`] and
/// [`crate::preprocess::quiz`]).
pub fn needs(html: &str) -> Needs {
    let quiz = html.contains("<div class=\"quiz\"");
    let stylesheet = quiz || html.contains("<div class=\"exercise\"") || html.contains(GOING_DEEPER);
    Needs { stylesheet, script: quiz }
}

/// How a "Going deeper" block opens (see the module docs).
pub const GOING_DEEPER: &str = "<details class=\"going-deeper\"";

/// `html` with every "Going deeper" block open: mdBook's print.html, so that the printed book
/// carries the deep dives too.
pub fn open_going_deeper(html: &str) -> String {
    html.replace("<details class=\"going-deeper\">", "<details class=\"going-deeper\" open>")
}

/// The tags to add to the head of a page, with mdBook's relative `prefix` for the page's depth.
pub fn head_tags(needs: Needs, prefix: &str) -> String {
    let mut tags = String::new();
    if needs.stylesheet {
        tags.push_str(&format!("<link rel=\"stylesheet\" href=\"{prefix}{DIR}/teaching.css\">\n"));
    }
    if needs.script {
        tags.push_str(&format!("<script src=\"{prefix}{DIR}/quiz.js\" defer></script>\n"));
    }
    tags
}

/// Writes the assets into the built site.
pub fn write_assets(site: &Path) -> Result<()> {
    chapter_kit::figure::write_atomic(&site.join(DIR).join("teaching.css"), CSS.as_bytes())?;
    chapter_kit::figure::write_atomic(&site.join(DIR).join("quiz.js"), QUIZ_JS.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_with_exercises_or_quizzes_get_assets() {
        assert_eq!(needs("<p>plain</p>"), Needs { stylesheet: false, script: false });
        assert_eq!(needs("<div class=\"exercise\" id=\"e\">"), Needs { stylesheet: true, script: false });
        assert_eq!(needs("<div class=\"quiz\" id=\"q\">"), Needs { stylesheet: true, script: true });
        let deeper = "<details class=\"going-deeper\">\n<summary>Going deeper: x</summary>";
        assert_eq!(needs(deeper), Needs { stylesheet: true, script: false });
        assert_eq!(open_going_deeper(deeper), deeper.replace("deeper\">", "deeper\" open>"));
        let tags = head_tags(Needs { stylesheet: true, script: true }, "../");
        assert_eq!(
            tags,
            "<link rel=\"stylesheet\" href=\"../teaching/teaching.css\">\n<script src=\"../teaching/quiz.js\" defer></script>\n"
        );
    }

    #[test]
    fn the_assets_load_nothing_from_the_network() {
        for text in [CSS, QUIZ_JS] {
            assert!(!text.contains("http:") && !text.contains("https:") && !text.contains("//cdn"), "{text}");
        }
    }
}

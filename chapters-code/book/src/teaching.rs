//! The teaching assets that `book build` adds to pages with exercises or quizzes: a stylesheet for
//! both, and `quiz.js` for pages with a quiz. Both are plain files in `assets/`, written next to the
//! built pages (no CDN); pages without exercises or quizzes load neither.

use anyhow::Result;
use std::path::Path;

/// The folder of the built site holding the assets.
pub const DIR: &str = "teaching";
pub const CSS: &str = include_str!("../assets/teaching.css");
pub const QUIZ_JS: &str = include_str!("../assets/quiz.js");

/// What a built page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub stylesheet: bool,
    pub script: bool,
}

/// Whether `html` holds an exercise or a quiz (the markup of [`crate::exercise`] and
/// [`crate::quiz`]).
pub fn needs(html: &str) -> Needs {
    let quiz = html.contains("<div class=\"quiz\"");
    Needs { stylesheet: quiz || html.contains("<div class=\"exercise\""), script: quiz }
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
    lab::figure::write_atomic(&site.join(DIR).join("teaching.css"), CSS.as_bytes())?;
    lab::figure::write_atomic(&site.join(DIR).join("quiz.js"), QUIZ_JS.as_bytes())?;
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

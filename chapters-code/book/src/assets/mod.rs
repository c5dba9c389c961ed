//! The stylesheets and scripts the built pages load, and which page needs which: the files of the
//! driver's `assets/` folder, written next to the built pages (no CDN, no network request), and
//! linked only from the pages that use them.
//!
//! - math: `mathml.css` and the Latin Modern Math font, for pages with `<math>` (here);
//! - [`teaching`]: `teaching.css` and `quiz.js`, for exercises, quizzes and "Going deeper" blocks;
//! - [`interactivity`]: `interactivity.css`, `run.js` (the Run button under listings) and
//!   `interactive.js` (interactive figures).
//!
//! `book build` links them from each page's head ([`crate::site::postprocess`]); a build with the
//! stock `mdbook` CLI gets them inline at the end of each page instead ([`inline_assets`]).

pub mod interactivity;
pub mod teaching;

/// The folder of the built site where the math stylesheet and font go.
pub const MATHML_DIR: &str = "mathml";
pub const MATHML_CSS: &str = include_str!("../../assets/mathml.css");
pub const MATHML_FONT: &[u8] = include_bytes!("../../assets/latinmodern-math.woff2");

/// The first and last line of the block [`inline_assets`] appends.
pub const INLINE_ASSETS_START: &str = "<!-- book: assets for the stock mdbook CLI -->";
pub const INLINE_ASSETS_END: &str = "<!-- book: end of assets -->";

/// `content` with the stylesheets and scripts its page needs appended inline (`None` when it needs
/// none): what [`crate::site::postprocess`] links from the driver's pages, for a build with the stock `mdbook`
/// CLI. Each `<style>` and `<script>` is a raw HTML block of its own, which CommonMark ends only
/// at its closing tag. The math font is left out (it would be a file the stock build does not
/// write): formulas then use a locally installed math font.
pub fn inline_assets(content: &str) -> Option<String> {
    let teaching = teaching::needs(content);
    let interactivity = interactivity::needs(content);
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
        styles.push(teaching::CSS.to_string());
    }
    if teaching.script {
        scripts.push(teaching::QUIZ_JS);
    }
    if interactivity.any() {
        styles.push(interactivity::CSS.to_string());
    }
    if interactivity.run {
        scripts.push(interactivity::RUN_JS);
    }
    if interactivity.figures {
        scripts.push(interactivity::INTERACTIVE_JS);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_assets_are_only_what_a_page_needs() {
        assert_eq!(inline_assets("# Plain\n"), None);
        let quiz = inline_assets("<div class=\"quiz\" id=\"q\">\n").unwrap();
        assert!(quiz.contains(teaching::CSS.trim_end()) && quiz.contains(teaching::QUIZ_JS.trim_end()));
        assert!(!quiz.contains(interactivity::INTERACTIVE_JS.trim_end()));
        let figure = inline_assets("<figure class=\"interactive\" id=\"f\">\n").unwrap();
        assert!(
            figure.contains(interactivity::INTERACTIVE_JS.trim_end())
                && !figure.contains(interactivity::RUN_JS.trim_end())
        );
        // Each <style>/<script> is a raw HTML block that only its closing tag ends, so blank lines
        // inside stay code.
        for text in [
            teaching::CSS,
            teaching::QUIZ_JS,
            interactivity::CSS,
            interactivity::RUN_JS,
            interactivity::INTERACTIVE_JS,
            MATHML_CSS,
        ] {
            assert!(!text.contains("</style") && !text.contains("</script"));
        }
        assert_eq!(without_font_faces("a{} @font-face { src: url(x); } b{}"), "a{}  b{}");
    }
}

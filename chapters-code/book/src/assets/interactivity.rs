//! The scripts and stylesheet that `book build` adds to pages with runnable listings or
//! interactive figures: `run.js` (the Run button, under `book serve` only — in the static site it
//! does nothing), `interactive.js` (the figures' SVG widget) and `interactivity.css`. Plain files in
//! `assets/`, written next to the built pages: no library, no CDN.

use anyhow::Result;
use std::path::Path;

/// The folder of the built site holding the assets.
pub const DIR: &str = "interactivity";
pub const CSS: &str = include_str!("../../assets/interactivity.css");
pub const RUN_JS: &str = include_str!("../../assets/run.js");
pub const INTERACTIVE_JS: &str = include_str!("../../assets/interactive.js");

/// What a built page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// It has listings with recorded outputs (the markup of [`crate::preprocess::listings`]).
    pub run: bool,
    /// It has interactive figures (the markup of [`crate::preprocess::interactive`]).
    pub figures: bool,
}

impl Needs {
    pub fn any(&self) -> bool {
        self.run || self.figures
    }
}

pub fn needs(html: &str) -> Needs {
    Needs {
        run: html.contains("<div class=\"listing-output\""),
        figures: html.contains("<figure class=\"interactive\""),
    }
}

/// The tags to add to the head of a page, with mdBook's relative `prefix` for the page's depth.
pub fn head_tags(needs: Needs, prefix: &str) -> String {
    let mut tags = format!("<link rel=\"stylesheet\" href=\"{prefix}{DIR}/interactivity.css\">\n");
    if needs.run {
        tags.push_str(&format!("<script src=\"{prefix}{DIR}/run.js\" defer></script>\n"));
    }
    if needs.figures {
        tags.push_str(&format!("<script src=\"{prefix}{DIR}/interactive.js\" defer></script>\n"));
    }
    tags
}

/// Writes the assets into the built site.
pub fn write_assets(site: &Path) -> Result<()> {
    chapter_kit::figure::write_atomic(&site.join(DIR).join("interactivity.css"), CSS.as_bytes())?;
    chapter_kit::figure::write_atomic(&site.join(DIR).join("run.js"), RUN_JS.as_bytes())?;
    chapter_kit::figure::write_atomic(&site.join(DIR).join("interactive.js"), INTERACTIVE_JS.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_get_only_what_they_use() {
        assert!(!needs("<p>plain</p>").any());
        let listing = needs("<div class=\"listing-output\" data-listing=\"1\">");
        assert_eq!(listing, Needs { run: true, figures: false });
        let tags = head_tags(listing, "../");
        assert!(
            tags.contains("href=\"../interactivity/interactivity.css\"") && tags.contains("../interactivity/run.js")
        );
        assert!(!tags.contains("interactive.js"));
        assert!(
            head_tags(needs("<figure class=\"interactive\" id=\"x\">"), "")
                .contains("src=\"interactivity/interactive.js\"")
        );
    }
}

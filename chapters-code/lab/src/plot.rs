//! The book's one plotting style, on plotters' SVG backend.
//!
//! Every figure in the book is one of four chart types, each a builder that takes data and returns
//! an SVG document as a `String`:
//!
//! - [`LineChart`]: series of (x, y) points, linear or base-10 log axes, dashed theory curves,
//!   markers, labelled reference lines, a legend that avoids the data;
//! - [`LayerProfile`]: one value per layer (‖δˡ‖, ‖∂L/∂Wˡ‖ …) for several networks, log y;
//! - [`HistogramGrid`]: small histograms, one per layer, on a shared x range, with shaded regions;
//! - [`Heatmap`]: a matrix of values with a colour bar, optionally a log or diverging colour scale.
//!
//! The style: Okabe–Ito's colour-blind-safe [`PALETTE`] taken in order, viridis for heatmaps, one
//! set of font sizes, margins and grid lines, a title on every figure and alt text from the caller
//! (the SVG carries `<title>`, `<desc>`, `role="img"` and `aria-label`). Rendering is deterministic:
//! the same data gives the same bytes.
//!
//! # Text without fonts
//! No font is loaded or embedded: text is written as SVG `<text>` with a CSS font stack
//! (`system-ui, …, sans-serif`) and the reader's browser sets it. plotters built without its `ttf`
//! feature only *estimates* text size (`0.7 em` per UTF-8 byte, see `plotters::style::font::naive`),
//! so layout here measures labels with its own per-character widths (those of DejaVu Sans, wider
//! than the usual UI fonts) and places every label itself rather than through plotters' mesh.

mod axis;
mod canvas;
mod chrome;
mod heatmap;
mod histogram;
mod line;
mod style;

pub use canvas::check_svg;
pub use heatmap::Heatmap;
pub use histogram::HistogramGrid;
pub use line::{LayerProfile, Legend, LineChart, SeriesStyle};
pub use style::{ColorMap, LineKind, Marker, PALETTE, PALETTE_NAMES, palette_color};

/// Default figure width in px: the width of mdBook's content column.
pub const DEFAULT_WIDTH: u32 = 720;
/// Default figure height in px for line charts and heatmaps.
pub const DEFAULT_HEIGHT: u32 = 440;

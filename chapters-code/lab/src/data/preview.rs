//! Previews of image data sets: a grid of the first images, as SVG (for the book) or binary PGM.

use super::Dataset;
use anyhow::{Result, ensure};
use std::fmt::Write as _;

/// The first `count` images of a data set of square images, as a `cols`-wide grid in an SVG (white
/// ink on black, like MNIST), `cell` SVG units per image pixel. Pixels are quantised to 8 grey levels
/// and values below 0.1 count as background (that hides the pixel noise, and keeps the file small);
/// each grey level of an image is one `<path>` of merged horizontal runs. For the book's data previews.
pub fn images_svg(data: &Dataset, count: usize, cols: usize, cell: f64) -> Result<String> {
    const LEVELS: f32 = 7.0;
    let (side, images) = square_images(data, count)?;
    let cols = cols.max(1).min(images.len().max(1));
    let rows = images.len().div_ceil(cols);
    let gap = 2.0;
    let tile = side as f64 * cell;
    let (w, h) = (cols as f64 * (tile + gap) + gap, rows as f64 * (tile + gap) + gap);
    let level = |v: f32| if v < 0.1 { 0 } else { (v.clamp(0.0, 1.0) * LEVELS).round().max(1.0) as usize };
    let mut svg = String::new();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" shape-rendering="crispEdges">"#
    )?;
    writeln!(svg, "<title>{} example images ({side}×{side})</title>", images.len())?;
    writeln!(svg, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##)?;
    for (k, img) in images.iter().enumerate() {
        let (ox, oy) = (gap + (k % cols) as f64 * (tile + gap), gap + (k / cols) as f64 * (tile + gap));
        writeln!(
            svg,
            r##"<g transform="translate({ox} {oy}) scale({cell})"><rect width="{side}" height="{side}" fill="#000000"/>"##
        )?;
        let mut paths = vec![String::new(); LEVELS as usize + 1];
        for r in 0..side {
            let mut c = 0;
            while c < side {
                let l = level(img[r * side + c]);
                let start = c;
                while c < side && level(img[r * side + c]) == l {
                    c += 1;
                }
                if l > 0 {
                    write!(paths[l], "M{start} {r}h{}v1h-{}z", c - start, c - start)?;
                }
            }
        }
        for (l, d) in paths.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
            let g = (l as f32 / LEVELS * 255.0).round() as u8;
            writeln!(svg, r##"<path fill="#{g:02x}{g:02x}{g:02x}" d="{d}"/>"##)?;
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// The first `count` images as a `cols`-wide grid in a binary PGM (P5) image, one pixel per image
/// pixel with a one-pixel grey border between images. Viewable by most image tools.
pub fn images_pgm(data: &Dataset, count: usize, cols: usize) -> Result<Vec<u8>> {
    let (side, images) = square_images(data, count)?;
    let cols = cols.max(1).min(images.len().max(1));
    let rows = images.len().div_ceil(cols);
    let (w, h) = (cols * (side + 1) + 1, rows * (side + 1) + 1);
    let mut pix = vec![128u8; w * h];
    for (k, img) in images.iter().enumerate() {
        let (ox, oy) = (1 + (k % cols) * (side + 1), 1 + (k / cols) * (side + 1));
        for r in 0..side {
            for c in 0..side {
                pix[(oy + r) * w + ox + c] = (img[r * side + c].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    let mut out = format!("P5\n{w} {h}\n255\n").into_bytes();
    out.extend(pix);
    Ok(out)
}

fn square_images(data: &Dataset, count: usize) -> Result<(usize, Vec<Vec<f32>>)> {
    let d = data.dim();
    let side = (d as f64).sqrt().round() as usize;
    ensure!(side * side == d, "inputs of {d} features are not square images");
    let count = count.min(data.len());
    let images = data.x.narrow(0, 0, count)?.to_vec2::<f32>()?;
    Ok((side, images))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{digits, spirals};

    #[test]
    fn previews_render() -> Result<()> {
        let d = digits(12, 1)?;
        let svg = images_svg(&d, 10, 5, 2.0)?;
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<title>10 example images (28×28)</title>"));
        assert_eq!(svg.matches("<g ").count(), 10);
        assert!(svg.matches("<path").count() >= 10 * 3);
        let pgm = images_pgm(&d, 12, 4)?;
        let header = b"P5\n117 88\n255\n";
        assert_eq!(&pgm[..header.len()], header);
        assert_eq!(pgm.len(), header.len() + 117 * 88);
        assert!(images_svg(&spirals(10, 2, 0.1, 0)?, 4, 2, 1.0).is_err());
        Ok(())
    }
}

//! Procedural digits: 28×28 handwriting-like images drawn from curved pen strokes, with random
//! elastic and affine distortion, stroke width and noise, in MNIST's format.

use super::{Dataset, sub_seed};
use crate::init;
use anyhow::Result;
use candle_core::Tensor;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

/// Side of a digit image, as MNIST.
pub const DIGIT_SIDE: usize = 28;

type P = [f64; 2];

/// Builds one pen stroke as a dense polyline in the glyph's unit box (x right, y down).
struct Pen {
    pts: Vec<P>,
}

impl Pen {
    fn at(p: P) -> Pen {
        Pen { pts: vec![p] }
    }
    fn cur(&self) -> P {
        *self.pts.last().expect("a pen has a point")
    }
    fn line(mut self, p: P) -> Pen {
        let a = self.cur();
        for i in 1..=6 {
            let t = i as f64 / 6.0;
            self.pts.push([a[0] + t * (p[0] - a[0]), a[1] + t * (p[1] - a[1])]);
        }
        self
    }
    fn quad(mut self, c: P, p: P) -> Pen {
        let a = self.cur();
        for i in 1..=16 {
            let t = i as f64 / 16.0;
            let u = 1.0 - t;
            self.pts.push([
                u * u * a[0] + 2.0 * u * t * c[0] + t * t * p[0],
                u * u * a[1] + 2.0 * u * t * c[1] + t * t * p[1],
            ]);
        }
        self
    }
    fn cubic(mut self, c1: P, c2: P, p: P) -> Pen {
        let a = self.cur();
        for i in 1..=20 {
            let t = i as f64 / 20.0;
            let u = 1.0 - t;
            let (b0, b1, b2, b3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
            self.pts.push([
                b0 * a[0] + b1 * c1[0] + b2 * c2[0] + b3 * p[0],
                b0 * a[1] + b1 * c1[1] + b2 * c2[1] + b3 * p[1],
            ]);
        }
        self
    }
}

/// An ellipse arc: centre `c`, radii `r`, tilted by `tilt` radians, from angle `a0` to `a1` (radians,
/// y down: 0 = right, π/2 = bottom, −π/2 = top).
fn ellipse(c: P, r: P, tilt: f64, a0: f64, a1: f64) -> Vec<P> {
    let steps = ((a1 - a0).abs() / 0.12).ceil().max(2.0) as usize;
    let (st, ct) = tilt.sin_cos();
    (0..=steps)
        .map(|i| {
            let a = a0 + (a1 - a0) * i as f64 / steps as f64;
            let (x, y) = (r[0] * a.cos(), r[1] * a.sin());
            [c[0] + ct * x - st * y, c[1] + st * x + ct * y]
        })
        .collect()
}

/// Point on the same (tilted) ellipse at angle `a`.
fn ellipse_at(c: P, r: P, tilt: f64, a: f64) -> P {
    ellipse(c, r, tilt, a, a)[0]
}

/// Random helpers for glyph drawing.
struct Jit<'a> {
    rng: &'a mut StdRng,
    amount: f64,
}

impl Jit<'_> {
    /// U(lo, hi).
    fn u(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.rng.random::<f64>()
    }
    /// A template point, jittered by U(±amount) in each coordinate.
    fn p(&mut self, x: f64, y: f64) -> P {
        let a = self.amount;
        [x + self.u(-a, a), y + self.u(-a, a)]
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }
}

/// The pen strokes of digit `d` in the unit box, with random shape variation (template variants,
/// jittered control points, loop sizes, closure gaps).
fn glyph(d: u32, j: &mut Jit) -> Vec<Vec<P>> {
    use std::f64::consts::PI;
    match d {
        0 => {
            let c = j.p(0.5, 0.5);
            let r = [j.u(0.26, 0.4), j.u(0.42, 0.5)];
            let tilt = j.u(-0.3, 0.3);
            let a0 = -PI / 2.0 + j.u(-0.6, 0.4);
            vec![ellipse(c, r, tilt, a0, a0 - 2.0 * PI - j.u(-0.25, 0.45))]
        }
        1 => {
            let top = j.p(0.55, 0.03);
            let bottom = j.p(0.47, 0.97);
            let mut strokes = Vec::new();
            if j.chance(0.4) {
                strokes.push(Pen::at(j.p(0.3, 0.25)).line(top).line(bottom).pts);
                if j.chance(0.3) {
                    strokes.push(Pen::at(j.p(0.28, 0.97)).line(j.p(0.72, 0.97)).pts);
                }
            } else {
                strokes.push(Pen::at(top).quad(j.p(0.52, 0.5), bottom).pts);
            }
            strokes
        }
        2 => {
            let start = j.p(0.15, 0.25);
            let arch = Pen::at(start).cubic(j.p(0.2, -0.08), j.p(0.88, -0.08), j.p(0.8, 0.32));
            let corner = j.p(0.1, 0.96);
            let neck = arch.cubic(j.p(0.75, 0.55), j.p(0.35, 0.75), corner);
            let end = j.p(0.92, 0.95);
            let pen = if j.chance(0.3) {
                // A little loop at the bottom-left corner.
                neck.cubic(j.p(0.0, 0.8), j.p(0.35, 0.8), j.p(0.3, 0.96)).line(end)
            } else {
                neck.line(end)
            };
            vec![pen.pts]
        }
        3 => {
            let mid = j.p(0.42, 0.47);
            let upper = if j.chance(0.25) {
                // Flat-topped 3.
                Pen::at(j.p(0.15, 0.04)).line(j.p(0.85, 0.04)).line(mid)
            } else {
                Pen::at(j.p(0.15, 0.15)).cubic(j.p(0.45, -0.1), j.p(0.98, 0.22), mid)
            };
            vec![upper.cubic(j.p(1.05, 0.48), j.p(0.98, 1.1), j.p(0.1, 0.86)).pts]
        }
        4 => {
            let bar_y = j.u(0.58, 0.7);
            if j.chance(0.6) {
                // Open 4: two strokes.
                let x_stem = j.u(0.6, 0.72);
                vec![
                    Pen::at(j.p(0.22, 0.0)).line(j.p(0.1, bar_y)).line(j.p(0.92, bar_y)).pts,
                    Pen::at(j.p(x_stem, 0.12)).line(j.p(x_stem - 0.03, 1.0)).pts,
                ]
            } else {
                // Closed 4: the diagonal meets the stem at the top.
                let top = j.p(0.66, 0.0);
                vec![
                    Pen::at(top).line(j.p(0.06, bar_y)).line(j.p(0.92, bar_y)).pts,
                    Pen::at(top).line(j.p(0.64, 1.0)).pts,
                ]
            }
        }
        5 => {
            let corner = j.p(0.25, 0.05);
            let waist = j.p(0.2, 0.45);
            let bar = Pen::at(corner).line(j.p(0.85, 0.03)).pts;
            let body = Pen::at(corner)
                .line(waist)
                .cubic(j.p(0.6, 0.25), j.p(1.1, 0.6), j.p(0.55, 0.95))
                .quad(j.p(0.3, 1.02), j.p(0.1, 0.82))
                .pts;
            vec![bar, body]
        }
        6 => {
            let c = j.p(0.5, 0.7);
            let r = [j.u(0.25, 0.34), j.u(0.2, 0.28)];
            let tilt = j.u(-0.2, 0.2);
            let left = ellipse_at(c, r, tilt, PI);
            let head = Pen::at(j.p(0.78, 0.02)).cubic(j.p(0.35, 0.05), j.p(0.12, 0.4), left).pts;
            let mut stroke = head;
            stroke.extend(ellipse(c, r, tilt, PI, PI - 2.0 * PI * j.u(0.85, 1.05)));
            vec![stroke]
        }
        7 => {
            let start = j.p(0.08, 0.06);
            let corner = j.p(0.92, 0.04);
            let pen = if j.chance(0.2) { Pen::at(j.p(0.08, 0.18)).line(start) } else { Pen::at(start) };
            let mut strokes = vec![pen.line(corner).quad(j.p(0.62, 0.45), j.p(0.4, 1.0)).pts];
            if j.chance(0.25) {
                strokes.push(Pen::at(j.p(0.3, 0.52)).line(j.p(0.78, 0.5)).pts);
            }
            strokes
        }
        8 => {
            if j.chance(0.5) {
                // Two loops.
                let (c1, c2) = (j.p(0.5, 0.25), j.p(0.5, 0.72));
                let (r1, r2) = ([j.u(0.2, 0.28), j.u(0.2, 0.25)], [j.u(0.26, 0.36), j.u(0.24, 0.29)]);
                let (a1, a2) = (j.u(-PI, PI), j.u(-PI, PI));
                vec![
                    ellipse(c1, r1, j.u(-0.2, 0.2), a1, a1 + 2.0 * PI + 0.3),
                    ellipse(c2, r2, j.u(-0.2, 0.2), a2, a2 - 2.0 * PI - 0.3),
                ]
            } else {
                // One stroke: down the S, back up through the crossing.
                let cross = j.p(0.5, 0.48);
                let pen = Pen::at(j.p(0.75, 0.12))
                    .cubic(j.p(0.35, -0.12), j.p(0.05, 0.3), cross)
                    .cubic(j.p(0.95, 0.65), j.p(0.85, 1.03), j.p(0.5, 0.98))
                    .cubic(j.p(0.08, 0.98), j.p(0.1, 0.62), cross)
                    .cubic(j.p(0.9, 0.32), j.p(0.78, -0.04), j.p(0.45, 0.03));
                vec![pen.pts]
            }
        }
        _ => {
            // 9: a loop on top, a tail from its right side.
            let c = j.p(0.45, 0.3);
            let r = [j.u(0.24, 0.32), j.u(0.2, 0.27)];
            let tilt = j.u(-0.2, 0.2);
            let right = ellipse_at(c, r, tilt, 0.0);
            let mut stroke = ellipse(c, r, tilt, 0.0, -2.0 * PI * j.u(0.95, 1.05));
            let tail = if j.chance(0.5) {
                Pen::at(right).line(j.p(right[0] - 0.05, 1.0))
            } else {
                Pen::at(right).quad(j.p(right[0] + 0.02, 0.85), j.p(0.4, 1.0))
            };
            stroke.extend(tail.pts);
            vec![stroke]
        }
    }
}

/// Options of the digit renderer; [`DigitStyle::default`] is what [`digits`] uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DigitStyle {
    /// Jitter of template control points, in units of the glyph box.
    pub point_jitter: f64,
    /// Amplitude of the smooth elastic displacement field, in units of the glyph box.
    pub elastic: f64,
    /// Maximum shift of the glyph's centre, in pixels (uniform in ±shift, each axis).
    pub shift: f64,
    /// Maximum rotation, radians (uniform in ±rotation).
    pub rotation: f64,
    /// Maximum shear (slant), uniform in ±shear.
    pub shear: f64,
    /// Range of the overall scale factor.
    pub scale: (f64, f64),
    /// Range of the stroke width, pixels.
    pub stroke_width: (f64, f64),
    /// Standard deviation of the additive Gaussian pixel noise (pixels are then clamped to [0, 1]).
    pub noise: f64,
}

impl Default for DigitStyle {
    fn default() -> Self {
        DigitStyle {
            point_jitter: 0.04,
            elastic: 0.035,
            shift: 3.0,
            rotation: 0.2,
            shear: 0.3,
            scale: (0.8, 1.05),
            stroke_width: (2.0, 3.4),
            noise: 0.05,
        }
    }
}

/// Height and width, in pixels, of the glyph box at scale 1 (MNIST fits digits in a 20×20 box).
const GLYPH_H: f64 = 20.0;
const GLYPH_W: f64 = 15.0;

/// Draws one 28×28 image of digit `d` (row-major, values in [0, 1]).
pub fn draw_digit(d: u32, style: &DigitStyle, rng: &mut StdRng) -> Vec<f32> {
    let side = DIGIT_SIDE;
    let strokes = glyph(d % 10, &mut Jit { rng, amount: style.point_jitter });
    // A smooth random displacement field (elastic distortion, after Simard et al. 2003): two random
    // low-frequency sinusoids per axis.
    let waves: Vec<[f64; 4]> = (0..4)
        .map(|_| {
            let a = style.elastic * (rng.random::<f64>() * 2.0 - 1.0);
            let fx = rng.random::<f64>() * 2.0 - 1.0;
            let fy = rng.random::<f64>() * 2.0 - 1.0;
            [a, fx * 3.0, fy * 3.0, rng.random::<f64>() * std::f64::consts::TAU]
        })
        .collect();
    let warp = |p: P| -> P {
        let w = |k: &[f64; 4]| k[0] * (k[1] * p[0] + k[2] * p[1] + k[3]).sin();
        [p[0] + w(&waves[0]) + w(&waves[1]), p[1] + w(&waves[2]) + w(&waves[3])]
    };
    let u = |rng: &mut StdRng, lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
    let scale = u(rng, style.scale.0, style.scale.1);
    let aspect = u(rng, 0.85, 1.15);
    let rot = u(rng, -style.rotation, style.rotation);
    let shear = u(rng, -style.shear, style.shear);
    let (sr, cr) = rot.sin_cos();
    let radius = 0.5 * u(rng, style.stroke_width.0, style.stroke_width.1);
    let ink = u(rng, 0.8, 1.0) as f32;
    // Unit box → pixels around the origin: scale, slant (top leans right for shear > 0), rotate.
    let to_px = |p: P| -> P {
        let (x, y) = ((p[0] - 0.5) * GLYPH_W * scale * aspect, (p[1] - 0.5) * GLYPH_H * scale);
        let x = x - shear * y;
        [cr * x - sr * y, sr * x + cr * y]
    };
    let polylines: Vec<Vec<P>> = strokes.iter().map(|s| s.iter().map(|&p| to_px(warp(p))).collect()).collect();
    // Centre the glyph's bounding box, then shift it by up to ±shift pixels while keeping it on the canvas.
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for p in polylines.iter().flatten() {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let margin = radius + 1.0;
    let mut offset = [0.0; 2];
    for a in 0..2 {
        let centre = side as f64 / 2.0 - (lo[a] + hi[a]) / 2.0;
        let s = u(rng, -style.shift, style.shift);
        // Keep lo + offset ≥ margin and hi + offset ≤ side − margin when the glyph fits.
        let (min_off, max_off) = (margin - lo[a], side as f64 - margin - hi[a]);
        offset[a] = if min_off <= max_off { (centre + s).clamp(min_off, max_off) } else { centre };
    }
    let mut img = vec![0f32; side * side];
    for line in &polylines {
        for seg in line.windows(2) {
            let a = [seg[0][0] + offset[0], seg[0][1] + offset[1]];
            let b = [seg[1][0] + offset[0], seg[1][1] + offset[1]];
            stamp_segment(&mut img, side, a, b, radius, ink);
        }
    }
    if style.noise > 0.0 {
        for v in img.iter_mut() {
            let n: f64 = StandardNormal.sample(rng);
            *v = (*v + (style.noise * n) as f32).clamp(0.0, 1.0);
        }
    }
    img
}

/// Draws a thick anti-aliased segment: a pixel's coverage falls linearly from 1 to 0 as the distance
/// from its centre to the segment goes from `radius − 0.75` to `radius + 0.75` (a soft edge, like
/// MNIST's downsampled strokes). Overlapping strokes take the maximum, not the sum.
fn stamp_segment(img: &mut [f32], side: usize, a: P, b: P, radius: f64, ink: f32) {
    let reach = radius + 0.75;
    let x0 = (a[0].min(b[0]) - reach).floor().max(0.0) as usize;
    let y0 = (a[1].min(b[1]) - reach).floor().max(0.0) as usize;
    let x1 = ((a[0].max(b[0]) + reach).ceil().max(0.0) as usize).min(side - 1);
    let y1 = ((a[1].max(b[1]) + reach).ceil().max(0.0) as usize).min(side - 1);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    for py in y0..=y1 {
        for px in x0..=x1 {
            let (cx, cy) = (px as f64 + 0.5, py as f64 + 0.5);
            let t = if len2 > 0.0 { (((cx - a[0]) * dx + (cy - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let (ex, ey) = (cx - (a[0] + t * dx), cy - (a[1] + t * dy));
            let dist = (ex * ex + ey * ey).sqrt();
            let cover = ((reach - dist) / 1.5).clamp(0.0, 1.0) as f32;
            let v = &mut img[py * side + px];
            *v = v.max(cover * ink);
        }
    }
}

/// `n` procedurally drawn 28×28 digit images (flattened to 784 values in [0, 1]) with labels 0–9,
/// in MNIST's layout. Labels cycle through a random permutation of 0–9 for each block of ten, so the
/// classes are balanced (within one) in every prefix; each image is drawn from its own seed, so the
/// first `n` images are the same whatever `n` is.
///
/// Each digit is drawn from curved pen-stroke templates (several variants per digit: open and closed
/// 4s, crossed 7s, one- and two-loop 8s…), with jittered control points, a random elastic distortion,
/// a random affine transform (scale, aspect, ±0.2 rad rotation, slant, ±3 px shift), random stroke
/// width and ink, anti-aliased rasterisation, and Gaussian pixel noise. See [`digits_with`] to change
/// the style.
pub fn digits(n: usize, seed: u64) -> Result<Dataset> {
    digits_with(n, seed, &DigitStyle::default())
}

/// `n` digits with the pixels standardised over the whole set (mean 0, std 1): the input the
/// initialisation chapters use, so that the first layer sees unit-variance inputs.
pub fn standardized_digits(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let data = digits(n, seed)?;
    let (mean, std) = crate::probe::mean_std(&data.x)?;
    Ok((data.x.affine(1.0 / std, -mean / std)?, data.y))
}

/// [`digits`] with an explicit [`DigitStyle`].
pub fn digits_with(n: usize, seed: u64, style: &DigitStyle) -> Result<Dataset> {
    if *style == DigitStyle::default() {
        let pixels = DIGIT_SIDE * DIGIT_SIDE;
        return super::memo::memoized(super::memo::SetKey::Digits { seed }, n, pixels, || draw_digits(n, seed, style));
    }
    draw_digits(n, seed, style)
}

/// [`digits_with`], drawn afresh.
pub(super) fn draw_digits(n: usize, seed: u64, style: &DigitStyle) -> Result<Dataset> {
    let mut label_rng = init::rng(sub_seed(seed, 4));
    let mut labels = Vec::with_capacity(n);
    while labels.len() < n {
        let mut block: Vec<u32> = (0..10).collect();
        block.shuffle(&mut label_rng);
        labels.extend(block.into_iter().take(n - labels.len()));
    }
    let mut xs = Vec::with_capacity(n * DIGIT_SIDE * DIGIT_SIDE);
    for (i, &l) in labels.iter().enumerate() {
        let mut rng = init::rng(sub_seed(sub_seed(seed, 5), i as u64));
        xs.extend(draw_digit(l, style, &mut rng));
    }
    Dataset::from_vecs(xs, DIGIT_SIDE * DIGIT_SIDE, labels, 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::softmax_regression_accuracy;

    #[test]
    fn digits_look_like_mnist() -> Result<()> {
        let d = digits(200, 7)?;
        assert_eq!((d.len(), d.dim(), d.classes), (200, 784, 10));
        assert_eq!(d.class_counts()?, vec![20; 10]);
        let xs = d.x.to_vec2::<f32>()?;
        for (i, img) in xs.iter().enumerate() {
            assert!(img.iter().all(|&v| (0.0..=1.0).contains(&v)));
            let ink = img.iter().filter(|&&v| v > 0.5).count();
            // MNIST digits cover roughly 10–25 % of the image; a 1 fewer.
            assert!((25..=330).contains(&ink), "image {i}: {ink} inked pixels");
            // Nothing touches the border rows.
            assert!(img[..28].iter().all(|&v| v < 0.5), "image {i} touches the top border");
        }
        // Deterministic, prefix-stable, seed-dependent.
        assert_eq!(digits(30, 7)?.x.to_vec2::<f32>()?, xs[..30].to_vec());
        assert_ne!(digits(30, 8)?.x.to_vec2::<f32>()?, xs[..30].to_vec());
        // Same label, different drawings.
        let labels = d.labels()?;
        let twos: Vec<usize> = (0..200).filter(|&i| labels[i] == 2).collect();
        assert_ne!(xs[twos[0]], xs[twos[1]]);
        Ok(())
    }

    #[test]
    fn digits_are_learnable_but_not_trivial() -> Result<()> {
        let data = digits(3000, 11)?;
        let (train, test) = data.split(2400)?;
        let acc = softmax_regression_accuracy(&train, &test, 150, 0.5)?;
        assert!(acc > 0.6, "a linear model should reach well above chance (0.1): {acc}");
        assert!(acc < 0.97, "a linear model should not be perfect: {acc}");
        Ok(())
    }
}

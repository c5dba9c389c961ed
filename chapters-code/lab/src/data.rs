//! Data sets: deterministic synthetic tasks, and a reader for the real MNIST files.
//!
//! Every synthetic set is a pure function of its arguments and an explicit seed — the same call gives
//! the same bytes on the same machine — and nothing is ever downloaded:
//!
//! - [`teacher`]: Gaussian inputs labelled by a fixed random tanh network (a learnable but non-trivial
//!   task in the spirit of Glorot & Bengio 2010's synthetic sets);
//! - [`spirals`]: the classic interleaved 2-D spirals of CS231n;
//! - [`digits`]: 28×28 handwriting-like digits drawn procedurally from curved pen strokes, with random
//!   elastic and affine distortion, stroke width and noise, in MNIST's format;
//! - [`mnist_idx`] / [`load_mnist_dir`]: the real MNIST, for readers who have the (decompressed) IDX
//!   files on disk;
//! - [`SeqTask`]: token sequences to sort, reverse or sum modulo the vocabulary (chapter 8's
//!   transformer).
//!
//! A [`Dataset`] holds inputs `x` (n × d, f32) and labels `y` (n, u32), and hands out shuffled
//! minibatches from a seeded RNG:
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! let data = lab::data::spirals(300, 3, 0.2, 7)?;
//! let (train, test) = data.split(240)?;
//! let mut rng = lab::init::rng(1);
//! for batch in train.epoch(64, &mut rng) {
//!     let (x, y) = batch?;
//!     assert_eq!(x.dims()[1], 2);
//!     assert!(y.dims()[0] <= 64);
//! }
//! assert_eq!(test.len(), 60);
//! # Ok(())
//! # }
//! ```

use crate::{DEVICE, Init, init};
use anyhow::{Context, Result, bail, ensure};
use candle_core::{D, DType, Tensor};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A labelled data set: `x` is (n, d) f32, `y` is (n,) u32 with every label below `classes`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub x: Tensor,
    pub y: Tensor,
    pub classes: usize,
}

impl Dataset {
    /// Checks and wraps tensors: `x` must be 2-D, `y` 1-D with as many rows, labels integers in
    /// `[0, classes)`. `x` is converted to f32 and `y` to u32.
    pub fn from_tensors(x: Tensor, y: Tensor, classes: usize) -> Result<Dataset> {
        ensure!(classes > 0, "a data set needs at least one class");
        ensure!(x.rank() == 2, "inputs must be a 2-D (examples × features) tensor, got shape {:?}", x.dims());
        ensure!(y.rank() == 1, "labels must be a 1-D tensor, got shape {:?}", y.dims());
        ensure!(x.dim(0)? == y.dim(0)?, "inputs have {} rows but there are {} labels", x.dim(0)?, y.dim(0)?);
        let x = x.to_dtype(DType::F32)?;
        let y = match y.dtype() {
            DType::U32 => y,
            DType::U8 | DType::I64 => {
                let v = y.to_dtype(DType::I64)?.to_vec1::<i64>()?;
                if let Some((i, l)) = v.iter().enumerate().find(|(_, l)| **l < 0) {
                    bail!("label {i} is {l}: labels must be in [0, {classes})");
                }
                Tensor::from_vec(
                    v.iter().map(|&l| l.min(u32::MAX as i64) as u32).collect::<Vec<_>>(),
                    v.len(),
                    x.device(),
                )?
            }
            other => bail!("labels must be integers, got dtype {other:?}"),
        };
        let labels = y.to_vec1::<u32>()?;
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
            bail!("label {i} is {l}: labels must be in [0, {classes})");
        }
        Ok(Dataset { x, y, classes })
    }

    fn from_vecs(x: Vec<f32>, d: usize, y: Vec<u32>, classes: usize) -> Result<Dataset> {
        let n = y.len();
        debug_assert_eq!(x.len(), n * d);
        debug_assert!(y.iter().all(|&l| (l as usize) < classes));
        Ok(Dataset { x: Tensor::from_vec(x, (n, d), &DEVICE)?, y: Tensor::from_vec(y, n, &DEVICE)?, classes })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of input features.
    pub fn dim(&self) -> usize {
        self.x.dims()[1]
    }

    /// The labels as a vector.
    pub fn labels(&self) -> Result<Vec<u32>> {
        Ok(self.y.to_vec1::<u32>()?)
    }

    /// How many examples each class has.
    pub fn class_counts(&self) -> Result<Vec<usize>> {
        let mut counts = vec![0; self.classes];
        for l in self.labels()? {
            counts[l as usize] += 1;
        }
        Ok(counts)
    }

    /// The examples at `indices`, as `(x, y)` tensors.
    pub fn batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            bail!("example index {bad} out of range for a data set of {n}");
        }
        let idx =
            Tensor::from_vec(indices.iter().map(|&i| i as u32).collect::<Vec<_>>(), indices.len(), self.x.device())?;
        Ok((self.x.index_select(&idx, 0)?, self.y.index_select(&idx, 0)?))
    }

    /// The examples at `indices`, as a data set.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let (x, y) = self.batch(indices)?;
        Ok(Dataset { x, y, classes: self.classes })
    }

    /// The first `n` examples.
    pub fn take(&self, n: usize) -> Result<Dataset> {
        ensure!(n <= self.len(), "cannot take {n} examples from a data set of {}", self.len());
        Ok(Dataset { x: self.x.narrow(0, 0, n)?, y: self.y.narrow(0, 0, n)?, classes: self.classes })
    }

    /// Splits into the first `train_n` examples and the rest. The synthetic sets are already in random
    /// order, so this is a random split; shuffle MNIST-like sets first if their order matters.
    pub fn split(&self, train_n: usize) -> Result<(Dataset, Dataset)> {
        let n = self.len();
        ensure!(train_n <= n, "cannot split {train_n} training examples off a data set of {n}");
        let rest = n - train_n;
        Ok((
            Dataset { x: self.x.narrow(0, 0, train_n)?, y: self.y.narrow(0, 0, train_n)?, classes: self.classes },
            Dataset { x: self.x.narrow(0, train_n, rest)?, y: self.y.narrow(0, train_n, rest)?, classes: self.classes },
        ))
    }

    /// The same examples in an order drawn from `seed`.
    pub fn shuffled(&self, seed: u64) -> Result<Dataset> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut init::rng(seed));
        self.subset(&order)
    }

    /// One epoch of minibatches in an order drawn from `rng` (pass the same RNG epoch after epoch for a
    /// reproducible run). Every example appears once; the last batch holds the remainder and may be
    /// smaller, unless [`Epoch::drop_last`] is set. A `batch_size` of 0 is treated as 1.
    pub fn epoch<R: Rng + ?Sized>(&self, batch_size: usize, rng: &mut R) -> Epoch<'_> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        Epoch { data: self, order, batch_size: batch_size.max(1), pos: 0, drop_last: false }
    }
}

/// The minibatches of one epoch; see [`Dataset::epoch`].
pub struct Epoch<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch_size: usize,
    pos: usize,
    drop_last: bool,
}

impl Epoch<'_> {
    /// Skips a final batch smaller than the batch size (BatchNorm needs at least two examples, and a
    /// tiny last batch makes a noisy step).
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// The permutation this epoch visits.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

impl Iterator for Epoch<'_> {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        let remaining = self.order.len() - self.pos;
        if remaining == 0 || (self.drop_last && remaining < self.batch_size) {
            return None;
        }
        let end = self.pos + remaining.min(self.batch_size);
        let batch = self.data.batch(&self.order[self.pos..end]);
        self.pos = end;
        Some(batch)
    }
}

/// Derives an independent seed for a sub-stream (so e.g. the teacher's weights and the inputs it
/// labels never share random numbers). SplitMix64's finaliser.
fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

// ---------------------------------------------------------------------------------------------------
// Teacher network
// ---------------------------------------------------------------------------------------------------

/// Number of reference inputs the teacher's output biases are calibrated on.
const TEACHER_CALIBRATION: usize = 4096;
/// Bias updates per temperature of the teacher's calibration.
const TEACHER_EM_ROUNDS: usize = 12;
/// The teacher's hidden width is 2·d_in, capped here (so a 784-input teacher stays cheap).
pub const TEACHER_MAX_WIDTH: usize = 256;

/// A fixed random network that labels inputs: `d_in → h → h → classes` with h = min(2·d_in, 256),
/// tanh hidden layers, weights Xavier-normal with tanh's gain 5/3 (so the hidden units are neither
/// saturated nor linear), zero hidden biases, label = arg-max of the output. Computed in f64.
///
/// A random head alone favours some classes heavily, so the output biases are calibrated once, on
/// 4096 reference inputs drawn from the same seed, until every class receives about 1/classes of the
/// input distribution. The teacher depends only on `(d_in, classes, seed)`.
#[derive(Debug, Clone)]
pub struct Teacher {
    pub d_in: usize,
    pub classes: usize,
    /// `(weight (out, in), bias (out,))` per layer, f64.
    pub layers: Vec<(Tensor, Tensor)>,
}

impl Teacher {
    /// The teacher for `(d_in, classes, seed)`.
    pub fn new(d_in: usize, classes: usize, seed: u64) -> Result<Teacher> {
        ensure!(d_in > 0, "the teacher needs at least one input dimension");
        ensure!(classes >= 2, "the teacher needs at least two classes, got {classes}");
        let hidden = (2 * d_in).min(TEACHER_MAX_WIDTH);
        let sizes = [d_in, hidden, hidden, classes];
        let mut rng = init::rng(sub_seed(seed, 1));
        let w_init = Init::XavierNormal { gain: 5.0 / 3.0 };
        let layers = sizes
            .windows(2)
            .map(|p| -> Result<(Tensor, Tensor)> {
                let w: Vec<f64> = w_init.sample(p[1], p[0], &mut rng).into_iter().map(f64::from).collect();
                Ok((Tensor::from_vec(w, (p[1], p[0]), &DEVICE)?, Tensor::zeros(p[1], DType::F64, &DEVICE)?))
            })
            .collect::<Result<_>>()?;
        let mut teacher = Teacher { d_in, classes, layers };
        teacher.calibrate(seed)?;
        Ok(teacher)
    }

    /// Output scores (before the arg-max) of a batch of inputs `(n, d_in)`, as `(n, classes)` f64.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.to_dtype(DType::F64)?;
        let last = self.layers.len() - 1;
        for (l, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(&w.t()?)?.broadcast_add(b)?;
            if l < last {
                h = h.tanh()?;
            }
        }
        Ok(h)
    }

    /// The labels of a batch of inputs.
    pub fn labels(&self, x: &Tensor) -> Result<Vec<u32>> {
        Ok(self.logits(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?)
    }

    /// Shifts the output biases until the classes are about equally likely under N(0, I) inputs. The
    /// scores without bias are computed once on reference inputs; then, at a temperature T annealed
    /// from the scores' spread down to 1 % of it, the bias is updated by iterative proportional fitting
    /// (the EM update for class priors, Saerens et al. 2002): b_k ← b_k − T·log(K·p̄_k), where p̄_k is
    /// the mean of softmax((s + b)/T)_k. At the final, small T the arg-max counts match the soft ones.
    fn calibrate(&mut self, seed: u64) -> Result<()> {
        let mut rng = init::rng(sub_seed(seed, 2));
        let k = self.classes;
        let x = normal_tensor(TEACHER_CALIBRATION, self.d_in, &mut rng)?;
        let scores = self.logits(&x)?;
        let spread = scores.flatten_all()?.var(0)?.to_scalar::<f64>()?.sqrt().max(1e-6);
        let mut bias = Tensor::zeros(k, DType::F64, &DEVICE)?;
        let mut t = spread;
        while t > 0.01 * spread {
            for _ in 0..TEACHER_EM_ROUNDS {
                let p = candle_nn::ops::softmax_last_dim(&(scores.broadcast_add(&bias)? / t)?)?.mean(0)?;
                bias = (bias - ((p * k as f64)?.clamp(1e-12, f64::MAX)?.log()? * t)?)?;
            }
            t *= 0.5;
        }
        self.layers.last_mut().expect("three layers").1 = bias;
        Ok(())
    }
}

/// An `(n, d)` f64 tensor of standard normal draws, row by row from `rng`.
fn normal_tensor(n: usize, d: usize, rng: &mut StdRng) -> Result<Tensor> {
    let v: Vec<f64> = (0..n * d).map(|_| normal(rng)).collect();
    Ok(Tensor::from_vec(v, (n, d), &DEVICE)?)
}

/// `n` examples of the teacher task: inputs x ~ N(0, I_{d_in}), label = the [`Teacher`]'s arg-max
/// class. The first `n` examples are the same whatever `n` is, so a larger call extends a smaller one.
pub fn teacher(n: usize, d_in: usize, classes: usize, seed: u64) -> Result<Dataset> {
    let t = Teacher::new(d_in, classes, seed)?;
    let x = normal_tensor(n, d_in, &mut init::rng(sub_seed(seed, 3)))?;
    let y = if n == 0 { Vec::new() } else { t.labels(&x)? };
    Ok(Dataset { x: x.to_dtype(DType::F32)?, y: Tensor::from_vec(y, n, &DEVICE)?, classes })
}

// ---------------------------------------------------------------------------------------------------
// Spirals
// ---------------------------------------------------------------------------------------------------

/// The interleaved spirals of Stanford's CS231n: class k's points have radius r = 0…1 (evenly spaced)
/// and angle θ = 4k … 4(k+1) radians plus N(0, noise²) — CS231n uses noise 0.2 — at (r sin θ, r cos θ).
/// `n` points in all (classes differ in size by at most one), returned in a random order drawn from
/// `seed`, so [`Dataset::split`] is a random split.
pub fn spirals(n: usize, classes: usize, noise: f64, seed: u64) -> Result<Dataset> {
    ensure!(classes >= 1, "spirals need at least one class");
    ensure!(noise.is_finite() && noise >= 0.0, "spiral noise must be a finite number ≥ 0, got {noise}");
    let mut rng = init::rng(seed);
    let mut points = Vec::with_capacity(n);
    for k in 0..classes {
        let m = n / classes + usize::from(k < n % classes);
        for j in 0..m {
            let t = if m > 1 { j as f64 / (m - 1) as f64 } else { 0.0 };
            let theta = 4.0 * (k as f64 + t) + noise * normal(&mut rng);
            points.push(([(t * theta.sin()) as f32, (t * theta.cos()) as f32], k as u32));
        }
    }
    points.shuffle(&mut rng);
    let xs = points.iter().flat_map(|(p, _)| *p).collect();
    let ys = points.iter().map(|(_, l)| *l).collect();
    Dataset::from_vecs(xs, 2, ys, classes)
}

// ---------------------------------------------------------------------------------------------------
// Procedural digits
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// MNIST IDX files
// ---------------------------------------------------------------------------------------------------

/// Magic number of an IDX file of unsigned-byte 3-D data (MNIST images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte 1-D data (MNIST labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        bail!("{} is gzip-compressed: decompress it first (e.g. `gunzip {}`)", path.display(), path.display());
    }
    Ok(bytes)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_magic(path: &Path, bytes: &[u8], expect: u32, what: &str) -> Result<()> {
    let magic = be_u32(bytes, 0);
    if magic != expect {
        let hint = match magic {
            IDX_IMAGES_MAGIC => " (it is an image file: are the image and label paths swapped?)",
            IDX_LABELS_MAGIC => " (it is a label file: are the image and label paths swapped?)",
            _ => "",
        };
        bail!(
            "{} is not an IDX {what} file: magic number 0x{magic:08x}, expected 0x{expect:08x}{hint}",
            path.display()
        );
    }
    Ok(())
}

/// Raw images of an IDX file: `(count, rows, cols, pixels)` with `count·rows·cols` bytes, row-major.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<(usize, usize, usize, Vec<u8>)> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.len() >= 4 {
        check_magic(path, &bytes, IDX_IMAGES_MAGIC, "image")?;
    }
    ensure!(
        bytes.len() >= 16,
        "{} is truncated: {} bytes, shorter than the 16-byte IDX image header",
        path.display(),
        bytes.len()
    );
    let (n, rows, cols) = (be_u32(&bytes, 4) as usize, be_u32(&bytes, 8) as usize, be_u32(&bytes, 12) as usize);
    let expect = n.checked_mul(rows).and_then(|v| v.checked_mul(cols)).context("image dimensions overflow")?;
    let have = bytes.len() - 16;
    ensure!(
        have >= expect,
        "{} is truncated: its header says {n} images of {rows}×{cols} ({expect} bytes) but only {have} bytes follow",
        path.display()
    );
    ensure!(
        have == expect,
        "{} has {} unexpected bytes after its {n} images of {rows}×{cols}",
        path.display(),
        have - expect
    );
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Raw labels of an IDX file.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.len() >= 4 {
        check_magic(path, &bytes, IDX_LABELS_MAGIC, "label")?;
    }
    ensure!(
        bytes.len() >= 8,
        "{} is truncated: {} bytes, shorter than the 8-byte IDX label header",
        path.display(),
        bytes.len()
    );
    let n = be_u32(&bytes, 4) as usize;
    let have = bytes.len() - 8;
    ensure!(have >= n, "{} is truncated: its header says {n} labels but only {have} bytes follow", path.display());
    ensure!(have == n, "{} has {} unexpected bytes after its {n} labels", path.display(), have - n);
    Ok(bytes[8..].to_vec())
}

/// Writes images (`count·rows·cols` bytes) as an IDX file (atomically). For tests, and for exporting
/// the procedural digits to tools that read MNIST.
pub fn write_idx_images(path: impl AsRef<Path>, rows: usize, cols: usize, pixels: &[u8]) -> Result<()> {
    let per = rows * cols;
    ensure!(
        per > 0 && pixels.len().is_multiple_of(per),
        "{} bytes are not a whole number of {rows}×{cols} images",
        pixels.len()
    );
    let mut bytes = Vec::with_capacity(16 + pixels.len());
    for v in [IDX_IMAGES_MAGIC, (pixels.len() / per) as u32, rows as u32, cols as u32] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    crate::io::OutputFile::write_all_atomic(path, &bytes)?;
    Ok(())
}

/// Writes labels as an IDX file (atomically).
pub fn write_idx_labels(path: impl AsRef<Path>, labels: &[u8]) -> Result<()> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend(IDX_LABELS_MAGIC.to_be_bytes());
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    crate::io::OutputFile::write_all_atomic(path, &bytes)?;
    Ok(())
}

/// Reads an MNIST-format pair of IDX files (also Fashion-MNIST): images become rows of
/// `rows·cols` f32 values in [0, 1] (pixel / 255), labels must be digits 0–9.
pub fn mnist_idx(images_path: impl AsRef<Path>, labels_path: impl AsRef<Path>) -> Result<Dataset> {
    let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
    let (n, rows, cols, pixels) = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    ensure!(
        labels.len() == n,
        "{} has {n} images but {} has {} labels",
        images_path.display(),
        labels_path.display(),
        labels.len()
    );
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        bail!("{}: label {i} is {l}, but MNIST labels are digits 0–9", labels_path.display());
    }
    let xs = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    Dataset::from_vecs(xs, rows * cols, labels.iter().map(|&l| l as u32).collect(), 10)
}

/// MNIST's training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
}

/// Finds `<stem>` in `dir` under the names MNIST is distributed with (`train-images-idx3-ubyte`, or
/// `train-images.idx3-ubyte`), or says what is there instead.
fn find_idx(dir: &Path, stem: &str, kind: &str) -> Result<PathBuf> {
    let candidates = [format!("{stem}-{kind}"), format!("{stem}.{kind}")];
    for name in &candidates {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    for name in &candidates {
        let gz = dir.join(format!("{name}.gz"));
        if gz.is_file() {
            bail!(
                "found {} but not {}: decompress it first (e.g. `gunzip -k {}`)",
                gz.display(),
                dir.join(name).display(),
                gz.display()
            );
        }
    }
    bail!(
        "{} not found in {} (expected the decompressed MNIST files, e.g. `{}`)",
        candidates[0],
        dir.display(),
        candidates[0]
    )
}

/// Loads MNIST from a directory holding the four decompressed IDX files
/// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`).
pub fn load_mnist_dir(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    ensure!(dir.is_dir(), "MNIST directory {} does not exist", dir.display());
    let train = mnist_idx(find_idx(dir, "train-images", "idx3-ubyte")?, find_idx(dir, "train-labels", "idx1-ubyte")?)?;
    let test = mnist_idx(find_idx(dir, "t10k-images", "idx3-ubyte")?, find_idx(dir, "t10k-labels", "idx1-ubyte")?)?;
    Ok(Mnist { train, test })
}

/// A synthetic sequence-to-sequence task for the transformer of chapter 8 (no download): every
/// input is `len` tokens drawn uniformly from `0..vocab`, and the target at position i is the i-th
/// smallest input token ([`SeqTask::Sort`]), the input read backwards ([`SeqTask::Reverse`]), or
/// the running sum of the inputs so far modulo `vocab` ([`SeqTask::PrefixSumMod`]). Every target
/// depends on tokens at other positions, so a model without attention cannot solve it: chance is
/// about 1/`vocab` per position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeqTask {
    Sort,
    Reverse,
    PrefixSumMod,
}

impl SeqTask {
    /// `batch` sequences: the input tokens and the targets, each `batch·len` u32s, row-major.
    pub fn sample(&self, batch: usize, len: usize, vocab: usize, rng: &mut StdRng) -> Result<(Vec<u32>, Vec<u32>)> {
        ensure!(batch > 0 && len > 0, "a sequence batch needs at least one sequence of at least one token");
        ensure!(vocab >= 2, "a vocabulary needs at least 2 tokens, got {vocab}");
        let mut x = Vec::with_capacity(batch * len);
        let mut y = Vec::with_capacity(batch * len);
        for _ in 0..batch {
            let seq: Vec<u32> = (0..len).map(|_| rng.random_range(0..vocab as u32)).collect();
            match self {
                SeqTask::Sort => {
                    let mut sorted = seq.clone();
                    sorted.sort_unstable();
                    y.extend(sorted);
                }
                SeqTask::Reverse => y.extend(seq.iter().rev()),
                SeqTask::PrefixSumMod => {
                    let mut sum = 0;
                    y.extend(seq.iter().map(|t| {
                        sum = (sum + t) % vocab as u32;
                        sum
                    }));
                }
            }
            x.extend(seq);
        }
        Ok((x, y))
    }

    /// [`SeqTask::sample`] as tensors: inputs and targets `(batch, len)` u32.
    pub fn batch(&self, batch: usize, len: usize, vocab: usize, rng: &mut StdRng) -> Result<(Tensor, Tensor)> {
        let (x, y) = self.sample(batch, len, vocab, rng)?;
        Ok((Tensor::from_vec(x, (batch, len), &DEVICE)?, Tensor::from_vec(y, (batch, len), &DEVICE)?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sequence_tasks_sort_reverse_and_sum() -> Result<()> {
        let mut rng = crate::init::rng(3);
        let (x, y) = SeqTask::Sort.sample(4, 9, 7, &mut rng)?;
        for (xs, ys) in x.chunks(9).zip(y.chunks(9)) {
            let mut s = xs.to_vec();
            s.sort();
            assert_eq!(s, ys);
            assert!(xs.iter().all(|&t| t < 7));
        }
        let (x, y) = SeqTask::Reverse.sample(2, 5, 3, &mut rng)?;
        assert_eq!(x[0..5].iter().rev().copied().collect::<Vec<_>>(), y[0..5]);
        let (x, y) = SeqTask::PrefixSumMod.sample(1, 4, 5, &mut rng)?;
        let mut sum = 0;
        for (a, b) in x.iter().zip(&y) {
            sum = (sum + a) % 5;
            assert_eq!(sum, *b);
        }
        // Same seed, same sequences.
        let a = SeqTask::Sort.sample(3, 6, 10, &mut crate::init::rng(1))?;
        assert_eq!(a, SeqTask::Sort.sample(3, 6, 10, &mut crate::init::rng(1))?);
        assert!(SeqTask::Sort.sample(0, 6, 10, &mut rng).is_err() && SeqTask::Sort.sample(1, 6, 1, &mut rng).is_err());
        Ok(())
    }

    use super::*;
    use rand::RngCore;

    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0u8; n];
        init::rng(seed).fill_bytes(&mut v);
        v
    }

    #[test]
    fn from_tensors_validates() -> Result<()> {
        let x = Tensor::zeros((4, 3), DType::F32, &DEVICE)?;
        let ok = Dataset::from_tensors(x.clone(), Tensor::new(&[0u32, 1, 2, 1], &DEVICE)?, 3)?;
        assert_eq!((ok.len(), ok.dim(), ok.class_counts()?), (4, 3, vec![1, 2, 1]));
        let e = Dataset::from_tensors(x.clone(), Tensor::new(&[0u32, 1, 2], &DEVICE)?, 3).unwrap_err().to_string();
        assert!(e.contains("4 rows but there are 3 labels"), "{e}");
        let e = Dataset::from_tensors(x.clone(), Tensor::new(&[0u32, 1, 3, 0], &DEVICE)?, 3).unwrap_err().to_string();
        assert!(e.contains("label 2 is 3: labels must be in [0, 3)"), "{e}");
        let e = Dataset::from_tensors(x.clone(), Tensor::new(&[0i64, -1, 0, 0], &DEVICE)?, 3).unwrap_err().to_string();
        assert!(e.contains("label 1 is -1"), "{e}");
        let e = Dataset::from_tensors(x.flatten_all()?, Tensor::new(&[0u32; 12], &DEVICE)?, 3).unwrap_err().to_string();
        assert!(e.contains("2-D"), "{e}");
        let e = Dataset::from_tensors(x.clone(), Tensor::new(&[0f32; 4], &DEVICE)?, 3).unwrap_err().to_string();
        assert!(e.contains("integers"), "{e}");
        let i64s = Dataset::from_tensors(x.to_dtype(DType::F64)?, Tensor::new(&[2i64, 1, 0, 0], &DEVICE)?, 3)?;
        assert_eq!((i64s.x.dtype(), i64s.labels()?), (DType::F32, vec![2, 1, 0, 0]));
        assert!(Dataset::from_tensors(x, Tensor::new(&[0u32; 4], &DEVICE)?, 0).is_err());
        Ok(())
    }

    #[test]
    fn batches_split_and_epochs() -> Result<()> {
        let x = Tensor::arange(0f32, 20.0, &DEVICE)?.reshape((10, 2))?;
        let y = Tensor::new(&[0u32, 1, 0, 1, 0, 1, 0, 1, 0, 1], &DEVICE)?;
        let d = Dataset::from_tensors(x, y, 2)?;
        let (bx, by) = d.batch(&[3, 0])?;
        assert_eq!(bx.to_vec2::<f32>()?, vec![vec![6.0, 7.0], vec![0.0, 1.0]]);
        assert_eq!(by.to_vec1::<u32>()?, vec![1, 0]);
        assert!(d.batch(&[10]).unwrap_err().to_string().contains("out of range"));
        let (a, b) = d.split(7)?;
        assert_eq!((a.len(), b.len()), (7, 3));
        assert_eq!(b.x.to_vec2::<f32>()?[0], vec![14.0, 15.0]);
        assert!(d.split(11).is_err());
        assert_eq!(d.take(4)?.len(), 4);

        // An epoch visits every example once; the same RNG seed gives the same batches.
        let firsts = |seed| -> Result<Vec<Vec<f32>>> {
            let mut rng = init::rng(seed);
            let batches: Vec<(Tensor, Tensor)> = d.epoch(4, &mut rng).collect::<Result<_>>()?;
            assert_eq!(batches.iter().map(|b| b.1.dims()[0]).collect::<Vec<_>>(), vec![4, 4, 2]);
            Ok(batches.iter().map(|b| b.0.to_vec2::<f32>().unwrap().concat()).collect())
        };
        let (e1, e2, e3) = (firsts(5)?, firsts(5)?, firsts(6)?);
        assert_eq!(e1, e2);
        assert_ne!(e1, e3);
        let mut all: Vec<f32> = e1.concat();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..20).map(|v| v as f32).collect::<Vec<_>>());
        let mut rng = init::rng(0);
        assert_eq!(d.epoch(4, &mut rng).drop_last(true).count(), 2);
        // Consecutive epochs from one RNG differ.
        let o1 = d.epoch(4, &mut rng).order().to_vec();
        let o2 = d.epoch(4, &mut rng).order().to_vec();
        assert_ne!(o1, o2);
        let s = d.shuffled(3)?;
        assert_eq!(s.class_counts()?, vec![5, 5]);
        Ok(())
    }

    #[test]
    fn teacher_is_deterministic_balanced_and_prefix_stable() -> Result<()> {
        let a = teacher(2000, 10, 4, 42)?;
        let b = teacher(2000, 10, 4, 42)?;
        let c = teacher(2000, 10, 4, 43)?;
        assert_eq!(a.x.to_vec2::<f32>()?, b.x.to_vec2::<f32>()?);
        assert_eq!(a.labels()?, b.labels()?);
        assert_ne!(a.labels()?, c.labels()?);
        let small = teacher(100, 10, 4, 42)?;
        assert_eq!(small.labels()?, a.labels()?[..100].to_vec());
        // Inputs are standard normal.
        let flat = a.x.flatten_all()?.to_vec1::<f32>()?;
        let mean = flat.iter().map(|&v| v as f64).sum::<f64>() / flat.len() as f64;
        let var = flat.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / flat.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
        Ok(())
    }

    #[test]
    fn teacher_classes_are_balanced_across_shapes_and_seeds() -> Result<()> {
        for (d_in, classes) in [(2, 2), (8, 3), (20, 10), (50, 10), (4, 7)] {
            for seed in 0..4 {
                let data = teacher(3000, d_in, classes, seed)?;
                let counts = data.class_counts()?;
                let floor = 3000 / (3 * classes);
                assert!(
                    counts.iter().all(|&c| c >= floor),
                    "d_in {d_in}, {classes} classes, seed {seed}: counts {counts:?} (each should be ≥ {floor})"
                );
            }
        }
        assert!(teacher(10, 3, 1, 0).is_err());
        Ok(())
    }

    #[test]
    fn teacher_is_not_linearly_trivial() -> Result<()> {
        // A linear classifier learns a good part of the task, but not all of it: the teacher is
        // non-linear (the point of a deep student).
        let data = teacher(4000, 10, 4, 1)?;
        let (train, test) = data.split(3000)?;
        let acc = softmax_regression_accuracy(&train, &test, 300, 0.5)?;
        assert!(acc > 0.45, "a linear model should beat chance (0.25) clearly: {acc}");
        assert!(acc < 0.95, "a linear model should not solve the teacher task: {acc}");
        Ok(())
    }

    #[test]
    fn empty_sets_are_fine() -> Result<()> {
        for d in [teacher(0, 4, 3, 0)?, spirals(0, 3, 0.2, 0)?, digits(0, 0)?] {
            assert_eq!(d.len(), 0);
            assert!(d.is_empty());
            assert_eq!(d.epoch(8, &mut init::rng(0)).count(), 0);
        }
        Ok(())
    }

    #[test]
    fn spirals_match_cs231n() -> Result<()> {
        let s = spirals(301, 3, 0.0, 0)?;
        assert_eq!((s.len(), s.dim(), s.classes), (301, 2, 3));
        assert_eq!(s.class_counts()?, vec![101, 100, 100]);
        let xs = s.x.to_vec2::<f32>()?;
        let ys = s.labels()?;
        // Without noise every point lies on its class's spiral: angle = 4(k + r) at radius r.
        for (p, &k) in xs.iter().zip(&ys) {
            let r = (p[0] as f64).hypot(p[1] as f64);
            assert!(r <= 1.0 + 1e-6);
            if r > 0.05 {
                let theta = 4.0 * (k as f64 + r);
                assert!((p[0] as f64 - r * theta.sin()).abs() < 1e-5 && (p[1] as f64 - r * theta.cos()).abs() < 1e-5);
            }
        }
        // Shuffled: the first tenth is not a single class.
        assert!(ys[..30].iter().any(|&l| l != ys[0]));
        assert_eq!(spirals(300, 3, 0.2, 9)?.x.to_vec2::<f32>()?, spirals(300, 3, 0.2, 9)?.x.to_vec2::<f32>()?);
        assert!(spirals(10, 2, f64::NAN, 0).is_err());
        Ok(())
    }

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

    /// Full-batch softmax regression by gradient descent (candle), test accuracy.
    fn softmax_regression_accuracy(train: &Dataset, test: &Dataset, steps: usize, lr: f64) -> Result<f64> {
        let w = candle_core::Var::zeros((train.dim(), train.classes), DType::F32, &DEVICE)?;
        let b = candle_core::Var::zeros(train.classes, DType::F32, &DEVICE)?;
        for _ in 0..steps {
            let logits = train.x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &train.y)?;
            let g = loss.backward()?;
            w.set(&(w.as_tensor() - (g.get(&w).unwrap() * lr)?)?)?;
            b.set(&(b.as_tensor() - (g.get(&b).unwrap() * lr)?)?)?;
        }
        let pred = test.x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?.argmax(D::Minus1)?;
        let correct = pred.eq(&test.y)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
        Ok(correct as f64 / test.len() as f64)
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-data-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn idx_round_trip_and_errors() -> Result<()> {
        let dir = temp_dir("idx");
        let pixels = random_bytes(3 * 4 * 5, 1);
        let (img, lab) = (dir.join("imgs"), dir.join("labs"));
        write_idx_images(&img, 4, 5, &pixels)?;
        write_idx_labels(&lab, &[3, 0, 9])?;
        let d = mnist_idx(&img, &lab)?;
        assert_eq!((d.len(), d.dim(), d.classes, d.labels()?), (3, 20, 10, vec![3, 0, 9]));
        let row1 = d.x.to_vec2::<f32>()?[1].clone();
        assert_eq!(row1, pixels[20..40].iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>());

        let err = |i: &Path, l: &Path| mnist_idx(i, l).unwrap_err().to_string();
        // Missing file: names it.
        let missing = dir.join("nope");
        let e = err(&missing, &lab);
        assert!(e.contains("cannot read") && e.contains("nope"), "{e}");
        // Wrong magic, and the swapped-arguments hint.
        let e = err(&lab, &img);
        assert!(
            e.contains("labs is not an IDX image file") && e.contains("0x00000801") && e.contains("swapped"),
            "{e}"
        );
        let junk = dir.join("junk");
        std::fs::write(&junk, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        let e = err(&junk, &lab);
        assert!(e.contains("junk is not an IDX image file: magic number 0xdeadbeef"), "{e}");
        // Truncated data and truncated header.
        let bytes = std::fs::read(&img)?;
        let short = dir.join("short");
        std::fs::write(&short, &bytes[..bytes.len() - 7])?;
        let e = err(&short, &lab);
        assert!(
            e.contains("short is truncated: its header says 3 images of 4×5 (60 bytes) but only 53 bytes follow"),
            "{e}"
        );
        std::fs::write(&short, &bytes[..10])?;
        assert!(err(&short, &lab).contains("shorter than the 16-byte IDX image header"));
        let short_labels = dir.join("short_labels");
        std::fs::write(&short_labels, &std::fs::read(&lab)?[..9])?;
        assert!(err(&img, &short_labels).contains("says 3 labels but only 1 bytes follow"));
        let long = dir.join("long");
        std::fs::write(&long, [bytes.as_slice(), &[0]].concat())?;
        assert!(err(&long, &lab).contains("1 unexpected bytes"));
        // Count mismatch.
        let two = dir.join("two");
        write_idx_labels(&two, &[1, 2])?;
        let e = err(&img, &two);
        assert!(e.contains("imgs has 3 images but") && e.contains("two has 2 labels"), "{e}");
        // Labels beyond 9.
        let bad = dir.join("bad");
        write_idx_labels(&bad, &[1, 12, 2])?;
        assert!(err(&img, &bad).contains("label 1 is 12"));
        // Gzip.
        let gz = dir.join("imgs.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0])?;
        let e = err(&gz, &lab);
        assert!(e.contains("gzip-compressed: decompress it first"), "{e}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn mnist_dir_finds_files_and_explains_what_is_missing() -> Result<()> {
        let dir = temp_dir("mnistdir");
        let e = load_mnist_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte not found in"), "{e}");
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), [0x1f, 0x8b])?;
        let e = load_mnist_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz but not") && e.contains("decompress it first"), "{e}");
        let digits = digits(30, 2)?;
        let to_bytes = |d: &Dataset| -> Result<(Vec<u8>, Vec<u8>)> {
            let px = d.x.flatten_all()?.to_vec1::<f32>()?.iter().map(|&v| (v * 255.0).round() as u8).collect();
            Ok((px, d.labels()?.iter().map(|&l| l as u8).collect()))
        };
        let (train, test) = digits.split(20)?;
        let ((tp, tl), (sp, sl)) = (to_bytes(&train)?, to_bytes(&test)?);
        write_idx_images(dir.join("train-images-idx3-ubyte"), 28, 28, &tp)?;
        write_idx_labels(dir.join("train-labels-idx1-ubyte"), &tl)?;
        // The dotted spelling some mirrors use.
        write_idx_images(dir.join("t10k-images.idx3-ubyte"), 28, 28, &sp)?;
        write_idx_labels(dir.join("t10k-labels.idx1-ubyte"), &sl)?;
        let m = load_mnist_dir(&dir)?;
        assert_eq!((m.train.len(), m.test.len(), m.train.dim()), (20, 10, 784));
        assert_eq!(m.test.labels()?, test.labels()?);
        let diff = (m.train.x.clone() - &train.x)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff <= 0.5 / 255.0 + 1e-6);
        assert!(load_mnist_dir(dir.join("absent")).unwrap_err().to_string().contains("does not exist"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

//! The generated tasks: the [`Teacher`] network and its task, CS231n's spirals, and the token
//! sequences of chapter 8 ([`SeqTask`]).

use super::{Dataset, sub_seed};
use crate::{DEVICE, Init, init};
use anyhow::{Result, ensure};
use candle_core::{D, DType, Tensor};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

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
    let key = super::memo::SetKey::Teacher { d_in, classes, seed };
    super::memo::memoized(key, n, d_in, || draw_teacher(n, d_in, classes, seed))
}

/// [`teacher`], drawn afresh.
pub(super) fn draw_teacher(n: usize, d_in: usize, classes: usize, seed: u64) -> Result<Dataset> {
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
    use super::*;
    use crate::data::tests::softmax_regression_accuracy;

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
}

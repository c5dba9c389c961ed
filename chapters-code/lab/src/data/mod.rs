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
//!
//! The module is split by job: this file holds the [`Dataset`] type (checking, splitting,
//! batching, epochs); `synthetic.rs` the generated tasks ([`teacher`], [`spirals`], [`SeqTask`]);
//! `digits.rs` the glyph renderer behind [`digits`]; `preview.rs` the image grids
//! ([`images_svg`], [`images_pgm`]); `idx.rs` the IDX format and MNIST; `memo.rs` keeps the digits
//! and teacher sets drawn in this process for the next caller who asks for the same set. Everything is re-exported
//! here, so every item keeps its `lab::data::…` path.

mod digits;
mod idx;
mod memo;
mod preview;
mod synthetic;

pub use digits::{DIGIT_SIDE, DigitStyle, digits, digits_with, draw_digit, standardized_digits};
pub use idx::{
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, Mnist, load_mnist_dir, mnist_idx, read_idx_images, read_idx_labels,
    write_idx_images, write_idx_labels,
};
pub use preview::{images_pgm, images_svg};
pub use synthetic::{SeqTask, TEACHER_MAX_WIDTH, Teacher, spirals, teacher};

use crate::{DEVICE, init};
use anyhow::{Result, bail, ensure};
use candle_core::{DType, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;

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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::D;
    use std::path::PathBuf;

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
    fn empty_sets_are_fine() -> Result<()> {
        for d in [teacher(0, 4, 3, 0)?, spirals(0, 3, 0.2, 0)?, digits(0, 0)?] {
            assert_eq!(d.len(), 0);
            assert!(d.is_empty());
            assert_eq!(d.epoch(8, &mut init::rng(0)).count(), 0);
        }
        Ok(())
    }

    /// Full-batch softmax regression by gradient descent (candle), test accuracy.
    pub(super) fn softmax_regression_accuracy(train: &Dataset, test: &Dataset, steps: usize, lr: f64) -> Result<f64> {
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

    pub(super) fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-data-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

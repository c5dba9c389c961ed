//! The per-step measurements: sums of squares of gradients and weights, and activation statistics.

use anyhow::{Result, ensure};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

/// A post-activation value closer than this to an asymptote counts as saturated (σ below 0.03 or above
/// 0.97, |tanh| above 0.97): the book's margin (chapter 2, "σ and tanh, and where they stop
/// responding", after Karpathy's makemore part 3), where the slope has fallen to about a tenth of its
/// peak for σ and a sixteenth for tanh.
pub const SATURATION_MARGIN: f64 = 0.03;

/// The activation function behind a tapped tensor, which decides what "saturated" and "dead" mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Values in (0, 1): saturated below [`SATURATION_MARGIN`] or above 1 − it.
    Sigmoid,
    /// Values in (−1, 1): saturated when |a| > 1 − [`SATURATION_MARGIN`].
    Tanh,
    /// Values ≥ 0 with exact zeros: a unit is dead on a batch when it is zero for every example.
    Relu,
    /// Anything else: only mean and standard deviation.
    Other,
}

impl Act {
    /// Guesses the activation from its values: exact zeros and nothing negative → ReLU; everything
    /// in [0, 1] → sigmoid; everything in [−1, 1] → tanh; else other. A ReLU layer with no zero on a
    /// batch and nothing above 1 would pass for a sigmoid: state the activation with
    /// [`crate::Doctor::tap_as`] when it matters.
    pub fn infer(min: f64, max: f64, zeros: f64) -> Act {
        if min >= 0.0 && zeros > 0.0 {
            Act::Relu
        } else if min >= 0.0 && max <= 1.0 {
            Act::Sigmoid
        } else if min >= -1.0 && max <= 1.0 {
            Act::Tanh
        } else {
            Act::Other
        }
    }
}

/// One tap's statistics on one batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TapStats {
    pub act: Act,
    pub mean: f64,
    pub std: f64,
    /// Fraction of entries saturated (sigmoid, tanh; 0 otherwise).
    pub saturated: f64,
    /// Fraction of units (columns after flattening to `batch × units`) zero on every example (ReLU;
    /// 0 otherwise).
    pub dead: f64,
}

impl TapStats {
    /// Statistics of `h` (`batch × …`); fails on an empty tensor or any NaN or infinite value.
    pub fn of(h: &Tensor, act: Option<Act>) -> Result<TapStats> {
        ensure!(h.rank() >= 1 && h.elem_count() > 0, "an empty activation tensor (shape {:?})", h.dims());
        let batch = h.dim(0)?;
        let x = h.detach().to_dtype(DType::F32)?.reshape((batch, ()))?;
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        ensure!(
            bad == 0,
            "{bad} of {} activation values are NaN or infinite: the forward pass has diverged \
             (exploding activations; lower the learning rate or the initial weight scale)",
            values.len()
        );
        let n = values.len() as f64;
        let (mut sum, mut sq, mut min, mut max, mut zeros) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 0usize);
        for &v in &values {
            let v = v as f64;
            sum += v;
            sq += v * v;
            min = min.min(v);
            max = max.max(v);
            zeros += (v == 0.0) as usize;
        }
        let mean = sum / n;
        let std = (sq / n - mean * mean).max(0.0).sqrt();
        let act = act.unwrap_or_else(|| Act::infer(min, max, zeros as f64));
        let m = SATURATION_MARGIN as f32;
        let saturated = match act {
            Act::Sigmoid => values.iter().filter(|&&a| !(m..=1.0 - m).contains(&a)).count() as f64 / n,
            Act::Tanh => values.iter().filter(|&&a| a.abs() > 1.0 - m).count() as f64 / n,
            _ => 0.0,
        };
        let dead = if act == Act::Relu {
            let units = values.len() / batch;
            let dead = (0..units).filter(|&u| (0..batch).all(|b| values[b * units + u] <= 0.0)).count();
            dead as f64 / units as f64
        } else {
            0.0
        };
        Ok(TapStats { act, mean, std, saturated, dead })
    }
}

/// One layer at one step.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LayerStep {
    /// Σ g² over the layer's finite gradients.
    pub grad_sq: f64,
    /// Σ w² over the layer's parameters.
    pub data_sq: f64,
    /// Σ g² over the layer's vector parameters (biases, norm shifts and scales): δ, the book's measure.
    pub vec_sq: f64,
    /// Number of NaN or infinite gradient entries.
    pub nonfinite: usize,
}

/// Σ x² of a tensor, in f64. On the CPU it reads the tensor's memory in place (no new tensors:
/// this runs for every parameter and gradient at every step); elsewhere it uses tensor ops.
pub(crate) fn sum_sq(t: &Tensor) -> Result<f64> {
    if let Some(s) = with_cpu_slice(t, |v: &[f32]| sum_sq_f32(v), |v: &[f64]| v.iter().map(|x| x * x).sum())? {
        return Ok(s);
    }
    Ok(t.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Σ x² of f32s: eight f32 partial sums over blocks of 256 (vectorisable), accumulated in f64.
fn sum_sq_f32(v: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for block in v.chunks(256) {
        let mut acc = [0f32; 8];
        let mut lanes = block.chunks_exact(8);
        for c in &mut lanes {
            for k in 0..8 {
                acc[k] += c[k] * c[k];
            }
        }
        let tail: f32 = lanes.remainder().iter().map(|x| x * x).sum();
        total += acc.iter().map(|&a| a as f64).sum::<f64>() + tail as f64;
    }
    total
}

/// Applies `f32`/`f64` to the tensor's contiguous CPU memory, or returns None (other device, dtype or
/// layout).
fn with_cpu_slice<R>(t: &Tensor, f32s: impl Fn(&[f32]) -> R, f64s: impl Fn(&[f64]) -> R) -> Result<Option<R>> {
    use candle_core::{CpuStorage, Storage};
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else { return Ok(None) };
    Ok(match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => Some(f32s(&v[start..end])),
        Storage::Cpu(CpuStorage::F64(v)) => Some(f64s(&v[start..end])),
        _ => None,
    })
}

/// Number of NaN or infinite entries.
pub(crate) fn count_nonfinite(t: &Tensor) -> Result<usize> {
    let v = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    Ok(v.iter().filter(|x| !x.is_finite()).count())
}

/// √(mean over the first dimension of ‖row‖²): the per-example size of a gradient.
pub(crate) fn rms_row_norm(t: &Tensor) -> Result<f64> {
    let rows = if t.rank() == 0 { 1 } else { t.dim(0)?.max(1) };
    Ok((sum_sq(t)? / rows as f64).sqrt())
}

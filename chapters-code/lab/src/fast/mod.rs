//! Fused CPU kernels for the training step, so that every chapter's experiments run near the
//! machine's speed. Findings and numbers: `chapters-code/lab/PERFORMANCE.md`.
//!
//! candle builds a training step from many small ops, and on 2 cores at the book's sizes (batch 128,
//! width 256) the overheads around the matmuls cost as much as the matmuls. This module replaces the
//! hot spots with single-pass kernels that candle's autograd still differentiates:
//!
//! - [`linear`]: `x Wᵀ + b` as one op (gemm reads W transposed and adds the bias while writing), with a
//!   backward pass of two gemms and a column sum, instead of candle's transpose + matmul +
//!   broadcast-add and their backward nodes (a strided copy of every ∂L/∂Wᵀ among them);
//! - [`sigmoid`], [`tanh`], [`relu`]: one vectorised pass forward (a polynomial `exp`, evaluated with
//!   AVX2/AVX-512 where the CPU has them) and one backward (σ' = σ(1−σ) from the saved output,
//!   1 − tanh², and the z > 0 mask), instead of scalar libm calls and three to five passes;
//! - [`sgd_update`]: w ← w − lr·g in place, one pass, instead of three tensors per parameter;
//! - [`batch_norm_train`]: BatchNorm's training-mode forward and backward passes as one op each; the
//!   kernel lives with the layer in [`crate::norm`] and is re-exported here;
//! - [`recurrent`]: a tanh RNN or LSTM over a whole sequence as one op, with hand-written BPTT;
//! - [`layer_norm`], [`rms_norm`], [`softmax`], [`softmax_cross_entropy`]: chapter 8's transformer
//!   step, one op each (forward and backward) where candle's tensor ops build five to eleven graph
//!   nodes — at its small widths the graph bookkeeping, not the arithmetic, is the cost.
//!
//! Threads: a product of at least [`set_split`]'s size (default 2²⁰ multiply-adds) is cut into two
//! blocks of output columns whatever the thread count (so results do not depend on it), each a
//! single-threaded gemm, run on candle's spinning
//! barrier pool (`CANDLE_NUM_THREADS` − 1 workers plus the caller; [`crate::threads::set_threads`] sizes
//! it). gemm's own rayon splitting, called from outside a rayon pool as candle does, wakes sleeping
//! threads for every product and gains nothing at 128×256×256 on 2 cores: that, and candle's
//! elementwise pool spinning beside rayon's workers, is why stock candle is slower on 2 threads than
//! on 1 (PERFORMANCE.md has the measurements).
//!
//! [`set_enabled`]`(false)` switches every caller in lab back to candle's stock ops (the reference
//! the tests compare against, and the "before" of the benchmarks); [`with_enabled`] does so for one
//! thread.
//!
//! One file per kernel: `linear.rs`, `activations.rs` (with the run-time SIMD dispatch), `sgd.rs`;
//! `gemm.rs` holds the products split over candle's thread pool, which [`linear`] is built on. This
//! file holds the switches ([`Kernel`], [`set_enabled`], [`with_enabled`]) and what every kernel
//! shares (the float types, contiguous slices of storage, a shared handle to a custom op). Every
//! item keeps its `lab::fast::…` path.

mod activations;
mod gemm;
mod linear;
mod norm;
mod rnn;
mod sgd;
mod softmax;

pub use crate::norm::batch_norm_train;
pub use activations::{relu, sigmoid, sigmoid_backward, tanh};
pub use gemm::{gemm_kernels, set_split};
pub use linear::linear;
pub use norm::{layer_norm, rms_norm};
pub use rnn::{Recurrence, recurrent};
pub use sgd::sgd_update;
pub use softmax::{softmax, softmax_cross_entropy};

use candle_core::{CpuStorage, Layout, Result, bail};
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns lab's fast paths on or off (on by default). Off, [`crate::net`], [`crate::act`] and
/// [`crate::train`] use candle's stock ops: the reference the tests compare against.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

thread_local! {
    static OVERRIDE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether lab's fast paths are on (for ops built on this thread).
pub fn enabled() -> bool {
    OVERRIDE.with(|o| o.get()).unwrap_or_else(|| ENABLED.load(Ordering::Relaxed))
}

/// One of lab's fast paths, for switching it off alone ([`set_kernel_enabled`]): the benchmarks'
/// ablations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// [`linear`] in place of matmul + transpose + broadcast-add.
    Linear,
    /// [`sigmoid`], [`tanh`], [`relu`] in place of candle's.
    Activations,
    /// [`batch_norm_train`] in place of candle's reductions.
    BatchNorm,
    /// [`sgd_update`] in place of candle-nn's `SGD`.
    Sgd,
    /// Splitting products across threads (off: every product of [`linear`] runs on one thread).
    Split,
}

impl std::str::FromStr for Kernel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Kernel, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "linear" => Kernel::Linear,
            "act" | "activations" => Kernel::Activations,
            "bn" | "batchnorm" | "batch_norm" => Kernel::BatchNorm,
            "sgd" => Kernel::Sgd,
            "split" | "threads" => Kernel::Split,
            other => return Err(format!("unknown kernel `{other}` (expected linear, act, bn, sgd or split)")),
        })
    }
}

static DISABLED_KERNELS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Switches one fast path off (or back on) for the whole process.
pub fn set_kernel_enabled(kernel: Kernel, on: bool) {
    let bit = 1u8 << kernel as u8;
    if on {
        DISABLED_KERNELS.fetch_and(!bit, Ordering::Relaxed);
    } else {
        DISABLED_KERNELS.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Whether a fast path is in use: lab's fast paths are [`enabled`] and this one is not switched off.
pub fn kernel_enabled(kernel: Kernel) -> bool {
    enabled() && DISABLED_KERNELS.load(Ordering::Relaxed) & (1u8 << kernel as u8) == 0
}

/// Runs `f` with the fast paths switched on or off for ops built on the current thread only (tests
/// compare the two without disturbing other threads).
pub fn with_enabled<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(on))));
    f()
}

/// A float type the kernels handle.
pub(crate) trait Float: candle_core::WithDType + Copy + Send + Sync + 'static {
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn storage(v: Vec<Self>) -> CpuStorage;
}

impl Float for f32 {
    fn slice(s: &CpuStorage) -> Option<&[f32]> {
        match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }
    fn storage(v: Vec<f32>) -> CpuStorage {
        CpuStorage::F32(v)
    }
}

impl Float for f64 {
    fn slice(s: &CpuStorage) -> Option<&[f64]> {
        match s {
            CpuStorage::F64(v) => Some(v),
            _ => None,
        }
    }
    fn storage(v: Vec<f64>) -> CpuStorage {
        CpuStorage::F64(v)
    }
}

pub(crate) fn contiguous_slice<'a, T: Float>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    let data = T::slice(s).ok_or_else(|| candle_core::Error::Msg(format!("{op}: dtype mismatch")))?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: expected a contiguous input"),
    }
}

/// Inputs and comparisons the kernels' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::{DEVICE, Init, init};
    use candle_core::{DType, Result, Tensor, Var};

    pub(crate) fn rand(rows: usize, cols: usize, std: f64, seed: u64) -> Result<Tensor> {
        Init::Normal { std }
            .tensor(rows, cols, &mut init::rng(seed), &DEVICE)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
        a.to_dtype(DType::F64)?.sub(&b.to_dtype(DType::F64)?)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()
    }

    pub(crate) fn max_abs(a: &Tensor) -> Result<f64> {
        a.to_dtype(DType::F64)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()
    }

    /// ∂f/∂xᵢ at `x0` by a central difference (step 1e-6), `f` taking the perturbed vector: the
    /// reference every kernel's backward pass is checked against.
    pub(crate) fn central_difference<E>(
        x0: &[f64],
        i: usize,
        f: impl Fn(Vec<f64>) -> std::result::Result<f64, E>,
    ) -> std::result::Result<f64, E> {
        const H: f64 = 1e-6;
        let at = |delta: f64| {
            let mut v = x0.to_vec();
            v[i] += delta;
            f(v)
        };
        Ok((at(H)? - at(-H)?) / (2.0 * H))
    }

    /// Forward value and the gradients of Σ (out ⊙ r) for a fixed random r, through `f`.
    pub(crate) fn value_and_grads(
        f: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (xv, wv, bv) = (Var::from_tensor(x)?, Var::from_tensor(w)?, Var::from_tensor(b)?);
        let out = f(xv.as_tensor(), wv.as_tensor(), bv.as_tensor())?;
        let r = rand(out.dim(0)?, out.dim(1)?, 1.0, 99)?.to_dtype(out.dtype())?;
        let grads = (&out * &r)?.sum_all()?.backward()?;
        let g = [&xv, &wv, &bv].iter().map(|v| grads.get(v).expect("gradient").clone()).collect();
        Ok((out, g))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{max_abs, max_abs_diff, rand};
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, Norm};
    use candle_core::{D, Tensor};

    /// The whole network, fast paths on and off: the same loss and the same gradient of every
    /// parameter, for every activation, norm and skip configuration.
    #[test]
    fn mlp_gradients_agree_with_the_reference_path() -> Result<()> {
        let x = rand(16, 12, 1.0, 1)?;
        let y = Tensor::from_vec((0..16u32).map(|i| i % 5).collect::<Vec<_>>(), 16, &DEVICE)?;
        let configs = [
            MlpConfig::new(12, 24, 4, 5, Activation::Sigmoid, Init::XAVIER),
            MlpConfig::new(12, 24, 4, 5, Activation::Tanh, Init::XAVIER).with_norm(Norm::Layer),
            MlpConfig::new(12, 24, 4, 5, Activation::Relu, Init::HE).with_norm(Norm::Batch),
            MlpConfig::new(12, 12, 4, 5, Activation::Relu, Init::HE).with_residual(true).with_bias_init(0.1),
            MlpConfig::new(12, 24, 3, 5, Activation::Gelu, Init::HE),
        ];
        for config in configs {
            let run = |fast: bool| -> anyhow::Result<(f32, Vec<Tensor>)> {
                with_enabled(fast, || {
                    let net = config.clone().with_seed(7).build(&DEVICE)?;
                    let loss = net.loss(&x, &y)?;
                    let grads = loss.backward()?;
                    let g = net.vars().iter().map(|v| grads.get(v).expect("gradient").clone()).collect();
                    Ok((loss.to_scalar::<f32>()?, g))
                })
            };
            let ((lf, gf), (lr, gr)) = (run(true).unwrap(), run(false).unwrap());
            assert!((lf - lr).abs() < 1e-5, "{config:?}: loss {lf} vs {lr}");
            for (i, (a, b)) in gf.iter().zip(&gr).enumerate() {
                let scale = max_abs(b)?.max(1e-6);
                assert!(
                    max_abs_diff(a, b)? < 1e-4 * scale + 1e-7,
                    "{config:?} var {i}: {}",
                    max_abs_diff(a, b)? / scale
                );
            }
        }
        Ok(())
    }

    #[test]
    fn with_enabled_is_scoped_to_the_thread() {
        let before = enabled();
        with_enabled(!before, || {
            assert_eq!(enabled(), !before);
            assert_eq!(std::thread::spawn(enabled).join().unwrap(), ENABLED.load(Ordering::Relaxed));
        });
        assert_eq!(enabled(), before);
        let _ = D::Minus1;
    }
}

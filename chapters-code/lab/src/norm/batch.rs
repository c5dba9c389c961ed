//! BatchNorm (Ioffe & Szegedy 2015) over the batch (rows) of a hidden layer's pre-activation: the
//! layer an [`crate::Mlp`] applies, and its fused training-mode kernel.
//!
//! In training the layer normalises with the batch's mean and biased variance and moves the running
//! averages (momentum 0.1) towards the batch mean and *unbiased* variance, as PyTorch does; in
//! evaluation it normalises with the running averages.

use super::EPS;
use crate::fast::{Float, Kernel, contiguous_slice, kernel_enabled};
use anyhow::ensure;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, Var, bail};

/// Weight of the newest batch in the running averages.
const MOMENTUM: f64 = 0.1;

/// BatchNorm of `z` (B × N) with scale γ, shift β and running `(mean, variance)`: batch statistics
/// (updating the running ones) when `train`, the running ones otherwise. Training uses the fused
/// kernel [`batch_norm_train`] when lab's fast paths are on, candle's ops when they are off.
pub(crate) fn batch_norm(
    z: &Tensor,
    gamma: &Var,
    beta: &Var,
    (running_mean, running_var): &(Var, Var),
    train: bool,
) -> anyhow::Result<Tensor> {
    let fused = kernel_enabled(Kernel::BatchNorm) && z.rank() == 2 && matches!(z.dtype(), DType::F32 | DType::F64);
    if train && fused {
        // One fused op with an analytic backward pass (see [`batch_norm_train`]).
        let batch = z.dim(0)?;
        ensure!(batch > 1, "BatchNorm in training mode needs a batch of at least 2 examples");
        let (y, mean, var) = batch_norm_train(z, gamma.as_tensor(), beta.as_tensor(), EPS)?;
        let unbiased = (&var * (batch as f64 / (batch as f64 - 1.0)))?;
        let m = MOMENTUM;
        running_mean.set(&((running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?)?;
        running_var.set(&((running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?)?;
        return super::noise::perturb(y);
    }
    let (mean, var) = if train {
        let batch = z.dim(0)?;
        ensure!(batch > 1, "BatchNorm in training mode needs a batch of at least 2 examples");
        let mean = z.mean_keepdim(0)?;
        let centered = z.broadcast_sub(&mean)?;
        // The biased (1/B) variance normalises; the unbiased one (1/(B−1)) feeds the running average,
        // exactly as PyTorch does.
        let var = centered.sqr()?.mean_keepdim(0)?;
        let unbiased = (&var * (batch as f64 / (batch as f64 - 1.0)))?;
        let m = MOMENTUM;
        running_mean.set(&((running_mean.as_tensor() * (1.0 - m))? + (mean.squeeze(0)?.detach() * m)?)?)?;
        running_var.set(&((running_var.as_tensor() * (1.0 - m))? + (unbiased.squeeze(0)?.detach() * m)?)?)?;
        (mean, var)
    } else {
        (running_mean.as_tensor().unsqueeze(0)?, running_var.as_tensor().unsqueeze(0)?)
    };
    let normed = z.broadcast_sub(&mean)?.broadcast_div(&(var + EPS)?.sqrt()?)?;
    let y = normed.broadcast_mul(gamma.as_tensor())?.broadcast_add(beta.as_tensor())?;
    if train { super::noise::perturb(y) } else { Ok(y) }
}

// ---------------------------------------------------------------------------------------------------
// The fused kernel (training mode)
// ---------------------------------------------------------------------------------------------------

/// Per-column batch statistics of a row-major B×N matrix: (mean, biased variance).
fn column_stats<T: Float>(z: &[T], b: usize, n: usize) -> (Vec<T>, Vec<T>) {
    let inv_b = T::from_f64(1.0 / b as f64);
    let mut mean = vec![T::zero(); n];
    for row in z.chunks_exact(n) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m *= inv_b);
    let mut var = vec![T::zero(); n];
    for row in z.chunks_exact(n) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v - m;
            *s += d * d;
        }
    }
    var.iter_mut().for_each(|s| *s *= inv_b);
    (mean, var)
}

/// Per-column (mean, biased variance, 1/√(variance + ε)), in f64.
type BatchStats = (Vec<f64>, Vec<f64>, Vec<f64>);

/// BatchNorm in training mode as one op over (z, γ, β): y = (z − μ)/√(σ² + ε)·γ + β with the batch's
/// μ and biased σ², and the analytic backward pass. It keeps μ and 1/√(σ² + ε) for the backward pass
/// (and μ, σ² for the caller's running averages).
struct BatchNorm {
    eps: f64,
    /// Written by the forward pass; the caller keeps a handle to read it.
    stats: std::sync::Arc<std::sync::Mutex<Option<BatchStats>>>,
}

impl BatchNorm {
    fn fwd<T: Float>(&self, z: &[T], gamma: &[T], beta: &[T], b: usize, n: usize) -> Vec<T> {
        let (mean, var) = column_stats(z, b, n);
        let inv: Vec<T> = var.iter().map(|&v| T::from_f64(1.0 / (v.to_f64() + self.eps).sqrt())).collect();
        // y = z·scale + shift with scale = γ·inv, shift = β − μ·scale.
        let scale: Vec<T> = gamma.iter().zip(&inv).map(|(&g, &i)| g * i).collect();
        let shift: Vec<T> = beta.iter().zip(&mean).zip(&scale).map(|((&be, &m), &sc)| be - m * sc).collect();
        let mut y = Vec::with_capacity(z.len());
        for row in z.chunks_exact(n) {
            y.extend(row.iter().zip(&scale).zip(&shift).map(|((&v, &sc), &sh)| v * sc + sh));
        }
        let f64s = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
        *self.stats.lock().expect("stats lock") = Some((f64s(&mean), f64s(&var), f64s(&inv)));
        y
    }

    /// (∂L/∂z, ∂L/∂γ, ∂L/∂β) from ∂L/∂y.
    fn bwd_slices<T: Float>(
        &self,
        z: &[T],
        gamma: &[T],
        g: &[T],
        b: usize,
        n: usize,
    ) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let guard = self.stats.lock().expect("stats lock");
        let Some((mean, _, inv)) = guard.as_ref() else { bail!("lab-batch-norm: backward before forward") };
        let (mean, inv): (Vec<T>, Vec<T>) =
            (mean.iter().map(|&v| T::from_f64(v)).collect(), inv.iter().map(|&v| T::from_f64(v)).collect());
        // dβ = Σ g, dγ = Σ g·ẑ with ẑ = (z − μ)·inv (centred first: no cancellation when |μ| ≫ σ).
        let mut dbeta = vec![T::zero(); n];
        let mut dgc = vec![T::zero(); n]; // Σ g·(z − μ)
        for (zr, gr) in z.chunks_exact(n).zip(g.chunks_exact(n)) {
            for ((db, dg), ((&zv, &gv), &m)) in dbeta.iter_mut().zip(dgc.iter_mut()).zip(zr.iter().zip(gr).zip(&mean)) {
                *db += gv;
                *dg += gv * (zv - m);
            }
        }
        let dgamma: Vec<T> = dgc.iter().zip(&inv).map(|(&d, &i)| d * i).collect();
        // dz = γ·inv/B · (B·g − dβ − ẑ·dγ) = c1·g + c2·(z − μ) + c3 per column, with c1 = γ·inv,
        // c2 = −γ·inv²·dγ/B and c3 = −γ·inv·dβ/B.
        let bt = T::from_f64(b as f64);
        let mut c1 = Vec::with_capacity(n);
        let mut c2 = Vec::with_capacity(n);
        let mut c3 = Vec::with_capacity(n);
        for j in 0..n {
            let a = gamma[j] * inv[j];
            c1.push(a);
            c2.push(T::zero() - a * inv[j] * dgamma[j] / bt);
            c3.push(T::zero() - a * dbeta[j] / bt);
        }
        let mut dz = Vec::with_capacity(z.len());
        for (zr, gr) in z.chunks_exact(n).zip(g.chunks_exact(n)) {
            dz.extend(
                zr.iter()
                    .zip(gr)
                    .zip(&mean)
                    .zip(c1.iter().zip(&c2).zip(&c3))
                    .map(|(((&zv, &gv), &m), ((&a, &b2), &c))| a * gv + b2 * (zv - m) + c),
            );
        }
        Ok((dz, dgamma, dbeta))
    }
}

impl CustomOp3 for BatchNorm {
    fn name(&self) -> &'static str {
        "lab-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (zd, gd, bd) = (l1.dims(), l2.dims(), l3.dims());
        if zd.len() != 2 || gd != [zd[1]] || bd != [zd[1]] {
            bail!("lab-batch-norm: shapes z {zd:?}, γ {gd:?}, β {bd:?} do not fit");
        }
        let (b, n) = (zd[0], zd[1]);
        let name = self.name();
        macro_rules! go {
            ($t:ty) => {{
                let z = contiguous_slice::<$t>(s1, l1, name)?;
                let (g, be) = (contiguous_slice::<$t>(s2, l2, name)?, contiguous_slice::<$t>(s3, l3, name)?);
                <$t as Float>::storage(self.fwd(z, g, be, b, n))
            }};
        }
        let out = match s1 {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        };
        Ok((out, Shape::from((b, n))))
    }

    fn bwd(
        &self,
        z: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, n) = z.dims2()?;
        let (zc, gc, grad) = (z.contiguous()?, gamma.contiguous()?, grad.contiguous()?);
        let (zs, zl) = zc.storage_and_layout();
        let (gs, gl) = gc.storage_and_layout();
        let (ds, dl) = grad.storage_and_layout();
        let (Storage::Cpu(zs), Storage::Cpu(gs), Storage::Cpu(ds)) = (&*zs, &*gs, &*ds) else {
            bail!("lab-batch-norm: CPU tensors only")
        };
        let device = z.device();
        let name = self.name();
        macro_rules! go {
            ($t:ty) => {{
                let (dz, dg, db) = self.bwd_slices(
                    contiguous_slice::<$t>(zs, zl, name)?,
                    contiguous_slice::<$t>(gs, gl, name)?,
                    contiguous_slice::<$t>(ds, dl, name)?,
                    b,
                    n,
                )?;
                (
                    Tensor::from_vec(dz, (b, n), device)?,
                    Tensor::from_vec(dg, n, device)?,
                    Tensor::from_vec(db, n, device)?,
                )
            }};
        }
        let (dz, dg, db) = match zs {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        };
        Ok((z.track_op().then_some(dz), gamma.track_op().then_some(dg), beta.track_op().then_some(db)))
    }
}

/// BatchNorm in training mode over the batch (rows) of `z` (B × N), differentiable in z, γ and β:
/// returns `(y, mean, var)` with y = (z − mean)/√(var + ε)·γ + β, and the batch mean and biased
/// variance (N each, not part of the graph) for the running averages. One pass for the statistics,
/// one for y, two for the backward pass, instead of candle's reductions over the batch dimension,
/// which stride through memory and dominated a BatchNorm step (PERFORMANCE.md).
pub fn batch_norm_train(z: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let same = z.dtype() == gamma.dtype() && z.dtype() == beta.dtype();
    if z.rank() != 2 || !z.device().is_cpu() || !same || !matches!(z.dtype(), DType::F32 | DType::F64) {
        bail!("lab-batch-norm: expects a 2-D f32 or f64 CPU tensor and γ, β of its dtype");
    }
    let stats = std::sync::Arc::new(std::sync::Mutex::new(None));
    let y = z.apply_op3(gamma, beta, BatchNorm { eps, stats: stats.clone() })?;
    let (mean, var, _) = stats.lock().expect("stats lock").clone().expect("forward ran");
    let n = mean.len();
    let to = |v: Vec<f64>| Tensor::from_vec(v, n, z.device())?.to_dtype(z.dtype());
    Ok((y, to(mean)?, to(var)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::test_support::{max_abs, max_abs_diff, rand, value_and_grads};

    #[test]
    fn batch_norm_matches_candle_ops_with_gradients() -> Result<()> {
        let reference = |z: &Tensor, g: &Tensor, b: &Tensor| -> Result<Tensor> {
            let mean = z.mean_keepdim(0)?;
            let centered = z.broadcast_sub(&mean)?;
            let var = centered.sqr()?.mean_keepdim(0)?;
            centered.broadcast_div(&(var + 1e-5)?.sqrt()?)?.broadcast_mul(g)?.broadcast_add(b)
        };
        for (rows, cols) in [(2, 1), (16, 7), (128, 256)] {
            for dtype in [DType::F32, DType::F64] {
                let z = (rand(rows, cols, 3.0, 1)? + 2.0)?.to_dtype(dtype)?;
                let g = (rand(1, cols, 0.5, 2)?.squeeze(0)? + 1.0)?.to_dtype(dtype)?;
                let b = rand(1, cols, 1.0, 3)?.squeeze(0)?.to_dtype(dtype)?;
                let fast = |z: &Tensor, g: &Tensor, b: &Tensor| Ok(batch_norm_train(z, g, b, 1e-5)?.0);
                let (yf, gf) = value_and_grads(fast, &z, &g, &b)?;
                let (yr, gr) = value_and_grads(reference, &z, &g, &b)?;
                let tol = if dtype == DType::F32 { 2e-5 } else { 1e-11 };
                assert!(max_abs_diff(&yf, &yr)? < tol * (1.0 + max_abs(&yr)?), "{rows}x{cols} {dtype:?} forward");
                for (name, (a, r)) in ["z", "gamma", "beta"].iter().zip(gf.iter().zip(&gr)) {
                    let d = max_abs_diff(a, r)?;
                    assert!(d < tol * (1.0 + max_abs(r)?), "{rows}x{cols} {dtype:?} grad {name}: {d}");
                }
                let (_, mean, var) = batch_norm_train(&z, &g, &b, 1e-5)?;
                assert!(max_abs_diff(&mean, &z.mean(0)?)? < tol * 10.0);
                assert!(max_abs_diff(&var, &z.broadcast_sub(&z.mean_keepdim(0)?)?.sqr()?.mean(0)?)? < tol * 100.0);
            }
        }
        assert!(
            batch_norm_train(
                &rand(4, 3, 1.0, 1)?,
                &rand(1, 2, 1.0, 1)?.squeeze(0)?,
                &rand(1, 3, 1.0, 1)?.squeeze(0)?,
                1e-5
            )
            .is_err()
        );
        Ok(())
    }
}

//! The softmax over the last dimension and the softmax cross-entropy loss as one op each with
//! analytic backward passes, in place of candle-nn's composites (max, subtract, exp, sum, divide;
//! log-softmax, gather, sum, scale) and their backward nodes.

use super::norm::Real;
use super::{Float, contiguous_slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Storage, Tensor, WithDType, bail};

/// `out` = softmax(`row`), shifted by the row's maximum; returns Σ exp(row − max) and the maximum.
fn softmax_row<T: Real>(row: &[T], out: &mut [T]) -> (T, T) {
    let max = row.iter().fold(row[0], |m, &v| if v > m { v } else { m });
    let mut sum = T::zero();
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
    (sum, max)
}

/// ∂x = y ⊙ (g − Σ_j g_j y_j) row by row.
fn softmax_backward<T: Real>(y: &[T], g: &[T], d: usize) -> Vec<T> {
    let mut dx = vec![T::zero(); y.len()];
    for ((yr, gr), out) in y.chunks_exact(d).zip(g.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
        let dot = yr.iter().zip(gr).fold(T::zero(), |s, (&y, &g)| s + y * g);
        for ((o, &y), &g) in out.iter_mut().zip(yr).zip(gr) {
            *o = y * (g - dot);
        }
    }
    dx
}

/// Softmax over the last dimension.
struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "lab-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = *l.dims().last().unwrap_or(&0);
        if d == 0 {
            bail!("lab-softmax: empty last dimension in {:?}", l.dims());
        }
        macro_rules! go {
            ($t:ty) => {{
                let x = contiguous_slice::<$t>(s, l, self.name())?;
                let mut y = vec![<$t>::default(); x.len()];
                for (row, out) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                    softmax_row(row, out);
                }
                <$t as Float>::storage(y)
            }};
        }
        let out = match s {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("lab-softmax: unsupported dtype {:?}", s.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (y, grad) = (res.contiguous()?, grad.contiguous()?);
        let d = y.dim(candle_core::D::Minus1)?;
        let name = self.name();
        let (ys, yl) = y.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (Storage::Cpu(ys), Storage::Cpu(gs)) = (&*ys, &*gs) else { bail!("{name}: CPU tensors only") };
        let dx = match ys {
            CpuStorage::F32(_) => Tensor::from_vec(
                softmax_backward(contiguous_slice::<f32>(ys, yl, name)?, contiguous_slice::<f32>(gs, gl, name)?, d),
                y.shape(),
                y.device(),
            )?,
            CpuStorage::F64(_) => Tensor::from_vec(
                softmax_backward(contiguous_slice::<f64>(ys, yl, name)?, contiguous_slice::<f64>(gs, gl, name)?, d),
                y.shape(),
                y.device(),
            )?,
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        };
        Ok(Some(dx))
    }
}

/// softmax(x) over the last dimension as one op, differentiable (∂x = y ⊙ (g − Σ_j g_j y_j) from the
/// saved output y); f32 or f64 on the CPU, x made contiguous first.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() || !matches!(x.dtype(), DType::F32 | DType::F64) {
        bail!("lab-softmax: expects an f32 or f64 CPU tensor, got {:?}", x.dtype());
    }
    x.contiguous()?.apply_op1(Softmax)
}

/// The mean over rows of −log softmax(logits)[target]: logits (N, V), targets (N) u32.
struct CrossEntropy;

impl CrossEntropy {
    fn targets<'a>(s: &'a CpuStorage, l: &Layout, n: usize, v: usize) -> Result<&'a [u32]> {
        let CpuStorage::U32(t) = s else { bail!("lab-cross-entropy: targets must be u32") };
        let Some((a, b)) = l.contiguous_offsets() else { bail!("lab-cross-entropy: expected contiguous targets") };
        let t = &t[a..b];
        if t.len() != n || t.iter().any(|&c| c as usize >= v) {
            bail!("lab-cross-entropy: {} targets for {n} rows, each must be below {v}", t.len());
        }
        Ok(t)
    }
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "lab-cross-entropy"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let &[n, v] = l1.dims() else {
            bail!("lab-cross-entropy: logits must be (rows, classes), got {:?}", l1.dims())
        };
        let targets = Self::targets(s2, l2, n, v)?;
        // Σ (log Σ exp(x − max) + max − x_target), summed in f64.
        macro_rules! go {
            ($t:ty) => {{
                let x = contiguous_slice::<$t>(s1, l1, self.name())?;
                let mut p = vec![<$t>::default(); v];
                let mut total = 0f64;
                for (row, &t) in x.chunks_exact(v).zip(targets) {
                    let (sum, max) = softmax_row(row, &mut p);
                    total += (sum.ln() + max - row[t as usize]).to_f64();
                }
                <$t as Float>::storage(vec![<$t>::from_f64(total / n as f64)])
            }};
        }
        let out = match s1 {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("lab-cross-entropy: unsupported dtype {:?}", s.dtype()),
        };
        Ok((out, Shape::from(())))
    }

    /// ∂logits = g/N · (softmax(logits) − one-hot(target)); none for the targets.
    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (logits, targets) = (logits.contiguous()?, targets.contiguous()?);
        let (n, v) = logits.dims2()?;
        let scale = grad.to_dtype(DType::F64)?.to_scalar::<f64>()? / n as f64;
        let (xs, xl) = logits.storage_and_layout();
        let (ts, tl) = targets.storage_and_layout();
        let (Storage::Cpu(xs), Storage::Cpu(ts)) = (&*xs, &*ts) else { bail!("lab-cross-entropy: CPU tensors only") };
        let t = Self::targets(ts, tl, n, v)?;
        fn go<T: Real>(x: &[T], t: &[u32], v: usize, scale: f64) -> Vec<T> {
            let scale = T::from_f64(scale);
            let mut dx = vec![T::zero(); x.len()];
            for ((row, out), &c) in x.chunks_exact(v).zip(dx.chunks_exact_mut(v)).zip(t) {
                softmax_row(row, out);
                out[c as usize] -= T::one();
                for o in out.iter_mut() {
                    *o *= scale;
                }
            }
            dx
        }
        let name = self.name();
        let dx = match xs {
            CpuStorage::F32(_) => {
                Tensor::from_vec(go(contiguous_slice::<f32>(xs, xl, name)?, t, v, scale), (n, v), logits.device())?
            }
            CpuStorage::F64(_) => {
                Tensor::from_vec(go(contiguous_slice::<f64>(xs, xl, name)?, t, v, scale), (n, v), logits.device())?
            }
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        };
        Ok((Some(dx), None))
    }
}

/// Mean cross-entropy of logits (N, V) against u32 targets (N), as candle-nn's `cross_entropy`
/// computes it (log-softmax, pick, mean) but as one op, differentiable in the logits
/// (∂ = (softmax − one-hot)/N).
pub fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if !logits.device().is_cpu() || !matches!(logits.dtype(), DType::F32 | DType::F64) || targets.dtype() != DType::U32
    {
        bail!("lab-cross-entropy: expects f32 or f64 CPU logits and u32 targets");
    }
    logits.contiguous()?.apply_op2(&targets.contiguous()?, CrossEntropy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEVICE;
    use crate::fast::test_support::{central_difference, max_abs, max_abs_diff, rand};
    use candle_core::Var;

    #[test]
    fn softmax_matches_candle_with_gradients() -> Result<()> {
        for dims in [vec![1, 1], vec![3, 7], vec![4, 4, 16, 16]] {
            let d = *dims.last().unwrap();
            let rows = dims.iter().product::<usize>() / d;
            for dtype in [DType::F32, DType::F64] {
                // Large logits: saturated rows too.
                let x = rand(rows, d, 8.0, 1)?.reshape(dims.as_slice())?.to_dtype(dtype)?;
                let r = rand(rows, d, 1.0, 2)?.reshape(dims.as_slice())?.to_dtype(dtype)?;
                let run = |f: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<(Tensor, Tensor)> {
                    let xv = Var::from_tensor(&x)?;
                    let y = f(xv.as_tensor())?;
                    let g = (&y * &r)?.sum_all()?.backward()?.get(&xv).expect("gradient").clone();
                    Ok((y, g))
                };
                let (yf, gf) = run(&softmax)?;
                let (yr, gr) = run(&|x| candle_nn::ops::softmax(x, candle_core::D::Minus1))?;
                let tol = if dtype == DType::F32 { 1e-6 } else { 1e-14 };
                assert!(max_abs_diff(&yf, &yr)? < tol, "{dims:?} {dtype:?} forward {}", max_abs_diff(&yf, &yr)?);
                let d = max_abs_diff(&gf, &gr)?;
                assert!(d < tol * (1.0 + max_abs(&gr)?), "{dims:?} {dtype:?} gradient {d}");
            }
        }
        Ok(())
    }

    #[test]
    fn softmax_gradient_matches_finite_differences() -> Result<()> {
        let x = rand(3, 5, 2.0, 3)?.to_dtype(DType::F64)?;
        let r = rand(3, 5, 1.0, 4)?.to_dtype(DType::F64)?;
        let xv = Var::from_tensor(&x)?;
        let g = (softmax(xv.as_tensor())? * &r)?
            .sum_all()?
            .backward()?
            .get(&xv)
            .unwrap()
            .flatten_all()?
            .to_vec1::<f64>()?;
        let x0 = x.flatten_all()?.to_vec1::<f64>()?;
        for (i, &a) in g.iter().enumerate() {
            let fd = central_difference(&x0, i, |v| {
                (softmax(&Tensor::from_vec(v, (3, 5), &DEVICE)?)? * &r)?.sum_all()?.to_scalar::<f64>()
            })?;
            assert!((fd - a).abs() < 1e-8 * (1.0 + fd.abs()), "[{i}]: fd {fd}, analytic {a}");
        }
        Ok(())
    }

    #[test]
    fn cross_entropy_matches_candle_with_gradients() -> Result<()> {
        let (n, v) = (37, 11);
        let targets = Tensor::from_vec((0..n as u32).map(|i| (i * 7) % v as u32).collect::<Vec<_>>(), n, &DEVICE)?;
        for dtype in [DType::F32, DType::F64] {
            let x = rand(n, v, 3.0, 5)?.to_dtype(dtype)?;
            let run = |f: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<(f64, Tensor)> {
                let xv = Var::from_tensor(&x)?;
                // ×3: a gradient other than 1 arriving at the loss.
                let loss = f(xv.as_tensor())?;
                let g = (&loss * 3.0)?.backward()?.get(&xv).expect("gradient").clone();
                Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, g))
            };
            let (lf, gf) = run(&|x| softmax_cross_entropy(x, &targets))?;
            let (lr, gr) = run(&|x| candle_nn::loss::cross_entropy(x, &targets))?;
            let tol = if dtype == DType::F32 { 1e-6 } else { 1e-13 };
            assert!((lf - lr).abs() < tol * lr.abs(), "{dtype:?} loss {lf} vs {lr}");
            let d = max_abs_diff(&gf, &gr)?;
            assert!(d < tol * max_abs(&gr)?, "{dtype:?} gradient {d}");
        }
        // Finite differences (f64) on a few logits.
        let x = rand(n, v, 3.0, 6)?.to_dtype(DType::F64)?;
        let xv = Var::from_tensor(&x)?;
        let g = softmax_cross_entropy(xv.as_tensor(), &targets)?
            .backward()?
            .get(&xv)
            .unwrap()
            .flatten_all()?
            .to_vec1::<f64>()?;
        let x0 = x.flatten_all()?.to_vec1::<f64>()?;
        for i in [0, 5, 200, n * v - 1] {
            let fd = central_difference(&x0, i, |w| {
                softmax_cross_entropy(&Tensor::from_vec(w, (n, v), &DEVICE)?, &targets)?.to_scalar::<f64>()
            })?;
            assert!((fd - g[i]).abs() < 1e-8, "[{i}]: fd {fd}, analytic {}", g[i]);
        }
        let bad = Tensor::from_vec(vec![0u32, 11], 2, &DEVICE)?;
        assert!(softmax_cross_entropy(&rand(2, 11, 1.0, 1)?, &bad).is_err());
        Ok(())
    }
}

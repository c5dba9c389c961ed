//! LayerNorm and RMSNorm over the last dimension as one op each, forward and backward: what
//! `lab::transformer`'s norms were as eleven tensor ops (mean, centre, mean square, ε, √, divide,
//! ·γ, +β) and as many backward nodes, each with its own zero-filled gradient in candle's backward.

use super::{Float, contiguous_slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, bail};

/// The float operations the row kernels need beyond [`Float`].
pub(super) trait Real: Float {
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
}

impl Real for f32 {
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    fn exp(self) -> f32 {
        f32::exp(self)
    }
}

impl Real for f64 {
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    fn exp(self) -> f64 {
        f64::exp(self)
    }
}

/// One row's normalisation: the row centred (LayerNorm) or as it is (RMSNorm) into `normed`, then
/// divided by √(mean square + ε), in the order of the tensor-op version. Returns 1/√(ms + ε).
fn normalise_row<T: Real>(row: &[T], centre: bool, eps: T, normed: &mut [T]) -> T {
    let inv_d = T::from_f64(1.0 / row.len() as f64);
    let mean = if centre { row.iter().fold(T::zero(), |s, &v| s + v) * inv_d } else { T::zero() };
    for (n, &v) in normed.iter_mut().zip(row) {
        *n = v - mean;
    }
    let mean_square = normed.iter().fold(T::zero(), |s, &c| s + c * c) * inv_d;
    let root = (mean_square + eps).sqrt();
    for n in normed.iter_mut() {
        *n /= root;
    }
    T::one() / root
}

/// y = normed·γ (+ β) for every row of the contiguous `x`.
fn forward<T: Real>(x: &[T], gamma: &[T], beta: Option<&[T]>, centre: bool, eps: f64) -> Vec<T> {
    let d = gamma.len();
    let eps = T::from_f64(eps);
    let mut y = vec![T::zero(); x.len()];
    for (row, out) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        normalise_row(row, centre, eps, out);
        for (o, &g) in out.iter_mut().zip(gamma) {
            *o *= g;
        }
        if let Some(beta) = beta {
            for (o, &b) in out.iter_mut().zip(beta) {
                *o += b;
            }
        }
    }
    y
}

/// (∂x, ∂γ, ∂β) from ∂y: with n the normalised row, r = 1/√(ms + ε) and ∂n = ∂y·γ,
/// ∂x = r·(∂n − mean(∂n) − n·mean(∂n·n)) for LayerNorm (without the mean(∂n) term for RMSNorm),
/// ∂γ = Σ_rows ∂y·n, ∂β = Σ_rows ∂y. The row statistics are recomputed from x.
fn backward<T: Real>(x: &[T], gamma: &[T], grad: &[T], centre: bool, eps: f64) -> (Vec<T>, Vec<T>, Vec<T>) {
    let d = gamma.len();
    let (eps, inv_d) = (T::from_f64(eps), T::from_f64(1.0 / d as f64));
    let mut dx = vec![T::zero(); x.len()];
    let (mut dgamma, mut dbeta) = (vec![T::zero(); d], vec![T::zero(); d]);
    let (mut normed, mut dn) = (vec![T::zero(); d], vec![T::zero(); d]);
    for ((row, g), out) in x.chunks_exact(d).zip(grad.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
        let r = normalise_row(row, centre, eps, &mut normed);
        let (mut sum_dn, mut sum_dn_n) = (T::zero(), T::zero());
        for j in 0..d {
            dbeta[j] += g[j];
            dgamma[j] += g[j] * normed[j];
            dn[j] = g[j] * gamma[j];
            sum_dn += dn[j];
            sum_dn_n += dn[j] * normed[j];
        }
        let mean_dn = if centre { sum_dn * inv_d } else { T::zero() };
        let mean_dn_n = sum_dn_n * inv_d;
        for j in 0..d {
            out[j] = r * (dn[j] - mean_dn - normed[j] * mean_dn_n);
        }
    }
    (dx, dgamma, dbeta)
}

/// Checks x (…, d) against γ (d) (and β (d)): the row width.
fn row_width(name: &str, xl: &Layout, gl: &Layout, bl: Option<&Layout>) -> Result<usize> {
    let (xd, gd) = (xl.dims(), gl.dims());
    let fits = |l: &Layout| xd.last().is_some_and(|&d| d > 0 && l.dims() == [d]);
    if !fits(gl) || !bl.is_none_or(fits) {
        bail!("{name}: x {xd:?} and γ {gd:?} (and β) must share the last dimension");
    }
    Ok(gd[0])
}

/// LayerNorm (with β) or RMSNorm (without), over the last dimension.
struct RowNorm {
    centre: bool,
    eps: f64,
}

impl RowNorm {
    fn name(&self) -> &'static str {
        if self.centre { "lab-layer-norm" } else { "lab-rms-norm" }
    }

    fn cpu_fwd(
        &self,
        x: (&CpuStorage, &Layout),
        gamma: (&CpuStorage, &Layout),
        beta: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        row_width(name, x.1, gamma.1, beta.map(|b| b.1))?;
        macro_rules! go {
            ($t:ty) => {{
                let xs = contiguous_slice::<$t>(x.0, x.1, name)?;
                let gs = contiguous_slice::<$t>(gamma.0, gamma.1, name)?;
                let bs = beta.map(|(s, l)| contiguous_slice::<$t>(s, l, name)).transpose()?;
                <$t as Float>::storage(forward(xs, gs, bs, self.centre, self.eps))
            }};
        }
        let out = match x.0 {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        };
        Ok((out, x.1.shape().clone()))
    }

    /// (∂x, ∂γ, ∂β) as tensors.
    fn bwd(&self, x: &Tensor, gamma: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let name = self.name();
        let (xc, gc, grad) = (x.contiguous()?, gamma.contiguous()?, grad.contiguous()?);
        let (xs, xl) = xc.storage_and_layout();
        let (gs, gl) = gc.storage_and_layout();
        let (ds, dl) = grad.storage_and_layout();
        let (Storage::Cpu(xs), Storage::Cpu(gs), Storage::Cpu(ds)) = (&*xs, &*gs, &*ds) else {
            bail!("{name}: CPU tensors only")
        };
        let (shape, device, d) = (x.shape().clone(), x.device(), gamma.elem_count());
        macro_rules! go {
            ($t:ty) => {{
                let (dx, dg, db) = backward(
                    contiguous_slice::<$t>(xs, xl, name)?,
                    contiguous_slice::<$t>(gs, gl, name)?,
                    contiguous_slice::<$t>(ds, dl, name)?,
                    self.centre,
                    self.eps,
                );
                (
                    Tensor::from_vec(dx, shape, device)?,
                    Tensor::from_vec(dg, d, device)?,
                    Tensor::from_vec(db, d, device)?,
                )
            }};
        }
        Ok(match xs {
            CpuStorage::F32(_) => go!(f32),
            CpuStorage::F64(_) => go!(f64),
            s => bail!("{name}: unsupported dtype {:?}", s.dtype()),
        })
    }
}

struct LayerNorm(RowNorm);

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        self.0.name()
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
        self.0.cpu_fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dg, db) = self.0.bwd(x, gamma, grad)?;
        Ok((x.track_op().then_some(dx), gamma.track_op().then_some(dg), beta.track_op().then_some(db)))
    }
}

struct RmsNorm(RowNorm);

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.0.cpu_fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dg, _) = self.0.bwd(x, gamma, grad)?;
        Ok((x.track_op().then_some(dx), gamma.track_op().then_some(dg)))
    }
}

fn check(x: &Tensor, params: &[&Tensor], name: &str) -> Result<()> {
    let floats = matches!(x.dtype(), DType::F32 | DType::F64) && params.iter().all(|p| p.dtype() == x.dtype());
    if !x.device().is_cpu() || !floats {
        bail!("{name}: expects f32 or f64 CPU tensors of one dtype, got {:?}", x.dtype());
    }
    Ok(())
}

/// LayerNorm over the last dimension of x (…, d): (x − mean)/√(mean((x − mean)²) + ε)·γ + β, as one op
/// differentiable in x, γ and β (f32 or f64 on the CPU; x is made contiguous first).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let op = LayerNorm(RowNorm { centre: true, eps });
    check(x, &[gamma, beta], op.name())?;
    x.contiguous()?.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}

/// RMSNorm over the last dimension of x (…, d): x/√(mean(x²) + ε)·γ, as one op differentiable in x
/// and γ (f32 or f64 on the CPU; x is made contiguous first).
pub fn rms_norm(x: &Tensor, gamma: &Tensor, eps: f64) -> Result<Tensor> {
    let op = RmsNorm(RowNorm { centre: false, eps });
    check(x, &[gamma], op.name())?;
    x.contiguous()?.apply_op2(&gamma.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::test_support::{central_difference, max_abs, max_abs_diff, rand};
    use candle_core::{D, Var};

    /// The tensor-op version `lab::transformer` used before (candle-nn's `layer_norm_slow`).
    fn composite(x: &Tensor, gamma: &Tensor, beta: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        let d = x.dim(D::Minus1)? as f64;
        let centred = match beta {
            Some(_) => x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / d)?)?,
            None => x.clone(),
        };
        let ms = (centred.sqr()?.sum_keepdim(D::Minus1)? / d)?;
        let y = centred.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(gamma)?;
        match beta {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// Value and gradients (x, γ, β) of Σ y ⊙ r for a fixed random r.
    fn value_and_grads(
        f: impl Fn(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>,
        x: &Tensor,
        gamma: &Tensor,
        beta: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (xv, gv) = (Var::from_tensor(x)?, Var::from_tensor(gamma)?);
        let bv = beta.map(Var::from_tensor).transpose()?;
        let y = f(xv.as_tensor(), gv.as_tensor(), bv.as_ref().map(|b| b.as_tensor()))?;
        let r = rand(y.elem_count(), 1, 1.0, 99)?.reshape(y.shape())?.to_dtype(y.dtype())?;
        let grads = (&y * &r)?.sum_all()?.backward()?;
        let vars = [Some(&xv), Some(&gv), bv.as_ref()];
        Ok((y, vars.iter().flatten().map(|v| grads.get(v).expect("gradient").clone()).collect()))
    }

    fn fused(x: &Tensor, g: &Tensor, b: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        match b {
            Some(b) => layer_norm(x, g, b, eps),
            None => rms_norm(x, g, eps),
        }
    }

    #[test]
    fn norms_match_the_tensor_op_version_with_gradients() -> Result<()> {
        let eps = 1e-5f32 as f64;
        for dims in [vec![3, 1], vec![2, 5, 8], vec![32, 16, 32]] {
            let d = *dims.last().unwrap();
            let rows = dims.iter().product::<usize>() / d;
            for dtype in [DType::F32, DType::F64] {
                // An offset mean, so that centring matters.
                let x = (rand(rows, d, 2.0, 1)? + 1.5)?.reshape(dims.as_slice())?.to_dtype(dtype)?;
                let g = (rand(1, d, 0.5, 2)?.squeeze(0)? + 1.0)?.to_dtype(dtype)?;
                let b = rand(1, d, 1.0, 3)?.squeeze(0)?.to_dtype(dtype)?;
                for beta in [Some(&b), None] {
                    let (yf, gf) = value_and_grads(|x, g, b| fused(x, g, b, eps), &x, &g, beta)?;
                    let (yr, gr) = value_and_grads(|x, g, b| composite(x, g, b, eps), &x, &g, beta)?;
                    assert_eq!(yf.dims(), x.dims());
                    let tol = if dtype == DType::F32 { 2e-6 } else { 1e-12 };
                    let d = max_abs_diff(&yf, &yr)?;
                    assert!(d <= tol * max_abs(&yr)?, "{dims:?} {dtype:?} β {} forward: {d}", beta.is_some());
                    for (name, (a, r)) in ["x", "γ", "β"].iter().zip(gf.iter().zip(&gr)) {
                        let d = max_abs_diff(a, r)?;
                        // Gradients sum over rows: a little more rounding in f32. At d = 1 ∂x is ~0
                        // (the rounding of cancelling terms), so relative to at least 1.
                        assert!(d <= 10.0 * tol * max_abs(r)?.max(1.0), "{dims:?} {dtype:?} grad {name}: {d}");
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn norm_gradients_match_finite_differences() -> Result<()> {
        let x = (rand(6, 5, 1.5, 4)? + 0.7)?.reshape((2, 3, 5))?.to_dtype(DType::F64)?;
        let g = (rand(1, 5, 0.5, 5)?.squeeze(0)? + 1.0)?.to_dtype(DType::F64)?;
        let b = rand(1, 5, 1.0, 6)?.squeeze(0)?.to_dtype(DType::F64)?;
        let r = rand(6, 5, 1.0, 7)?.reshape((2, 3, 5))?.to_dtype(DType::F64)?;
        for beta in [Some(&b), None] {
            let loss = |x: &Tensor, g: &Tensor, b: Option<&Tensor>| -> Result<f64> {
                (fused(x, g, b, 1e-5)? * &r)?.sum_all()?.to_scalar::<f64>()
            };
            let (xv, gv) = (Var::from_tensor(&x)?, Var::from_tensor(&g)?);
            let bv = beta.map(Var::from_tensor).transpose()?;
            let grads = (fused(xv.as_tensor(), gv.as_tensor(), bv.as_ref().map(|b| b.as_tensor()), 1e-5)? * &r)?
                .sum_all()?
                .backward()?;
            let mut checked = 0;
            for (which, var) in [Some(&xv), Some(&gv), bv.as_ref()].into_iter().enumerate() {
                let Some(var) = var else { continue };
                let analytic = grads.get(var).expect("gradient").flatten_all()?.to_vec1::<f64>()?;
                let v0 = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
                for (i, &a) in analytic.iter().enumerate() {
                    let fd = central_difference(&v0, i, |v| {
                        let t = Tensor::from_vec(v, var.shape(), var.device())?;
                        match which {
                            0 => loss(&t, &g, beta),
                            1 => loss(&x, &t, beta),
                            _ => loss(&x, &g, Some(&t)),
                        }
                    })?;
                    assert!((fd - a).abs() < 1e-7 * (1.0 + fd.abs()), "input {which}[{i}]: fd {fd}, analytic {a}");
                    checked += 1;
                }
            }
            assert_eq!(checked, 30 + 5 + if beta.is_some() { 5 } else { 0 });
        }
        Ok(())
    }

    #[test]
    fn norms_take_non_contiguous_inputs_and_reject_wrong_shapes() -> Result<()> {
        let x = rand(5, 4, 1.0, 1)?.t()?; // (4, 5), not contiguous
        let g = rand(1, 5, 1.0, 2)?.squeeze(0)?;
        let b = rand(1, 5, 1.0, 3)?.squeeze(0)?;
        assert!(!x.is_contiguous());
        assert!(max_abs_diff(&layer_norm(&x, &g, &b, 1e-5)?, &composite(&x, &g, Some(&b), 1e-5)?)? < 1e-5);
        let err = layer_norm(&x.t()?, &g, &b, 1e-5).unwrap_err().to_string();
        assert!(err.contains("last dimension"), "{err}");
        assert!(rms_norm(&x, &g.to_dtype(DType::F64)?, 1e-5).is_err());
        Ok(())
    }
}

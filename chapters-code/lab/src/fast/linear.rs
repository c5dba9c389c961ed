//! `x Wᵀ + b` as one op, forward and backward, on [`super::gemm`]'s products.

use super::gemm::{Mat, gemm_into, product, to_row_major};
use super::{Float, contiguous_slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, bail};

struct Linear;

/// From this many weights on, the forward product runs as its transpose ([`Linear::fwd_column_major`]).
const COLUMN_MAJOR_MIN_WEIGHTS: usize = 512 * 512;

impl Linear {
    fn fwd<T: Float>(x: Mat<T>, w: Mat<T>, b: &[T], b_stride: usize) -> Vec<T> {
        let (m, n, k) = (x.rows, w.rows, x.cols);
        // Every row starts as the bias; gemm then adds x·wᵀ onto it.
        let bias: Vec<T> = (0..n).map(|j| b[j * b_stride]).collect();
        if m > 0 && n > 0 && k > 0 && k * n >= COLUMN_MAJOR_MIN_WEIGHTS {
            return Linear::fwd_column_major(x, w, &bias);
        }
        let mut dst = Vec::with_capacity(m * n);
        for _ in 0..m {
            dst.extend_from_slice(&bias);
        }
        if m > 0 && n > 0 && k > 0 {
            // SAFETY: dst is m×n and initialised; x is m×k and wᵀ is k×n (shapes checked by the caller).
            unsafe { gemm_into(dst.as_mut_ptr(), true, x, w.t()) };
        }
        dst
    }

    /// The same `x·wᵀ + b`, computed as its transpose `w·xᵀ + b` (n×m) and transposed back. gemm reads
    /// a transposed right-hand side slowly once the weights outgrow the cache: on Zen 5 with AVX-512,
    /// 128×1024 times a transposed 1024×1024 ran at 89 GFLOP/s against 199 for this form (and 205 at
    /// 512×512 against 142), while the extra copy touches only the m×n output.
    fn fwd_column_major<T: Float>(x: Mat<T>, w: Mat<T>, bias: &[T]) -> Vec<T> {
        let (m, n) = (x.rows, w.rows);
        let mut out_t = Vec::with_capacity(n * m);
        for &b in bias {
            out_t.extend(std::iter::repeat_n(b, m));
        }
        // SAFETY: out_t is n×m and initialised; w is n×k and xᵀ is k×m (shapes checked by the caller).
        unsafe { gemm_into(out_t.as_mut_ptr(), true, w, x.t()) };
        let out_t = Mat::new(&out_t, &Layout::contiguous((n, m))).expect("an n×m buffer holds an n×m view");
        to_row_major(out_t.t())
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "lab-linear"
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
        let (xd, wd, bd) = (l1.dims(), l2.dims(), l3.dims());
        if xd.len() != 2 || wd.len() != 2 || bd.len() != 1 || xd[1] != wd[1] || bd[0] != wd[0] {
            bail!("lab-linear: shapes x {xd:?}, w {wd:?}, b {bd:?} do not fit x·wᵀ + b");
        }
        let shape = Shape::from((xd[0], wd[0]));
        let b_stride = l3.stride()[0];
        macro_rules! go {
            ($t:ty, $x:expr, $w:expr, $b:expr) => {{
                let (x, w) = (Mat::<$t>::new($x, l1)?, Mat::<$t>::new($w, l2)?);
                let b = &$b[l3.start_offset()..];
                if bd[0] > 0 && (bd[0] - 1) * b_stride >= b.len() {
                    bail!("lab-linear: bias layout exceeds its storage");
                }
                Ok((<$t as Float>::storage(Linear::fwd(x, w, b, b_stride)), shape))
            }};
        }
        match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => go!(f32, x, w, b),
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => go!(f64, x, w, b),
            _ => bail!(
                "lab-linear: x, w and b must all be f32 or all f64, got {:?}, {:?}, {:?}",
                s1.dtype(),
                s2.dtype(),
                s3.dtype()
            ),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (m, n) = grad.dims2()?;
        let k = x.dim(1)?;
        let device = x.device();
        let (need_x, need_w, need_b) = (x.track_op(), w.track_op(), b.track_op());
        let (gs, gl) = grad.storage_and_layout();
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (Storage::Cpu(gs), Storage::Cpu(xs), Storage::Cpu(ws)) = (&*gs, &*xs, &*ws) else {
            bail!("lab-linear: CPU tensors only")
        };
        macro_rules! go {
            ($t:ty, $g:expr, $x:expr, $w:expr) => {{
                let (g, xm, wm) = (Mat::<$t>::new($g, gl)?, Mat::<$t>::new($x, xl)?, Mat::<$t>::new($w, wl)?);
                let db =
                    need_b.then(|| column_sums(contiguous_slice::<$t>(gs, gl, "lab-linear")?, m, n)).transpose()?;
                // g is m×n, w is n×k, x is m×k: ∂L/∂x = g·w (m×k), ∂L/∂W = gᵀ·x (n×k).
                let (dx, dw) = (need_x.then(|| product(g, wm)), need_w.then(|| product(g.t(), xm)));
                let to = |v: Option<Vec<$t>>, shape: Shape| v.map(|v| Tensor::from_vec(v, shape, device)).transpose();
                Ok((to(dx, (m, k).into())?, to(dw, (n, k).into())?, to(db, n.into())?))
            }};
        }
        match (gs, xs, ws) {
            (CpuStorage::F32(g), CpuStorage::F32(x), CpuStorage::F32(w)) => go!(f32, g, x, w),
            (CpuStorage::F64(g), CpuStorage::F64(x), CpuStorage::F64(w)) => go!(f64, g, x, w),
            _ => bail!("lab-linear: gradient and inputs must share an f32 or f64 dtype"),
        }
    }
}

fn column_sums<T: Float>(g: &[T], m: usize, n: usize) -> Result<Vec<T>> {
    if g.len() != m * n {
        bail!("lab-linear: gradient has {} elements, expected {m}×{n}", g.len());
    }
    let mut acc = vec![T::zero(); n];
    for row in g.chunks_exact(n.max(1)) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
    Ok(acc)
}

/// `x Wᵀ + b` for `x` (batch × in), `W` (out × in) and `b` (out), differentiable in all three
/// (f32 or f64 CPU tensors). Equal to `x.matmul(&w.t()?)?.broadcast_add(b)` up to rounding.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let ok = x.rank() == 2 && w.rank() == 2 && b.rank() == 1 && x.device().is_cpu();
    let float = matches!(x.dtype(), DType::F32 | DType::F64);
    if !ok || !float || x.dtype() != w.dtype() || x.dtype() != b.dtype() {
        return x.broadcast_matmul(&w.t()?)?.broadcast_add(b);
    }
    x.apply_op3(w, b, Linear)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::test_support::{max_abs, max_abs_diff, rand, value_and_grads};
    use candle_core::Var;

    #[test]
    fn linear_matches_matmul_and_broadcast_add_with_gradients() -> Result<()> {
        for (m, k, n) in [(1, 1, 1), (7, 5, 3), (128, 256, 256), (33, 300, 10), (64, 3, 129)] {
            for dtype in [DType::F32, DType::F64] {
                let x = rand(m, k, 1.0, 1)?.to_dtype(dtype)?;
                let w = rand(n, k, 0.1, 2)?.to_dtype(dtype)?;
                let b = rand(1, n, 1.0, 3)?.squeeze(0)?.to_dtype(dtype)?;
                let (fast, gf) = value_and_grads(linear, &x, &w, &b)?;
                let (reference, gr) = value_and_grads(|x, w, b| x.matmul(&w.t()?)?.broadcast_add(b), &x, &w, &b)?;
                let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                let scale = 1.0 + max_abs(&reference)?;
                assert!(max_abs_diff(&fast, &reference)? < tol * scale, "{m}x{k}x{n} {dtype:?} forward");
                for (name, (a, b)) in ["x", "w", "b"].iter().zip(gf.iter().zip(&gr)) {
                    let scale = 1.0 + max_abs(b)?;
                    assert!(
                        max_abs_diff(a, b)? < tol * scale,
                        "{m}x{k}x{n} {dtype:?} grad {name}: {}",
                        max_abs_diff(a, b)?
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn linear_accepts_strided_inputs_and_skips_untracked_gradients() -> Result<()> {
        // x as a transposed view, W as a narrowed view: gemm reads the strides directly.
        let xt = rand(20, 9, 1.0, 4)?;
        let x = xt.t()?;
        let wide = rand(6, 30, 0.3, 5)?;
        let w = wide.narrow(1, 5, 20)?;
        let b = rand(1, 6, 1.0, 6)?.squeeze(0)?;
        assert!(!x.is_contiguous() && !w.is_contiguous());
        let reference = x.matmul(&w.t()?)?.broadcast_add(&b)?;
        assert!(max_abs_diff(&linear(&x, &w, &b)?, &reference)? < 1e-5);
        // A plain input tensor gets no gradient; the parameters do.
        let (wv, bv) = (Var::from_tensor(&w.contiguous()?)?, Var::from_tensor(&b)?);
        let grads = linear(&x, wv.as_tensor(), bv.as_tensor())?.sum_all()?.backward()?;
        assert!(grads.get(&x).is_none());
        assert!(grads.get(&wv).is_some() && grads.get(&bv).is_some());
        // Shapes that do not fit are an error, not a panic.
        assert!(linear(&rand(3, 4, 1.0, 7)?, &rand(2, 5, 1.0, 8)?, &b.narrow(0, 0, 2)?).is_err());
        Ok(())
    }
}

//! Elementwise activations — σ, tanh, ReLU — with analytic backward passes: a vectorised polynomial
//! `exp` in f32, compiled for baseline x86-64, AVX2 and AVX-512 and dispatched at run time.

use super::contiguous_slice;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Storage, Tensor, bail};

/// `e^x` for x ≤ 0 in f32, branch-free so that it vectorises: Cody–Waite range reduction
/// x = n·ln2 + r, |r| ≤ ln2/2, and Cephes' polynomial for e^r (≈ 1 ulp). Inputs below
/// ln(f32::MIN_POSITIVE) ≈ −87.3 give 0 (the true value is subnormal).
#[inline(always)]
fn exp_nonpos_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer in the low mantissa bits
    let below = x < -87.336_54;
    let x = x.clamp(-87.336_54, 0.0);
    let kf = x * LOG2E + MAGIC;
    let n = kf - MAGIC;
    let ki = kf.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let er = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((ki + 127) as u32) << 23);
    if below { 0.0 } else { er * scale }
}

/// σ(z) = 1/(1 + e^(−z)) in the stable form: t = e^(−|z|), σ = 1/(1+t) for z ≥ 0, t/(1+t) otherwise.
#[inline(always)]
fn sigmoid_f32(z: f32) -> f32 {
    let t = exp_nonpos_f32(-z.abs());
    let r = 1.0 / (1.0 + t);
    if z >= 0.0 { r } else { t * r }
}

/// tanh z: Cephes' odd polynomial for |z| < 0.625, else sign(z)·(1 − 2/(e^(2|z|) + 1)) written with
/// t = e^(−2|z|) as (1 − t)/(1 + t).
#[inline(always)]
fn tanh_f32(z: f32) -> f32 {
    let a = z.abs();
    let s = z * z;
    let p = -5.704_988_7e-3_f32;
    let p = p * s + 2.063_909e-2;
    let p = p * s - 5.373_971_6e-2;
    let p = p * s + 0.133_314_42;
    let p = p * s - 0.333_332_8;
    let small = p * s * z + z;
    let t = exp_nonpos_f32(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    let big = if z < 0.0 { -big } else { big };
    if a < 0.625 { small } else { big }
}

/// Elementwise kernels over slices, compiled three times (baseline x86-64, AVX2+FMA, AVX-512) and
/// dispatched at run time, so the loops vectorise to the widest registers the CPU has.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn kernel($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { kernel($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { kernel($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            kernel($($arg),*)
        }
    };
}

dispatch! {
    /// dst = σ(src) (also [`super::rnn`]'s gates).
    pub(super) fn sigmoid_fwd_f32(src: &[f32], dst: &mut [f32]) {
        for (d, &z) in dst.iter_mut().zip(src) {
            *d = sigmoid_f32(z);
        }
    }
}

dispatch! {
    /// dst = g·s·(1 − s).
    fn sigmoid_bwd_f32(s: &[f32], g: &[f32], dst: &mut [f32]) {
        for ((d, &s), &g) in dst.iter_mut().zip(s).zip(g) {
            *d = g * (s * (1.0 - s));
        }
    }
}

dispatch! {
    /// dst = tanh(src) (also [`super::rnn`]'s).
    pub(super) fn tanh_fwd_f32(src: &[f32], dst: &mut [f32]) {
        for (d, &z) in dst.iter_mut().zip(src) {
            *d = tanh_f32(z);
        }
    }
}

dispatch! {
    /// dst = g·(1 − t²).
    fn tanh_bwd_f32(t: &[f32], g: &[f32], dst: &mut [f32]) {
        for ((d, &t), &g) in dst.iter_mut().zip(t).zip(g) {
            *d = g * (1.0 - t * t);
        }
    }
}

dispatch! {
    /// dst = max(src, 0).
    fn relu_fwd_f32(src: &[f32], dst: &mut [f32]) {
        for (d, &z) in dst.iter_mut().zip(src) {
            *d = if z > 0.0 { z } else { 0.0 };
        }
    }
}

dispatch! {
    /// dst = g where z > 0, else 0 (PyTorch's convention at z = 0).
    fn relu_bwd_f32(z: &[f32], g: &[f32], dst: &mut [f32]) {
        for ((d, &z), &g) in dst.iter_mut().zip(z).zip(g) {
            *d = if z > 0.0 { g } else { 0.0 };
        }
    }
}

/// Which activation an [`Elementwise`] op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Sigmoid,
    Tanh,
    Relu,
}

/// An elementwise activation with an analytic backward pass. f32 uses the vectorised kernels above;
/// f64 (gradient checks) uses std's exact functions.
struct Elementwise(Act);

impl Elementwise {
    fn fwd_f64(&self, z: f64) -> f64 {
        match self.0 {
            Act::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Act::Tanh => z.tanh(),
            Act::Relu => z.max(0.0),
        }
    }

    /// ∂f/∂z from the saved input `z` and output `y`.
    fn deriv_f64(&self, z: f64, y: f64) -> f64 {
        match self.0 {
            Act::Sigmoid => y * (1.0 - y),
            Act::Tanh => 1.0 - y * y,
            Act::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

impl CustomOp1 for Elementwise {
    fn name(&self) -> &'static str {
        match self.0 {
            Act::Sigmoid => "lab-sigmoid",
            Act::Tanh => "lab-tanh",
            Act::Relu => "lab-relu",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = layout.shape().clone();
        let out = match storage {
            CpuStorage::F32(_) => {
                let src = contiguous_slice::<f32>(storage, layout, self.name())?;
                let mut dst = vec![0f32; src.len()];
                match self.0 {
                    Act::Sigmoid => sigmoid_fwd_f32(src, &mut dst),
                    Act::Tanh => tanh_fwd_f32(src, &mut dst),
                    Act::Relu => relu_fwd_f32(src, &mut dst),
                }
                CpuStorage::F32(dst)
            }
            CpuStorage::F64(_) => {
                let src = contiguous_slice::<f64>(storage, layout, self.name())?;
                CpuStorage::F64(src.iter().map(|&z| self.fwd_f64(z)).collect())
            }
            s => bail!("{}: unsupported dtype {:?}", self.name(), s.dtype()),
        };
        Ok((out, shape))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // Sigmoid and tanh differentiate from their output, ReLU from its input.
        let saved = if self.0 == Act::Relu { arg } else { res };
        Ok(Some(self.backward(saved, grad)?))
    }
}

impl Elementwise {
    /// ∂L/∂z from the saved tensor (σ or tanh output, ReLU input) and ∂L/∂f.
    fn backward(&self, saved: &Tensor, grad: &Tensor) -> Result<Tensor> {
        if saved.dims() != grad.dims() {
            bail!("{}: saved tensor {:?} and gradient {:?} differ in shape", self.name(), saved.dims(), grad.dims());
        }
        let (shape, device) = (saved.shape().clone(), saved.device().clone());
        let saved = saved.contiguous()?;
        let grad = grad.contiguous()?;
        let (ss, sl) = saved.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (Storage::Cpu(ss), Storage::Cpu(gs)) = (&*ss, &*gs) else { bail!("{}: CPU tensors only", self.name()) };
        let out = match (ss, gs) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (s, g) =
                    (contiguous_slice::<f32>(ss, sl, self.name())?, contiguous_slice::<f32>(gs, gl, self.name())?);
                let mut dst = vec![0f32; s.len()];
                match self.0 {
                    Act::Sigmoid => sigmoid_bwd_f32(s, g, &mut dst),
                    Act::Tanh => tanh_bwd_f32(s, g, &mut dst),
                    Act::Relu => relu_bwd_f32(s, g, &mut dst),
                }
                Tensor::from_vec(dst, shape, &device)?
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (s, g) =
                    (contiguous_slice::<f64>(ss, sl, self.name())?, contiguous_slice::<f64>(gs, gl, self.name())?);
                // `v` is z for ReLU (whose derivative ignores y) and y for the others (which ignore z).
                let d: Vec<f64> = s.iter().zip(g).map(|(&v, &g)| g * self.deriv_f64(v, v)).collect();
                Tensor::from_vec(d, shape, &device)?
            }
            _ => bail!("{}: gradient and saved tensor must both be f32 or both f64", self.name()),
        };
        Ok(out)
    }
}

fn elementwise(z: &Tensor, act: Act) -> Result<Tensor> {
    if !z.device().is_cpu() || !matches!(z.dtype(), DType::F32 | DType::F64) {
        // Other dtypes and devices: candle's own ops.
        return match act {
            Act::Sigmoid => candle_nn::ops::sigmoid(z),
            Act::Tanh => z.tanh(),
            Act::Relu => z.relu(),
        };
    }
    z.contiguous()?.apply_op1(Elementwise(act))
}

/// σ(z), differentiable (backward σ' = σ(1 − σ) from the saved output). f32: a vectorised polynomial
/// `exp`, within 2·10⁻⁷ of the exact value; f64: std's `exp`.
pub fn sigmoid(z: &Tensor) -> Result<Tensor> {
    elementwise(z, Act::Sigmoid)
}

/// The sigmoid's backward pass on its own: `grad · s · (1 − s)` for the saved output `s = σ(z)`, in
/// one pass (f32 or f64 CPU tensors of one shape).
pub fn sigmoid_backward(s: &Tensor, grad: &Tensor) -> Result<Tensor> {
    Elementwise(Act::Sigmoid).backward(s, grad)
}

/// tanh z, differentiable (backward 1 − tanh² from the saved output).
pub fn tanh(z: &Tensor) -> Result<Tensor> {
    elementwise(z, Act::Tanh)
}

/// max(z, 0), differentiable (backward: the gradient where z > 0, zero elsewhere, as PyTorch).
pub fn relu(z: &Tensor) -> Result<Tensor> {
    elementwise(z, Act::Relu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEVICE;
    use crate::fast::test_support::{max_abs_diff, rand};
    use candle_core::Var;

    #[test]
    fn fast_exp_and_sigmoid_are_accurate_everywhere() {
        let mut worst_exp = 0f64;
        let mut worst_sig = 0f64;
        let mut worst_tanh = 0f64;
        for i in 0..=400_000 {
            let z = -100.0 + i as f64 * 0.0005;
            let zf = z as f32;
            let z = zf as f64;
            if z <= 0.0 && z > -87.0 {
                let rel = (exp_nonpos_f32(zf) as f64 - z.exp()).abs() / z.exp();
                worst_exp = worst_exp.max(rel);
            }
            let s = 1.0 / (1.0 + (-z).exp());
            // Relative to σ itself: accurate in the tails too, where saturation is measured.
            if s > 1e-37 {
                worst_sig = worst_sig.max((sigmoid_f32(zf) as f64 - s).abs() / s);
            }
            let t = z.tanh();
            worst_tanh = worst_tanh.max((tanh_f32(zf) as f64 - t).abs() / t.abs().max(1e-30));
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_sig < 5e-7, "sigmoid relative error {worst_sig}");
        assert!(worst_tanh < 5e-7, "tanh relative error {worst_tanh}");
        assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(-0.0), 0.0);
        assert!(sigmoid_f32(f32::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
    }

    #[test]
    fn activations_match_candle_with_gradients() -> Result<()> {
        // Odd lengths exercise the vector loops' tails; ±30 reaches deep saturation.
        for n in [1usize, 7, 17, 1000, 32 * 1024 + 3] {
            let z = (rand(1, n, 6.0, n as u64)?.squeeze(0)? + 0.1)?;
            for dtype in [DType::F32, DType::F64] {
                let z = z.to_dtype(dtype)?;
                for act in [Act::Sigmoid, Act::Tanh, Act::Relu] {
                    let zv = Var::from_tensor(&z)?;
                    let r = rand(1, n, 1.0, 5)?.squeeze(0)?.to_dtype(dtype)?;
                    let fast = elementwise(zv.as_tensor(), act)?;
                    let gf = (&fast * &r)?.sum_all()?.backward()?.get(&zv).unwrap().clone();
                    let reference = match act {
                        Act::Sigmoid => candle_nn::ops::sigmoid(zv.as_tensor())?,
                        Act::Tanh => zv.as_tensor().tanh()?,
                        Act::Relu => zv.as_tensor().relu()?,
                    };
                    let gr = (&reference * &r)?.sum_all()?.backward()?.get(&zv).unwrap().clone();
                    let tol = if dtype == DType::F32 { 1e-6 } else { 1e-14 };
                    assert!(max_abs_diff(&fast, &reference)? < tol, "{act:?} {dtype:?} n={n} forward");
                    assert!(
                        max_abs_diff(&gf, &gr)? < tol,
                        "{act:?} {dtype:?} n={n} gradient {}",
                        max_abs_diff(&gf, &gr)?
                    );
                }
            }
        }
        // Non-contiguous input, and a 3-D one.
        let z = rand(8, 5, 2.0, 3)?;
        assert!(max_abs_diff(&sigmoid(&z.t()?)?, &candle_nn::ops::sigmoid(&z.t()?)?)? < 1e-6);
        let z3 = z.reshape((2, 4, 5))?;
        assert!(max_abs_diff(&tanh(&z3)?, &z3.tanh()?)? < 1e-6);
        Ok(())
    }

    #[test]
    fn relu_gradient_is_zero_at_zero_as_in_pytorch() -> Result<()> {
        let z = Var::new(&[-1.0f32, 0.0, 2.0], &DEVICE)?;
        let g = relu(z.as_tensor())?.sum_all()?.backward()?.get(&z).unwrap().to_vec1::<f32>()?;
        assert_eq!(g, vec![0.0, 0.0, 1.0]);
        Ok(())
    }
}

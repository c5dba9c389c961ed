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
//! - [`sgd_update`]: w ← w − lr·g in place, one pass, instead of three tensors per parameter.
//!
//! Threads: a product of at least [`set_split`]'s size (default 2²⁰ multiply-adds) is cut into
//! blocks of output columns, one per thread, each a single-threaded gemm, run on candle's spinning
//! barrier pool (`CANDLE_NUM_THREADS` − 1 workers plus the caller; [`crate::threads::set_threads`] sizes
//! it). gemm's own rayon splitting, called from outside a rayon pool as candle does, wakes sleeping
//! threads for every product and gains nothing at 128×256×256 on 2 cores: that, and candle's
//! elementwise pool spinning beside rayon's workers, is why stock candle is slower on 2 threads than
//! on 1 (PERFORMANCE.md has the measurements).
//!
//! [`set_enabled`]`(false)` switches every caller in lab back to candle's stock ops (the reference
//! the tests compare against, and the "before" of the benchmarks); [`with_enabled`] does so for one
//! thread.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, InplaceOp2, Layout, Result, Shape, Storage, Tensor, bail};
use gemm::Parallelism;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

// ---------------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------------

/// Products with fewer multiply-adds than this run on the calling thread alone.
static SPLIT_MIN_MACS: AtomicUsize = AtomicUsize::new(1 << 20);
/// Column blocks per thread when a product is split.
static BLOCKS_PER_THREAD: AtomicUsize = AtomicUsize::new(1);

/// Sets the size (m·n·k multiply-adds) from which a product is split across threads, and the number
/// of column blocks per thread. Benchmarks use it to find the break-even points.
pub fn set_split(min_macs: usize, blocks_per_thread: usize) {
    SPLIT_MIN_MACS.store(min_macs, Ordering::Relaxed);
    BLOCKS_PER_THREAD.store(blocks_per_thread.max(1), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------------
// Storage helpers
// ---------------------------------------------------------------------------------------------------

/// A float type the kernels handle.
trait Float: candle_core::WithDType + Copy + Send + Sync + 'static {
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

/// A 2-D strided view: element (i, j) is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

// SAFETY: a Mat is a read-only view of storage that outlives every use (the kernels borrow the
// storage for the duration of the call); sending it to a helper thread is like sending `&[T]`.
unsafe impl<T: Sync> Send for Mat<T> {}
unsafe impl<T: Sync> Sync for Mat<T> {}

impl<T> Mat<T> {
    fn new(data: &[T], layout: &Layout) -> Result<Mat<T>> {
        let (dims, stride) = (layout.dims(), layout.stride());
        if dims.len() != 2 {
            bail!("lab::fast: expected a matrix, got shape {:?}", dims);
        }
        let (rows, cols) = (dims[0], dims[1]);
        // The furthest element read must lie inside the storage.
        let last = layout.start_offset() + rows.saturating_sub(1) * stride[0] + cols.saturating_sub(1) * stride[1];
        if rows > 0 && cols > 0 && last >= data.len() {
            bail!("lab::fast: layout exceeds its storage");
        }
        // SAFETY: the offset is inside `data` (checked above, or the view is empty).
        let ptr = unsafe { data.as_ptr().add(layout.start_offset().min(data.len())) };
        Ok(Mat { ptr, rows, cols, rs: stride[0] as isize, cs: stride[1] as isize })
    }

    /// Columns `j0..j1` (inside the view).
    fn columns(self, j0: usize, j1: usize) -> Mat<T> {
        Mat { ptr: self.ptr.wrapping_offset(j0 as isize * self.cs), cols: j1 - j0, ..self }
    }

    fn t(self) -> Mat<T> {
        Mat { ptr: self.ptr, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
}

/// `dst (m×n, row-major) = [dst +] a·b` on the calling thread, where `a` is m×k and `b` is k×n.
///
/// # Safety
/// `dst` must be valid for `a.rows × b.cols` writes (and reads, when `accumulate`), with row stride
/// `dst_rs`; `a` and `b` must be valid views with `a.cols == b.rows > 0`.
unsafe fn gemm_serial<T: Float>(dst: *mut T, dst_rs: usize, accumulate: bool, a: Mat<T>, b: Mat<T>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert!(b.rows == k && k > 0);
    // SAFETY: forwarded from the caller; gemm computes dst = alpha·dst + beta·a·b and, with
    // `read_dst` false, only writes dst.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.ptr,
            a.cs,
            a.rs,
            b.ptr,
            b.cs,
            b.rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: each thread writes a disjoint block of columns through it (see `gemm_into`).
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    fn get(self) -> *mut T {
        self.0
    }
}

/// `dst (m×n, row-major) = [dst +] a·b`, split by blocks of output columns across candle's worker
/// threads when the product is large enough: each thread runs gemm single-threaded on its own
/// block, packing only its own part of `b`. The threads are candle's spinning barrier pool (the one
/// its elementwise ops use; `CANDLE_NUM_THREADS` − 1 workers plus the caller), which stays awake
/// between the many short products of a step — see PERFORMANCE.md for why rayon does not.
///
/// # Safety
/// As [`gemm_serial`], with `dst_rs = b.cols`.
unsafe fn gemm_into<T: Float>(dst: *mut T, accumulate: bool, a: Mat<T>, b: Mat<T>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let macs = m.saturating_mul(n).saturating_mul(k);
    let pool = candle_core::utils::barrier_pool();
    let threads = pool.n_workers() + 1;
    // Blocks are multiples of 16 columns (whole microkernel tiles), at least 32 wide.
    let parts = (threads * BLOCKS_PER_THREAD.load(Ordering::Relaxed)).min(n / 32);
    let split = DISABLED_KERNELS.load(Ordering::Relaxed) & (1u8 << Kernel::Split as u8) == 0;
    if !split || threads <= 1 || parts <= 1 || macs < SPLIT_MIN_MACS.load(Ordering::Relaxed) {
        // SAFETY: forwarded.
        return unsafe { gemm_serial(dst, n, accumulate, a, b) };
    }
    let block = n.div_ceil(parts).div_ceil(16) * 16;
    let dst = SendPtr(dst);
    // Whichever thread is free takes the next block, so a late-waking worker costs no waiting.
    pool.execute_chunked(n.div_ceil(block), |range| {
        for i in range {
            let (j0, j1) = (i * block, ((i + 1) * block).min(n));
            // SAFETY: the blocks [j0, j1) are disjoint and inside dst's n columns; b's block is
            // inside b.
            unsafe { gemm_serial(dst.get().add(j0), n, accumulate, a, b.columns(j0, j1)) }
        }
    });
}

/// The product `a·b` (m×k times k×n) as a fresh row-major m×n vector.
fn product<T: Float>(a: Mat<T>, b: Mat<T>) -> Vec<T> {
    let (m, n) = (a.rows, b.cols);
    if m == 0 || n == 0 || a.cols == 0 {
        return vec![T::zero(); m * n];
    }
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: `out` has room for m·n elements, which gemm writes (all of them) without reading;
    // the views are valid (constructed by `Mat::new` from live storage).
    unsafe {
        gemm_into(out.as_mut_ptr(), false, a, b);
        out.set_len(m * n);
    }
    out
}

fn contiguous_slice<'a, T: Float>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    let data = T::slice(s).ok_or_else(|| candle_core::Error::Msg(format!("{op}: dtype mismatch")))?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: expected a contiguous input"),
    }
}

// ---------------------------------------------------------------------------------------------------
// Linear: x Wᵀ + b
// ---------------------------------------------------------------------------------------------------

struct Linear;

impl Linear {
    fn fwd<T: Float>(x: Mat<T>, w: Mat<T>, b: &[T], b_stride: usize) -> Vec<T> {
        let (m, n, k) = (x.rows, w.rows, x.cols);
        // Every row starts as the bias; gemm then adds x·wᵀ onto it.
        let bias: Vec<T> = (0..n).map(|j| b[j * b_stride]).collect();
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
    x.apply_op3_arc(w, b, std::sync::Arc::new(Box::new(Linear)))
}

// ---------------------------------------------------------------------------------------------------
// Elementwise activations
// ---------------------------------------------------------------------------------------------------

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
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
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
    /// dst = σ(src).
    fn sigmoid_fwd_f32(src: &[f32], dst: &mut [f32]) {
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
    /// dst = tanh(src).
    fn tanh_fwd_f32(src: &[f32], dst: &mut [f32]) {
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
    z.contiguous()?.apply_op1_arc(std::sync::Arc::new(Box::new(Elementwise(act))))
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

// ---------------------------------------------------------------------------------------------------
// BatchNorm (training mode)
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
    /// Written by the forward pass.
    stats: std::sync::Mutex<Option<BatchStats>>,
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
    let op = std::sync::Arc::new(BatchNorm { eps, stats: std::sync::Mutex::new(None) });
    let y = z.apply_op3_arc(gamma, beta, std::sync::Arc::new(Box::new(ArcOp(op.clone()))))?;
    let (mean, var, _) = op.stats.lock().expect("stats lock").clone().expect("forward ran");
    let n = mean.len();
    let to = |v: Vec<f64>| Tensor::from_vec(v, n, z.device())?.to_dtype(z.dtype());
    Ok((y, to(mean)?, to(var)?))
}

/// A shared handle to a custom op, so the caller can read what the forward pass stored.
struct ArcOp<C>(std::sync::Arc<C>);

impl<C: CustomOp3> CustomOp3 for ArcOp<C> {
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
        self.0.cpu_fwd(s1, l1, s2, l2, s3, l3)
    }

    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        a3: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.0.bwd(a1, a2, a3, res, grad)
    }
}

// ---------------------------------------------------------------------------------------------------
// In-place SGD
// ---------------------------------------------------------------------------------------------------

struct SgdUpdate {
    lr: f64,
}

impl InplaceOp2 for SgdUpdate {
    fn name(&self) -> &'static str {
        "lab-sgd"
    }

    fn cpu_fwd(&self, w: &mut CpuStorage, wl: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (wl.contiguous_offsets(), gl.contiguous_offsets()) else {
            bail!("lab-sgd: contiguous tensors only");
        };
        match (w, g) {
            (CpuStorage::F32(w), CpuStorage::F32(g)) => {
                // The same arithmetic as candle-nn's SGD: w − g·(lr as f32).
                let lr = self.lr as f32;
                for (w, &g) in w[w0..w1].iter_mut().zip(&g[g0..g1]) {
                    *w -= g * lr;
                }
            }
            (CpuStorage::F64(w), CpuStorage::F64(g)) => {
                for (w, &g) in w[w0..w1].iter_mut().zip(&g[g0..g1]) {
                    *w -= g * self.lr;
                }
            }
            _ => bail!("lab-sgd: parameter and gradient must both be f32 or both f64"),
        }
        Ok(())
    }
}

/// w ← w − lr·g in place, in one pass (the same arithmetic as candle-nn's `SGD`).
pub fn sgd_update(var: &candle_core::Var, grad: &Tensor, lr: f64) -> Result<()> {
    let w = var.as_tensor();
    if w.dims() != grad.dims() {
        bail!("lab-sgd: parameter {:?} and gradient {:?} differ in shape", w.dims(), grad.dims());
    }
    if w.is_contiguous()
        && w.dtype() == grad.dtype()
        && matches!(w.dtype(), DType::F32 | DType::F64)
        && w.device().is_cpu()
    {
        w.inplace_op2(&grad.contiguous()?, &SgdUpdate { lr })
    } else {
        var.set(&w.sub(&(grad * lr)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, Norm, init};
    use candle_core::{D, Var};

    fn rand(rows: usize, cols: usize, std: f64, seed: u64) -> Result<Tensor> {
        Init::Normal { std }
            .tensor(rows, cols, &mut init::rng(seed), &DEVICE)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
        a.to_dtype(DType::F64)?.sub(&b.to_dtype(DType::F64)?)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()
    }

    fn max_abs(a: &Tensor) -> Result<f64> {
        a.to_dtype(DType::F64)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()
    }

    /// Forward value and the gradients of Σ (out ⊙ r) for a fixed random r, through `f`.
    fn value_and_grads(
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

    /// `a·bᵀ` (a m×k, b n×k) computed in f64 from the f32 values, row-major m×n.
    fn reference_abt(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[j * k + p] as f64).sum();
            }
        }
        out
    }

    /// Transposes a row-major rows×cols f32 matrix.
    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols * rows).map(|idx| a[(idx % rows) * cols + idx / rows]).collect()
    }

    fn assert_close_to_reference(got: &Tensor, want: &[f64], what: &str) -> Result<()> {
        let got = got.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = 1.0 + want.iter().fold(0f64, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(want).fold(0f64, |m, (g, w)| m.max((g - w).abs()));
        // The tolerance the f32 comparisons in this module use: 1e-5 relative to the largest entry.
        assert!(worst < 1e-5 * scale, "{what}: max error {worst} (scale {scale}) on gemm path {}", gemm_path());
        Ok(())
    }

    /// The f32 kernel gemm dispatches to on this CPU. gemm picks it at run time from the CPU's
    /// features (AVX-512F with the workspace's `x86-v4` feature, else AVX2+FMA, else scalar) and
    /// offers no way to choose another one, so each CPU tests its own path: CI on an AVX-512
    /// machine tests the AVX-512 kernels, elsewhere the AVX2 ones.
    fn gemm_path() -> &'static str {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return "avx512f";
            }
            if std::arch::is_x86_feature_detected!("fma") {
                return "avx2+fma";
            }
        }
        "other"
    }

    /// lab's products (forward x·Wᵀ + b, backward ∂x = G·W and ∂W = Gᵀ·x, serial and split across
    /// threads) and candle's stock matmul against products computed in f64, on whichever gemm
    /// kernels this CPU runs: shapes of W1 (128×256·256×256), the output layer, and ragged ones
    /// that leave partial microkernel tiles on both the AVX2 (8/16-wide) and AVX-512 (16/32-wide)
    /// paths.
    #[test]
    fn products_match_an_f64_reference_on_this_cpus_gemm_path() -> Result<()> {
        for (m, k, n) in [(128, 256, 256), (128, 256, 10), (37, 129, 83), (1, 300, 1), (200, 17, 513)] {
            let x = rand(m, k, 1.0, 11)?;
            let w = rand(n, k, 0.1, 12)?;
            let b = Tensor::zeros(n, DType::F32, &DEVICE)?;
            let g = rand(m, n, 1.0, 13)?;
            let (xv, wv, gv) = (
                x.flatten_all()?.to_vec1::<f32>()?,
                w.flatten_all()?.to_vec1::<f32>()?,
                g.flatten_all()?.to_vec1::<f32>()?,
            );
            let want_y = reference_abt(&xv, &wv, m, k, n);
            // ∂x = G·W = G·(Wᵀ)ᵀ, ∂W = Gᵀ·x = Gᵀ·(xᵀ)ᵀ.
            let want_dx = reference_abt(&gv, &transpose(&wv, n, k), m, n, k);
            let want_dw = reference_abt(&transpose(&gv, m, n), &transpose(&xv, m, k), n, m, k);
            let shape = format!("{m}x{k}x{n}");
            assert_close_to_reference(&x.matmul(&w.t()?)?, &want_y, &format!("{shape} candle matmul x·Wᵀ"))?;
            assert_close_to_reference(&g.matmul(&w)?, &want_dx, &format!("{shape} candle matmul G·W"))?;
            for split_from in [usize::MAX, 0] {
                // Serial (every product on one thread), then every product split into column blocks.
                let (y, dx, dw) = {
                    let _split = SplitGuard::new(split_from, 1);
                    let (xvar, wvar) = (Var::from_tensor(&x)?, Var::from_tensor(&w)?);
                    let y = linear(xvar.as_tensor(), wvar.as_tensor(), &b)?;
                    let grads = (&y * &g)?.sum_all()?.backward()?;
                    (y, grads.get(&xvar).expect("∂x").clone(), grads.get(&wvar).expect("∂W").clone())
                };
                let how = if split_from == 0 { "split" } else { "serial" };
                assert_close_to_reference(&y, &want_y, &format!("{shape} {how} linear forward"))?;
                assert_close_to_reference(&dx, &want_dx, &format!("{shape} {how} linear ∂x"))?;
                assert_close_to_reference(&dw, &want_dw, &format!("{shape} {how} linear ∂W"))?;
            }
        }
        Ok(())
    }

    /// Holds the split threshold at a value for one test and restores the default after, even on
    /// a failed assertion. Tests that change it serialise on the lock.
    struct SplitGuard(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);
    static SPLIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    impl SplitGuard {
        fn new(min_macs: usize, blocks_per_thread: usize) -> SplitGuard {
            let guard = SPLIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            set_split(min_macs, blocks_per_thread);
            SplitGuard(guard)
        }
    }
    impl Drop for SplitGuard {
        fn drop(&mut self) {
            set_split(1 << 20, 1);
        }
    }

    /// The workspace builds gemm with its run-time-dispatched AVX-512 kernels, and candle's matmul
    /// links the same single copy of gemm (so both get them).
    #[test]
    fn one_gemm_with_the_x86_v4_feature() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("workspace Cargo.toml");
        let gemm_line = manifest.lines().find(|l| l.trim_start().starts_with("gemm =")).expect("gemm dependency");
        assert!(gemm_line.contains("\"x86-v4\""), "gemm without its x86-v4 feature: {gemm_line}");
        for config in [root.join(".cargo/config.toml"), root.join(".cargo/config")] {
            let text = std::fs::read_to_string(config).unwrap_or_default();
            assert!(!text.contains("target-cpu"), "no compile-time target-cpu: the kernels are chosen at run time");
        }
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
        let copies = lock.lines().filter(|l| l.trim() == "name = \"gemm\"").count();
        assert_eq!(copies, 1, "Cargo.lock holds {copies} versions of gemm: candle and lab would not share kernels");
        let candle = lock.split("[[package]]").find(|p| p.contains("name = \"candle-core\"")).expect("candle-core");
        assert!(candle.contains("\"gemm\""), "candle-core no longer depends on gemm directly");
    }

    #[test]
    fn split_products_match_the_serial_ones() -> Result<()> {
        // Uneven column blocks (n = 100 → 48 + 48 + 4 with 4 blocks a thread), forward and backward.
        let (x, w, b) = (rand(40, 70, 1.0, 1)?, rand(100, 70, 0.2, 2)?, rand(1, 100, 1.0, 3)?.squeeze(0)?);
        let serial = {
            let _serial = SplitGuard::new(usize::MAX, 1);
            value_and_grads(linear, &x, &w, &b)?
        };
        let split = {
            let _split = SplitGuard::new(0, 4);
            value_and_grads(linear, &x, &w, &b)?
        };
        // gemm may pick other tiles for a narrower block, so the sums may differ in the last bits.
        assert!(max_abs_diff(&split.0, &serial.0)? < 1e-5 * (1.0 + max_abs(&serial.0)?));
        for (a, b) in split.1.iter().zip(&serial.1) {
            assert!(max_abs_diff(a, b)? < 1e-5 * (1.0 + max_abs(b)?));
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

    #[test]
    fn relu_gradient_is_zero_at_zero_as_in_pytorch() -> Result<()> {
        let z = Var::new(&[-1.0f32, 0.0, 2.0], &DEVICE)?;
        let g = relu(z.as_tensor())?.sum_all()?.backward()?.get(&z).unwrap().to_vec1::<f32>()?;
        assert_eq!(g, vec![0.0, 0.0, 1.0]);
        Ok(())
    }

    #[test]
    fn sgd_update_is_candle_nn_sgd_bit_for_bit() -> Result<()> {
        use candle_nn::Optimizer;
        let w0 = rand(17, 9, 1.0, 1)?;
        let g = rand(17, 9, 1.0, 2)?;
        let (a, b) = (Var::from_tensor(&w0)?, Var::from_tensor(&w0)?);
        sgd_update(&a, &g, 0.37)?;
        let mut grads = b.as_tensor().zeros_like()?.sum_all()?.backward()?;
        grads.insert(&b, g.clone());
        candle_nn::SGD::new(vec![b.clone()], 0.37)?.step(&grads)?;
        assert_eq!(a.as_tensor().to_vec2::<f32>()?, b.as_tensor().to_vec2::<f32>()?);
        Ok(())
    }

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

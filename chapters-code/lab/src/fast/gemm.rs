//! Products on candle's thread pool: `dst = [dst +] a·b` over strided views, cut into blocks of
//! output columns, one single-threaded gemm per block, when the product is large enough
//! ([`set_split`]). [`super::linear`] is built on it.

use super::{DISABLED_KERNELS, Float, Kernel};
use candle_core::{Layout, Result, bail};
use gemm::Parallelism;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Products with fewer multiply-adds than this run on the calling thread alone.
static SPLIT_MIN_MACS: AtomicUsize = AtomicUsize::new(1 << 20);
/// Column blocks per part when a product is split.
static BLOCKS_PER_PART: AtomicUsize = AtomicUsize::new(1);
/// The parts a split product is cut into, whatever the thread count. gemm may pick other tiles for a
/// narrower block, so the last bits of a sum depend on the block widths: cutting by the number of
/// threads made every trained figure depend on the machine's core count (the committed ones were
/// made on 2 cores). A fixed cut gives the same bits on 1, 2 or 64 threads; the price is that lab's
/// own products use at most this many threads (candle's stock matmul still uses them all).
const SPLIT_PARTS: usize = 2;

/// The family of f32 kernels gemm dispatches to on this CPU: `"avx512f"` (AVX-512F, with the
/// workspace's `x86-v4` feature), `"avx2+fma"`, `"neon"` or `"scalar"`. gemm picks it at run time
/// from the CPU's features and offers no way to choose another, and the kernels add a product's
/// terms in different orders, so the last bits of every result depend on it: figures record it
/// (their JSON's `"kernels"`), and the freshness test compares numbers only between equal kernels.
pub fn gemm_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return "neon";
        }
    }
    "scalar"
}

/// Sets the size (m·n·k multiply-adds) from which a product is split into column blocks run across
/// threads, and the number of blocks per part (`SPLIT_PARTS` parts). Benchmarks use it to find the
/// break-even points. The split changes the last bits of results, never their dependence on threads.
pub fn set_split(min_macs: usize, blocks_per_part: usize) {
    SPLIT_MIN_MACS.store(min_macs, Ordering::Relaxed);
    BLOCKS_PER_PART.store(blocks_per_part.max(1), Ordering::Relaxed);
}

/// The column blocks `[j0, j1)` an m×k·k×n product is computed in: one block (the whole product)
/// below the split size, else [`SPLIT_PARTS`] × blocks-per-part blocks of whole microkernel tiles.
/// It does not depend on the thread count, so neither do the results.
fn column_blocks(m: usize, k: usize, n: usize) -> Vec<(usize, usize)> {
    let macs = m.saturating_mul(n).saturating_mul(k);
    // Blocks are multiples of 16 columns (whole microkernel tiles), at least 32 wide.
    let parts = (SPLIT_PARTS * BLOCKS_PER_PART.load(Ordering::Relaxed)).min(n / 32);
    let split = DISABLED_KERNELS.load(Ordering::Relaxed) & (1u8 << Kernel::Split as u8) == 0;
    if !split || parts <= 1 || macs < SPLIT_MIN_MACS.load(Ordering::Relaxed) {
        return vec![(0, n)];
    }
    let block = n.div_ceil(parts).div_ceil(16) * 16;
    (0..n.div_ceil(block)).map(|i| (i * block, ((i + 1) * block).min(n))).collect()
}

/// A 2-D strided view: element (i, j) is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(super) struct Mat<T> {
    ptr: *const T,
    pub(super) rows: usize,
    pub(super) cols: usize,
    rs: isize,
    cs: isize,
}

// SAFETY: a Mat is a read-only view of storage that outlives every use (the kernels borrow the
// storage for the duration of the call); sending it to a helper thread is like sending `&[T]`.
unsafe impl<T: Sync> Send for Mat<T> {}
unsafe impl<T: Sync> Sync for Mat<T> {}

impl<T> Mat<T> {
    pub(super) fn new(data: &[T], layout: &Layout) -> Result<Mat<T>> {
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

    pub(super) fn t(self) -> Mat<T> {
        Mat { ptr: self.ptr, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
}

/// The elements of `b` copied into a fresh row-major buffer, 32×32 tiles at a time so that both the
/// reads and the writes stay in cache lines.
pub(super) fn to_row_major<T: Copy>(b: Mat<T>) -> Vec<T> {
    const TILE: usize = 32;
    let (rows, cols) = (b.rows, b.cols);
    let mut out = Vec::with_capacity(rows * cols);
    let spare = out.spare_capacity_mut();
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    // SAFETY: (i, j) is inside the view, which `Mat::new` checked against its storage.
                    let v = unsafe { *b.ptr.offset(i as isize * b.rs + j as isize * b.cs) };
                    spare[i * cols + j].write(v);
                }
            }
        }
    }
    // SAFETY: the tiles cover every (i, j), so all rows·cols elements are written.
    unsafe { out.set_len(rows * cols) };
    out
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
pub(super) unsafe fn gemm_into<T: Float>(dst: *mut T, accumulate: bool, a: Mat<T>, b: Mat<T>) {
    let blocks = column_blocks(a.rows, a.cols, b.cols);
    let n = b.cols;
    let pool = candle_core::utils::barrier_pool();
    if blocks.len() == 1 {
        // SAFETY: forwarded.
        return unsafe { gemm_serial(dst, n, accumulate, a, b) };
    }
    let run = |dst: SendPtr<T>, (j0, j1): (usize, usize)| {
        // SAFETY: the blocks [j0, j1) are disjoint and inside dst's n columns; b's block is inside b.
        unsafe { gemm_serial(dst.get().add(j0), n, accumulate, a, b.columns(j0, j1)) }
    };
    let dst = SendPtr(dst);
    if pool.n_workers() == 0 {
        // One thread: the same blocks, one after the other (the same bits as on many threads).
        return blocks.iter().for_each(|&block| run(dst, block));
    }
    // Whichever thread is free takes the next block, so a late-waking worker costs no waiting.
    pool.execute_chunked(blocks.len(), |range| {
        for i in range {
            run(dst, blocks[i]);
        }
    });
}

/// The product `a·b` (m×k times k×n) as a fresh row-major m×n vector.
pub(super) fn product<T: Float>(a: Mat<T>, b: Mat<T>) -> Vec<T> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::linear;
    use crate::fast::test_support::{max_abs, max_abs_diff, rand, value_and_grads};
    use candle_core::{DType, Tensor, Var};

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
        assert!(worst < 1e-5 * scale, "{what}: max error {worst} (scale {scale}) on gemm path {}", gemm_kernels());
        Ok(())
    }

    /// lab's products (forward x·Wᵀ + b, backward ∂x = G·W and ∂W = Gᵀ·x, serial and split across
    /// threads) and candle's stock matmul against products computed in f64, on whichever gemm
    /// kernels this CPU runs: shapes of W1 (128×256·256×256), the output layer, and ragged ones
    /// that leave partial microkernel tiles on both the AVX2 (8/16-wide) and AVX-512 (16/32-wide)
    /// paths.
    #[test]
    fn products_match_an_f64_reference_on_this_cpus_gemm_path() -> Result<()> {
        // The last two have ≥ 512² weights, so linear's forward takes its column-major form.
        let shapes = [
            (128, 256, 256),
            (128, 256, 10),
            (37, 129, 83),
            (1, 300, 1),
            (200, 17, 513),
            (128, 512, 512),
            (37, 600, 520),
        ];
        for (m, k, n) in shapes {
            let x = rand(m, k, 1.0, 11)?;
            let w = rand(n, k, 0.1, 12)?;
            let b = rand(1, n, 1.0, 14)?.flatten_all()?;
            let bv = b.to_vec1::<f32>()?;
            let g = rand(m, n, 1.0, 13)?;
            let (xv, wv, gv) = (
                x.flatten_all()?.to_vec1::<f32>()?,
                w.flatten_all()?.to_vec1::<f32>()?,
                g.flatten_all()?.to_vec1::<f32>()?,
            );
            let want_xwt = reference_abt(&xv, &wv, m, k, n);
            let want_y: Vec<f64> = want_xwt.iter().enumerate().map(|(i, v)| v + bv[i % n] as f64).collect();
            // ∂x = G·W = G·(Wᵀ)ᵀ, ∂W = Gᵀ·x = Gᵀ·(xᵀ)ᵀ.
            let want_dx = reference_abt(&gv, &transpose(&wv, n, k), m, n, k);
            let want_dw = reference_abt(&transpose(&gv, m, n), &transpose(&xv, m, k), n, m, k);
            let shape = format!("{m}x{k}x{n}");
            assert_close_to_reference(&x.matmul(&w.t()?)?, &want_xwt, &format!("{shape} candle matmul x·Wᵀ"))?;
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
    fn split_products_are_their_blocks_computed_one_by_one_whatever_the_thread_count() -> Result<()> {
        // The blocks do not depend on the pool: a product equals, bit for bit, its column blocks
        // computed serially — what one thread does — so results are the same on any core count.
        let _split = SplitGuard::new(0, 2);
        let (m, k, n) = (40, 70, 200);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 991.0 - 0.5).collect();
        let (am, bm) = (Mat::new(&a, &Layout::contiguous((m, k)))?, Mat::new(&b, &Layout::contiguous((k, n)))?);
        let blocks = column_blocks(m, k, n);
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        let split = product(am, bm);
        let mut by_block = vec![0f32; m * n];
        for &(j0, j1) in &blocks {
            // SAFETY: by_block has m·n elements; the block is inside b.
            unsafe { gemm_serial(by_block.as_mut_ptr().add(j0), n, false, am, bm.columns(j0, j1)) };
        }
        assert!(split.iter().zip(&by_block).all(|(x, y)| x.to_bits() == y.to_bits()));
        Ok(())
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
}

//! How many threads candle (and lab's own kernels in [`crate::fast`]) compute with.

use anyhow::{Result, bail};

/// Pins candle's thread count to its own default (the number of physical cores) unless
/// `RAYON_NUM_THREADS` already sets it. Call at the start of `main`, as [`set_threads`].
///
/// Why: without the variable, candle 0.11's `get_num_threads()` — which every stock matmul calls —
/// re-derives the core count from the CPU mask and `/proc/cpuinfo` each time. A recurrent network's
/// chain of tiny products spends most of its time there (2.5–3× slower in chapter 7's memory task).
/// With the variable set, the same call is one environment lookup.
pub fn pin_thread_count() -> Result<()> {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return Ok(());
    }
    set_threads(candle_core::utils::get_num_threads())
}

/// Products with fewer multiply-adds than this run on the calling thread even when candle computes
/// with several threads; larger ones are split over rayon's pool by gemm (which on its own splits
/// from 48·48·256 ≈ 0.6 M). Why: candle's elementwise ops run on a second pool whose workers spin
/// between ops, so with a rayon split every stock matmul hands the other cores from one pool to the
/// other and back. On 2 cores (Zen 4, PERFORMANCE.md) a step of chapter 8's transformer (products of
/// 0.5–2 M) ran 1.17× as fast with this threshold; W1 on stock ops (8.4 M) and the width-1024
/// sibling (134 M, which still gains from the split) stayed within noise. lab's own
/// products ([`crate::fast`]) split over the elementwise pool instead, and are not affected. Bits do
/// not depend on it: gemm splits a product by output blocks, never along the summed dimension.
pub const GEMM_SPLIT_MIN_MACS: usize = 1 << 24;

/// Sets the number of threads candle computes with. Call it at the start of `main`, before any tensor
/// operation and before any other thread is started.
///
/// How candle 0.11 decides (see `candle_core::utils`): matmuls go through `gemm` with
/// `get_num_threads()` workers on rayon's global pool, and `get_num_threads()` reads
/// `RAYON_NUM_THREADS` on every call (falling back to the number of physical cores); elementwise ops
/// run on candle's own barrier pool, sized once, on its first use, from `CANDLE_NUM_THREADS` or else
/// `RAYON_NUM_THREADS`; rayon's global pool is also sized from `RAYON_NUM_THREADS` when first used.
/// So setting both variables before the first tensor op sizes all three consistently. Afterwards the
/// two pools are fixed, which is why this must run first. lab's own products ([`crate::fast`]) split
/// across the barrier pool's threads, so `--threads` sizes them too. It also raises gemm's threshold
/// for splitting a stock matmul to [`GEMM_SPLIT_MIN_MACS`].
pub fn set_threads(n: usize) -> Result<()> {
    if n == 0 {
        bail!("--threads must be at least 1");
    }
    let value = n.to_string();
    // SAFETY: the environment is only modified here, which the caller runs at the start of `main`,
    // before any other thread exists (documented contract of this function).
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", &value);
        std::env::set_var("CANDLE_NUM_THREADS", &value);
    }
    gemm::set_threading_threshold(GEMM_SPLIT_MIN_MACS);
    let seen = candle_core::utils::get_num_threads();
    if seen != n {
        bail!("could not set the thread count to {n}: candle reports {seen}");
    }
    Ok(())
}

/// Runs `f` on every item on `workers` threads and returns the results in order. Each job must be
/// seeded by its own arguments, so that results do not depend on the scheduling.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *slots[i].lock().expect("slot") = Some(r);
                }
            });
        }
    });
    slots.into_iter().map(|s| s.into_inner().expect("slot").expect("every job ran")).collect()
}

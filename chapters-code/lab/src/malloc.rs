//! The C allocator, set for candle's way of allocating. Call [`keep_freed_memory`] at the start of
//! `main`, before any other thread exists (chapter-kit's example `main` and `book` do).
//!
//! Every candle op allocates its output afresh and drops its inputs, so a training step frees and
//! re-allocates the same few buffer sizes thousands of times. glibc's malloc serves a request of more
//! than its mmap threshold (128 KiB at first, rising with the sizes it sees) with a fresh `mmap`, and
//! gives the top of its heap back to the kernel once more than its trim threshold is free there: in
//! both cases the next buffer of that size arrives as new pages, and the kernel zeroes every page on
//! its first touch. A ResNet's gradient figure spent 1.1–1.5 s of its 5.5–5.9 s in the kernel this
//! way, 0.13 s with the thresholds below; the whole figure suite 0.96× the wall time
//! (PERFORMANCE.md). The price is memory: freed buffers stay with the process for reuse.

/// Buffers under this size come from the heap, not from their own `mmap` (glibc's largest setting).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of a heap is kept up to this size instead of being returned to the kernel.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Sets glibc's mmap and trim thresholds to [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`], unless the
/// environment already sets them (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, which glibc
/// reads itself). Does nothing on other C libraries. Returns whether both were set.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |variable: &str, parameter: libc::c_int, value: usize| -> bool {
            if std::env::var_os(variable).is_some() {
                return false;
            }
            // SAFETY: mallopt only changes the allocator's thresholds; the values fit a c_int.
            unsafe { libc::mallopt(parameter, value as libc::c_int) == 1 }
        };
        let mmap = set("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        let trim = set("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        mmap && trim
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        // mallopt returns 0 for a value glibc refuses (e.g. an mmap threshold above its maximum).
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() && std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none()
        {
            assert!(super::keep_freed_memory());
            let v: Vec<u8> = vec![1; super::MMAP_THRESHOLD / 2];
            assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), super::MMAP_THRESHOLD / 2);
        }
    }
}

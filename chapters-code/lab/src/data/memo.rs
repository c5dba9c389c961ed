//! Synthetic sets drawn in this process, kept for the next caller who asks for the same set or a
//! prefix of it. `book figures` runs every generator in one process, and eight of them draw the same
//! 7,000 digits, four the same teacher task.
//!
//! [`super::digits`] and [`super::teacher`] are pure functions of their arguments whose first `n`
//! examples do not depend on how many are drawn, so a larger draw narrowed to `n` rows is the very
//! same data, bit for bit. Sets of more than [`MAX_VALUES`] inputs are drawn afresh every time.

use super::Dataset;
use anyhow::Result;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Which set, apart from its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum SetKey {
    /// [`super::digits`] in the default style.
    Digits {
        seed: u64,
    },
    Teacher {
        d_in: usize,
        classes: usize,
        seed: u64,
    },
}

/// The largest set kept, in input values (64 MiB of f32).
pub(super) const MAX_VALUES: usize = 1 << 24;

type Slot = Arc<Mutex<Option<Dataset>>>;

static SETS: LazyLock<Mutex<HashMap<SetKey, Slot>>> = LazyLock::new(Default::default);

/// The first `n` examples of the set `key` names, each `dim` values wide: from the set kept for
/// `key` if it has at least `n`, otherwise from `draw()` (which must draw exactly those `n`), which
/// is then kept. Two threads asking for the same set draw it once: the second waits.
pub(super) fn memoized(key: SetKey, n: usize, dim: usize, draw: impl FnOnce() -> Result<Dataset>) -> Result<Dataset> {
    if n.saturating_mul(dim) > MAX_VALUES {
        return draw();
    }
    let slot = SETS.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone();
    let mut kept = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(set) = kept.as_ref().filter(|set| set.len() >= n) {
        return set.take(n);
    }
    let set = draw()?;
    *kept = Some(set.clone());
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(set: &Dataset) -> Result<(Vec<u32>, Vec<u32>)> {
        let x = set.x.flatten_all()?.to_vec1::<f32>()?.into_iter().map(f32::to_bits).collect();
        Ok((x, set.labels()?))
    }

    #[test]
    fn a_kept_set_and_its_prefixes_are_the_fresh_draws_bit_for_bit() -> Result<()> {
        // Seeds no other test uses, so that this test sees its own first draw.
        let digits = |n| super::super::digits(n, 90_001);
        let fresh = |n| super::super::digits::draw_digits(n, 90_001, &super::super::DigitStyle::default());
        assert_eq!(bits(&digits(30)?)?, bits(&fresh(30)?)?);
        assert_eq!(bits(&digits(50)?)?, bits(&fresh(50)?)?, "a larger set is drawn afresh");
        assert_eq!(bits(&digits(17)?)?, bits(&fresh(17)?)?, "a smaller one is the kept set's prefix");
        let teacher = |n| super::super::teacher(n, 12, 3, 90_002);
        let fresh = |n| super::super::synthetic::draw_teacher(n, 12, 3, 90_002);
        assert_eq!(bits(&teacher(40)?)?, bits(&fresh(40)?)?);
        assert_eq!(bits(&teacher(25)?)?, bits(&fresh(25)?)?);
        assert_eq!(teacher(25)?.classes, 3);
        Ok(())
    }

    #[test]
    fn two_threads_asking_for_one_set_draw_it_once() -> Result<()> {
        let draws = std::sync::atomic::AtomicUsize::new(0);
        let key = SetKey::Teacher { d_in: 3, classes: 2, seed: 90_003 };
        let draw = || {
            draws.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            super::super::synthetic::draw_teacher(8, 3, 2, 90_003)
        };
        std::thread::scope(|s| {
            let a = s.spawn(|| memoized(key, 8, 3, draw).map(|d| d.len()));
            let b = s.spawn(|| memoized(key, 8, 3, draw).map(|d| d.len()));
            assert_eq!(a.join().unwrap().unwrap(), 8);
            assert_eq!(b.join().unwrap().unwrap(), 8);
        });
        assert_eq!(draws.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Too large to keep: drawn every time.
        let big = MAX_VALUES + 1;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..2 {
            let _ = memoized(SetKey::Digits { seed: 90_004 }, big, 1, || {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                super::super::synthetic::draw_teacher(1, 1, 1, 0)
            });
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        Ok(())
    }
}

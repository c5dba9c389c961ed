//! The task every experiment of the chapter trains or probes on: chapter 2's procedurally drawn
//! 28×28 digits (lab's [`lab::data::digits`]), split into training, validation and test sets.

use anyhow::Result;
use lab::data::Dataset;

/// The digits task of chapters 2 and 3: `n_train + n_val + n_test` images drawn from `seed`, split in
/// that order (the first 1000 are chapter 2's probe batch).
pub fn digits(n_train: usize, n_val: usize, n_test: usize, seed: u64) -> Result<(Dataset, Dataset, Dataset)> {
    let all = lab::data::digits(n_train + n_val + n_test, seed)?;
    let (train, rest) = all.split(n_train)?;
    let (val, test) = rest.split(n_val)?;
    Ok((train, val, test))
}

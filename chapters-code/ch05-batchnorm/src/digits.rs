//! The data of Figures 5-1 to 5-5: lab's digits, split into training and held-out sets.

use anyhow::Result;
use lab::data::Dataset;

/// Lab's digits, standardised with the training set's pixel mean and std.
pub fn digit_split(train: usize, test: usize, seed: u64) -> Result<(Dataset, Dataset)> {
    let all = lab::data::digits(train + test, seed)?;
    let (mean, std) = lab::probe::mean_std(&all.x.narrow(0, 0, train)?)?;
    let x = all.x.affine(1.0 / std, -mean / std)?;
    Dataset::from_tensors(x, all.y, 10)?.split(train)
}

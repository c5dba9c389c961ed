//! The synthetic inputs of the chapter's measurements at initialisation (Figures 4-3 and 4-6).

use anyhow::Result;
use candle_core::Tensor;
use lab::{DEVICE, Init};

/// Standard-normal inputs, `(n, d)`, and labels cycling through `classes`.
pub fn gaussian_inputs(n: usize, d: usize, classes: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let x = Init::Normal { std: 1.0 }.tensor(n, d, &mut lab::init::rng(seed), &DEVICE)?;
    let y = Tensor::from_vec((0..n as u32).map(|i| i % classes as u32).collect(), n, &DEVICE)?;
    Ok((x, y))
}

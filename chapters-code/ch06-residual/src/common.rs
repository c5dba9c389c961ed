//! Small helpers the chapter's experiments share.

use anyhow::Result;
use candle_core::Tensor;

/// `n` of lab's procedurally drawn digits, pixels standardised over the whole set (mean 0,
/// E[x²] = 1), so the stem starts the stream at unit second moment.
pub fn digits(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let data = lab::data::digits(n, seed)?;
    let (mean, std) = lab::probe::mean_std(&data.x)?;
    Ok((data.x.affine(1.0 / std, -mean / std)?, data.y))
}

/// Mean over all entries of t²: the per-coordinate second moment of the stream.
pub fn second_moment(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(candle_core::DType::F64)?.sqr()?.mean_all()?.to_scalar::<f64>()?)
}

/// Root-mean-square over examples of each row's Euclidean norm: √(E‖v‖²) for a `(batch, d)` tensor.
pub fn rms_row_norm(t: &Tensor) -> Result<f64> {
    let t = t.to_dtype(candle_core::DType::F64)?;
    Ok((t.sqr()?.sum_all()?.to_scalar::<f64>()? / t.dim(0)? as f64).sqrt())
}

/// Trailing mean over `window` values (shorter at the start), for noisy minibatch losses.
pub fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    (0..values.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(window);
            values[lo..=i].iter().sum::<f64>() / (i + 1 - lo) as f64
        })
        .collect()
}

/// Mean of the last `k` values (all of them when there are fewer).
pub fn tail_mean(values: &[f64], k: usize) -> f64 {
    let tail = &values[values.len().saturating_sub(k)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_and_tails_by_hand() {
        assert_eq!(smooth(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
        assert_eq!(tail_mean(&[1.0, 2.0, 3.0, 5.0], 2), 4.0);
        assert_eq!(tail_mean(&[2.0], 10), 2.0);
    }

    #[test]
    fn digits_are_standardised() -> Result<()> {
        let (x, y) = digits(64, 1)?;
        assert_eq!(x.dims(), &[64, 784]);
        assert_eq!(y.dims(), &[64]);
        assert!((second_moment(&x)? - 1.0).abs() < 1e-3);
        Ok(())
    }
}

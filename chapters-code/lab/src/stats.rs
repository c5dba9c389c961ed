//! Summary statistics of tensors and of series that many experiments take (one definition each).

use anyhow::{Result, ensure};
use candle_core::{DType, Tensor};

/// Mean over all entries of t² (in f64): the per-coordinate second moment of a signal.
pub fn second_moment(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.sqr()?.mean_all()?.to_scalar::<f64>()?)
}

/// Mean over the rows (examples) of each row's squared Euclidean norm: E‖v‖² for a `(batch, d)` tensor.
pub fn mean_sq_norm(t: &Tensor) -> Result<f64> {
    let t = t.to_dtype(DType::F64)?;
    Ok(t.sqr()?.sum_all()?.to_scalar::<f64>()? / t.dim(0)? as f64)
}

/// Root-mean-square over the rows of each row's Euclidean norm: √(E‖v‖²).
pub fn rms_row_norm(t: &Tensor) -> Result<f64> {
    Ok(mean_sq_norm(t)?.sqrt())
}

/// The standard deviation of all entries of `t`.
pub fn std_of(t: &Tensor) -> Result<f64> {
    Ok(crate::probe::mean_std(t)?.1)
}

/// Trailing mean over `window` values (over fewer at the start), for noisy minibatch losses.
pub fn running_mean(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    (0..values.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(window);
            values[lo..=i].iter().sum::<f64>() / (i + 1 - lo) as f64
        })
        .collect()
}

/// Mean of the last `k` values (of all of them when there are fewer).
pub fn tail_mean(values: &[f64], k: usize) -> f64 {
    let tail = &values[values.len().saturating_sub(k)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

/// The `q`-quantiles (each in [0, 1]) of `values`, linearly interpolated between order statistics (the
/// default of NumPy's `percentile`).
pub fn quantiles(values: &[f64], qs: &[f64]) -> Result<Vec<f64>> {
    ensure!(!values.is_empty(), "no values to take quantiles of");
    ensure!(qs.iter().all(|q| (0.0..=1.0).contains(q)), "quantiles must lie in [0, 1], got {qs:?}");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    Ok(qs
        .iter()
        .map(|q| {
            let pos = q * last;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
        })
        .collect())
}

/// Column `unit` of a `(batch, width)` tensor, as f64s: one unit's values over a batch.
pub fn unit_values(t: &Tensor, unit: usize) -> Result<Vec<f64>> {
    ensure!(t.rank() == 2 && unit < t.dim(1)?, "unit {unit} is not a column of a tensor of shape {:?}", t.dims());
    Ok(t.narrow(1, unit, 1)?.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEVICE;

    #[test]
    fn series_by_hand() {
        assert_eq!(running_mean(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
        assert_eq!(running_mean(&[2.0], 10), vec![2.0]);
        assert_eq!(tail_mean(&[1.0, 2.0, 3.0, 5.0], 2), 4.0);
        assert_eq!(tail_mean(&[2.0], 10), 2.0);
    }

    #[test]
    fn tensor_moments_by_hand() -> Result<()> {
        let t = Tensor::new(&[[3f32, 4.0], [0.0, 0.0]], &DEVICE)?;
        assert!((second_moment(&t)? - 25.0 / 4.0).abs() < 1e-12);
        assert!((mean_sq_norm(&t)? - 12.5).abs() < 1e-12);
        assert!((rms_row_norm(&t)? - 12.5f64.sqrt()).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn quantiles_interpolate_like_numpy() -> Result<()> {
        let v: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        assert_eq!(quantiles(&v, &[0.15, 0.5, 0.85])?, vec![15.0, 50.0, 85.0]);
        assert_eq!(quantiles(&[1.0, 2.0], &[0.25])?, vec![1.25]);
        assert!(quantiles(&[], &[0.5]).is_err() && quantiles(&[1.0], &[1.5]).is_err());
        Ok(())
    }
}

//! Santurkar et al.'s (2018, §2.1) "noisy" BatchNorm: random, time-varying noise added to the output
//! of every BatchNorm layer in training, so that the next layer's input distribution shifts at every
//! step even though BatchNorm normalised it.
//!
//! The noise is off unless a caller turns it on for a stretch of code with [`with_injected_noise`];
//! evaluation-mode passes are never perturbed. While it is on, each training-mode BatchNorm call —
//! one per layer per step — draws fresh distribution parameters for each unit j, a mean
//! μⱼ ~ U(−`mean`, `mean`) and a standard deviation σⱼ ~ U(`std_min`, `std_max`), and adds
//! μⱼ + σⱼ·ξᵢⱼ, ξᵢⱼ ~ N(0, 1) independently for every example i. The normalised unit's distribution
//! thus gets a non-zero mean and a non-unit variance that change at every step.

use anyhow::{Result, ensure};
use candle_core::Tensor;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use serde::Serialize;
use std::cell::RefCell;

/// The ranges the per-step, per-unit noise parameters are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InjectedNoise {
    /// μⱼ ~ U(−mean, mean).
    pub mean: f64,
    /// σⱼ ~ U(std_min, std_max).
    pub std_min: f64,
    pub std_max: f64,
}

impl InjectedNoise {
    /// Refuses negative, non-finite or inverted ranges.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.mean.is_finite() && self.mean >= 0.0,
            "the noise mean range must be finite and non-negative, got {}",
            self.mean
        );
        ensure!(
            self.std_min.is_finite() && self.std_max.is_finite() && 0.0 <= self.std_min && self.std_min <= self.std_max,
            "the noise standard deviations need 0 ≤ min ≤ max, got {} and {}",
            self.std_min,
            self.std_max
        );
        Ok(())
    }
}

thread_local! {
    static NOISE: RefCell<Option<(InjectedNoise, StdRng)>> = const { RefCell::new(None) };
}

/// Clears the noise when [`with_injected_noise`] returns, by value or by `?`.
struct Off;

impl Drop for Off {
    fn drop(&mut self) {
        NOISE.with(|n| *n.borrow_mut() = None);
    }
}

/// Runs `f` with `noise` added after every training-mode BatchNorm layer on this thread, drawn from
/// a generator seeded with `seed`; outside `f` BatchNorm is untouched.
pub fn with_injected_noise<R>(noise: InjectedNoise, seed: u64, f: impl FnOnce() -> Result<R>) -> Result<R> {
    noise.validate()?;
    NOISE.with(|n| -> Result<()> {
        let mut slot = n.borrow_mut();
        ensure!(slot.is_none(), "injected noise is already on");
        *slot = Some((noise, crate::init::rng(seed)));
        Ok(())
    })?;
    let _off = Off;
    f()
}

/// `y` plus this call's noise when noise is on (see the module docs), else `y` itself.
pub(crate) fn perturb(y: Tensor) -> Result<Tensor> {
    let noise = NOISE.with(|n| -> Result<Option<Tensor>> {
        let mut slot = n.borrow_mut();
        let Some((spec, rng)) = slot.as_mut() else { return Ok(None) };
        let (b, width) = y.dims2()?;
        // The ranges were validated when the noise was turned on.
        let mean_dist = Uniform::new_inclusive(-spec.mean, spec.mean)?;
        let std_dist = Uniform::new_inclusive(spec.std_min, spec.std_max)?;
        let means: Vec<f64> = (0..width).map(|_| mean_dist.sample(rng)).collect();
        let stds: Vec<f64> = (0..width).map(|_| std_dist.sample(rng)).collect();
        let mut v = Vec::with_capacity(b * width);
        for _ in 0..b {
            for j in 0..width {
                let xi: f64 = StandardNormal.sample(rng);
                v.push(means[j] + stds[j] * xi);
            }
        }
        Ok(Some(Tensor::from_vec(v, (b, width), y.device())?.to_dtype(y.dtype())?))
    })?;
    Ok(match noise {
        Some(n) => (y + n)?,
        None => y,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, Norm};

    #[test]
    fn noise_moves_training_mode_batch_norm_only_while_on() -> Result<()> {
        let net = MlpConfig::new(6, 64, 2, 3, Activation::Tanh, Init::XAVIER).with_norm(Norm::Batch).build(&DEVICE)?;
        let x = crate::data::teacher(256, 6, 3, 1)?.x;
        let clean = net.forward_trace(&x, true)?.pre[0].clone();
        let noise = InjectedNoise { mean: 2.0, std_min: 1.0, std_max: 3.0 };
        let (noisy, eval) = with_injected_noise(noise, 7, || {
            Ok((net.forward_trace(&x, true)?.pre[0].clone(), net.forward_trace(&x, false)?.pre[0].clone()))
        })?;
        let eval_after = net.forward_trace(&x, false)?.pre[0].clone();
        let after = net.forward_trace(&x, true)?.pre[0].clone();
        let unit_stats = |t: &Tensor| -> Result<(Vec<f32>, Vec<f32>)> {
            let m = t.mean(0)?;
            let s = t.broadcast_sub(&m.unsqueeze(0)?)?.sqr()?.mean(0)?.sqrt()?;
            Ok((m.to_vec1()?, s.to_vec1()?))
        };
        // Without noise every unit is standardised; with it, means spread over (−2, 2) and the spread
        // over examples is √(1 + σⱼ²) ∈ (√2, √10).
        let (m0, s0) = unit_stats(&clean)?;
        assert!(m0.iter().all(|m| m.abs() < 1e-4) && s0.iter().all(|s| (s - 1.0).abs() < 1e-3));
        let (m1, s1) = unit_stats(&noisy)?;
        assert!(m1.iter().all(|m| m.abs() < 2.5) && m1.iter().filter(|m| m.abs() > 0.5).count() > 30, "{m1:?}");
        assert!(s1.iter().all(|&s| s > 1.2 && s < 3.6), "{s1:?}");
        // Evaluation mode and training after the closure are untouched.
        assert!(eval.sub(&eval_after)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
        assert!(after.sub(&clean)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-4);
        // Bad ranges are refused.
        assert!(with_injected_noise(InjectedNoise { mean: -1.0, ..noise }, 0, || Ok(())).is_err());
        assert!(with_injected_noise(InjectedNoise { std_min: 2.0, std_max: 1.0, ..noise }, 0, || Ok(())).is_err());
        Ok(())
    }
}

//! How the weight gradients of a batch-normalised network grow towards the input (chapter 5's
//! probes): Yang et al.'s (2019) closed forms for the growth, a geometric fit of a per-layer
//! profile that measures it, and the weight gradients of a random linear loss of the output.
//!
//! Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz, "A Mean Field Theory of Batch Normalization"
//! (ICLR 2019): in a deep fully connected network with BatchNorm and no skip connections, the squared
//! norm of the weight gradient grows geometrically towards the input at initialisation, by a factor λ
//! per layer that depends on the batch size B and the activation, but not on the weight scale.

use crate::net::Mlp;
use anyhow::{Result, ensure};
use candle_core::Tensor;

/// The per-layer growth of ‖∂L/∂Wˡ‖² that Yang et al. give for ReLU + BatchNorm as the batch grows:
/// π/(π − 1) ≈ 1.4669.
pub fn relu_bn_growth_limit() -> f64 {
    std::f64::consts::PI / (std::f64::consts::PI - 1.0)
}

/// The per-layer growth of ‖∂L/∂Wˡ‖² for a linear (identity-activation) network with BatchNorm and
/// batch size B: (B − 2)/(B − 3), defined for B > 3.
pub fn linear_bn_growth(batch: usize) -> Option<f64> {
    (batch > 3).then(|| (batch as f64 - 2.0) / (batch as f64 - 3.0))
}

/// A least-squares fit of ln vₗ = a + l·ln r to a sequence of positive values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeometricFit {
    /// The fitted ratio r of consecutive values (index l + 1 over index l).
    pub ratio: f64,
    /// The fitted value at index 0, e^a.
    pub start: f64,
    /// The coefficient of determination of the log-linear fit (1: exactly geometric).
    pub r2: f64,
}

/// Fits a geometric sequence to `values` (all positive and finite, at least two) by least squares on
/// their logarithms.
pub fn geometric_fit(values: &[f64]) -> Result<GeometricFit> {
    ensure!(values.len() >= 2, "a geometric fit needs at least two values, got {}", values.len());
    ensure!(values.iter().all(|v| v.is_finite() && *v > 0.0), "a geometric fit needs positive finite values");
    let logs: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, v)| (i as f64, v.ln())).collect();
    let line = crate::experiments::fit_line(&logs);
    Ok(GeometricFit { ratio: line.slope.exp(), start: line.intercept.exp(), r2: line.r2 })
}

/// The growth of a per-layer profile (input side first) *towards the input*, per layer: the inverse of
/// the fitted ratio, fitted on the layers left after dropping `skip` at each end (where the profile has
/// not settled into its geometric regime).
pub fn backward_growth(profile: &[f64], skip: usize) -> Result<GeometricFit> {
    ensure!(
        profile.len() >= 2 * skip + 2,
        "{} layers leave fewer than two after skipping {skip} at each end",
        profile.len()
    );
    let fit = geometric_fit(&profile[skip..profile.len() - skip])?;
    Ok(GeometricFit { ratio: 1.0 / fit.ratio, start: fit.start, r2: fit.r2 })
}

/// ‖∂L/∂Wˡ‖² of every hidden layer (input side first) for the random linear loss L = Σ r ⊙ logits, with
/// r drawn N(0, 1) from `seed`, in training mode (BatchNorm uses batch statistics): a loss whose gradient
/// at the output is isotropic, so what happens below is the network's doing alone (the kind of
/// measurement Yang et al. make, as we read them).
pub fn linear_loss_weight_grads(net: &Mlp, x: &Tensor, seed: u64) -> Result<Vec<f64>> {
    let logits = net.forward_trace(x, true)?.logits;
    let (b, k) = logits.dims2()?;
    let r = crate::Init::Normal { std: 1.0 }.tensor(b, k, &mut crate::init::rng(seed), x.device())?;
    let loss = (logits * r.to_dtype(x.dtype())?)?.sum_all()?;
    let grads = loss.backward()?;
    net.hidden().iter().map(|l| Ok(crate::probe::grad_norm(&grads, &l.weight)?.powi(2))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, Norm};

    #[test]
    fn closed_forms() {
        assert!((relu_bn_growth_limit() - 1.466_942).abs() < 1e-6);
        assert_eq!(linear_bn_growth(3), None);
        assert_eq!(linear_bn_growth(4), Some(2.0));
        assert!((linear_bn_growth(130).unwrap() - 128.0 / 127.0).abs() < 1e-15);
    }

    #[test]
    fn geometric_fit_recovers_a_ratio_and_backward_growth_inverts_it() -> Result<()> {
        let v: Vec<f64> = (0..20).map(|l| 3.0 * 0.5f64.powi(l)).collect();
        let fit = geometric_fit(&v)?;
        assert!((fit.ratio - 0.5).abs() < 1e-12 && (fit.start - 3.0).abs() < 1e-9 && (fit.r2 - 1.0).abs() < 1e-12);
        let mut bumped = v.clone();
        bumped[0] = 1e9; // a transient the skip must drop
        assert!((backward_growth(&bumped, 1)?.ratio - 2.0).abs() < 1e-12);
        assert!(geometric_fit(&[1.0]).is_err() && geometric_fit(&[1.0, -1.0]).is_err());
        Ok(())
    }

    #[test]
    fn linear_bn_gradients_grow_towards_the_input() -> Result<()> {
        // B = 8: (B − 2)/(B − 3) = 1.2 per layer; wide layers and a few seeds keep the noise small.
        let mut growth = Vec::new();
        for seed in 0..3 {
            let net = MlpConfig::new(64, 256, 24, 10, Activation::Linear, Init::XavierNormal { gain: 1.0 })
                .with_norm(Norm::Batch)
                .with_seed(seed)
                .build(&DEVICE)?;
            let x = Init::Normal { std: 1.0 }.tensor(8, 64, &mut crate::init::rng(100 + seed), &DEVICE)?;
            growth.push(backward_growth(&linear_loss_weight_grads(&net, &x, 200 + seed)?, 2)?.ratio);
        }
        let mean = growth.iter().sum::<f64>() / growth.len() as f64;
        assert!((mean - 1.2).abs() < 0.05, "{growth:?}");
        Ok(())
    }
}

//! Santurkar et al.'s (2018, §3.1) view of the loss landscape along the gradient: at a point θ of
//! training, the loss L(θ − ηg) and the gradient ∇L(θ − ηg) for several step sizes η along the
//! current gradient g, measured on a fixed batch in training mode (the loss SGD descends). From them:
//! the variation of the loss over the step sizes, the largest ℓ2 change of the gradient, and the
//! "effective β-smoothness" max_η ‖∇L(θ − ηg) − g‖ / ‖ηg‖.

use anyhow::{Result, ensure};
use candle_core::{DType, Tensor};
use lab::{DEVICE, Mlp};
use serde::Serialize;

/// The landscape along the gradient at one point of training.
#[derive(Debug, Clone, Serialize)]
pub struct AlongGradient {
    pub step: usize,
    /// L(θ) and ‖g‖.
    pub loss: f64,
    pub grad_norm: f64,
    /// L(θ − ηg), one per step size.
    pub losses: Vec<f64>,
    /// ‖∇L(θ − ηg) − g‖, one per step size.
    pub grad_changes: Vec<f64>,
    /// max − min of the loss over θ and every θ − ηg.
    pub loss_range: f64,
    /// The largest of `grad_changes`.
    pub max_grad_change: f64,
    /// max_η ‖∇L(θ − ηg) − g‖ / (η‖g‖).
    pub effective_beta: f64,
}

/// The loss and the gradients of `net`'s trainable parameters on `(x, y)`, in training mode.
fn loss_and_grads(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<(f64, Vec<Tensor>)> {
    let loss = lab::net::cross_entropy(&net.forward_trace(x, true)?.logits, y)?;
    let grads = loss.backward()?;
    let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let g = net
        .vars()
        .iter()
        .map(|v| grads.get(v).cloned().ok_or_else(|| anyhow::anyhow!("a parameter without a gradient")))
        .collect::<Result<Vec<_>>>()?;
    Ok((value, g))
}

/// ‖a − b‖ over a list of tensors (`b` = none: ‖a‖).
fn distance(a: &[Tensor], b: Option<&[Tensor]>) -> Result<f64> {
    let mut sum = 0.0;
    for (i, t) in a.iter().enumerate() {
        let d = match b {
            Some(b) => (t - &b[i])?,
            None => t.clone(),
        };
        sum += d.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    }
    Ok(sum.sqrt())
}

/// Measures the landscape along the gradient of `net` at `step` on `(x, y)` for step sizes `etas`.
/// The probes run on a copy of `net`'s parameters, so `net` (and its running statistics) is untouched.
pub fn along_gradient(net: &Mlp, step: usize, x: &Tensor, y: &Tensor, etas: &[f64]) -> Result<AlongGradient> {
    ensure!(!etas.is_empty() && etas.iter().all(|&e| e > 0.0), "step sizes must be positive");
    let twin = net.config.build(&DEVICE)?;
    let theta: Vec<Tensor> = net.vars().iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
    for (v, t) in twin.vars().iter().zip(&theta) {
        v.set(t)?;
    }
    let (loss, g) = loss_and_grads(&twin, x, y)?;
    let grad_norm = distance(&g, None)?;
    let (mut losses, mut grad_changes) = (Vec::new(), Vec::new());
    let mut effective_beta: f64 = 0.0;
    for &eta in etas {
        for ((v, t), gi) in twin.vars().iter().zip(&theta).zip(&g) {
            v.set(&(t - (gi * eta)?)?)?;
        }
        let (l, ge) = loss_and_grads(&twin, x, y)?;
        let change = distance(&ge, Some(&g))?;
        losses.push(l);
        grad_changes.push(change);
        effective_beta = effective_beta.max(change / (eta * grad_norm));
    }
    let all = losses.iter().chain(std::iter::once(&loss));
    let loss_range =
        all.clone().copied().fold(f64::NEG_INFINITY, f64::max) - all.copied().fold(f64::INFINITY, f64::min);
    let max_grad_change = grad_changes.iter().copied().fold(0.0, f64::max);
    Ok(AlongGradient { step, loss, grad_norm, losses, grad_changes, loss_range, max_grad_change, effective_beta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lab::{Activation, Init, MlpConfig, Norm};

    #[test]
    fn a_linear_model_has_the_landscape_of_its_quadratic() -> Result<()> {
        // Small steps: the loss falls by about η‖g‖² and the gradient
        // changes by about η‖Hg‖ ≤ η β‖g‖, so the effective β is bounded and the loss varies little.
        let data = lab::data::teacher(64, 5, 3, 2)?;
        let net = MlpConfig::new(5, 8, 1, 3, Activation::Tanh, Init::XAVIER).with_seed(3).build(&DEVICE)?;
        let before: Vec<Vec<f32>> =
            net.vars().iter().map(|v| v.as_tensor().flatten_all()?.to_vec1()).collect::<candle_core::Result<_>>()?;
        let p = along_gradient(&net, 0, &data.x, &data.y, &[1e-3, 1e-2])?;
        let fall = p.loss - p.losses[0];
        assert!((fall / (1e-3 * p.grad_norm * p.grad_norm) - 1.0).abs() < 0.05, "{fall} vs {}", p.grad_norm);
        assert!(p.grad_changes[1] > 5.0 * p.grad_changes[0] && p.effective_beta > 0.0);
        // The network itself is untouched.
        let after: Vec<Vec<f32>> =
            net.vars().iter().map(|v| v.as_tensor().flatten_all()?.to_vec1()).collect::<candle_core::Result<_>>()?;
        assert_eq!(before, after);
        // BatchNorm networks work too (training-mode probes on a copy).
        let bn = MlpConfig::new(5, 8, 2, 3, Activation::Sigmoid, Init::XAVIER).with_norm(Norm::Batch).build(&DEVICE)?;
        assert!(along_gradient(&bn, 0, &data.x, &data.y, &[0.1])?.loss_range > 0.0);
        assert!(along_gradient(&net, 0, &data.x, &data.y, &[]).is_err());
        Ok(())
    }
}

//! Jacobians of a network at an input, their singular values, and per-example back-propagated errors.
//!
//! A hidden layer maps hˡ⁻¹ to hˡ = f(Wˡhˡ⁻¹ + bˡ), so at one input its Jacobian is
//!
//! ```text
//! Jˡ = ∂hˡ/∂hˡ⁻¹ = Dˡ Wˡ,      Dˡ = diag(f'(zˡ))
//! ```
//!
//! (Glorot & Bengio 2010, §4.2.2, study the singular values of exactly these), and the input–output
//! Jacobian of the first L layers is the product J = Dᴸ Wᴸ ⋯ D¹ W¹ (Pennington, Schoenholz & Ganguli
//! 2017). A back-propagated error is a vector–Jacobian product: δˡ = (δˡ⁺¹ Wˡ⁺¹) ⊙ f'(zˡ).
//!
//! Everything here is computed in f64 with explicit matrices, so it suits the book's widths (up to a
//! few hundred units). Singular values come from [`crate::linalg`]; the moments of the squared
//! singular values come from traces, exact even when J is so ill-conditioned that its small singular
//! values are lost to rounding.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use lab::{Activation, Init, MlpConfig, DEVICE};
//! use lab::jacobian::{layer_jacobians, singular_values};
//! let net = MlpConfig::new(16, 16, 3, 2, Activation::Linear, Init::Orthogonal { gain: 1.0 }).build(&DEVICE)?;
//! let x = Init::Normal { std: 1.0 }.tensor(1, 16, &mut lab::init::rng(0), &DEVICE)?;
//! // A linear layer with an orthogonal weight matrix is an isometry: every singular value is 1.
//! for j in layer_jacobians(&net, &x)? {
//!     assert!(singular_values(&j)?.iter().all(|s| (s - 1.0).abs() < 1e-5));
//! }
//! # Ok(())
//! # }
//! ```

use crate::net::{Mlp, Norm};
use crate::{Activation, linalg};
use anyhow::{Result, ensure};
use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

/// The hidden layers of `net` as `(W (out × in), b (out))` pairs in f64.
pub fn hidden_layers_f64(net: &Mlp) -> Result<Vec<(Tensor, Tensor)>> {
    net.hidden()
        .iter()
        .map(|l| Ok((l.weight.as_tensor().to_dtype(DType::F64)?, l.bias.as_tensor().to_dtype(DType::F64)?)))
        .collect()
}

fn check_plain(net: &Mlp) -> Result<()> {
    ensure!(
        net.config.norm == Norm::None && !net.config.residual,
        "Jacobians are implemented for plain MLPs (no norm layers, no residual blocks)"
    );
    Ok(())
}

/// One input as a `(1, d)` f64 row, from a `(d,)` or `(1, d)` tensor.
fn one_row(x: &Tensor) -> Result<Tensor> {
    let x = x.to_dtype(DType::F64)?;
    let x = if x.rank() == 1 { x.unsqueeze(0)? } else { x };
    ensure!(x.rank() == 2 && x.dim(0)? == 1, "expected one input, of shape (d,) or (1, d), got {:?}", x.dims());
    Ok(x)
}

/// The Jacobian Jˡ = diag(f'(zˡ)) Wˡ of every hidden layer of `net` at the single input `x`, each
/// `(width_l × width_{l−1})` in f64.
pub fn layer_jacobians(net: &Mlp, x: &Tensor) -> Result<Vec<Tensor>> {
    check_plain(net)?;
    let x = one_row(x)?;
    let act = net.config.activation;
    let mut h = x;
    let mut out = Vec::new();
    for (w, b) in hidden_layers_f64(net)? {
        let z = h.matmul(&w.t()?)?.broadcast_add(&b)?;
        let slope = act.derivative_tensor(&z)?.squeeze(0)?;
        out.push(w.broadcast_mul(&slope.unsqueeze(1)?)?);
        h = act.forward(&z)?;
    }
    Ok(out)
}

/// The input–output Jacobian ∂hˡ/∂h⁰ of the chain of `layers` (`(W, b)` pairs, applied in order with
/// activation `act`) at the single input `x`, returned for every depth l listed in `at` (1-based,
/// ascending, at most `layers.len()`).
pub fn input_output_jacobians(
    layers: &[(Tensor, Tensor)],
    act: Activation,
    x: &Tensor,
    at: &[usize],
) -> Result<Vec<(usize, Tensor)>> {
    ensure!(at.windows(2).all(|w| w[0] < w[1]), "depths must be ascending, got {at:?}");
    ensure!(at.iter().all(|&l| l >= 1 && l <= layers.len()), "depths must lie in 1..={}, got {at:?}", layers.len());
    let mut h = one_row(x)?;
    let mut j: Option<Tensor> = None;
    let mut out = Vec::with_capacity(at.len());
    let mut next = at.iter().peekable();
    for (l, (w, b)) in layers.iter().enumerate() {
        if next.peek().is_none() {
            break;
        }
        let w = w.to_dtype(DType::F64)?;
        let z = h.matmul(&w.t()?)?.broadcast_add(&b.to_dtype(DType::F64)?)?;
        let slope = act.derivative_tensor(&z)?.squeeze(0)?.unsqueeze(1)?;
        let dw = w.broadcast_mul(&slope)?;
        j = Some(match j {
            None => dw,
            Some(prev) => dw.matmul(&prev)?,
        });
        h = act.forward(&z)?;
        if next.peek() == Some(&&(l + 1)) {
            next.next();
            out.push((l + 1, j.clone().expect("set above")));
        }
    }
    Ok(out)
}

/// A row-major copy of a 2-D tensor in f64, with its shape.
fn matrix(t: &Tensor) -> Result<(Vec<f64>, usize, usize)> {
    ensure!(t.rank() == 2, "expected a matrix, got shape {:?}", t.dims());
    let (r, c) = t.dims2()?;
    Ok((t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?, r, c))
}

/// The singular values of a matrix, descending (see [`linalg::singular_values`] for the precision).
pub fn singular_values(j: &Tensor) -> Result<Vec<f64>> {
    let (a, r, c) = matrix(j)?;
    linalg::singular_values(&a, r, c)
}

/// Mean and variance of the squared singular values λ of J — the eigenvalues of the smaller of JJᵀ and
/// JᵀJ — from traces: mean = tr(G)/k and mean of λ² = ‖G‖²_F/k for the k × k Gram matrix G.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SquaredSvMoments {
    pub mean: f64,
    pub variance: f64,
}

impl SquaredSvMoments {
    /// variance / mean²: the spread of the spectrum, independent of its overall scale.
    pub fn normalized_variance(&self) -> f64 {
        self.variance / (self.mean * self.mean)
    }
}

/// See [`SquaredSvMoments`].
pub fn squared_sv_moments(j: &Tensor) -> Result<SquaredSvMoments> {
    ensure!(j.rank() == 2, "expected a matrix, got shape {:?}", j.dims());
    let j = j.to_dtype(DType::F64)?;
    let (r, c) = j.dims2()?;
    let g = if r <= c { j.matmul(&j.t()?)? } else { j.t()?.matmul(&j)? };
    let k = r.min(c) as f64;
    let mean = j.sqr()?.sum_all()?.to_scalar::<f64>()? / k;
    let second = g.sqr()?.sum_all()?.to_scalar::<f64>()? / k;
    Ok(SquaredSvMoments { mean, variance: (second - mean * mean).max(0.0) })
}

/// Per-example back-propagated errors δˡ = ∂ℓ/∂zˡ of every hidden layer (input side first), each
/// `(batch × width)` in f64, where ℓ is the softmax cross-entropy of *one* example — the quantity
/// Glorot & Bengio histogram as "back-propagated gradients". (With the batch-mean loss, candle's bias
/// gradient is the batch sum of these divided by the batch size.)
pub fn per_example_deltas(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<Vec<Tensor>> {
    check_plain(net)?;
    let act = net.config.activation;
    let trace = net.forward_trace(x, true)?;
    let logits = trace.logits.to_dtype(DType::F64)?;
    let classes = logits.dim(D::Minus1)?;
    let probs = candle_nn::ops::softmax(&logits, D::Minus1)?;
    let onehot = candle_nn::encoding::one_hot(y.to_dtype(DType::U32)?, classes, 1f64, 0f64)?;
    let mut delta = (probs - onehot)?;
    let mut out = Vec::with_capacity(trace.pre.len());
    let layers = &net.layers;
    for l in (0..trace.pre.len()).rev() {
        let w_next = layers[l + 1].weight.as_tensor().to_dtype(DType::F64)?;
        let slope = act.derivative_tensor(&trace.pre[l].to_dtype(DType::F64)?)?;
        delta = delta.matmul(&w_next)?.mul(&slope)?;
        out.push(delta.clone());
    }
    out.reverse();
    Ok(out)
}

/// The mean singular value of a square random matrix with i.i.d. entries of variance 1/n, as n → ∞:
/// the singular values follow the quarter-circle law, density √(4 − s²)/π on [0, 2], whose mean is
/// 8/(3π) ≈ 0.849 (while the root-mean-square singular value is exactly 1).
pub const QUARTER_CIRCLE_MEAN: f64 = 8.0 / (3.0 * std::f64::consts::PI);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEVICE, Init, MlpConfig, init};

    #[test]
    fn layer_jacobians_match_finite_differences() -> Result<()> {
        let net = MlpConfig::new(5, 4, 3, 2, Activation::Tanh, Init::XAVIER)
            .with_seed(3)
            .with_bias_init(0.1)
            .build(&DEVICE)?;
        let x = Init::Normal { std: 1.0 }.tensor(1, 5, &mut init::rng(1), &DEVICE)?.to_dtype(DType::F64)?;
        let js = layer_jacobians(&net, &x)?;
        assert_eq!(js.iter().map(|j| j.dims2().unwrap()).collect::<Vec<_>>(), vec![(4, 5), (4, 4), (4, 4)]);
        // The product of the layer Jacobians is the input–output Jacobian, and it matches central
        // differences of the last hidden layer's output.
        let layers = hidden_layers_f64(&net)?;
        let full = &input_output_jacobians(&layers, Activation::Tanh, &x, &[3])?[0].1;
        let product = js[2].matmul(&js[1])?.matmul(&js[0])?;
        let diff = (full - &product)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "{diff}");
        let out = |x: &Tensor| -> Result<Vec<f64>> {
            let mut h = x.clone();
            for (w, b) in &layers {
                h = h.matmul(&w.t()?)?.broadcast_add(b)?.tanh()?;
            }
            Ok(h.squeeze(0)?.to_vec1::<f64>()?)
        };
        let x0 = x.squeeze(0)?.to_vec1::<f64>()?;
        let full = full.to_vec2::<f64>()?;
        let eps = 1e-6;
        for col in 0..5 {
            let (mut up, mut down) = (x0.clone(), x0.clone());
            up[col] += eps;
            down[col] -= eps;
            let (a, b) = (
                out(&Tensor::new(up.as_slice(), &DEVICE)?.unsqueeze(0)?)?,
                out(&Tensor::new(down.as_slice(), &DEVICE)?.unsqueeze(0)?)?,
            );
            for row in 0..4 {
                let fd = (a[row] - b[row]) / (2.0 * eps);
                assert!((fd - full[row][col]).abs() < 1e-8, "J[{row}][{col}]: {fd} vs {}", full[row][col]);
            }
        }
        Ok(())
    }

    #[test]
    fn moments_from_traces_agree_with_the_spectrum() -> Result<()> {
        let w = Init::Normal { std: 0.3 }.tensor(12, 20, &mut init::rng(4), &DEVICE)?;
        let sv = singular_values(&w)?;
        assert_eq!(sv.len(), 12);
        assert!(sv.windows(2).all(|p| p[0] >= p[1]));
        let lambdas: Vec<f64> = sv.iter().map(|s| s * s).collect();
        let mean = lambdas.iter().sum::<f64>() / 12.0;
        let var = lambdas.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / 12.0;
        for m in [squared_sv_moments(&w)?, squared_sv_moments(&w.t()?)?] {
            assert!(
                (m.mean - mean).abs() < 1e-6 * mean && (m.variance - var).abs() < 1e-6 * var,
                "{m:?} vs {mean} {var}"
            );
        }
        Ok(())
    }

    #[test]
    fn quarter_circle_law_and_products_of_gaussians() -> Result<()> {
        // The mean singular value of a 300 × 300 Gaussian matrix with variance 1/n is close to 8/(3π).
        let n = 300;
        let w = Init::Normal { std: (1.0 / n as f64).sqrt() }.tensor(n, n, &mut init::rng(5), &DEVICE)?;
        let sv = singular_values(&w)?;
        let mean = sv.iter().sum::<f64>() / n as f64;
        assert!((mean / QUARTER_CIRCLE_MEAN - 1.0).abs() < 0.02, "mean singular value {mean}");
        // A product of L such matrices has squared singular values with mean ≈ 1 and variance ≈ L
        // (the Fuss–Catalan moments), while orthogonal factors keep every singular value at 1.
        let layers: Vec<(Tensor, Tensor)> = (0..4)
            .map(|i| -> Result<_> {
                let w =
                    Init::Normal { std: (1.0 / 200f64).sqrt() }.tensor(200, 200, &mut init::rng(10 + i), &DEVICE)?;
                Ok((w, Tensor::zeros(200, DType::F64, &DEVICE)?))
            })
            .collect::<Result<_>>()?;
        let x = Tensor::ones((1, 200), DType::F64, &DEVICE)?;
        let js = input_output_jacobians(&layers, Activation::Linear, &x, &[1, 4])?;
        let (m1, m4) = (squared_sv_moments(&js[0].1)?, squared_sv_moments(&js[1].1)?);
        assert!((m1.mean - 1.0).abs() < 0.05 && (m1.variance - 1.0).abs() < 0.15, "{m1:?}");
        assert!((m4.mean - 1.0).abs() < 0.1 && (m4.variance - 4.0).abs() < 1.0, "{m4:?}");
        Ok(())
    }

    #[test]
    fn per_example_deltas_sum_to_the_bias_gradient() -> Result<()> {
        let net = MlpConfig::new(6, 5, 3, 3, Activation::Tanh, Init::XAVIER).with_seed(2).build(&DEVICE)?;
        let x = Init::Normal { std: 1.0 }.tensor(8, 6, &mut init::rng(3), &DEVICE)?;
        let y = Tensor::from_vec((0..8u32).map(|i| i % 3).collect(), 8, &DEVICE)?;
        let deltas = per_example_deltas(&net, &x, &y)?;
        let grads = net.loss(&x, &y)?.backward()?;
        for (l, d) in deltas.iter().enumerate() {
            let summed = (d.sum(0)? / 8.0)?.to_vec1::<f64>()?;
            let bias = grads.get(&net.hidden()[l].bias).unwrap().to_vec1::<f32>()?;
            for (a, b) in summed.iter().zip(&bias) {
                assert!((a - *b as f64).abs() < 1e-6, "layer {l}: {a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn refuses_what_it_cannot_do() -> Result<()> {
        let bn = MlpConfig::new(3, 3, 2, 2, Activation::Tanh, Init::XAVIER).with_norm(Norm::Batch).build(&DEVICE)?;
        let x = Tensor::zeros((1, 3), DType::F32, &DEVICE)?;
        assert!(layer_jacobians(&bn, &x).unwrap_err().to_string().contains("plain MLPs"));
        let plain = MlpConfig::new(3, 3, 2, 2, Activation::Tanh, Init::XAVIER).build(&DEVICE)?;
        assert!(layer_jacobians(&plain, &Tensor::zeros((2, 3), DType::F32, &DEVICE)?).is_err());
        let layers = hidden_layers_f64(&plain)?;
        assert!(input_output_jacobians(&layers, Activation::Tanh, &x, &[3]).is_err());
        assert!(input_output_jacobians(&layers, Activation::Tanh, &x, &[2, 1]).is_err());
        Ok(())
    }
}

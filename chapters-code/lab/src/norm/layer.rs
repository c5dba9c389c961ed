//! LayerNorm (Ba et al. 2016) of an MLP's hidden layer: each example normalised over its own units,
//! so training and evaluation compute the same thing.

use super::EPS;
use anyhow::Result;
use candle_core::{D, Tensor, Var};

/// LayerNorm of `z` (B × N) over its last dimension, with scale γ and shift β.
pub(crate) fn layer_norm(z: &Tensor, gamma: &Var, beta: &Var) -> Result<Tensor> {
    let mean = z.mean_keepdim(D::Minus1)?;
    let centered = z.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centered.broadcast_div(&(var + EPS)?.sqrt()?)?;
    Ok(normed.broadcast_mul(gamma.as_tensor())?.broadcast_add(beta.as_tensor())?)
}

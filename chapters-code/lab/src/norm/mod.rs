//! Normalisation, in one place: the norms an MLP can apply to each hidden layer's pre-activation
//! ([`Norm`]), their kernels, and the probes chapter 5 measures them with.
//!
//! - `batch.rs`: BatchNorm (Ioffe & Szegedy 2015) as a layer — batch statistics in training,
//!   running statistics in evaluation — and its fused training-mode kernel [`batch_norm_train`]
//!   (also at its old path, `lab::fast::batch_norm_train`);
//! - `layer.rs`: LayerNorm (Ba et al. 2016), statistics over each example's units;
//! - `noise.rs`: Santurkar et al.'s "noisy" BatchNorm — [`with_injected_noise`] adds random,
//!   time-varying noise after every training-mode BatchNorm layer while a closure runs (off otherwise);
//! - `gradient_growth.rs`: how the weight gradients of a batch-normalised network grow towards the
//!   input — Yang et al.'s closed forms ([`relu_bn_growth_limit`], [`linear_bn_growth`]), the
//!   geometric fit that measures the growth ([`geometric_fit`], [`backward_growth`]), and the
//!   gradients of a random linear loss it is measured on ([`linear_loss_weight_grads`]);
//! - [`quantiles`] and [`unit_values`] (one unit's input over a batch, and its percentiles, for
//!   chapter 5's distribution plots) are general statistics, defined in [`crate::stats`] and
//!   re-exported here.
//!
//! The transformer's LayerNorm and RMSNorm are [`crate::transformer::Norm`], written on candle-nn's
//! tensor ops beside the model they belong to.

mod batch;
mod gradient_growth;
mod layer;
mod noise;

pub use crate::stats::{quantiles, unit_values};
pub(crate) use batch::batch_norm;
pub use batch::batch_norm_train;
pub use gradient_growth::{
    GeometricFit, backward_growth, geometric_fit, linear_bn_growth, linear_loss_weight_grads, relu_bn_growth_limit,
};
pub(crate) use layer::layer_norm;
pub use noise::{InjectedNoise, with_injected_noise};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// ε of both norms: x̂ = (x − mean)/√(var + ε).
const EPS: f64 = 1e-5;

/// Normalisation applied to each hidden layer's pre-activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    #[default]
    None,
    /// BatchNorm (Ioffe & Szegedy 2015): batch statistics with the biased variance in training,
    /// running statistics (momentum 0.1, unbiased variance, as PyTorch) in evaluation.
    Batch,
    /// LayerNorm (Ba et al. 2016): statistics over each example's units.
    Layer,
}

impl FromStr for Norm {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "none" => Norm::None,
            "batch" | "batchnorm" | "bn" => Norm::Batch,
            "layer" | "layernorm" | "ln" => Norm::Layer,
            other => bail!("unknown norm `{other}` (expected none, batch or layer)"),
        })
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Norm::None => "none",
            Norm::Batch => "batch",
            Norm::Layer => "layer",
        })
    }
}

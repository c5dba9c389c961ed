//! The book's gradient measure gˡ (chapter 1, "Measuring the gradient at a layer") for a residual MLP.
//!
//! In a [`ResMlp`] the error the chapter's argument is about is the stream's, ∂ℓᵢ/∂xˡ: the identity
//! path carries it from block to block. So gˡ of block l is the per-example root-mean-square of the
//! error on the stream after block l,
//!
//! ```text
//! gˡ = sqrt( (1/B) Σᵢ ‖∂ℓᵢ/∂xˡ‖² ) = √B · ‖∂L/∂Xˡ‖_F,   L = (1/B) Σᵢ ℓᵢ,
//! ```
//!
//! read, as [`lab::probe::error_rms`] reads it for a plain [`lab::Mlp`], through a zero probe `Var`
//! added to xˡ. In a plain block, xˡ = W₂ f(W₁ xˡ⁻¹ + b₁) + b₂ is the affine output of the block's
//! second layer, so gˡ is exactly chapter 1's measure for that layer. (`ResMlp::block_grads`'
//! `stream`, ‖∂L/∂b₂ˡ‖, is the batch *sum* of the same error, which cancels across examples, and in
//! a residual block it carries a factor α, because b₂ sits inside the branch scale.)
//!
//! `lab::resnet` has no probe hook, so [`stream_error_rms`] repeats `ResMlp`'s forward pass (stem,
//! `ResBlock::forward`, head) with the probes added; a test checks that it computes the same logits.

use anyhow::Result;
use candle_core::{Module, Tensor, Var};
use lab::resnet::ResMlp;

/// The logits of `net` on `x`, with a zero probe `Var` added to the stream after every block.
pub fn forward_probed(net: &ResMlp, x: &Tensor) -> Result<(Tensor, Vec<Var>)> {
    let mut h = net.stem.forward(x)?;
    let mut probes = Vec::with_capacity(net.blocks.len());
    for block in &net.blocks {
        h = block.forward(&h)?;
        let probe = Var::zeros(h.shape(), h.dtype(), h.device())?;
        h = (h + probe.as_tensor())?;
        probes.push(probe);
    }
    Ok((net.head.forward(&h)?, probes))
}

/// **gˡ for every block**, block 1 first: the per-example RMS of the stream's error ∂ℓᵢ/∂xˡ after
/// block l, for the batch-mean softmax cross-entropy on `(x, y)` (see the module docs).
pub fn stream_error_rms(net: &ResMlp, x: &Tensor, y: &Tensor) -> Result<Vec<f64>> {
    let (logits, probes) = forward_probed(net, x)?;
    let grads = lab::net::cross_entropy(&logits, y)?.backward()?;
    let batch = x.dim(0)? as f64;
    probes.iter().map(|p| Ok(lab::probe::grad_norm(&grads, p)? * batch.sqrt())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use lab::resnet::ResMlpConfig;
    use lab::{DEVICE, Init, init};

    fn batch(b: usize, d: usize, seed: u64) -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(b, d, &mut init::rng(seed), &DEVICE)?.to_dtype(DType::F64)?;
        let y = Tensor::from_vec((0..b as u32).map(|i| i % 3).collect::<Vec<_>>(), b, &DEVICE)?;
        Ok((x, y))
    }

    /// gˡ by a per-example loop: example i alone is a batch of one, whose loss is ℓᵢ, and whose
    /// ∂ℓᵢ/∂b₂ˡ is ∂ℓᵢ/∂xˡ itself (times α in a residual block, where b₂ sits inside the branch scale).
    fn per_example(net: &ResMlp, x: &Tensor, y: &Tensor) -> Result<Vec<f64>> {
        let (b, blocks) = (x.dim(0)?, net.blocks.len());
        let scale = if net.config.skip { net.config.alpha } else { 1.0 };
        let mut sum = vec![0.0; blocks];
        for i in 0..b {
            let grads = net.loss(&x.narrow(0, i, 1)?, &y.narrow(0, i, 1)?)?.backward()?;
            for (s, g) in sum.iter_mut().zip(net.block_grads(&grads)?) {
                *s += (g.stream / scale).powi(2) / b as f64;
            }
        }
        Ok(sum.into_iter().map(f64::sqrt).collect())
    }

    #[test]
    fn g_is_the_per_example_rms_of_the_stream_error() -> Result<()> {
        let (x, y) = batch(6, 5, 7)?;
        let base = ResMlpConfig::new(5, 7, 4, 3).with_seed(2);
        for cfg in [base.clone().plain(), base.clone(), base.clone().with_alpha(0.5).with_layer_norm(true)] {
            let net = cfg.build_f64()?;
            // The probed copy of the forward pass computes the same logits.
            let (logits, _) = forward_probed(&net, &x)?;
            let diff = (logits - net.forward(&x)?)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(diff < 1e-12, "logits differ by {diff}");
            let g = stream_error_rms(&net, &x, &y)?;
            let by_loop = per_example(&net, &x, &y)?;
            for (l, (a, b)) in g.iter().zip(&by_loop).enumerate() {
                assert!((a / b - 1.0).abs() < 1e-5, "skip {}, block {}: {a} vs {b}", cfg.skip, l + 1);
            }
            // Not the batch-summed error: that one is smaller (it cancels across examples).
            let summed = net.block_grads(&net.loss(&x, &y)?.backward()?)?;
            let scale = if cfg.skip { cfg.alpha } else { 1.0 };
            assert!(g.iter().zip(&summed).all(|(g, s)| s.stream / scale < *g));
        }
        Ok(())
    }
}

//! Residual MLPs with two-layer branches, branch scaling and zero-init, used by chapter 6.
//!
//! A [`ResMlp`] is a stem, `blocks` blocks of constant width and a linear head:
//!
//! ```text
//! x⁰ = W_in x + b_in
//! residual:  xˡ = xˡ⁻¹ + αˡ·(W₂ˡ f(W₁ˡ n(xˡ⁻¹) + b₁ˡ) + b₂ˡ)
//! plain:     xˡ =             W₂ˡ f(W₁ˡ n(xˡ⁻¹) + b₁ˡ) + b₂ˡ
//! logits = W_out x^L + b_out
//! ```
//!
//! `n` is the identity, a LayerNorm or a BatchNorm (over the batch) of the branch input
//! ("pre-activation" or pre-norm style: the stream itself is never normalised, so the identity path
//! stays an identity). The branch scale αˡ is
//! a trainable scalar `Var` initialised to [`ResMlpConfig::alpha`] (SkipInit sets it to 0). W₁ is drawn
//! with He's N(0, 2/n) for the ReLU that follows it and W₂ with N(0, 1/n) (it feeds the stream, not a
//! ReLU), so that with a unit-second-moment input a branch outputs a unit-second-moment signal, and a
//! plain block preserves the signal's size exactly as a He-initialised plain network does.
//! [`ResMlpConfig::zero_init_last`] zeroes W₂ (Fixup, SkipInit-style: every block starts as the
//! identity), and [`ResMlpConfig::depth_scaled`] multiplies W₁ by L^(−1/2), Fixup's L^(−1/(2m−2)) for
//! m = 2 layers per branch.
//!
//! Every parameter lives in a [`VarMap`] (names `stem.*`, `block{l}.w1.*`, `block{l}.w2.*`,
//! `block{l}.alpha`, `block{l}.norm.*`, `head.*`), created through a [`VarBuilder`] and then filled from
//! an explicitly seeded generator (candle's own CPU generator cannot be seeded). candle's `backward()`
//! keeps gradients only for `Var`s, so per-block gradients are read from the block's parameters:
//! ‖∂L/∂W₁ˡ‖, and ∂L/∂b₂ˡ, which is exactly the batch sum of ∂L/∂xˡ (times αˡ in a residual block,
//! whose b₂ sits inside the branch scale) — the error on the stream after block l ([`ResMlp::block_grads`]).
//!
//! The LayerNorm is written in tensor ops (`candle_nn::ops::layer_norm_slow`): `candle_nn::LayerNorm`'s
//! fast path for contiguous inputs is a custom op without a backward pass, so gradients would silently
//! stop at it.

use crate::{Activation, DEVICE, Init, init};
use anyhow::{Result, ensure};
use candle_core::{DType, Device, Module, Tensor, Var, backprop::GradStore};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// Everything that defines a [`ResMlp`], serialisable into a figure's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResMlpConfig {
    /// Input dimension.
    pub d_in: usize,
    /// Width of the stream and of every branch.
    pub width: usize,
    /// Number of blocks L.
    pub blocks: usize,
    /// Number of outputs.
    pub d_out: usize,
    /// Activation inside each branch.
    pub activation: Activation,
    /// Residual blocks (`x + branch`) or plain ones (`branch`).
    pub skip: bool,
    /// Initial branch scale α (residual blocks only).
    pub alpha: f64,
    /// LayerNorm on each branch's input.
    pub layer_norm: bool,
    /// BatchNorm (training mode: the statistics of the batch presented, γ = 1, β = 0 trainable) on
    /// each branch's input instead; exclusive with `layer_norm`. Absent from the JSON when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch_norm: bool,
    /// Zero the last layer W₂ of every branch (Fixup / SkipInit-style).
    pub zero_init_last: bool,
    /// Scale W₁ by L^(−1/2) (Fixup's depth-scaled init for two-layer branches).
    pub depth_scaled: bool,
    /// Std of the stem's bias, drawn from N(0, σ²) (0: zero biases everywhere). A 1-D input needs it:
    /// a bias-free ReLU network is positively homogeneous, so on a line through 0 it bends only at 0.
    #[serde(default)]
    pub stem_bias_std: f64,
    /// Seed of the weight draw.
    pub seed: u64,
}

impl ResMlpConfig {
    /// A residual MLP with α = 1, no norm, He-initialised ReLU branches.
    pub fn new(d_in: usize, width: usize, blocks: usize, d_out: usize) -> Self {
        ResMlpConfig {
            d_in,
            width,
            blocks,
            d_out,
            activation: Activation::Relu,
            skip: true,
            alpha: 1.0,
            layer_norm: false,
            batch_norm: false,
            zero_init_last: false,
            depth_scaled: false,
            stem_bias_std: 0.0,
            seed: 0,
        }
    }

    setters! {
        /// The same blocks without the skip connection.
        plain() => skip = false;
        with_alpha(alpha: f64) => alpha = alpha;
        with_layer_norm(on: bool) => layer_norm = on;

        /// A BatchNorm over the batch on each branch's input (see [`ResMlpConfig::batch_norm`]).
        with_batch_norm(on: bool) => batch_norm = on;
        with_activation(activation: Activation) => activation = activation;
        with_zero_init_last(on: bool) => zero_init_last = on;
        with_seed(seed: u64) => seed = seed;
        with_stem_bias_std(std: f64) => stem_bias_std = std;
    }

    /// Fixup-style init: W₂ = 0 and W₁ scaled by L^(−1/2).
    pub fn fixup(mut self) -> Self {
        self.zero_init_last = true;
        self.depth_scaled = true;
        self
    }

    /// Checks the config and says exactly what is wrong.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.d_in > 0 && self.d_out > 0, "input and output dimensions must be at least 1");
        ensure!(self.width > 0, "width must be at least 1");
        ensure!(self.blocks > 0, "a residual MLP needs at least 1 block");
        ensure!(self.alpha.is_finite(), "the branch scale α must be finite, got {}", self.alpha);
        ensure!(!(self.layer_norm && self.batch_norm), "a branch has a LayerNorm or a BatchNorm, not both");
        ensure!(
            self.stem_bias_std.is_finite() && self.stem_bias_std >= 0.0,
            "the stem's bias std must be finite and ≥ 0, got {}",
            self.stem_bias_std
        );
        Ok(())
    }

    /// Builds the network in f32.
    pub fn build(&self) -> Result<ResMlp> {
        ResMlp::new(self.clone(), &DEVICE, DType::F32)
    }

    /// Builds the network in f64 (the same weights, widened), for gradient checks.
    pub fn build_f64(&self) -> Result<ResMlp> {
        ResMlp::new(self.clone(), &DEVICE, DType::F64)
    }
}

/// One block: `x + α·(W₂ f(W₁ n(x) + b₁) + b₂)`, or `W₂ f(W₁ n(x) + b₁) + b₂` when plain.
pub struct ResBlock {
    pub w1: Linear,
    pub w2: Linear,
    /// The branch scale α, a trainable scalar (shape `(1,)`).
    pub alpha: Tensor,
    /// LayerNorm (or, with `batch_norm`, BatchNorm) γ and β, when configured.
    pub norm: Option<(Tensor, Tensor)>,
    /// The norm is a BatchNorm over the batch (rows), not a LayerNorm over the features.
    pub batch_norm: bool,
    pub activation: Activation,
    pub skip: bool,
}

impl ResBlock {
    /// The branch alone, before α: W₂ f(W₁ n(x) + b₁), without b₂.
    pub fn branch(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let input = match &self.norm {
            Some((gamma, beta)) if self.batch_norm => {
                crate::norm::batch_norm_train(x, gamma, beta, 1e-5).map_err(candle_core::Error::wrap)?.0
            }
            Some((gamma, beta)) => candle_nn::ops::layer_norm_slow(x, gamma, beta, 1e-5)?,
            None => x.clone(),
        };
        let h = self.activation.forward(&crate::net::linear(&self.w1, &input)?).map_err(candle_core::Error::wrap)?;
        h.matmul(&self.w2.weight().t()?)
    }

    fn b2(&self) -> &Tensor {
        self.w2.bias().expect("every branch's last layer has a bias")
    }
}

impl Module for ResBlock {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let out = crate::net::add_bias(&self.branch(x)?, self.b2()).map_err(candle_core::Error::wrap)?;
        if self.skip { x + out.broadcast_mul(&self.alpha)? } else { Ok(out) }
    }
}

/// Per-block gradient norms (Frobenius / Euclidean, of the batch-mean loss).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlockGrads {
    /// ‖∂L/∂W₁ˡ‖.
    pub w1: f64,
    /// ‖∂L/∂W₂ˡ‖.
    pub w2: f64,
    /// ‖∂L/∂b₂ˡ‖ = ‖Σ_batch ∂L/∂xˡ‖ (× αˡ in a residual block): the error on the stream after block l.
    pub stream: f64,
}

/// A residual (or plain) MLP; see the module docs.
pub struct ResMlp {
    pub config: ResMlpConfig,
    pub varmap: VarMap,
    pub stem: Linear,
    pub blocks: Vec<ResBlock>,
    pub head: Linear,
}

impl ResMlp {
    fn new(config: ResMlpConfig, device: &Device, dtype: DType) -> Result<Self> {
        config.validate()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let mut rng = init::rng(config.seed);
        let (n, l) = (config.width, config.blocks as f64);
        // Creates `prefix.weight` and `prefix.bias` through the VarBuilder, then overwrites the weight
        // with a seeded draw (the VarBuilder's own initialiser uses candle's unseedable generator).
        let mut linear = |prefix: String, fan_in: usize, fan_out: usize, w: Init| -> Result<Linear> {
            let weight =
                vb.get_with_hints((fan_out, fan_in), &format!("{prefix}.weight"), candle_nn::Init::Const(0.))?;
            let bias = vb.get_with_hints(fan_out, &format!("{prefix}.bias"), candle_nn::Init::Const(0.))?;
            varmap
                .clone()
                .set_one(format!("{prefix}.weight"), w.tensor(fan_out, fan_in, &mut rng, device)?.to_dtype(dtype)?)?;
            Ok(Linear::new(weight, Some(bias)))
        };
        let linear_gain = |fan: usize| Init::Normal { std: (1.0 / fan as f64).sqrt() };
        let stem = linear("stem".into(), config.d_in, n, linear_gain(config.d_in))?;
        let mut blocks = Vec::with_capacity(config.blocks);
        for b in 0..config.blocks {
            let gain = init::gain(config.activation) * if config.depth_scaled { l.powf(-0.5) } else { 1.0 };
            let w1 = linear(format!("block{b}.w1"), n, n, Init::Normal { std: gain / (n as f64).sqrt() })?;
            // Drawn even when zeroed, so that every other weight is the same with and without zero-init.
            let w2 = linear(format!("block{b}.w2"), n, n, linear_gain(n))?;
            if config.zero_init_last {
                varmap.clone().set_one(format!("block{b}.w2.weight"), Tensor::zeros((n, n), dtype, device)?)?;
            }
            let norm = if config.layer_norm || config.batch_norm {
                let gamma = vb.get_with_hints(n, &format!("block{b}.norm.weight"), candle_nn::Init::Const(1.))?;
                let beta = vb.get_with_hints(n, &format!("block{b}.norm.bias"), candle_nn::Init::Const(0.))?;
                Some((gamma, beta))
            } else {
                None
            };
            let alpha = if config.skip {
                vb.get_with_hints(1, &format!("block{b}.alpha"), candle_nn::Init::Const(config.alpha))?
            } else {
                Tensor::ones(1, dtype, device)?
            };
            let batch_norm = config.batch_norm;
            blocks.push(ResBlock { w1, w2, alpha, norm, batch_norm, activation: config.activation, skip: config.skip });
        }
        let head = linear("head".into(), n, config.d_out, linear_gain(n))?;
        // Drawn last, so that every weight is the same with and without it.
        if config.stem_bias_std > 0.0 {
            let b = Init::Normal { std: config.stem_bias_std }.tensor(1, n, &mut rng, device)?.reshape(n)?;
            varmap.clone().set_one("stem.bias", b.to_dtype(dtype)?)?;
        }
        Ok(ResMlp { config, varmap, stem, blocks, head })
    }

    /// Every trainable parameter (the VarMap's variables, in a fixed order).
    pub fn vars(&self) -> Vec<Var> {
        crate::train::vars_in_name_order(&self.varmap)
    }

    /// The stream after the stem and after every block: `[x⁰, x¹, …, x^L]`, optionally with one block
    /// replaced by the identity (`lesion`).
    pub fn stream(&self, x: &Tensor, lesion: Option<usize>) -> Result<Vec<Tensor>> {
        let mut h = crate::net::linear(&self.stem, x)?;
        let mut out = Vec::with_capacity(self.blocks.len() + 1);
        out.push(h.clone());
        for (l, block) in self.blocks.iter().enumerate() {
            if lesion != Some(l) {
                h = block.forward(&h)?;
            }
            out.push(h.clone());
        }
        Ok(out)
    }

    /// Logits with block `lesion` deleted (replaced by the identity), as in Veit et al.'s (2016)
    /// lesion study. Deleting is only possible because every block maps width to width.
    pub fn forward_lesioned(&self, x: &Tensor, lesion: Option<usize>) -> Result<Tensor> {
        ensure!(lesion.is_none_or(|l| l < self.blocks.len()), "no block {lesion:?} to delete");
        let stream = self.stream(x, lesion)?;
        Ok(crate::net::linear(&self.head, stream.last().expect("the stream has x⁰"))?)
    }

    /// Mean softmax cross-entropy against u32 labels.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        crate::net::cross_entropy(&self.forward(x)?, y)
    }

    /// Per-block gradient norms from a `GradStore` of this network's loss.
    pub fn block_grads(&self, grads: &GradStore) -> Result<Vec<BlockGrads>> {
        let norm = |t: &Tensor| -> Result<f64> { Ok(grads.get(t).map(crate::probe::norm).transpose()?.unwrap_or(0.0)) };
        self.blocks
            .iter()
            .map(|b| Ok(BlockGrads { w1: norm(b.w1.weight())?, w2: norm(b.w2.weight())?, stream: norm(b.b2())? }))
            .collect()
    }

    /// The branches' weights W₁ˡ, W₂ˡ and scales αˡ (no biases, stem or head): what Fixup's
    /// analysis of one SGD step is about.
    pub fn branch_weights(&self) -> Vec<Var> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut named: Vec<_> = data
            .iter()
            .filter(|(k, _)| {
                k.starts_with("block") && (k.ends_with("w1.weight") || k.ends_with("w2.weight") || k.ends_with("alpha"))
            })
            .collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// One plain SGD step θ ← θ − lr·∇θ on the given parameters (e.g. [`ResMlp::vars`]).
    pub fn sgd_step(&self, vars: &[Var], grads: &GradStore, lr: f64) -> Result<()> {
        for v in vars {
            if let Some(g) = grads.get(v) {
                v.set(&(v.as_tensor() - (g * lr)?)?)?;
            }
        }
        Ok(())
    }
}

impl Module for ResMlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.blocks.iter().try_fold(crate::net::linear(&self.stem, x)?, |h, b| b.forward(&h))?;
        crate::net::linear(&self.head, &h)
    }
}

/// Trains with minibatches drawn in a seeded order; returns the loss of every step (stops early,
/// with the non-finite loss recorded last, if the loss becomes NaN or infinite).
pub fn train(
    net: &ResMlp,
    x: &Tensor,
    y: &Tensor,
    optim: crate::train::Optim,
    steps: usize,
    batch: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    use rand::seq::SliceRandom;
    let n = x.dim(0)?;
    ensure!(batch > 0 && batch <= n, "batch size {batch} must be between 1 and the {n} training examples");
    let mut opt = optim.optimizer(net.vars())?;
    let mut rng = init::rng(seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut cursor = n;
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        if cursor + batch > n {
            order.shuffle(&mut rng);
            cursor = 0;
        }
        let idx = Tensor::new(&order[cursor..cursor + batch], x.device())?;
        cursor += batch;
        let loss = net.loss(&x.index_select(&idx, 0)?, &y.index_select(&idx, 0)?)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        losses.push(value);
        if !value.is_finite() {
            break;
        }
        opt.step(&loss.backward()?)?;
    }
    Ok(losses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(b: usize, d: usize, seed: u64) -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(b, d, &mut init::rng(seed), &DEVICE)?;
        let y = Tensor::from_vec((0..b as u32).map(|i| i % 3).collect::<Vec<_>>(), b, &DEVICE)?;
        Ok((x, y))
    }

    /// Central finite differences in f64 on a few entries of every parameter, against autograd.
    fn gradient_check(config: ResMlpConfig) -> Result<()> {
        let net = config.build_f64()?;
        let (x, y) = batch(5, config.d_in, 3)?;
        let x = x.to_dtype(DType::F64)?;
        let grads = net.loss(&x, &y)?.backward()?;
        let eps = 1e-6;
        let mut checked = 0;
        for var in net.vars() {
            let g = grads.get(&var).expect("every parameter has a gradient").flatten_all()?.to_vec1::<f64>()?;
            let v0 = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
            let shape = var.dims().to_vec();
            for idx in [0, v0.len() / 2, v0.len() - 1] {
                let at = |delta: f64| -> Result<f64> {
                    let mut v = v0.clone();
                    v[idx] += delta;
                    var.set(&Tensor::from_vec(v, shape.as_slice(), &DEVICE)?)?;
                    Ok(net.loss(&x, &y)?.to_scalar::<f64>()?)
                };
                let fd = (at(eps)? - at(-eps)?) / (2.0 * eps);
                var.set(&Tensor::from_vec(v0.clone(), shape.as_slice(), &DEVICE)?)?;
                let err = (fd - g[idx]).abs();
                assert!(
                    err < 1e-6 * (fd.abs() + g[idx].abs()) || err < 1e-9,
                    "{shape:?}[{idx}]: fd {fd}, autograd {}",
                    g[idx]
                );
                checked += 1;
            }
        }
        assert!(checked >= 3 * net.vars().len());
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        let base = ResMlpConfig::new(4, 5, 3, 3).with_seed(1);
        gradient_check(base.clone())?;
        gradient_check(base.clone().plain())?;
        gradient_check(base.clone().with_alpha(0.3).with_layer_norm(true).with_activation(Activation::Tanh))?;
        gradient_check(base.clone().with_batch_norm(true))?;
        gradient_check(base.clone().plain().with_batch_norm(true))?;
        // Zero-init: W₂ = 0, yet W₂'s own gradient is not zero, and W₁'s is exactly zero.
        gradient_check(base.clone().fixup())?;
        Ok(())
    }

    #[test]
    fn zero_init_blocks_are_the_identity_and_lesions_delete_a_block() -> Result<()> {
        let (x, _) = batch(7, 6, 2)?;
        let net = ResMlpConfig::new(6, 8, 4, 3).fixup().with_seed(3).build()?;
        let stream = net.stream(&x, None)?;
        for s in &stream[1..] {
            assert_eq!(s.to_vec2::<f32>()?, stream[0].to_vec2::<f32>()?);
        }
        let net = ResMlpConfig::new(6, 8, 4, 3).with_seed(3).build()?;
        let full = net.stream(&x, None)?;
        let cut = net.stream(&x, Some(2))?;
        // Up to block 2 the same, then x³ of the lesioned net is x² of the intact one.
        assert_eq!(cut[2].to_vec2::<f32>()?, full[2].to_vec2::<f32>()?);
        assert_eq!(cut[3].to_vec2::<f32>()?, full[2].to_vec2::<f32>()?);
        assert_ne!(cut[4].to_vec2::<f32>()?, full[4].to_vec2::<f32>()?);
        assert!(net.forward_lesioned(&x, Some(4)).is_err());
        Ok(())
    }

    #[test]
    fn stream_variance_follows_the_recursion() -> Result<()> {
        // Unit-second-moment input into the stem; each unscaled He branch adds about the stream's own
        // second moment (no norm: ×(1 + α²)) or about α² (pre-LayerNorm).
        let width = 512;
        let x = Init::Normal { std: 1.0 }.tensor(256, width, &mut init::rng(5), &DEVICE)?;
        let second_moment = |t: &Tensor| -> Result<f64> { Ok(t.sqr()?.mean_all()?.to_scalar::<f32>()? as f64) };
        for (cfg, expect) in [
            (ResMlpConfig::new(width, width, 6, 2), 2f64.powi(6)),
            (ResMlpConfig::new(width, width, 6, 2).with_alpha(0.5), 1.25f64.powi(6)),
            (ResMlpConfig::new(width, width, 6, 2).with_layer_norm(true), 7.0),
            (ResMlpConfig::new(width, width, 6, 2).plain(), 1.0),
        ] {
            let stream = cfg.with_seed(4).build()?.stream(&x, None)?;
            let q = second_moment(stream.last().unwrap())?;
            assert!((q / expect - 1.0).abs() < 0.25, "{q} vs {expect}");
        }
        Ok(())
    }

    #[test]
    fn candle_layer_norm_has_no_backward_pass_on_contiguous_inputs() -> Result<()> {
        // Why the blocks use `layer_norm_slow`: candle-nn 0.11's `LayerNorm` takes a fused path
        // without a backward pass, so γ, β and the input get no gradient at all.
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &DEVICE);
        let ln = candle_nn::layer_norm(4, candle_nn::LayerNormConfig::default(), vb.pp("ln"))?;
        let x = Var::from_tensor(&Init::Normal { std: 1.0 }.tensor(3, 4, &mut init::rng(1), &DEVICE)?)?;
        let y = ln.forward(x.as_tensor())?.sqr()?.sum_all()?;
        let grads = y.backward()?;
        assert!(grads.get(x.as_tensor()).is_none() && grads.get(ln.weight()).is_none());
        let (gamma, beta) = (Var::ones(4, DType::F32, &DEVICE)?, Var::zeros(4, DType::F32, &DEVICE)?);
        let slow = candle_nn::ops::layer_norm_slow(x.as_tensor(), &gamma, &beta, 1e-5)?;
        let grads = (slow * 2.0)?.sin()?.sum_all()?.backward()?;
        assert!(grads.get(x.as_tensor()).is_some() && grads.get(&gamma).is_some());
        Ok(())
    }

    #[test]
    fn block_grads_read_the_stream_error() -> Result<()> {
        let net = ResMlpConfig::new(4, 6, 3, 3).with_seed(2).build()?;
        let (x, y) = batch(8, 4, 1)?;
        let grads = net.loss(&x, &y)?.backward()?;
        let g = net.block_grads(&grads)?;
        assert_eq!(g.len(), 3);
        // The last block's stream error is Σ_batch ∂L/∂logits · W_head.
        let logits = net.forward(&x)?;
        let probs = candle_nn::ops::softmax(&logits, 1)?;
        let onehot = candle_nn::encoding::one_hot(y, 3, 1f32, 0f32)?;
        let by_hand = ((probs - onehot)? / 8.0)?.matmul(net.head.weight())?.sum(0)?;
        assert!((crate::probe::norm(&by_hand)? / g[2].stream - 1.0).abs() < 1e-5);
        assert!(g.iter().all(|b| b.w1 > 0.0 && b.w2 > 0.0));
        Ok(())
    }
}

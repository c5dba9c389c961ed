//! A small encoder-only transformer with observable per-block gradients (chapter 8).
//!
//! Tokens `(batch, T)` are embedded (token and learned position embeddings, candle-nn's
//! [`Embedding`]), pass through `blocks` blocks of multi-head self-attention and a two-layer ReLU MLP,
//! and a linear head reads every position out into `vocab` logits. Each block has two sub-layers
//! F ∈ {attention, MLP}, wired in one of two ways ([`NormPlace`]):
//!
//! ```text
//! Post-LN (Vaswani et al. 2017):  x ← N(α·x + F(x))
//! Pre-LN  (GPT-2, Xiong et al.):  x ← α·x + F(N(x)),   and a final N before the head
//! ```
//!
//! `N` is a LayerNorm or an RMSNorm ([`NormKind`]), each one fused op with a hand-written backward
//! pass ([`crate::fast::layer_norm`], [`crate::fast::rms_norm`]); so are the attention softmax
//! ([`crate::fast::softmax`]) and the loss ([`crate::fast::softmax_cross_entropy`]). A step is
//! hundreds of small ops, and candle's backward pays for every graph node (a zero-filled gradient,
//! the graph sort), so fewer nodes is what makes it faster (`lab/PERFORMANCE.md`). With lab's fast
//! paths off ([`crate::fast::set_enabled`]) the same formulas run as tensor ops
//! ([`Norm::forward_in_tensor_ops`], candle-nn's softmax and cross-entropy): the reference the tests
//! compare against. Not candle-nn 0.11's `LayerNorm`: it takes a fused path without a backward pass
//! on contiguous inputs (see `lab::resnet`'s test), so gradients would silently
//! stop at it.
//!
//! α ([`TransformerConfig::alpha`], 1 by default) up-weights the identity, as
//! DeepNet's DeepNorm does; the branches' output projections W_O and W₂ are drawn with an extra gain
//! [`TransformerConfig::out_gain`] (GPT-2's 1/√(2N)-style down-scaling, N blocks) and W_V, W₁ with
//! [`TransformerConfig::in_gain`] (DeepNet's β multiplies all four). Attention logits are
//! q·k/√d_head, or q·k without the scale ([`TransformerConfig::attn_scale`]); W_Q and W_K carry
//! an extra gain [`TransformerConfig::qk_gain`], to push the softmax into saturation on purpose.
//!
//! Every weight is drawn from an explicitly seeded generator, N(0, 1/fan_in) (W₁: N(0, 2/fan_in),
//! for the ReLU after it; embeddings N(0, ½), so that token + position has unit variance), biases and
//! norm shifts 0, norm gains 1. Parameter names sort in block order (`block03.attn.q.weight`, …), so
//! [`crate::train::vars_in_name_order`] lists them reproducibly.
//!
//! candle's `backward()` keeps gradients only for `Var`s. [`Transformer::trace`] can add a zero probe
//! `Var` to every block's input (∂L/∂p_l = ∂L/∂xˡ, the error arriving on the residual stream at block
//! l) and to every block's attention logits (the gradient that gets through the softmax), as
//! `lab::rnn` does for recurrent states.

use crate::{DEVICE, Init, init};
use anyhow::{Result, ensure};
use candle_core::{D, DType, Device, Module, Tensor, Var, backprop::GradStore};
use candle_nn::{Embedding, Linear, Optimizer, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// Where the normalisation sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPlace {
    /// After the residual add, on the stream itself (the 2017 layout).
    Post,
    /// Inside each branch, on its input; the stream is never normalised (plus one final norm).
    Pre,
}

/// Which normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// (x − mean)/√(var + ε)·γ + β over the features.
    Layer,
    /// x/√(mean(x²) + ε)·γ over the features (no centring, no shift).
    Rms,
}

/// Everything that defines a [`Transformer`], serialisable into a figure's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Number of token values (input and output).
    pub vocab: usize,
    /// Sequence length T (the number of learned positions).
    pub seq_len: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads (d_model must be a multiple).
    pub heads: usize,
    /// Hidden width of each MLP.
    pub d_ff: usize,
    /// Number of blocks N (each an attention and an MLP sub-layer).
    pub blocks: usize,
    pub norm_place: NormPlace,
    pub norm: NormKind,
    /// Weight α of the identity in every residual add.
    pub alpha: f64,
    /// Extra gain on W_O and W₂, the projections that write into the stream.
    pub out_gain: f64,
    /// Extra gain on W_V and W₁.
    pub in_gain: f64,
    /// Extra gain on W_Q and W_K.
    pub qk_gain: f64,
    /// Divide the attention logits by √d_head.
    pub attn_scale: bool,
    /// Seed of the weight draw.
    pub seed: u64,
}

impl TransformerConfig {
    /// A Post-LN transformer with LayerNorm, α = 1, unit gains and the 1/√d_head scale.
    pub fn new(vocab: usize, seq_len: usize, d_model: usize, heads: usize, blocks: usize) -> Self {
        TransformerConfig {
            vocab,
            seq_len,
            d_model,
            heads,
            d_ff: 4 * d_model,
            blocks,
            norm_place: NormPlace::Post,
            norm: NormKind::Layer,
            alpha: 1.0,
            out_gain: 1.0,
            in_gain: 1.0,
            qk_gain: 1.0,
            attn_scale: true,
            seed: 0,
        }
    }

    setters! {
        post_ln() => norm_place = NormPlace::Post;
        pre_ln() => norm_place = NormPlace::Pre;
        with_norm(norm: NormKind) => norm = norm;
        with_alpha(alpha: f64) => alpha = alpha;
        with_out_gain(gain: f64) => out_gain = gain;
        with_qk_gain(gain: f64) => qk_gain = gain;
        with_attn_scale(on: bool) => attn_scale = on;
        with_d_ff(d_ff: usize) => d_ff = d_ff;
        with_seed(seed: u64) => seed = seed;
    }

    /// GPT-2's depth scaling: W_O and W₂ drawn ×1/√(2N), one factor per residual add (2 per block).
    pub fn gpt2_scaled(mut self) -> Self {
        self.out_gain = 1.0 / (2.0 * self.blocks as f64).sqrt();
        self
    }

    /// DeepNorm for an encoder of N blocks: Post-LN with α = (2N)^¼ on the identity and
    /// β = (8N)^−¼ on W_V, W_O, W₁ and W₂.
    pub fn deepnorm(mut self) -> Self {
        let n = self.blocks as f64;
        self.norm_place = NormPlace::Post;
        self.alpha = (2.0 * n).powf(0.25);
        self.out_gain = (8.0 * n).powf(-0.25);
        self.in_gain = self.out_gain;
        self
    }

    /// Width of one head.
    pub fn d_head(&self) -> usize {
        self.d_model / self.heads.max(1)
    }

    /// Checks the config and says exactly what is wrong.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.vocab >= 2, "the vocabulary needs at least 2 tokens, got {}", self.vocab);
        ensure!(self.seq_len >= 1, "the sequence length must be at least 1");
        ensure!(self.blocks >= 1, "a transformer needs at least 1 block");
        ensure!(self.heads >= 1 && self.d_model >= 1, "width and heads must be at least 1");
        ensure!(
            self.d_model.is_multiple_of(self.heads),
            "d_model = {} is not a multiple of heads = {}",
            self.d_model,
            self.heads
        );
        ensure!(self.d_ff >= 1, "the MLP needs a hidden width of at least 1");
        for (name, v) in [("α", self.alpha), ("out_gain", self.out_gain), ("in_gain", self.in_gain)] {
            ensure!(v.is_finite() && v > 0.0, "{name} must be finite and positive, got {v}");
        }
        ensure!(self.qk_gain.is_finite() && self.qk_gain >= 0.0, "qk_gain must be finite and ≥ 0");
        Ok(())
    }

    /// Builds the model in f32.
    pub fn build(&self) -> Result<Transformer> {
        Transformer::new(self.clone(), &DEVICE, DType::F32)
    }

    /// Builds the model in f64 (the same weights, widened), for gradient checks.
    pub fn build_f64(&self) -> Result<Transformer> {
        Transformer::new(self.clone(), &DEVICE, DType::F64)
    }
}

/// A LayerNorm or RMSNorm over the last dimension: one fused op ([`crate::fast::layer_norm`],
/// [`crate::fast::rms_norm`]), or tensor ops when lab's fast paths are off.
#[derive(Debug, Clone)]
pub struct Norm {
    pub kind: NormKind,
    pub gamma: Tensor,
    /// The shift β (LayerNorm only).
    pub beta: Option<Tensor>,
}

/// ε of every norm (an f32, as candle-nn's norms take it).
const NORM_EPS: f32 = 1e-5;

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let eps = NORM_EPS as f64;
        let fused = crate::fast::enabled() && x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64);
        match (&self.kind, &self.beta) {
            (NormKind::Layer, Some(beta)) if fused => crate::fast::layer_norm(x, &self.gamma, beta, eps),
            (NormKind::Rms, _) if fused => crate::fast::rms_norm(x, &self.gamma, eps),
            _ => self.forward_in_tensor_ops(x),
        }
    }
}

impl Norm {
    /// The reference: candle-nn's `layer_norm_slow` and `rms_norm_slow` (f32 and f64), with γ and β
    /// applied by `lab::net`'s row ops; what the fused [`crate::fast::layer_norm`] and
    /// [`crate::fast::rms_norm`] compute in one op each.
    pub fn forward_in_tensor_ops(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let wrap = candle_core::Error::wrap;
        let d = x.dim(D::Minus1)? as f64;
        let centred = match (&self.kind, &self.beta) {
            (NormKind::Layer, Some(_)) => x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / d)?)?,
            _ => x.clone(),
        };
        let mean_square = (centred.sqr()?.sum_keepdim(D::Minus1)? / d)?;
        let normed = centred.broadcast_div(&(mean_square + NORM_EPS as f64)?.sqrt()?)?;
        let scaled = crate::net::scale_features(&normed, &self.gamma).map_err(wrap)?;
        match (&self.kind, &self.beta) {
            (NormKind::Layer, Some(beta)) => crate::net::add_bias(&scaled, beta).map_err(wrap),
            _ => Ok(scaled),
        }
    }
}

/// Multi-head self-attention (no mask: every position sees every other).
#[derive(Debug, Clone)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub heads: usize,
    pub scale: bool,
}

impl Attention {
    /// The output `(batch, T, d)`, the attention weights and the logits before the softmax (both
    /// `(batch, heads, T, T)`); `logit_probe`, if given, is added to the logits.
    pub fn forward_with(
        &self,
        x: &Tensor,
        logit_probe: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b, t, d) = x.dims3()?;
        let dh = d / self.heads;
        let split = |y: Tensor| y.reshape((b, t, self.heads, dh))?.transpose(1, 2)?.contiguous();
        let q = split(crate::net::linear(&self.q, x)?)?;
        let k = split(crate::net::linear(&self.k, x)?)?;
        let v = split(crate::net::linear(&self.v, x)?)?;
        let mut logits = q.matmul(&k.t()?.contiguous()?)?;
        if self.scale {
            logits = (logits / (dh as f64).sqrt())?;
        }
        if let Some(p) = logit_probe {
            logits = (logits + p)?;
        }
        let fused =
            crate::fast::enabled() && logits.device().is_cpu() && matches!(logits.dtype(), DType::F32 | DType::F64);
        let weights = if fused { crate::fast::softmax(&logits)? } else { candle_nn::ops::softmax(&logits, D::Minus1)? };
        let out = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        Ok((crate::net::linear(&self.o, &out)?, weights, logits))
    }
}

/// One block: attention and MLP sub-layers with their norms.
#[derive(Debug, Clone)]
pub struct Block {
    pub attn: Attention,
    pub w1: Linear,
    pub w2: Linear,
    pub norm1: Norm,
    pub norm2: Norm,
    pub place: NormPlace,
    pub alpha: f64,
}

impl Block {
    fn mlp(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        crate::net::linear(&self.w2, &crate::net::linear(&self.w1, x)?.relu()?)
    }

    /// The block's output, its attention weights and its attention logits.
    pub fn forward_with(
        &self,
        x: &Tensor,
        logit_probe: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let a = self.alpha;
        match self.place {
            NormPlace::Post => {
                let (att, w, z) = self.attn.forward_with(x, logit_probe)?;
                let h = self.norm1.forward(&((x * a)? + att)?)?;
                let out = self.norm2.forward(&((&h * a)? + self.mlp(&h)?)?)?;
                Ok((out, w, z))
            }
            NormPlace::Pre => {
                let (att, w, z) = self.attn.forward_with(&self.norm1.forward(x)?, logit_probe)?;
                let h = ((x * a)? + att)?;
                let out = ((&h * a)? + self.mlp(&self.norm2.forward(&h)?)?)?;
                Ok((out, w, z))
            }
        }
    }
}

/// Per-block gradient norms (Frobenius, of the mean loss).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockGrads {
    pub q: f64,
    pub k: f64,
    pub v: f64,
    pub o: f64,
    pub w1: f64,
    pub w2: f64,
    /// The norm over every weight matrix of the block together.
    pub total: f64,
}

/// What [`Transformer::trace`] returns.
pub struct Trace {
    /// `(batch, T, vocab)`.
    pub logits: Tensor,
    /// The stream entering every block, then the last block's output: `[x⁰, …, x^N]`.
    pub stream: Vec<Tensor>,
    /// Attention weights of every block, `(batch, heads, T, T)`.
    pub attention: Vec<Tensor>,
    /// Attention logits of every block (after the 1/√d_head scale, before the softmax).
    pub attention_logits: Vec<Tensor>,
    /// Zero probes added to every block's input (empty unless asked).
    pub probes: Vec<Var>,
    /// Zero probes added to every block's attention logits (empty unless asked).
    pub logit_probes: Vec<Var>,
}

/// The transformer; see the module docs.
pub struct Transformer {
    pub config: TransformerConfig,
    pub varmap: VarMap,
    pub tok: Embedding,
    pub pos: Tensor,
    pub blocks: Vec<Block>,
    /// The final norm of a Pre-LN model.
    pub final_norm: Option<Norm>,
    pub head: Linear,
}

impl Transformer {
    fn new(config: TransformerConfig, device: &Device, dtype: DType) -> Result<Self> {
        config.validate()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let mut rng = init::rng(config.seed);
        let zero = candle_nn::Init::Const(0.);
        let mut draw = |name: &str, rows: usize, cols: usize, std: f64| -> Result<Tensor> {
            let t = vb.get_with_hints((rows, cols), name, zero)?;
            varmap
                .clone()
                .set_one(name, Init::Normal { std }.tensor(rows, cols, &mut rng, device)?.to_dtype(dtype)?)?;
            Ok(t)
        };
        let (d, f) = (config.d_model, config.d_ff);
        let tok_w = draw("embed.tok", config.vocab, d, 0.5f64.sqrt())?;
        let pos = draw("embed.pos", config.seq_len, d, 0.5f64.sqrt())?;
        let mut blocks = Vec::with_capacity(config.blocks);
        let mut specs = Vec::new();
        for l in 0..config.blocks {
            let p = format!("block{l:02}");
            let lin = 1.0 / (d as f64).sqrt();
            let ws = [
                draw(&format!("{p}.attn.q.weight"), d, d, lin * config.qk_gain)?,
                draw(&format!("{p}.attn.k.weight"), d, d, lin * config.qk_gain)?,
                draw(&format!("{p}.attn.v.weight"), d, d, lin * config.in_gain)?,
                draw(&format!("{p}.attn.o.weight"), d, d, lin * config.out_gain)?,
                draw(&format!("{p}.mlp.w1.weight"), f, d, (2.0 / d as f64).sqrt() * config.in_gain)?,
                draw(&format!("{p}.mlp.w2.weight"), d, f, config.out_gain / (f as f64).sqrt())?,
            ];
            specs.push((p, ws));
        }
        let head_w = draw("head.weight", config.vocab, d, 1.0 / (d as f64).sqrt())?;
        let bias = |name: String, n: usize| vb.get_with_hints(n, &name, zero);
        let norm = |name: String| -> Result<Norm> {
            let gamma = vb.get_with_hints(d, &format!("{name}.weight"), candle_nn::Init::Const(1.))?;
            let beta = match config.norm {
                NormKind::Layer => Some(vb.get_with_hints(d, &format!("{name}.bias"), zero)?),
                NormKind::Rms => None,
            };
            Ok(Norm { kind: config.norm, gamma, beta })
        };
        for (p, [q, k, v, o, w1, w2]) in specs {
            let linear = |w: Tensor, name: &str, n: usize| -> Result<Linear> {
                Ok(Linear::new(w, Some(bias(format!("{p}.{name}.bias"), n)?)))
            };
            blocks.push(Block {
                attn: Attention {
                    q: linear(q, "attn.q", d)?,
                    k: linear(k, "attn.k", d)?,
                    v: linear(v, "attn.v", d)?,
                    o: linear(o, "attn.o", d)?,
                    heads: config.heads,
                    scale: config.attn_scale,
                },
                w1: linear(w1, "mlp.w1", f)?,
                w2: linear(w2, "mlp.w2", d)?,
                norm1: norm(format!("{p}.norm1"))?,
                norm2: norm(format!("{p}.norm2"))?,
                place: config.norm_place,
                alpha: config.alpha,
            });
        }
        let final_norm = match config.norm_place {
            NormPlace::Pre => Some(norm("final_norm".into())?),
            NormPlace::Post => None,
        };
        let head = Linear::new(head_w, Some(bias("head.bias".into(), config.vocab)?));
        Ok(Transformer { tok: Embedding::new(tok_w, d), pos, blocks, final_norm, head, config, varmap })
    }

    /// Every trainable parameter, in name order.
    pub fn vars(&self) -> Vec<Var> {
        crate::train::vars_in_name_order(&self.varmap)
    }

    /// The forward pass on u32 tokens `(batch, T)` with everything the chapter measures. With
    /// `probes`, zero `Var`s are added to every block's input and attention logits.
    pub fn trace(&self, tokens: &Tensor, probes: bool) -> Result<Trace> {
        let (b, t) = tokens.dims2()?;
        let (d, h) = (self.config.d_model, self.config.heads);
        let dtype = self.head.weight().dtype();
        let device = self.head.weight().device();
        let n = if probes { self.blocks.len() } else { 0 };
        let stream_probes =
            (0..n).map(|_| Var::zeros((b, t, d), dtype, device)).collect::<candle_core::Result<Vec<_>>>()?;
        let logit_probes =
            (0..n).map(|_| Var::zeros((b, h, t, t), dtype, device)).collect::<candle_core::Result<Vec<_>>>()?;
        self.trace_with(tokens, &stream_probes, &logit_probes)
    }

    /// [`Transformer::trace`] with given probes (one per block, or none): what a finite-difference
    /// check perturbs.
    pub fn trace_with(&self, tokens: &Tensor, probes: &[Var], logit_probes: &[Var]) -> Result<Trace> {
        let (_, t) = tokens.dims2()?;
        ensure!(
            t <= self.config.seq_len,
            "sequence of {t} tokens, but the model has {} positions",
            self.config.seq_len
        );
        let n = self.blocks.len();
        ensure!(probes.is_empty() || probes.len() == n, "{} block probes for {n} blocks", probes.len());
        ensure!(
            logit_probes.is_empty() || logit_probes.len() == n,
            "{} logit probes for {n} blocks",
            logit_probes.len()
        );
        let mut x = self.tok.forward(tokens)?.broadcast_add(&self.pos.narrow(0, 0, t)?)?;
        let (mut stream, mut attention, mut attention_logits) = (Vec::with_capacity(n + 1), Vec::new(), Vec::new());
        for (l, block) in self.blocks.iter().enumerate() {
            if let Some(p) = probes.get(l) {
                x = (x + p.as_tensor())?;
            }
            stream.push(x.clone());
            let (y, w, z) = block.forward_with(&x, logit_probes.get(l).map(|p| p.as_tensor()))?;
            attention.push(w);
            attention_logits.push(z);
            x = y;
        }
        stream.push(x.clone());
        if let Some(norm) = &self.final_norm {
            x = norm.forward(&x)?;
        }
        Ok(Trace {
            logits: crate::net::linear(&self.head, &x)?,
            stream,
            attention,
            attention_logits,
            probes: probes.to_vec(),
            logit_probes: logit_probes.to_vec(),
        })
    }

    /// Mean cross-entropy over every position of `(batch, T, vocab)` logits against `(batch, T)`
    /// u32 targets.
    pub fn loss_of(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let v = logits.dim(D::Minus1)?;
        let (logits, targets) = (logits.reshape(((), v))?, targets.flatten_all()?);
        if crate::fast::enabled() && logits.device().is_cpu() && matches!(logits.dtype(), DType::F32 | DType::F64) {
            return Ok(crate::fast::softmax_cross_entropy(&logits, &targets)?);
        }
        crate::net::cross_entropy(&logits, &targets)
    }

    /// The loss of the model on a batch.
    pub fn loss(&self, tokens: &Tensor, targets: &Tensor) -> Result<Tensor> {
        Self::loss_of(&self.forward(tokens)?, targets)
    }

    /// The fraction of positions predicted right.
    pub fn accuracy(&self, tokens: &Tensor, targets: &Tensor) -> Result<f64> {
        let logits = self.forward(tokens)?;
        let v = logits.dim(D::Minus1)?;
        crate::net::accuracy(&logits.reshape(((), v))?, &targets.flatten_all()?)
    }

    /// Per-block weight gradient norms from a `GradStore` of this model's loss.
    pub fn block_grads(&self, grads: &GradStore) -> Result<Vec<BlockGrads>> {
        let norm = |t: &Tensor| -> Result<f64> { Ok(grads.get(t).map(crate::probe::norm).transpose()?.unwrap_or(0.0)) };
        self.blocks
            .iter()
            .map(|b| {
                let a = &b.attn;
                let mut g = BlockGrads {
                    q: norm(a.q.weight())?,
                    k: norm(a.k.weight())?,
                    v: norm(a.v.weight())?,
                    o: norm(a.o.weight())?,
                    w1: norm(b.w1.weight())?,
                    w2: norm(b.w2.weight())?,
                    total: 0.0,
                };
                g.total = [g.q, g.k, g.v, g.o, g.w1, g.w2].iter().map(|x| x * x).sum::<f64>().sqrt();
                Ok(g)
            })
            .collect()
    }
}

impl Module for Transformer {
    /// Logits `(batch, T, vocab)` of u32 tokens `(batch, T)`.
    fn forward(&self, tokens: &Tensor) -> candle_core::Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let mut x = self.tok.forward(tokens)?.broadcast_add(&self.pos.narrow(0, 0, t)?)?;
        for block in &self.blocks {
            x = block.forward_with(&x, None)?.0;
        }
        if let Some(n) = &self.final_norm {
            x = n.forward(&x)?;
        }
        crate::net::linear(&self.head, &x)
    }
}

/// Mean entropy (nats) of the attention rows of `(batch, heads, T, T)` weights.
pub fn attention_entropy(weights: &Tensor) -> Result<f64> {
    let w = weights.to_dtype(DType::F64)?;
    let h = (w.clone() * (w + 1e-300)?.log()?)?.sum(D::Minus1)?.neg()?;
    Ok(h.mean_all()?.to_scalar::<f64>()?)
}

/// How to train a [`Transformer`] on a [`crate::data::SeqTask`]: AdamW, a linear learning-rate
/// warm-up from 0 over `warmup` steps, then constant; fresh sequences every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub task: crate::data::SeqTask,
    pub lr: f64,
    pub warmup: usize,
    pub steps: usize,
    pub batch: usize,
    /// Sequences in the held-out evaluation batch.
    pub eval_batch: usize,
    /// Seed of the training sequences (the evaluation batch uses `seed + 1`).
    pub seed: u64,
}

/// One training run: the loss of every step and the held-out accuracy at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainRun {
    pub losses: Vec<f64>,
    /// True if the loss became NaN or infinite (the run stopped there).
    pub diverged: bool,
    /// Fraction of held-out positions predicted right (None, and left out of the JSON, if diverged
    /// or not evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

/// The learning rate at `step` (0-based) of a linear warm-up over `warmup` steps to `lr`.
pub fn warmup_lr(lr: f64, warmup: usize, step: usize) -> f64 {
    if warmup == 0 { lr } else { lr * ((step + 1) as f64 / warmup as f64).min(1.0) }
}

/// Trains `model` in place; see [`TrainOptions`].
pub fn train(model: &Transformer, opts: &TrainOptions) -> Result<TrainRun> {
    ensure!(opts.lr.is_finite() && opts.lr > 0.0, "learning rate must be finite and positive, got {}", opts.lr);
    let c = &model.config;
    let params =
        candle_nn::ParamsAdamW { lr: warmup_lr(opts.lr, opts.warmup, 0), weight_decay: 0.0, ..Default::default() };
    let mut opt = crate::train::InPlaceAdamW::new(model.vars(), params)?;
    let mut rng = init::rng(opts.seed);
    let mut run = TrainRun::default();
    for step in 0..opts.steps {
        opt.set_learning_rate(warmup_lr(opts.lr, opts.warmup, step));
        let (x, y) = opts.task.batch(opts.batch, c.seq_len, c.vocab, &mut rng)?;
        let loss = model.loss(&x, &y)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        run.losses.push(value);
        if !value.is_finite() {
            run.diverged = true;
            return Ok(run);
        }
        opt.step(&loss.backward()?)?;
    }
    let (x, y) = opts.task.batch(opts.eval_batch, c.seq_len, c.vocab, &mut init::rng(opts.seed + 1))?;
    run.accuracy = Some(model.accuracy(&x, &y)?);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SeqTask;

    fn small() -> TransformerConfig {
        TransformerConfig::new(5, 4, 8, 2, 2).with_d_ff(6).with_seed(1)
    }

    /// Central finite differences in f64 on a few entries of every parameter and every probe.
    fn gradient_check(config: TransformerConfig) -> Result<()> {
        let model = config.build_f64()?;
        let (x, y) = SeqTask::Sort.batch(3, config.seq_len, config.vocab, &mut init::rng(2))?;
        let trace = model.trace(&x, true)?;
        let loss = Transformer::loss_of(&trace.logits, &y)?;
        let grads = loss.backward()?;
        let loss_with = || -> Result<f64> {
            let t = model.trace_with(&x, &trace.probes, &trace.logit_probes)?;
            Ok(Transformer::loss_of(&t.logits, &y)?.to_scalar::<f64>()?)
        };
        let eps = 1e-6;
        let mut checked = 0;
        let vars: Vec<Var> = model
            .vars()
            .into_iter()
            .chain(trace.probes.iter().cloned())
            .chain(trace.logit_probes.iter().cloned())
            .collect();
        for var in &vars {
            let g =
                grads.get(var).expect("every parameter and probe has a gradient").flatten_all()?.to_vec1::<f64>()?;
            let v0 = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
            let shape = var.dims().to_vec();
            for idx in [0, v0.len() / 2, v0.len() - 1] {
                let at = |delta: f64| -> Result<f64> {
                    let mut v = v0.clone();
                    v[idx] += delta;
                    var.set(&Tensor::from_vec(v, shape.as_slice(), &DEVICE)?)?;
                    loss_with()
                };
                let fd = (at(eps)? - at(-eps)?) / (2.0 * eps);
                var.set(&Tensor::from_vec(v0.clone(), shape.as_slice(), &DEVICE)?)?;
                let err = (fd - g[idx]).abs();
                assert!(
                    err < 1e-5 * (fd.abs() + g[idx].abs()) || err < 1e-8,
                    "{config:?}\n{shape:?}[{idx}]: fd {fd}, autograd {}",
                    g[idx]
                );
                checked += 1;
            }
        }
        assert!(checked >= 3 * vars.len());
        Ok(())
    }

    #[test]
    fn gradients_to_every_parameter_and_block_input_match_finite_differences() -> Result<()> {
        gradient_check(small())?;
        gradient_check(small().pre_ln())?;
        gradient_check(small().pre_ln().with_norm(NormKind::Rms).gpt2_scaled())?;
        gradient_check(small().deepnorm().with_attn_scale(false).with_qk_gain(2.0))?;
        Ok(())
    }

    /// The fused norm, softmax and loss against the tensor-op versions (lab's fast paths off): the
    /// same loss and the same gradient for every parameter and probe, in f32 and f64.
    #[test]
    fn fused_ops_give_the_gradients_of_the_tensor_op_model() -> Result<()> {
        let configs = [small(), small().pre_ln(), small().pre_ln().with_norm(NormKind::Rms), small().deepnorm()];
        for (config, f64s) in configs.iter().flat_map(|c| [(c, false), (c, true)]) {
            let run = |fast: bool| -> Result<(f64, Vec<Vec<f64>>)> {
                crate::fast::with_enabled(fast, || {
                    let model = if f64s { config.build_f64()? } else { config.build()? };
                    let (x, y) = SeqTask::Sort.batch(3, config.seq_len, config.vocab, &mut init::rng(2))?;
                    let trace = model.trace(&x, true)?;
                    let loss = Transformer::loss_of(&trace.logits, &y)?;
                    let grads = loss.backward()?;
                    let vars = model.vars().into_iter().chain(trace.probes).chain(trace.logit_probes);
                    let g = vars
                        .map(|v| Ok(grads.get(&v).expect("gradient").to_dtype(DType::F64)?.flatten_all()?.to_vec1()?))
                        .collect::<Result<Vec<Vec<f64>>>>()?;
                    Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, g))
                })
            };
            let ((lf, gf), (lr, gr)) = (run(true)?, run(false)?);
            let tol = if f64s { 1e-12 } else { 2e-5 };
            assert!((lf - lr).abs() < tol * lr, "{config:?}: loss {lf} vs {lr}");
            assert_eq!(gf.len(), gr.len());
            let largest = |g: &[f64]| g.iter().fold(0f64, |m, v| m.max(v.abs()));
            let overall = gr.iter().map(|g| largest(g)).fold(0f64, f64::max);
            for (i, (a, r)) in gf.iter().zip(&gr).enumerate() {
                let diff = a.iter().zip(r).fold(0f64, |m, (a, r)| m.max((a - r).abs()));
                // Relative to the variable's own scale, or 1 % of the largest gradient for those that
                // are zero but for rounding (the key biases: a shift the softmax ignores).
                let scale = largest(r).max(0.01 * overall);
                assert!(diff <= tol * scale, "{config:?} f64 {f64s} var {i}: {diff} of {scale}");
            }
        }
        Ok(())
    }

    #[test]
    fn probes_do_not_change_the_forward_pass_and_shapes_are_right() -> Result<()> {
        let model = TransformerConfig::new(7, 6, 16, 4, 3).pre_ln().with_seed(3).build()?;
        let (x, _) = SeqTask::Sort.batch(5, 6, 7, &mut init::rng(1))?;
        let trace = model.trace(&x, true)?;
        let plain = model.forward(&x)?;
        assert_eq!(trace.logits.dims(), &[5, 6, 7]);
        assert_eq!(trace.logits.to_vec3::<f32>()?, plain.to_vec3::<f32>()?);
        assert_eq!(trace.stream.len(), 4);
        assert_eq!(trace.probes.len(), 3);
        assert_eq!(trace.attention[0].dims(), &[5, 4, 6, 6]);
        // Every attention row sums to 1, and uniform attention has entropy ln T.
        let sums = trace.attention[1].sum(D::Minus1)?.flatten_all()?.to_vec1::<f32>()?;
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
        let uniform = Tensor::full(1f32 / 6.0, (1, 1, 6, 6), &DEVICE)?;
        assert!((attention_entropy(&uniform)? - 6f64.ln()).abs() < 1e-6);
        assert!(TransformerConfig::new(7, 6, 10, 4, 1).build().is_err());
        assert!(model.trace(&Tensor::zeros((1, 7), DType::U32, &DEVICE)?, false).is_err());
        Ok(())
    }

    #[test]
    fn post_ln_normalises_the_stream_and_pre_ln_lets_it_grow() -> Result<()> {
        let (x, _) = SeqTask::Sort.batch(8, 8, 10, &mut init::rng(1))?;
        let var = |t: &Tensor| -> Result<f64> { Ok(t.sqr()?.mean_all()?.to_scalar::<f32>()? as f64) };
        let post = TransformerConfig::new(10, 8, 32, 4, 8).with_seed(2).build()?.trace(&x, false)?;
        let pre = TransformerConfig::new(10, 8, 32, 4, 8).pre_ln().with_seed(2).build()?.trace(&x, false)?;
        // LayerNorm output: unit second moment per position.
        assert!((var(post.stream.last().unwrap())? - 1.0).abs() < 0.01);
        // Pre-LN: every sub-layer adds about one unit of variance, so 8 blocks reach well above 8.
        assert!(var(pre.stream.last().unwrap())? > 8.0, "{}", var(pre.stream.last().unwrap())?);
        Ok(())
    }

    #[test]
    fn a_small_model_learns_to_reverse() -> Result<()> {
        let model = TransformerConfig::new(6, 6, 32, 4, 2).pre_ln().with_seed(1).build()?;
        let opts = TrainOptions {
            task: SeqTask::Reverse,
            lr: 3e-3,
            warmup: 10,
            steps: 150,
            batch: 32,
            eval_batch: 64,
            seed: 4,
        };
        let run = train(&model, &opts)?;
        assert!(!run.diverged);
        assert!(run.accuracy.unwrap() > 0.9, "{:?}", run.accuracy);
        assert_eq!(warmup_lr(1.0, 4, 0), 0.25);
        assert_eq!(warmup_lr(1.0, 4, 9), 1.0);
        assert_eq!(warmup_lr(1.0, 0, 0), 1.0);
        Ok(())
    }
}

//! A multilayer perceptron built from a config, in candle-nn idioms.
//!
//! Every parameter is a [`Var`] registered in a [`VarMap`] (names `l{i}.weight`, `l{i}.bias`,
//! `l{i}.gamma`, `l{i}.beta`), so candle-nn optimizers train it and `VarMap::save` stores it. Weights are
//! drawn from an [`Init`] with an explicit seed. Hidden layer `l` computes
//!
//! ```text
//! z = h Wᵀ + b        (then BatchNorm or LayerNorm of z, if configured)
//! a = f(z)
//! h ← a, or h + a for a residual block (when input and output widths agree)
//! ```
//!
//! and the last layer is a linear head producing logits. candle's `backward()` keeps gradients only for
//! `Var`s. The bias gradient of a layer, ∂L/∂bˡ, is exactly the batch sum of ∂L/∂z over that layer's
//! units (Nielsen's measure); under a norm layer the bias before the norm has zero gradient, and
//! [`Layer::delta_var`] reads the norm's β instead. [`Mlp::forward_probed`] adds a zero probe `Var` to
//! every z, so that ∂L/∂z is kept for every example: the book's gradient measure,
//! [`crate::probe::error_rms`], reads it.

use crate::{Activation, Init, init};
use anyhow::{Result, ensure};
use candle_core::{CpuStorage, D, DType, Device, Layout, ModuleT, Shape, Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

// The choice of norm lives with the norms; re-exported so that `lab::net::Norm` keeps working.
pub use crate::norm::Norm;

/// Everything that defines an MLP, serialisable into a figure's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input dimension.
    pub d_in: usize,
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Number of outputs (classes).
    pub d_out: usize,
    /// Activation of every hidden layer.
    pub activation: Activation,
    /// Weight init of every layer, the head included.
    pub init: Init,
    /// Constant initial value of every bias.
    pub bias_init: f64,
    /// Normalisation of hidden pre-activations.
    pub norm: Norm,
    /// Residual hidden blocks: `h + f(z)` wherever the widths agree.
    pub residual: bool,
    /// Seed of the weight draw.
    pub seed: u64,
}

impl MlpConfig {
    /// A plain MLP: `depth` hidden layers of `width` units, zero biases, no norm, no skips.
    pub fn new(d_in: usize, width: usize, depth: usize, d_out: usize, activation: Activation, init: Init) -> Self {
        MlpConfig {
            d_in,
            hidden: vec![width; depth],
            d_out,
            activation,
            init,
            bias_init: 0.0,
            norm: Norm::None,
            residual: false,
            seed: 0,
        }
    }

    setters! {
        with_seed(seed: u64) => seed = seed;
        with_norm(norm: Norm) => norm = norm;
        with_residual(residual: bool) => residual = residual;
        with_bias_init(b: f64) => bias_init = b;
    }

    /// Number of hidden layers.
    pub fn depth(&self) -> usize {
        self.hidden.len()
    }

    /// Layer sizes from input to output: `[d_in, hidden…, d_out]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.d_in];
        s.extend(&self.hidden);
        s.push(self.d_out);
        s
    }

    /// Checks the config and says exactly what is wrong.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.d_in > 0, "input dimension must be at least 1");
        ensure!(self.d_out > 0, "output dimension must be at least 1");
        ensure!(self.hidden.iter().all(|&w| w > 0), "every hidden width must be at least 1, got {:?}", self.hidden);
        ensure!(self.bias_init.is_finite(), "bias init must be finite, got {}", self.bias_init);
        self.init.validate()
    }

    /// Builds the network in f32, drawing its weights from `seed`.
    pub fn build(&self, device: &Device) -> Result<Mlp> {
        Mlp::new(self.clone(), device, DType::F32)
    }

    /// Builds the network in f64 (the same weights as [`MlpConfig::build`], widened): for gradient
    /// checks, where finite differences need the extra precision.
    pub fn build_f64(&self, device: &Device) -> Result<Mlp> {
        Mlp::new(self.clone(), device, DType::F64)
    }
}

/// One affine layer and, for hidden layers, its optional normalisation parameters.
#[derive(Debug, Clone)]
pub struct Layer {
    pub weight: Var,
    pub bias: Var,
    /// Norm scale γ (ones) and shift β (zeros), present when the config has a norm.
    pub gamma: Option<Var>,
    pub beta: Option<Var>,
    running: Option<(Var, Var)>,
}

impl Layer {
    /// The `Var` whose gradient is this layer's δ = Σ_batch ∂L/∂z: the bias, or β under a norm.
    pub fn delta_var(&self) -> &Var {
        self.beta.as_ref().unwrap_or(&self.bias)
    }

    /// γ and β of a normalised hidden layer.
    fn norm_params(&self) -> (&Var, &Var) {
        (self.gamma.as_ref().expect("γ"), self.beta.as_ref().expect("β"))
    }

    fn affine(&self, h: &Tensor) -> Result<Tensor> {
        if crate::fast::kernel_enabled(crate::fast::Kernel::Linear) {
            // One fused op: gemm reads W transposed and adds b as it writes (see `crate::fast`).
            return Ok(crate::fast::linear(h, self.weight.as_tensor(), self.bias.as_tensor())?);
        }
        Ok(h.matmul(&self.weight.as_tensor().t()?)?.broadcast_add(self.bias.as_tensor())?)
    }
}

/// A multilayer perceptron; see the module docs.
pub struct Mlp {
    pub config: MlpConfig,
    pub varmap: VarMap,
    /// Hidden layers first, the linear head last.
    pub layers: Vec<Layer>,
}

/// What one forward pass saw, layer by layer (hidden layers only).
#[derive(Debug, Clone)]
pub struct Trace {
    /// Pre-activations z (after the norm, if any), batch × width.
    pub pre: Vec<Tensor>,
    /// Activations f(z), batch × width.
    pub post: Vec<Tensor>,
    /// The network's output logits.
    pub logits: Tensor,
}

impl Mlp {
    fn new(config: MlpConfig, device: &Device, dtype: DType) -> Result<Self> {
        config.validate()?;
        let varmap = VarMap::new();
        let mut rng = init::rng(config.seed);
        let sizes = config.sizes();
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        {
            let mut data = varmap.data().lock().expect("varmap lock");
            for (i, pair) in sizes.windows(2).enumerate() {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let weight =
                    Var::from_tensor(&config.init.tensor(fan_out, fan_in, &mut rng, device)?.to_dtype(dtype)?)?;
                let bias = Var::from_tensor(&Tensor::full(config.bias_init as f32, fan_out, device)?.to_dtype(dtype)?)?;
                data.insert(format!("l{i}.weight"), weight.clone());
                data.insert(format!("l{i}.bias"), bias.clone());
                let is_hidden = i + 1 < sizes.len() - 1;
                let (gamma, beta, running) = if is_hidden && config.norm != Norm::None {
                    let gamma = Var::ones(fan_out, dtype, device)?;
                    let beta = Var::zeros(fan_out, dtype, device)?;
                    data.insert(format!("l{i}.gamma"), gamma.clone());
                    data.insert(format!("l{i}.beta"), beta.clone());
                    let running = (config.norm == Norm::Batch).then(|| -> Result<(Var, Var)> {
                        Ok((Var::zeros(fan_out, dtype, device)?, Var::ones(fan_out, dtype, device)?))
                    });
                    (Some(gamma), Some(beta), running.transpose()?)
                } else {
                    (None, None, None)
                };
                layers.push(Layer { weight, bias, gamma, beta, running });
            }
        }
        Ok(Mlp { config, varmap, layers })
    }

    /// The hidden layers (all but the head).
    pub fn hidden(&self) -> &[Layer] {
        &self.layers[..self.layers.len() - 1]
    }

    /// The linear output layer.
    pub fn head(&self) -> &Layer {
        self.layers.last().expect("an MLP has a head")
    }

    /// Every trainable parameter, in layer order.
    pub fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|l| [Some(&l.weight), Some(&l.bias), l.gamma.as_ref(), l.beta.as_ref()])
            .flatten()
            .cloned()
            .collect()
    }

    /// Replaces layer `i`'s weight `(out, in)` and bias `(out,)` values (e.g. loaded from an `.npz`).
    pub fn set_layer(&self, i: usize, weight: &Tensor, bias: &Tensor) -> Result<()> {
        let layer = self.layers.get(i).ok_or_else(|| anyhow::anyhow!("no layer {i}"))?;
        ensure!(
            weight.dims() == layer.weight.dims(),
            "layer {i}: weight has shape {:?}, the network expects {:?}",
            weight.dims(),
            layer.weight.dims()
        );
        ensure!(
            bias.dims() == layer.bias.dims(),
            "layer {i}: bias has shape {:?}, the network expects {:?}",
            bias.dims(),
            layer.bias.dims()
        );
        layer.weight.set(&weight.to_dtype(layer.weight.dtype())?)?;
        layer.bias.set(&bias.to_dtype(layer.bias.dtype())?)?;
        Ok(())
    }

    /// Forward pass that keeps every hidden layer's pre-activation and activation.
    /// `train` selects batch statistics (true) or running statistics (false) for BatchNorm.
    pub fn forward_trace(&self, x: &Tensor, train: bool) -> Result<Trace> {
        self.forward_inner(x, train, None)
    }

    /// [`Mlp::forward_trace`] with a zero *probe* `Var` added to every hidden layer's affine output
    /// z = h Wᵀ + b (before any norm), one probe per hidden layer, batch × width. Adding zero changes
    /// no value, and the gradient of the loss with respect to probe l is ∂L/∂zˡ for every example —
    /// the intermediate gradient that candle's `backward()` would otherwise drop. The book's gradient
    /// measure, [`crate::probe::error_rms`], reads it.
    pub fn forward_probed(&self, x: &Tensor, train: bool) -> Result<(Trace, Vec<Var>)> {
        let mut probes = Vec::with_capacity(self.layers.len() - 1);
        let trace = self.forward_inner(x, train, Some(&mut probes))?;
        Ok((trace, probes))
    }

    fn forward_inner(&self, x: &Tensor, train: bool, mut probes: Option<&mut Vec<Var>>) -> Result<Trace> {
        let act = self.config.activation;
        let mut h = x.clone();
        let mut pre = Vec::with_capacity(self.layers.len() - 1);
        let mut post = Vec::with_capacity(self.layers.len() - 1);
        for layer in self.hidden() {
            let mut z = layer.affine(&h)?;
            if let Some(probes) = probes.as_mut() {
                let probe = Var::zeros(z.shape(), z.dtype(), z.device())?;
                z = (z + probe.as_tensor())?;
                probes.push(probe);
            }
            z = match self.config.norm {
                Norm::None => z,
                Norm::Batch => {
                    let (gamma, beta) = layer.norm_params();
                    crate::norm::batch_norm(&z, gamma, beta, layer.running.as_ref().expect("running stats"), train)?
                }
                Norm::Layer => {
                    let (gamma, beta) = layer.norm_params();
                    crate::norm::layer_norm(&z, gamma, beta)?
                }
            };
            let a = act.forward(&z)?;
            h = if self.config.residual && a.dims() == h.dims() { (&h + &a)? } else { a.clone() };
            pre.push(z);
            post.push(a);
        }
        let logits = self.head().affine(&h)?;
        Ok(Trace { pre, post, logits })
    }

    /// Logits in evaluation mode (BatchNorm uses running statistics). Like `candle_nn::BatchNorm`,
    /// the network implements [`ModuleT`] rather than `Module`, because training and evaluation differ.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_t(x, false)?)
    }

    /// Mean softmax cross-entropy of the logits for `x` against integer labels `y` (u32), in training mode.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        cross_entropy(&self.forward_t(x, true)?, y)
    }
}

/// Mean softmax cross-entropy; labels are u32 class indices.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(logits, labels)?)
}

/// Up to this many input features gemm sums a product in one pass over them (its depth blocks are
/// never shorter than 512: `gemm_common::cache::kernel_params`), so `b + Σ` there is `Σ + b`.
const ONE_DEPTH_BLOCK: usize = 512;

/// candle-nn's `Linear::forward`, with the same values and gradients bit for bit and a cheaper
/// backward. With a bias, lab's fast paths on and at most 512 input features (`ONE_DEPTH_BLOCK`),
/// it is one [`crate::fast::linear`] op: gemm starts each row from the bias and adds the whole
/// product once, b + Σ = Σ + b, and the backward products sum in candle's order (tested below;
/// every figure regenerates byte for byte). `fast::linear` also splits its products over candle's
/// elementwise pool rather than rayon's. Otherwise candle's matmul with the bias added by
/// [`add_bias`]: with more inputs gemm would add the bias before the last depth block,
/// (b + Σ₁) + Σ₂, other last bits. Inputs of rank 2 or 3.
pub fn linear(layer: &candle_nn::Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::Module;
    let w = layer.weight();
    let fused = crate::fast::kernel_enabled(crate::fast::Kernel::Linear) && w.dim(1)? <= ONE_DEPTH_BLOCK;
    let affine = |x: &Tensor| match layer.bias() {
        Some(b) if fused => crate::fast::linear(x, w, b),
        Some(b) => add_bias(&x.matmul(&w.t()?)?, b).map_err(candle_core::Error::wrap),
        None => x.matmul(&w.t()?),
    };
    match *x.dims() {
        [batch, m, k] if x.is_contiguous() => affine(&x.reshape((batch * m, k))?)?.reshape((batch, m, ())),
        [_, _] => affine(x),
        _ => layer.forward(x),
    }
}

/// `x.broadcast_add(b)` for a bias `b` as long as `x`'s last dimension: the same values and
/// gradients bit for bit, but b's gradient is summed in one pass. candle's backward sums a broadcast
/// over leading dimensions element by element with integer divisions, a quarter of a small
/// transformer's step; both add the rows in order, starting from zero.
pub fn add_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !fits_a_row(x, b)? {
        return Ok(x.broadcast_add(b)?);
    }
    Ok(x.apply_op2(b, AddBias)?)
}

/// `x.broadcast_mul(gain)` for a gain as long as `x`'s last dimension (a norm's γ), bit for bit, with
/// γ's gradient summed in one pass as in [`add_bias`].
pub fn scale_features(x: &Tensor, gain: &Tensor) -> Result<Tensor> {
    if !fits_a_row(x, gain)? {
        return Ok(x.broadcast_mul(gain)?);
    }
    Ok(x.apply_op2(gain, ScaleFeatures)?)
}

/// Whether `row` is a vector as long as `x`'s contiguous rows, both f32 or both f64.
fn fits_a_row(x: &Tensor, row: &Tensor) -> Result<bool> {
    let fits = row.rank() == 1 && x.rank() >= 1 && row.dim(0)? > 0 && x.dim(D::Minus1)? == row.dim(0)?;
    let floats = matches!(x.dtype(), DType::F32 | DType::F64) && x.dtype() == row.dtype();
    Ok(fits && floats && x.is_contiguous() && row.is_contiguous())
}

/// `f(x, r)` element by element, `r` repeated along `x`'s rows.
fn map_rows(
    x: &CpuStorage,
    xl: &Layout,
    r: &CpuStorage,
    rl: &Layout,
    f32_op: impl Fn(f32, f32) -> f32,
    f64_op: impl Fn(f64, f64) -> f64,
) -> candle_core::Result<(CpuStorage, Shape)> {
    fn map<T: Copy>(x: &[T], r: &[T], f: impl Fn(T, T) -> T) -> Vec<T> {
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(r.len()) {
            out.extend(row.iter().zip(r).map(|(&x, &r)| f(x, r)));
        }
        out
    }
    let (Some((x0, x1)), Some((r0, r1))) = (xl.contiguous_offsets(), rl.contiguous_offsets()) else {
        candle_core::bail!("lab row op: contiguous tensors only");
    };
    let out = match (x, r) {
        (CpuStorage::F32(x), CpuStorage::F32(r)) => CpuStorage::F32(map(&x[x0..x1], &r[r0..r1], f32_op)),
        (CpuStorage::F64(x), CpuStorage::F64(r)) => CpuStorage::F64(map(&x[x0..x1], &r[r0..r1], f64_op)),
        _ => candle_core::bail!("lab row op: f32 or f64, both the same"),
    };
    Ok((out, xl.shape().clone()))
}

/// x·γ, γ broadcast along x's rows (see [`scale_features`]).
struct ScaleFeatures;

impl candle_core::CustomOp2 for ScaleFeatures {
    fn name(&self) -> &'static str {
        "lab-scale-features"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        map_rows(x, xl, g, gl, |x, g| x * g, |x, g| x * g)
    }

    /// candle's: grad·γ for x, and for γ the row sums of grad·x.
    fn bwd(
        &self,
        x: &Tensor,
        gain: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gain_grad = grad.mul(x)?.apply_op1_no_bwd(&SumRows)?;
        Ok((Some(grad.broadcast_mul(gain)?), Some(gain_grad)))
    }
}

/// x + b, b broadcast along x's rows (see [`add_bias`]).
struct AddBias;

impl candle_core::CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "lab-add-bias"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        map_rows(x, xl, b, bl, |x, b| x + b, |x, b| x + b)
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.clone()), Some(grad.contiguous()?.apply_op1_no_bwd(&SumRows)?)))
    }
}

/// The sum of a contiguous tensor's rows (all but its last dimension), row by row from zero: what
/// candle's `sum_keepdim` over the leading dimensions computes, in the same order.
struct SumRows;

impl candle_core::CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "lab-sum-rows"
    }

    fn cpu_fwd(&self, g: &CpuStorage, gl: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        fn sum<T: candle_core::WithDType>(g: &[T], width: usize) -> Vec<T> {
            let mut out = vec![T::from_f64(0.0); width];
            for row in g.chunks_exact(width) {
                for (o, &x) in out.iter_mut().zip(row) {
                    *o += x;
                }
            }
            out
        }
        let Some((g0, g1)) = gl.contiguous_offsets() else { candle_core::bail!("lab-sum-rows: contiguous only") };
        let width = *gl.dims().last().unwrap_or(&1);
        let out = match g {
            CpuStorage::F32(g) => CpuStorage::F32(sum(&g[g0..g1], width)),
            CpuStorage::F64(g) => CpuStorage::F64(sum(&g[g0..g1], width)),
            _ => candle_core::bail!("lab-sum-rows: f32 or f64 only"),
        };
        Ok((out, Shape::from(width)))
    }
}

/// Fraction of rows whose arg-max logit equals the label.
pub fn accuracy(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    let predicted = logits.argmax(D::Minus1)?;
    let correct =
        predicted.eq(&labels.to_dtype(predicted.dtype())?)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    Ok(correct / labels.dim(0)? as f64)
}

impl ModuleT for Mlp {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_trace(x, train).map(|t| t.logits).map_err(candle_core::Error::wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ops_match_candles_broadcasts_in_values_and_gradients_bit_for_bit() -> Result<()> {
        for dtype in [DType::F32, DType::F64] {
            let rand = |r, c, s| -> Result<Tensor> {
                Ok(Init::Normal { std: 1.0 }
                    .tensor(r, c, &mut init::rng(s), &candle_core::Device::Cpu)?
                    .to_dtype(dtype)?)
            };
            let (x, b) = (Var::from_tensor(&rand(6, 5, 1)?)?, Var::from_tensor(&rand(1, 5, 2)?.squeeze(0)?)?);
            let x3 = x.as_tensor().reshape((2, 3, 5))?;
            let weights = rand(6, 5, 3)?.reshape((2, 3, 5))?;
            let ours = scale_features(&add_bias(&x3, b.as_tensor())?, b.as_tensor())?;
            let theirs = x3.broadcast_add(b.as_tensor())?.broadcast_mul(b.as_tensor())?;
            let bits = |t: &Tensor| -> Result<Vec<u64>> {
                let t = t.flatten_all()?.to_dtype(DType::F64)?;
                Ok(t.to_vec1::<f64>()?.into_iter().map(f64::to_bits).collect())
            };
            assert_eq!(bits(&ours)?, bits(&theirs)?);
            let (g1, g2) = ((ours * &weights)?.sum_all()?.backward()?, (theirs * &weights)?.sum_all()?.backward()?);
            for v in [&x, &b] {
                assert_eq!(bits(g1.get(v).unwrap())?, bits(g2.get(v).unwrap())?);
            }
        }
        Ok(())
    }

    #[test]
    fn fused_linear_has_the_bits_of_matmul_and_add_bias() -> Result<()> {
        use candle_nn::VarBuilder;
        // (input dims, out features): a 2-D batch longer than one depth block (∂W sums 600 rows),
        // a transformer-like 3-D input, and 784 inputs, past one depth block (the stock path).
        for (dims, out) in [(vec![600, 512], 96), (vec![4, 150, 32], 128), (vec![64, 784], 32)] {
            let varmap = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &DEVICE);
            let layer = candle_nn::linear(dims[dims.len() - 1], out, vb)?;
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, dims.as_slice(), &DEVICE)?)?;
            let mut out_dims = dims.clone();
            *out_dims.last_mut().unwrap() = out;
            let weights = Tensor::randn(0f32, 1.0, out_dims.as_slice(), &DEVICE)?;
            let run = |fast: bool| -> Result<Vec<Vec<u32>>> {
                crate::fast::with_enabled(fast, || {
                    let y = linear(&layer, x.as_tensor())?;
                    let grads = (&y * &weights)?.sum_all()?.backward()?;
                    let mut tensors = vec![y];
                    for v in varmap.all_vars().iter().chain([&x]) {
                        tensors.push(grads.get(v).expect("a gradient").clone());
                    }
                    let bits = |t: &Tensor| -> Result<Vec<u32>> {
                        Ok(t.flatten_all()?.to_vec1::<f32>()?.into_iter().map(f32::to_bits).collect())
                    };
                    tensors.iter().map(bits).collect()
                })
            };
            assert_eq!(run(true)?, run(false)?, "input {dims:?}, {out} outputs");
        }
        Ok(())
    }

    use crate::DEVICE;

    fn batch(b: usize, d: usize, seed: u64) -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(b, d, &mut init::rng(seed), &DEVICE)?;
        let y = Tensor::from_vec((0..b as u32).map(|i| i % 3).collect::<Vec<_>>(), b, &DEVICE)?;
        Ok((x, y))
    }

    /// Central finite differences in f64 on a few weights of every layer, against candle's autograd.
    fn gradient_check(config: MlpConfig) -> Result<()> {
        // f64 so the finite differences are accurate.
        let net = config.build_f64(&DEVICE)?;
        let (x, y) = batch(6, config.d_in, 11)?;
        let x = x.to_dtype(DType::F64)?;
        let grads = net.loss(&x, &y)?.backward()?;
        let h = 1e-6;
        for (li, layer) in net.layers.iter().enumerate() {
            let gw = grads.get(&layer.weight).expect("weight grad").flatten_all()?.to_vec1::<f64>()?;
            let w0 = layer.weight.as_tensor().flatten_all()?.to_vec1::<f64>()?;
            for idx in [0, w0.len() / 2, w0.len() - 1] {
                let mut plus = w0.clone();
                plus[idx] += h;
                let mut minus = w0.clone();
                minus[idx] -= h;
                let shape = layer.weight.dims().to_vec();
                layer.weight.set(&Tensor::from_vec(plus, shape.as_slice(), &DEVICE)?)?;
                let lp = net.loss(&x, &y)?.to_scalar::<f64>()?;
                layer.weight.set(&Tensor::from_vec(minus, shape.as_slice(), &DEVICE)?)?;
                let lm = net.loss(&x, &y)?.to_scalar::<f64>()?;
                layer.weight.set(&Tensor::from_vec(w0.clone(), shape.as_slice(), &DEVICE)?)?;
                let fd = (lp - lm) / (2.0 * h);
                let rel = (fd - gw[idx]).abs() / (fd.abs() + gw[idx].abs()).max(1e-8);
                assert!(
                    rel < 1e-5 || (fd - gw[idx]).abs() < 1e-9,
                    "layer {li} w[{idx}]: fd {fd} vs autograd {}",
                    gw[idx]
                );
            }
        }
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences_for_every_architecture() -> Result<()> {
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Gelu, Activation::Softsign] {
            gradient_check(MlpConfig::new(5, 4, 3, 3, act, Init::XAVIER).with_seed(1))?;
        }
        gradient_check(MlpConfig::new(5, 4, 3, 3, Activation::Tanh, Init::XAVIER).with_norm(Norm::Batch))?;
        gradient_check(MlpConfig::new(5, 4, 3, 3, Activation::Tanh, Init::XAVIER).with_norm(Norm::Layer))?;
        gradient_check(MlpConfig::new(4, 4, 3, 3, Activation::Sigmoid, Init::XAVIER).with_residual(true))?;
        Ok(())
    }

    #[test]
    fn bias_gradient_is_the_batch_sum_of_delta() -> Result<()> {
        // δ of the last hidden layer by hand: (softmax − onehot)/B · W_head ⊙ f'(z).
        let net = MlpConfig::new(5, 4, 2, 3, Activation::Sigmoid, Init::XAVIER).with_seed(2).build(&DEVICE)?;
        let (x, y) = batch(8, 5, 3)?;
        let trace = net.forward_trace(&x, true)?;
        let grads = cross_entropy(&trace.logits, &y)?.backward()?;
        let probs = candle_nn::ops::softmax(&trace.logits, D::Minus1)?;
        let onehot = candle_nn::encoding::one_hot(y.clone(), 3, 1f32, 0f32)?;
        let dlogits = ((probs - onehot)? / 8.0)?;
        let delta = dlogits
            .matmul(net.head().weight.as_tensor())?
            .mul(&Activation::Sigmoid.derivative_tensor(&trace.pre[1])?)?;
        let by_hand = delta.sum(0)?.to_vec1::<f32>()?;
        let autograd = grads.get(net.hidden()[1].delta_var()).unwrap().to_vec1::<f32>()?;
        for (a, b) in by_hand.iter().zip(&autograd) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn same_seed_same_network() -> Result<()> {
        let c = MlpConfig::new(3, 5, 2, 2, Activation::Relu, Init::HE).with_seed(9);
        let a = c.build(&DEVICE)?;
        let b = c.build(&DEVICE)?;
        let (x, _) = batch(4, 3, 0)?;
        assert_eq!(a.forward(&x)?.to_vec2::<f32>()?, b.forward(&x)?.to_vec2::<f32>()?);
        assert_eq!(a.vars().len(), 6);
        assert_eq!(a.varmap.all_vars().len(), 6);
        Ok(())
    }

    #[test]
    fn batch_norm_normalises_in_training_and_tracks_running_stats() -> Result<()> {
        let net = MlpConfig::new(4, 6, 1, 2, Activation::Linear, Init::Normal { std: 3.0 })
            .with_norm(Norm::Batch)
            .with_bias_init(2.0)
            .build(&DEVICE)?;
        let (x, _) = batch(64, 4, 5)?;
        let z = &net.forward_trace(&x, true)?.pre[0];
        let mean = z.mean(0)?.to_vec1::<f32>()?;
        let var = z.sqr()?.mean(0)?.to_vec1::<f32>()?;
        assert!(mean.iter().all(|m| m.abs() < 1e-5), "{mean:?}");
        assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-3), "{var:?}");
        let (rm, _) = net.layers[0].running.as_ref().unwrap();
        // One step of momentum 0.1 towards the batch mean, which is near the bias 2.
        let rm = rm.as_tensor().to_vec1::<f32>()?;
        assert!(rm.iter().all(|m| (m - 0.2).abs() < 0.15), "{rm:?}");
        Ok(())
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(MlpConfig::new(0, 4, 2, 3, Activation::Relu, Init::HE).validate().is_err());
        assert!(
            MlpConfig::new(3, 0, 2, 3, Activation::Relu, Init::HE)
                .validate()
                .unwrap_err()
                .to_string()
                .contains("hidden width")
        );
        assert!(MlpConfig::new(3, 4, 2, 3, Activation::Relu, Init::Normal { std: f64::NAN }).validate().is_err());
        assert!("foo".parse::<Norm>().is_err());
    }
}

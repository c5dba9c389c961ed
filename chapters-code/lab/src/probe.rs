//! Per-layer probes: what the gradient and the activations look like in every layer.
//!
//! Everything the book measures about a network at one moment comes from [`probe`]: one forward pass
//! in training mode, one backward pass, and per hidden layer the norms of ∂L/∂W and δ = ∂L/∂b, the
//! statistics of the activations, and the fractions of saturated and dead units.
//!
//! The book's one measure of *the gradient at layer l* is [`error_rms`]: the per-example size of δˡ,
//! read through zero probe `Var`s. (‖∂L/∂b‖ in [`LayerStats::delta_norm`] is the batch *sum*, which
//! cancels across examples and is identically zero under BatchNorm.)

use crate::net::{Mlp, Trace, cross_entropy};
use anyhow::Result;
use candle_core::{CpuStorage, DType, Tensor, Var, backprop::GradStore};
use serde::{Deserialize, Serialize};

/// One hidden layer's measurements (the head is reported separately in [`Probe::head`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// 1-based layer index, input side first (the book's ℓ).
    pub layer: usize,
    /// ‖∂L/∂W‖ (Frobenius).
    pub grad_w_norm: f64,
    /// ‖δ‖ = ‖∂L/∂b‖ (Euclidean); under a norm layer, ‖∂L/∂β‖.
    pub delta_norm: f64,
    /// ‖W‖ (Frobenius).
    pub weight_norm: f64,
    /// ‖∂L/∂W‖ / ‖W‖: how large a step of plain SGD is relative to the weights, per unit learning rate.
    pub grad_to_weight: f64,
    /// Mean and standard deviation of the activations f(z) over batch and units.
    pub act_mean: f64,
    pub act_std: f64,
    /// Standard deviation of the pre-activations z.
    pub pre_std: f64,
    /// Fraction of activations within 0.03 of an asymptote (saturating activations only).
    pub saturated: f64,
    /// Fraction of units whose pre-activation is ≤ 0 for every example of the batch (ReLU only).
    pub dead: f64,
}

/// A snapshot of the whole network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub loss: f64,
    pub accuracy: f64,
    /// Hidden layers, input side first.
    pub layers: Vec<LayerStats>,
    /// The output layer's ‖∂L/∂W‖ and ‖∂L/∂b‖.
    pub head: LayerStats,
}

impl Probe {
    /// ‖δˡ‖ for every hidden layer, input side first.
    pub fn delta_norms(&self) -> Vec<f64> {
        self.layers.iter().map(|l| l.delta_norm).collect()
    }

    /// ‖∂L/∂Wˡ‖ for every hidden layer, input side first.
    pub fn grad_w_norms(&self) -> Vec<f64> {
        self.layers.iter().map(|l| l.grad_w_norm).collect()
    }

    /// ‖δ¹‖ / ‖δᴸ‖: how much weaker the first hidden layer's error signal is than the last's.
    pub fn first_to_last_ratio(&self) -> f64 {
        match (self.layers.first(), self.layers.last()) {
            (Some(first), Some(last)) => first.delta_norm / last.delta_norm,
            _ => f64::NAN,
        }
    }
}

/// Runs one forward and backward pass on `(x, y)` and measures every layer. Does not change the
/// network (BatchNorm's running statistics aside: the forward pass is in training mode).
pub fn probe(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<Probe> {
    let trace = net.forward_trace(x, true)?;
    let loss = cross_entropy(&trace.logits, y)?;
    let grads = loss.backward()?;
    probe_from(net, &trace, &loss, y, &grads)
}

/// Builds a [`Probe`] from a forward trace and the gradients of its loss (for training loops that
/// already ran both).
pub fn probe_from(net: &Mlp, trace: &Trace, loss: &Tensor, y: &Tensor, grads: &GradStore) -> Result<Probe> {
    let act = net.config.activation;
    let mut layers = Vec::with_capacity(trace.pre.len());
    for (i, (layer, (z, a))) in net.hidden().iter().zip(trace.pre.iter().zip(&trace.post)).enumerate() {
        let (grad_w_norm, weight_norm) = (grad_norm(grads, &layer.weight)?, norm(layer.weight.as_tensor())?);
        let (act_mean, act_std) = mean_std(a)?;
        layers.push(LayerStats {
            layer: i + 1,
            grad_w_norm,
            delta_norm: grad_norm(grads, layer.delta_var())?,
            weight_norm,
            grad_to_weight: grad_w_norm / weight_norm,
            act_mean,
            act_std,
            pre_std: mean_std(z)?.1,
            saturated: act.saturated_fraction(a)?,
            dead: act.dead_fraction(z)?,
        });
    }
    let head = net.head();
    let (grad_w_norm, weight_norm) = (grad_norm(grads, &head.weight)?, norm(head.weight.as_tensor())?);
    let (act_mean, act_std) = mean_std(&trace.logits)?;
    Ok(Probe {
        loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        accuracy: crate::net::accuracy(&trace.logits, y)?,
        head: LayerStats {
            layer: layers.len() + 1,
            grad_w_norm,
            delta_norm: grad_norm(grads, &head.bias)?,
            weight_norm,
            grad_to_weight: grad_w_norm / weight_norm,
            act_mean,
            act_std,
            pre_std: act_std,
            saturated: 0.0,
            dead: 0.0,
        },
        layers,
    })
}

/// **The gradient at layer l**, the book's one measure of it (defined in chapter 1, "Measuring the
/// gradient at a layer"), for every hidden layer, input side first: the root-mean-square over the
/// batch of the per-example error's size,
///
/// ```text
/// sqrt( (1/B) Σᵢ ‖δˡᵢ‖² ),   δˡᵢ = B · ∂L/∂zˡᵢ  (= ∂ℓᵢ/∂zˡ when example i's loss is its own),
/// ```
///
/// where L = (1/B) Σᵢ ℓᵢ is the batch-mean softmax cross-entropy and zˡ = hˡ⁻¹Wˡᵀ + bˡ the layer's
/// affine output (before any norm). It is √B · ‖∂L/∂Zˡ‖_F, read through zero probe `Var`s
/// ([`Mlp::forward_probed`]); the forward pass is in training mode, like [`Mlp::loss`].
///
/// Unlike the bias gradient ‖∂L/∂bˡ‖ = ‖(1/B) Σᵢ δˡᵢ‖ it does not cancel across examples, and it is
/// not identically zero under BatchNorm (where ∂L/∂bˡ is). Plain, normalised and residual MLPs alike.
pub fn error_rms(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<Vec<f64>> {
    let (trace, probes) = net.forward_probed(x, true)?;
    let grads = cross_entropy(&trace.logits, y)?.backward()?;
    let batch = x.dim(0)? as f64;
    probes.iter().map(|p| Ok(grad_norm(&grads, p)? * batch.sqrt())).collect()
}

/// Euclidean / Frobenius norm of a tensor, accumulated in f64: the squares summed in order from
/// zero, as the tensor ops `to_dtype(F64)?.sqr()?.sum_all()?.sqrt()` do (bit for bit), in one pass
/// without their temporaries when `t` is a contiguous f32 or f64 CPU tensor.
pub fn norm(t: &Tensor) -> Result<f64> {
    if let Some(sum) = fold_in_f64(t, 0.0, |sum, x| sum + x * x) {
        return Ok(sum.sqrt());
    }
    Ok(t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt())
}

/// `f` folded over `t`'s entries, each widened to f64, in memory order; `None` unless `t` is a
/// contiguous f32 or f64 tensor on the CPU.
fn fold_in_f64(t: &Tensor, init: f64, f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    fn fold<T: Copy + Into<f64>>(xs: &[T], init: f64, f: impl Fn(f64, f64) -> f64) -> f64 {
        xs.iter().fold(init, |acc, &x| f(acc, x.into()))
    }
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()?) {
        (candle_core::Storage::Cpu(CpuStorage::F32(xs)), (a, b)) => Some(fold(&xs[a..b], init, f)),
        (candle_core::Storage::Cpu(CpuStorage::F64(xs)), (a, b)) => Some(fold(&xs[a..b], init, f)),
        _ => None,
    }
}

/// The norm of `var`'s gradient; zero when the loss does not depend on it.
pub fn grad_norm(grads: &GradStore, var: &Var) -> Result<f64> {
    grads.get(var).map_or(Ok(0.0), norm)
}

/// Mean and (population) standard deviation over every entry, in f64.
///
/// In f64 from zero and in order, as the tensor ops `sum_all` and `affine(1, −mean)?.sqr()?.sum_all()`
/// (bit for bit), in two passes without temporaries when `t` is a contiguous f32 or f64 CPU tensor.
pub fn mean_std(t: &Tensor) -> Result<(f64, f64)> {
    let n = t.elem_count() as f64;
    if let Some(sum) = fold_in_f64(t, 0.0, |sum, x| sum + x) {
        let mean = sum / n;
        // candle's affine(1, −mean) is x·1 + (−mean).
        let squares = fold_in_f64(t, 0.0, |sum, x| {
            let d = x * 1.0 + -mean;
            sum + d * d
        });
        return Ok((mean, (squares.expect("the same tensor") / n).sqrt()));
    }
    let t = t.to_dtype(DType::F64)?.flatten_all()?;
    let n = t.elem_count() as f64;
    let mean = t.sum_all()?.to_scalar::<f64>()? / n;
    let var = t.affine(1.0, -mean)?.sqr()?.sum_all()?.to_scalar::<f64>()? / n;
    Ok((mean, var.sqrt()))
}

/// A histogram of a tensor's entries over `[lo, hi]` in `bins` equal bins; entries outside the range
/// are clamped into the end bins so the counts always sum to the number of entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn of(t: &Tensor, lo: f64, hi: f64, bins: usize) -> Result<Histogram> {
        anyhow::ensure!(bins > 0 && hi > lo, "a histogram needs bins > 0 and hi > lo");
        let mut counts = vec![0u64; bins];
        let width = (hi - lo) / bins as f64;
        for v in t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()? {
            let i = ((v - lo) / width).floor();
            let i = if i.is_nan() { 0 } else { (i.max(0.0) as usize).min(bins - 1) };
            counts[i] += 1;
        }
        Ok(Histogram { lo, hi, counts })
    }

    /// Bin centres, for plotting.
    pub fn centres(&self) -> Vec<f64> {
        let w = (self.hi - self.lo) / self.counts.len() as f64;
        (0..self.counts.len()).map(|i| self.lo + (i as f64 + 0.5) * w).collect()
    }

    /// Counts as fractions of the total.
    pub fn density(&self) -> Vec<f64> {
        let total = self.counts.iter().sum::<u64>().max(1) as f64;
        self.counts.iter().map(|&c| c as f64 / total).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, init};

    /// The one-pass norm and moments against the tensor ops they replace, bit for bit: f32, f64, a
    /// transposed (strided) view, a narrowed one (an offset into its storage) and an empty tensor.
    #[test]
    fn one_pass_norm_and_moments_are_the_tensor_ops_bit_for_bit() -> Result<()> {
        let tensor_norm =
            |t: &Tensor| -> Result<f64> { Ok(t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt()) };
        let tensor_moments = |t: &Tensor| -> Result<(f64, f64)> {
            let t = t.to_dtype(DType::F64)?.flatten_all()?;
            let n = t.elem_count() as f64;
            let mean = t.sum_all()?.to_scalar::<f64>()? / n;
            let var = t.affine(1.0, -mean)?.sqr()?.sum_all()?.to_scalar::<f64>()? / n;
            Ok((mean, var.sqrt()))
        };
        let x = (Init::Normal { std: 3.0 }.tensor(37, 29, &mut init::rng(4), &DEVICE)? + 0.7)?;
        let empty = x.narrow(0, 0, 0)?;
        for t in [x.clone(), x.to_dtype(DType::F64)?, x.t()?, x.narrow(0, 3, 20)?, empty] {
            assert_eq!(norm(&t)?.to_bits(), tensor_norm(&t)?.to_bits());
            let ((m, s), (tm, ts)) = (mean_std(&t)?, tensor_moments(&t)?);
            assert_eq!((m.to_bits(), s.to_bits()), (tm.to_bits(), ts.to_bits()), "{:?}", t.layout());
        }
        assert!((mean_std(&x)?.0 - 0.7).abs() < 0.2 && (mean_std(&x)?.1 - 3.0).abs() < 0.3);
        Ok(())
    }

    #[test]
    fn probe_reports_every_layer_and_matches_the_gradients() -> Result<()> {
        let net = MlpConfig::new(6, 5, 4, 3, Activation::Sigmoid, Init::LecunNormal).with_seed(4).build(&DEVICE)?;
        let x = Init::Normal { std: 1.0 }.tensor(32, 6, &mut init::rng(1), &DEVICE)?;
        let y = Tensor::from_vec((0..32u32).map(|i| i % 3).collect(), 32, &DEVICE)?;
        let p = probe(&net, &x, &y)?;
        assert_eq!(p.layers.len(), 4);
        assert_eq!(p.layers.iter().map(|l| l.layer).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        let grads = net.loss(&x, &y)?.backward()?;
        let direct = norm(grads.get(&net.hidden()[2].bias).unwrap())?;
        assert!((p.layers[2].delta_norm - direct).abs() < 1e-9);
        // Sigmoid activations lie in (0, 1) with mean near 1/2 at this init.
        assert!(p.layers.iter().all(|l| l.act_mean > 0.3 && l.act_mean < 0.7));
        assert!(p.loss > 0.5 && p.loss < 2.0, "loss {}", p.loss);
        // At this init the sigmoid net's δ shrinks towards the input.
        assert!(p.first_to_last_ratio() < 1.0, "ratio {}", p.first_to_last_ratio());
        Ok(())
    }

    #[test]
    fn error_rms_is_the_rms_of_the_per_example_errors() -> Result<()> {
        let x = Init::Normal { std: 1.0 }.tensor(16, 6, &mut init::rng(1), &DEVICE)?;
        let y = Tensor::from_vec((0..16u32).map(|i| i % 3).collect(), 16, &DEVICE)?;
        // Plain: the per-example errors by hand (lab::jacobian), their RMS size per layer.
        let config = MlpConfig::new(6, 5, 4, 3, Activation::Tanh, Init::XAVIER).with_seed(4).with_bias_init(0.1);
        let net = config.build(&DEVICE)?;
        let measured = error_rms(&net, &x, &y)?;
        let by_hand = crate::jacobian::per_example_deltas(&net, &x, &y)?;
        assert_eq!(measured.len(), 4);
        for (m, d) in measured.iter().zip(&by_hand) {
            let want = norm(d)? / 4.0; // ‖Δ‖_F / √B, B = 16
            assert!((m / want - 1.0).abs() < 1e-5, "{m} vs {want}");
        }
        // The probes change nothing: same loss as the plain forward pass.
        let (trace, _) = net.forward_probed(&x, true)?;
        let a = cross_entropy(&trace.logits, &y)?.to_scalar::<f32>()?;
        assert_eq!(a, net.loss(&x, &y)?.to_scalar::<f32>()?);
        // BatchNorm: the bias gradient is identically zero, the per-example errors are not.
        let bn = config.clone().with_norm(crate::Norm::Batch).build(&DEVICE)?;
        let grads = bn.loss(&x, &y)?.backward()?;
        let rms = error_rms(&bn, &x, &y)?;
        for (layer, r) in bn.hidden().iter().zip(&rms) {
            assert!(grad_norm(&grads, &layer.bias)? < 1e-6 * r && *r > 1e-3, "bias {r}");
        }
        // Residual: one value per hidden layer, all positive.
        let res = config.with_residual(true).build(&DEVICE)?;
        assert!(error_rms(&res, &x, &y)?.iter().all(|&r| r > 0.0));
        Ok(())
    }

    #[test]
    fn mean_std_and_histogram() -> Result<()> {
        let t = Tensor::new(&[1.0f32, 2.0, 3.0, 4.0], &DEVICE)?;
        let (m, s) = mean_std(&t)?;
        assert!((m - 2.5).abs() < 1e-12 && (s - 1.25f64.sqrt()).abs() < 1e-12);
        let h = Histogram::of(&Tensor::new(&[-5.0f32, 0.1, 0.2, 0.9, 7.0], &DEVICE)?, 0.0, 1.0, 2)?;
        assert_eq!(h.counts, vec![3, 2]);
        assert_eq!(h.centres(), vec![0.25, 0.75]);
        assert!((h.density().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(Histogram::of(&t, 1.0, 1.0, 3).is_err());
        Ok(())
    }
}

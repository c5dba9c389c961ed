//! Nielsen's experiment: the "speed of learning" ‖δˡ‖ = ‖∂C/∂bˡ‖ of each hidden layer of a sigmoid
//! network on handwritten digits, at initialisation and during training.
//!
//! Everything here follows *Neural Networks and Deep Learning* (Nielsen 2015), chapter 5, and the code
//! behind it (`network2.py` and `fig/generate_gradient.py` in github.com/mnielsen/neural-networks-and-deep-learning):
//!
//! - networks `[784, 30, …, 30, 10]` of sigmoid units — the *output* layer is sigmoid too, with the
//!   cross-entropy cost Σⱼ −yⱼ ln aⱼ − (1 − yⱼ) ln(1 − aⱼ) summed over the ten outputs and averaged over
//!   examples ([`Cost::SigmoidCrossEntropy`]; `network2.CrossEntropyCost`);
//! - weights N(0, 1/n_in) and biases N(0, 1) (`network2.default_weight_initializer`);
//! - the speed of a layer is the norm of the bias gradient averaged over the first 1000 training images
//!   (`get_average_gradient`), which is what [`speed_of_learning`] computes on a batch of 1000 — beside
//!   it, [`gradient_at_layers`] computes the book's measure gˡ (chapter 1) on the same networks, batch
//!   and cost;
//! - training is gradient descent on those 1000 images as one batch, η = 0.1, L2 regularisation λ = 5
//!   (`net.SGD(training_data, 1, 1000, 0.1, lmbda=5.0)` once per epoch, 500 epochs).

use anyhow::{Context, Result, ensure};
use candle_core::Tensor;
use lab::data::Dataset;
use lab::net::accuracy;
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig};
use serde::Serialize;
use std::path::PathBuf;

/// Where the digits come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// lab's procedurally drawn 28×28 digits (nothing to download), from this seed.
    Digits { seed: u64 },
    /// The real MNIST, from a directory holding the four decompressed IDX files.
    Mnist { dir: PathBuf },
}

impl DataSource {
    /// `n_train` training examples and `n_test` held-out ones. Digits: the first `n_train + n_test`
    /// drawn from the seed, split in that order. MNIST: the first `n_train` of the training file (the
    /// first 1000 are Nielsen's `training_data[:1000]`) and the first `n_test` of the test file.
    pub fn load(&self, n_train: usize, n_test: usize) -> Result<(Dataset, Dataset)> {
        match self {
            DataSource::Digits { seed } => lab::data::digits(n_train + n_test, *seed)?.split(n_train),
            DataSource::Mnist { dir } => {
                let mnist = lab::data::load_mnist_dir(dir)?;
                Ok((
                    mnist.train.take(n_train).context("MNIST training set")?,
                    mnist.test.take(n_test).context("MNIST test set")?,
                ))
            }
        }
    }

    /// A short description for titles and JSON.
    pub fn describe(&self) -> String {
        match self {
            DataSource::Digits { .. } => "procedural digits".into(),
            DataSource::Mnist { .. } => "MNIST".into(),
        }
    }
}

/// Where the digits come from, as flags (`#[command(flatten)]` into an experiment's options):
/// `--mnist-dir DIR` for the real MNIST, else lab's procedural digits from `--data-seed`. Saved in the
/// figures' JSON as the [`DataSource`] it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, clap::Args)]
#[serde(into = "DataSource")]
pub struct DataArgs {
    /// Directory holding the four decompressed MNIST IDX files (train-images-idx3-ubyte, …); without
    /// it the examples use lab's procedurally drawn digits.
    #[arg(long, value_name = "DIR")]
    pub mnist_dir: Option<PathBuf>,
    /// Seed of the procedural digits (ignored with --mnist-dir).
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
}

impl DataArgs {
    /// The data source, checking that an MNIST directory exists before any work starts.
    pub fn source(&self) -> Result<DataSource> {
        if let Some(dir) = &self.mnist_dir {
            ensure!(dir.is_dir(), "--mnist-dir {} is not a directory", dir.display());
        }
        Ok(self.clone().into())
    }

    /// A short description for titles and JSON ([`DataSource::describe`]).
    pub fn describe(&self) -> String {
        DataSource::from(self.clone()).describe()
    }
}

impl From<DataArgs> for DataSource {
    fn from(args: DataArgs) -> DataSource {
        match args.mnist_dir {
            Some(dir) => DataSource::Mnist { dir },
            None => DataSource::Digits { seed: args.data_seed },
        }
    }
}

/// The output layer and cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cost {
    /// Nielsen's: sigmoid outputs, cross-entropy summed over the outputs, averaged over examples.
    /// ∂C/∂(logit) = (σ(logit) − y)/B.
    SigmoidCrossEntropy,
    /// The modern default: softmax outputs, negative log-likelihood averaged over examples.
    /// ∂C/∂(logit) = (softmax − y)/B.
    Softmax,
}

impl std::str::FromStr for Cost {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sigmoid" | "sigmoid_ce" | "nielsen" => Ok(Cost::SigmoidCrossEntropy),
            "softmax" => Ok(Cost::Softmax),
            other => anyhow::bail!("unknown cost `{other}` (expected sigmoid or softmax)"),
        }
    }
}

/// The flag's spelling of the cost (`--cost sigmoid|softmax`).
impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Cost::SigmoidCrossEntropy => "sigmoid",
            Cost::Softmax => "softmax",
        })
    }
}

impl Cost {
    /// The mean cost of `logits` (B × classes) against integer labels `y`.
    pub fn loss(&self, logits: &Tensor, y: &Tensor) -> Result<Tensor> {
        match self {
            Cost::Softmax => lab::net::cross_entropy(logits, y),
            Cost::SigmoidCrossEntropy => {
                let (batch, classes) = logits.dims2()?;
                let onehot = candle_nn::encoding::one_hot(y.clone(), classes, 1f32, 0f32)?.to_dtype(logits.dtype())?;
                // −y ln σ(s) − (1 − y) ln(1 − σ(s)) = softplus(s) − y·s, with the stable softplus
                // max(s, 0) + ln(1 + e^(−|s|)).
                let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
                let per_entry = (softplus - (&onehot * logits)?)?;
                Ok((per_entry.sum_all()? / batch as f64)?)
            }
        }
    }
}

/// The network of one experiment, serialisable into a figure's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetSpec {
    pub d_in: usize,
    pub width: usize,
    pub depth: usize,
    pub classes: usize,
    pub activation: Activation,
    pub init: Init,
    /// Standard deviation of the N(0, σ²) biases (Nielsen: 1; 0 for zero biases).
    pub bias_std: f64,
    pub seed: u64,
}

impl NetSpec {
    /// Nielsen's `[784, 30 × depth, 10]` sigmoid network with N(0, 1/n_in) weights and N(0, 1) biases.
    pub fn nielsen(depth: usize, seed: u64) -> NetSpec {
        NetSpec {
            d_in: 784,
            width: 30,
            depth,
            classes: 10,
            activation: Activation::Sigmoid,
            init: Init::LecunNormal,
            bias_std: 1.0,
            seed,
        }
    }

    /// Builds the network: weights from lab's seeded init (seed `seed`), then every bias, the head's
    /// included, drawn from N(0, bias_std²) with its own stream (seed `seed + BIAS_STREAM`).
    pub fn build(&self) -> Result<Mlp> {
        ensure!(
            self.bias_std.is_finite() && self.bias_std >= 0.0,
            "bias std must be a finite number ≥ 0, got {}",
            self.bias_std
        );
        let net = MlpConfig::new(self.d_in, self.width, self.depth, self.classes, self.activation, self.init)
            .with_seed(self.seed)
            .build(&DEVICE)?;
        if self.bias_std > 0.0 {
            let mut rng = lab::init::rng(self.seed.wrapping_add(BIAS_STREAM));
            for layer in &net.layers {
                let n = layer.bias.dims()[0];
                layer.bias.set(&Init::Normal { std: self.bias_std }.tensor(n, 1, &mut rng, &DEVICE)?.reshape(n)?)?;
            }
        }
        Ok(net)
    }
}

/// Offset of the seed of the bias draw from the weights' seed.
pub const BIAS_STREAM: u64 = 0xB1A5;

/// Nielsen's initial speeds of learning, from the first line of `fig/norms_during_training_{2,3,4}_layers.json`
/// in his repository (commit 24c21e4); his chapter 5 quotes them rounded: 0.07 and 0.31; 0.012, 0.060
/// and 0.283; 0.003, 0.017, 0.070 and 0.285.
pub const NIELSEN_INITIAL_SPEEDS: [&[f64]; 3] = [
    &[0.06574134326503182, 0.3092184942703712],
    &[0.011838212272121293, 0.05996519457449515, 0.28314239285488185],
    &[0.0029752663545292526, 0.017076665445425132, 0.06953924167660484, 0.28513893545173896],
];

/// ‖∂C/∂bˡ‖ for every hidden layer (input side first): the gradient of the *mean* cost over the batch,
/// as Nielsen's `get_average_gradient`.
pub fn speed_of_learning(net: &Mlp, x: &Tensor, y: &Tensor, cost: Cost) -> Result<Vec<f64>> {
    let trace = net.forward_trace(x, true)?;
    let grads = cost.loss(&trace.logits, y)?.backward()?;
    net.hidden().iter().map(|l| lab::probe::grad_norm(&grads, l.delta_var())).collect()
}

/// **The gradient at layer l**, gˡ = sqrt((1/B) Σᵢ ‖δˡᵢ‖²), for every hidden layer (input side first):
/// the book's one measure (chapter 1; [`lab::probe::error_rms`]), here for either `cost`, read through
/// the zero probe `Var`s of [`Mlp::forward_probed`]. With [`Cost::Softmax`] it is `error_rms` itself.
///
/// Both costs are means over the batch, so ∂C/∂zˡᵢ = δˡᵢ/B and gˡ = √B · ‖∂C/∂Zˡ‖_F. Unlike Nielsen's
/// ‖∂C/∂bˡ‖ = ‖(1/B) Σᵢ δˡᵢ‖, the per-example errors cannot cancel in it.
pub fn gradient_at_layers(net: &Mlp, x: &Tensor, y: &Tensor, cost: Cost) -> Result<Vec<f64>> {
    let (trace, probes) = net.forward_probed(x, true)?;
    let grads = cost.loss(&trace.logits, y)?.backward()?;
    g_from_probes(&grads, &probes, x.dim(0)?)
}

/// gˡ from the gradients of the probe `Var`s of a batch of `batch` examples.
fn g_from_probes(
    grads: &candle_core::backprop::GradStore,
    probes: &[candle_core::Var],
    batch: usize,
) -> Result<Vec<f64>> {
    let root_b = (batch as f64).sqrt();
    probes.iter().map(|p| Ok(lab::probe::grad_norm(grads, p)? * root_b)).collect()
}

/// Both measures of every hidden layer's gradient, input side first, on one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerGradients {
    /// Nielsen's speed of learning ‖∂C/∂bˡ‖ ([`speed_of_learning`]).
    pub speed: Vec<f64>,
    /// The book's gˡ ([`gradient_at_layers`]).
    pub g: Vec<f64>,
}

/// Plain gradient descent with Nielsen's L2 regularisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sgd {
    /// Learning rate η.
    pub eta: f64,
    /// L2 strength λ; every step multiplies weights (not biases) by 1 − ηλ/n (`network2.update_mini_batch`).
    pub lambda: f64,
    /// Size n of the whole training set, for the λ/n above.
    pub n: usize,
}

/// One gradient step on the batch `(x, y)`; returns the batch's cost and, when `measure` is set, the
/// speed ‖∂C/∂bˡ‖ and gˡ of every hidden layer *before* the step (empty otherwise).
pub fn step(net: &Mlp, x: &Tensor, y: &Tensor, cost: Cost, sgd: &Sgd, measure: bool) -> Result<(f64, LayerGradients)> {
    // The probes add zero to every pre-activation: the same values, the same step.
    let (trace, probes) =
        if measure { net.forward_probed(x, true)? } else { (net.forward_trace(x, true)?, Vec::new()) };
    let loss = cost.loss(&trace.logits, y)?;
    let grads = loss.backward()?;
    let measured = if measure {
        LayerGradients {
            speed: net
                .hidden()
                .iter()
                .map(|l| lab::probe::grad_norm(&grads, l.delta_var()))
                .collect::<Result<Vec<_>>>()?,
            g: g_from_probes(&grads, &probes, x.dim(0)?)?,
        }
    } else {
        LayerGradients::default()
    };
    let decay = 1.0 - sgd.eta * sgd.lambda / sgd.n.max(1) as f64;
    for layer in &net.layers {
        if let Some(g) = grads.get(&layer.weight) {
            let w = layer.weight.as_tensor();
            let next = if decay == 1.0 { (w - (g * sgd.eta)?)? } else { ((w * decay)? - (g * sgd.eta)?)? };
            layer.weight.set(&next)?;
        }
        if let Some(g) = grads.get(&layer.bias) {
            layer.bias.set(&(layer.bias.as_tensor() - (g * sgd.eta)?)?)?;
        }
    }
    Ok((loss.to_scalar::<f32>()? as f64, measured))
}

/// Mean cost and accuracy on a data set (in chunks of 1000 examples).
pub fn evaluate(net: &Mlp, data: &Dataset, cost: Cost) -> Result<(f64, f64)> {
    let n = data.len();
    let (mut loss, mut correct) = (0.0, 0.0);
    let mut start = 0;
    while start < n {
        let len = (n - start).min(1000);
        let (x, y) = (data.x.narrow(0, start, len)?, data.y.narrow(0, start, len)?);
        let logits = net.forward(&x)?;
        loss += cost.loss(&logits, &y)?.to_scalar::<f32>()? as f64 * len as f64;
        correct += accuracy(&logits, &y)? * len as f64;
        start += len;
    }
    Ok((loss / n as f64, correct / n as f64))
}

/// Relative distance each hidden layer's weights moved: ‖Wˡ − W₀ˡ‖ / ‖W₀ˡ‖, input side first.
pub fn weight_change(net: &Mlp, initial: &[Tensor]) -> Result<Vec<f64>> {
    net.hidden()
        .iter()
        .zip(initial)
        .map(|(l, w0)| Ok(lab::probe::norm(&(l.weight.as_tensor() - w0)?)? / lab::probe::norm(w0)?))
        .collect()
}

/// Copies of the hidden layers' weights (to measure [`weight_change`] against later).
pub fn snapshot(net: &Mlp) -> Result<Vec<Tensor>> {
    net.hidden().iter().map(|l| Ok(l.weight.as_tensor().copy()?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_batch() -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(8, 5, &mut lab::init::rng(1), &DEVICE)?;
        let y = Tensor::from_vec((0..8u32).map(|i| i % 3).collect(), 8, &DEVICE)?;
        Ok((x, y))
    }

    #[test]
    fn sigmoid_cross_entropy_matches_its_definition_and_gradient() -> Result<()> {
        let (_, y) = tiny_batch()?;
        let s = Init::Normal { std: 3.0 }.tensor(8, 3, &mut lab::init::rng(2), &DEVICE)?;
        let var = candle_core::Var::from_tensor(&s)?;
        let loss = Cost::SigmoidCrossEntropy.loss(var.as_tensor(), &y)?;
        let (sv, yv) = (s.to_vec2::<f32>()?, y.to_vec1::<u32>()?);
        let mut by_hand = 0.0f64;
        let mut grad_hand = vec![vec![0.0f64; 3]; 8];
        for i in 0..8 {
            for j in 0..3 {
                let a = 1.0 / (1.0 + (-(sv[i][j] as f64)).exp());
                let t = if yv[i] as usize == j { 1.0 } else { 0.0 };
                by_hand += -t * a.ln() - (1.0 - t) * (1.0 - a).ln();
                grad_hand[i][j] = (a - t) / 8.0;
            }
        }
        by_hand /= 8.0;
        assert!((loss.to_scalar::<f32>()? as f64 - by_hand).abs() < 1e-5);
        let g = loss.backward()?.get(&var).unwrap().to_vec2::<f32>()?;
        for i in 0..8 {
            for j in 0..3 {
                assert!((g[i][j] as f64 - grad_hand[i][j]).abs() < 1e-6);
            }
        }
        Ok(())
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs())
    }

    #[test]
    fn gradient_at_layers_is_lab_error_rms_and_step_measures_both() -> Result<()> {
        let (x, y) = tiny_batch()?;
        let spec = NetSpec { d_in: 5, width: 6, depth: 3, classes: 3, ..NetSpec::nielsen(3, 4) };
        let net = spec.build()?;
        // Softmax: exactly lab's error_rms, the book's gˡ.
        let g = gradient_at_layers(&net, &x, &y, Cost::Softmax)?;
        assert!(close(&g, &lab::probe::error_rms(&net, &x, &y)?), "{g:?}");
        // Sigmoid cost: gˡ by hand from the per-example errors, δᴸ⁺¹ᵢ = σ(s) − y and δˡᵢ = (δˡ⁺¹ᵢ Wˡ⁺¹) ⊙ σ′(zˡ).
        let trace = net.forward_trace(&x, true)?;
        let onehot = candle_nn::encoding::one_hot(y.clone(), 3, 1f32, 0f32)?;
        let mut delta = (candle_nn::ops::sigmoid(&trace.logits)? - onehot)?;
        let mut by_hand = vec![0.0; 3];
        for l in (0..3).rev() {
            let s = candle_nn::ops::sigmoid(&trace.pre[l])?;
            delta = delta.matmul(net.layers[l + 1].weight.as_tensor())?.mul(&(&s * s.affine(-1.0, 1.0)?)?)?;
            by_hand[l] = lab::probe::norm(&delta)? / 8f64.sqrt();
        }
        let g = gradient_at_layers(&net, &x, &y, Cost::SigmoidCrossEntropy)?;
        assert!(close(&g, &by_hand), "{g:?} vs {by_hand:?}");
        // A measuring step reports the same two profiles as the two functions, before it steps.
        let speed = speed_of_learning(&net, &x, &y, Cost::SigmoidCrossEntropy)?;
        let (_, measured) = step(&net, &x, &y, Cost::SigmoidCrossEntropy, &Sgd { eta: 0.1, lambda: 0.0, n: 8 }, true)?;
        assert!(close(&measured.speed, &speed) && close(&measured.g, &g));
        Ok(())
    }

    #[test]
    fn nielsen_net_has_normal_biases_and_scaled_weights() -> Result<()> {
        let spec = NetSpec { d_in: 400, width: 300, depth: 2, ..NetSpec::nielsen(2, 5) };
        let net = spec.build()?;
        let b = net.hidden()[0].bias.as_tensor().to_vec1::<f32>()?;
        let (m, s) = lab::probe::mean_std(net.hidden()[0].bias.as_tensor())?;
        assert!(m.abs() < 0.2 && (s - 1.0).abs() < 0.1, "bias mean {m}, std {s}");
        assert_eq!(b.len(), 300);
        let (_, ws) = lab::probe::mean_std(net.hidden()[0].weight.as_tensor())?;
        assert!((ws - 0.05).abs() < 0.002, "weight std {ws} vs 1/√400");
        // Same seed, same network.
        assert_eq!(
            spec.build()?.hidden()[1].bias.as_tensor().to_vec1::<f32>()?,
            net.hidden()[1].bias.as_tensor().to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn a_step_lowers_the_cost_and_weight_decay_shrinks_weights() -> Result<()> {
        let (x, y) = tiny_batch()?;
        let spec = NetSpec { d_in: 5, width: 6, depth: 2, classes: 3, ..NetSpec::nielsen(2, 1) };
        let net = spec.build()?;
        let w0 = snapshot(&net)?;
        let sgd = Sgd { eta: 0.5, lambda: 0.0, n: 8 };
        let (first, measured) = step(&net, &x, &y, Cost::SigmoidCrossEntropy, &sgd, true)?;
        assert_eq!(measured.speed.len(), 2);
        assert_eq!(measured.g.len(), 2);
        let (second, _) = step(&net, &x, &y, Cost::SigmoidCrossEntropy, &sgd, false)?;
        assert!(second < first, "{second} ≥ {first}");
        assert!(weight_change(&net, &w0)?.iter().all(|&c| c > 0.0));
        // With a huge λ and a tiny η·gradient, the step is (almost) pure decay: W ← (1 − ηλ/n) W.
        let net = spec.build()?;
        let before = net.hidden()[0].weight.as_tensor().to_vec2::<f32>()?;
        step(&net, &x, &y, Cost::SigmoidCrossEntropy, &Sgd { eta: 1e-6, lambda: 4e5, n: 8 }, false)?;
        let after = net.hidden()[0].weight.as_tensor().to_vec2::<f32>()?;
        assert!((after[0][0] / before[0][0] - 0.95).abs() < 1e-3);
        Ok(())
    }
}

//! Reference solutions of the chapter 1 exercises. The book shows each one, collapsed, under its
//! exercise; `cargo test --workspace` proves each passes its checker (`tests/exercises.rs`).

use anyhow::{Context, Result};
use candle_core::{D, Tensor};
use lab::{Activation, DEVICE, Init, MlpConfig};

// ANCHOR: exercise_1_1
pub fn sigmoid_prime(z: f64) -> f64 {
    // σ′ = σ(1 − σ). Computing σ first keeps it finite: e^(−z) may overflow
    // to infinity, but 1 / (1 + ∞) is a clean 0.
    let s = 1.0 / (1.0 + (-z).exp());
    s * (1.0 - s)
}
// ANCHOR_END: exercise_1_1

// ANCHOR: exercise_1_2
pub fn numerical_gradient(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut nudged = x.to_vec();
    (0..x.len())
        .map(|i| {
            nudged[i] = x[i] + h;
            let up = f(&nudged);
            nudged[i] = x[i] - h;
            let down = f(&nudged);
            nudged[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}
// ANCHOR_END: exercise_1_2

// ANCHOR: exercise_1_3
pub fn first_layer_gradient(depth: usize) -> Result<f64> {
    let net = MlpConfig::new(20, 32, depth, 4, Activation::Sigmoid, Init::LecunNormal).with_seed(1).build(&DEVICE)?;
    let x = Init::Normal { std: 1.0 }.tensor(256, 20, &mut lab::init::rng(2), &DEVICE)?;
    let y = Tensor::from_vec((0..256u32).map(|i| i % 4).collect(), 256, &DEVICE)?;
    // The book's measure of the gradient at a layer: g = the per-example RMS size of δ.
    let g = lab::probe::error_rms(&net, &x, &y)?;
    g.first().copied().context("the network has a hidden layer")
}

pub fn vanishing_depth(threshold: f64) -> Result<usize> {
    for depth in 1..=200 {
        if first_layer_gradient(depth)? < threshold {
            return Ok(depth);
        }
    }
    anyhow::bail!("g¹ stays above {threshold} up to depth 200")
}
// ANCHOR_END: exercise_1_3

// ANCHOR: exercise_1_4
pub fn backprop(
    layers: &[(Tensor, Tensor)],
    act: Activation,
    x: &Tensor,
    labels: &Tensor,
) -> Result<Vec<(Tensor, Tensor)>> {
    // Forward, keeping every layer's input h^{l-1} and pre-activation z^l.
    let mut inputs = Vec::new();
    let mut pre = Vec::new();
    let mut h = x.clone();
    for (l, (w, b)) in layers.iter().enumerate() {
        let z = h.matmul(&w.t()?)?.broadcast_add(b)?;
        inputs.push(h);
        h = if l + 1 < layers.len() { act.forward(&z)? } else { z.clone() };
        pre.push(z);
    }
    // BP1: δ_head = (softmax(logits) − Y) / B.
    let (batch, classes) = h.dims2()?;
    let onehot = candle_nn::encoding::one_hot(labels.clone(), classes, 1.0f64, 0.0f64)?;
    let mut delta = ((candle_nn::ops::softmax(&h, D::Minus1)? - onehot)? / batch as f64)?;
    let mut grads = Vec::new();
    for l in (0..layers.len()).rev() {
        // BP3 and BP4: ∂L/∂W = δᵀ h^{l-1}, ∂L/∂b = Σ_batch δ.
        grads.push((delta.t()?.matmul(&inputs[l])?, delta.sum(0)?));
        if l > 0 {
            // BP2: δ^{l-1} = (δ^l W^l) ⊙ f′(z^{l-1}).
            delta = (delta.matmul(&layers[l].0)? * act.derivative_tensor(&pre[l - 1])?)?;
        }
    }
    grads.reverse();
    Ok(grads)
}
// ANCHOR_END: exercise_1_4

// ANCHOR: exercise_1_5
/// `copy()`, not `clone()`: a cloned `Tensor` shares its storage with the `Var`, and the optimiser
/// updates that storage in place, so a clone would move with the weights.
pub fn relative_changes(net: &lab::Mlp, x: &Tensor, y: &Tensor, cfg: &lab::train::TrainConfig) -> Result<Vec<f64>> {
    let before: Vec<Tensor> =
        net.hidden().iter().map(|l| l.weight.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
    lab::train::train(net, x, y, None, cfg)?;
    net.hidden()
        .iter()
        .zip(&before)
        .map(|(layer, w0)| Ok(lab::probe::norm(&(layer.weight.as_tensor() - w0)?)? / lab::probe::norm(w0)?))
        .collect()
}
// ANCHOR_END: exercise_1_5

//! Checkers of the chapter 1 exercises, generic over the implementation, and the chapter's
//! exercise registry. Each checker returns `Err` with a message a student can act on; the
//! registry's `mistakes` are plausible wrong answers each checker must reject (see
//! [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use anyhow::{Context, Result};
use candle_core::{DType, Tensor, Var};
use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use lab::{Activation, DEVICE, Init, MlpConfig};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch01", "1.1", "σ′, checked by finite differences", sigmoid_prime(sigmoid_prime), [
        ("e^(−z)/(1 + e^(−z))², which overflows to NaN", mistakes::sigmoid_prime_overflows),
        ("1 − σ², the tanh rule applied to σ", mistakes::sigmoid_prime_tanh_rule),
    ]},
    exercise! {"ch01", "1.2", "a central-difference gradient", numerical_gradient(numerical_gradient), [
        ("a forward difference", mistakes::forward_difference),
        ("dividing by h instead of 2h", mistakes::divides_by_h),
        ("a fixed step of 1e-6 instead of h", mistakes::ignores_h),
    ]},
    exercise! {"ch01", "1.3", "the depth at which the gradient at layer 1 vanishes",
        vanishing_depth(first_layer_gradient, vanishing_depth), [
        ("the last depth above the threshold", crate::solutions::first_layer_gradient, mistakes::last_depth_above),
        ("the last hidden layer's gradient instead of the first's",
            mistakes::last_layer_gradient, crate::solutions::vanishing_depth),
        ("the batch-summed bias gradient ‖∂L/∂b¹‖ instead of g¹",
            mistakes::bias_gradient_norm, crate::solutions::vanishing_depth),
    ]},
    exercise! {"ch01", "1.4", "backpropagation by hand", backprop(backprop), [
        ("forgetting the 1/B of the mean", mistakes::backprop_without_mean),
        ("forgetting the slope f′(z) in BP2", |l, a, x, y| mistakes::backprop_variant(l, a, x, y, false)),
        ("the slope at the activation f′(h) instead of f′(z)",
            |l, a, x, y| mistakes::backprop_variant(l, a, x, y, true)),
    ]},
    exercise! {"ch01", "1.5", "which layers learn", which_layers_learn(relative_changes), [
        ("the weights before training kept with clone(), which shares the Var's storage",
            mistakes::changes_from_a_clone),
        ("the absolute change ‖ΔW‖, not relative to ‖W‖", mistakes::absolute_changes),
        ("the head counted as a hidden layer", mistakes::changes_with_head),
    ]},
];

fn sigmoid(z: f64) -> f64 {
    Activation::Sigmoid.value(z)
}

/// Exercise 1.1: σ′ agrees with a central difference of σ over [−12, 12], is exactly 1/4 at 0, and
/// stays finite far out in both tails.
pub fn sigmoid_prime(f: impl Fn(f64) -> f64) -> Result<(), String> {
    let h = 1e-5;
    for k in -48..=48 {
        let z = k as f64 * 0.25;
        let numeric = (sigmoid(z + h) - sigmoid(z - h)) / (2.0 * h);
        close(&format!("σ′({z})"), f(z), numeric, 0.0, 1e-9)
            .map_err(|e| format!("{e}; the central difference of σ says {numeric:.10}"))?;
    }
    close("σ′(0)", f(0.0), 0.25, 1e-12, 0.0)?;
    for z in [-800.0, -40.0, 40.0, 800.0] {
        let got = f(z);
        if !got.is_finite() || got.abs() > 1e-12 {
            return Err(format!(
                "σ′({z}) = {got}, but σ′ is practically 0 out there: e^(−z) overflows to infinity for z below \
                 about −709, and ∞/∞ is NaN — compute σ first, then σ′ = σ(1 − σ)"
            ));
        }
    }
    Ok(())
}

/// Exercise 1.2: on f(x) = Σ xᵢ³ the central difference is exactly 3xᵢ² + h², which tells it apart
/// from a forward difference (3xᵢ² + 3xᵢh + h²) and from a step other than `h`; on a smooth
/// function with a small step it matches the analytic gradient.
pub fn numerical_gradient(g: impl Fn(&dyn Fn(&[f64]) -> f64, &[f64], f64) -> Vec<f64>) -> Result<(), String> {
    let cubes = |x: &[f64]| x.iter().map(|v| v.powi(3)).sum::<f64>();
    let x = [0.5f64, -1.2, 2.0];
    for h in [0.1, 0.01] {
        let got = g(&cubes, &x, h);
        if got.len() != x.len() {
            return Err(format!("the gradient of a function of {} inputs has {} components", x.len(), got.len()));
        }
        for (i, (&gi, &xi)) in got.iter().zip(&x).enumerate() {
            close(&format!("component {i} of ∇Σx³ at x = {x:?} with h = {h}"), gi, 3.0 * xi * xi + h * h, 1e-9, 0.0)
                .map_err(|e| format!("{e}; the central difference of x³ is exactly 3x² + h²"))?;
        }
    }
    let smooth = |x: &[f64]| x[0].sin() * x[1].exp() + x[0] * x[1];
    let x = [0.3f64, -0.7];
    let analytic = [x[0].cos() * x[1].exp() + x[1], x[0].sin() * x[1].exp() + x[0]];
    let got = g(&smooth, &x, 1e-5);
    if got.len() != 2 {
        return Err(format!("the gradient of a function of 2 inputs has {} components", got.len()));
    }
    for i in 0..2 {
        close(&format!("component {i} of ∇(sin x₀·e^x₁ + x₀x₁) at {x:?}"), got[i], analytic[i], 1e-8, 0.0)?;
    }
    Ok(())
}

/// The oracle of exercise 1.3: the gradient at hidden layer `layer` (0-based) of Listing 1-4's plain
/// network with `depth` hidden layers — the book's measure g (`lab::probe::error_rms`), or, with
/// `bias`, the norm of the batch-summed bias gradient.
pub fn listing_1_4_gradient(depth: usize, layer: usize, bias: bool) -> Result<f64> {
    let net = MlpConfig::new(20, 32, depth, 4, Activation::Sigmoid, Init::LecunNormal).with_seed(1).build(&DEVICE)?;
    let x = Init::Normal { std: 1.0 }.tensor(256, 20, &mut lab::init::rng(2), &DEVICE)?;
    let y = Tensor::from_vec((0..256u32).map(|i| i % 4).collect(), 256, &DEVICE)?;
    if bias {
        let grads = net.loss(&x, &y)?.backward()?;
        let layer = net.hidden().get(layer).context("no such hidden layer")?;
        return lab::probe::norm(grads.get(&layer.bias).context("a gradient")?);
    }
    lab::probe::error_rms(&net, &x, &y)?.get(layer).copied().context("no such hidden layer")
}

fn reference_first_layer_gradient(depth: usize) -> Result<f64> {
    listing_1_4_gradient(depth, 0, false)
}

/// Exercise 1.3: g¹ at a few depths, then the vanishing depth for two thresholds.
pub fn vanishing_depth(
    error_at: impl Fn(usize) -> Result<f64>,
    depth_for: impl Fn(f64) -> Result<usize>,
) -> Result<(), String> {
    let fail = |e: anyhow::Error| format!("{e:#}");
    for depth in [1, 2, 5] {
        let want = reference_first_layer_gradient(depth).map_err(fail)?;
        let got = error_at(depth).map_err(fail)?;
        close(&format!("g¹ with {depth} hidden layers"), got, want, 1e-4, 0.0)?;
    }
    for threshold in [1e-2, 1e-6] {
        let want = (1..=200)
            .find(|&d| reference_first_layer_gradient(d).is_ok_and(|e| e < threshold))
            .ok_or("the reference found no vanishing depth")?;
        let got = depth_for(threshold).map_err(fail)?;
        if got != want {
            let (before, at) = (reference_first_layer_gradient(want - 1), reference_first_layer_gradient(want));
            return Err(format!(
                "vanishing depth for threshold {threshold:e}: got {got}, expected {want} \
                 (g¹ is {:.3e} at depth {} and {:.3e} at depth {want})",
                before.unwrap_or(f64::NAN),
                want - 1,
                at.unwrap_or(f64::NAN)
            ));
        }
    }
    Ok(())
}

type Layers = [(Tensor, Tensor)];

/// Exercise 1.4: the hand-written gradients of a 5 → 7 → 6 → 3 network equal candle's autograd, for
/// a tanh and a sigmoid network with nonzero biases.
pub fn backprop(
    f: impl Fn(&Layers, Activation, &Tensor, &Tensor) -> Result<Vec<(Tensor, Tensor)>>,
) -> Result<(), String> {
    let fail = |e: anyhow::Error| format!("{e:#}");
    for (act, seed) in [(Activation::Tanh, 3), (Activation::Sigmoid, 4)] {
        let (layers, x, y) = backprop_problem(&[5, 7, 6, 3], 8, seed).map_err(fail)?;
        let want = autograd_gradients(&layers, act, &x, &y).map_err(fail)?;
        let got = f(&layers, act, &x, &y).map_err(fail)?;
        if got.len() != want.len() {
            return Err(format!("{} layers, but {} (∂L/∂W, ∂L/∂b) pairs", want.len(), got.len()));
        }
        for (l, ((gw, gb), (ww, wb))) in got.iter().zip(&want).enumerate() {
            for (name, g, w) in [("W", gw, ww), ("b", gb, wb)] {
                compare_tensors(&format!("{act} network, layer {}: ∂L/∂{name}", l + 1), g, w)?;
            }
        }
    }
    Ok(())
}

/// Max |got − want| must be below 1e-9 of max |want|.
fn compare_tensors(what: &str, got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dims() != want.dims() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.dims(), want.dims()));
    }
    let values = |t: &Tensor| -> Result<Vec<f64>, String> {
        t.to_dtype(DType::F64).and_then(|t| t.flatten_all()?.to_vec1::<f64>()).map_err(|e| format!("{what}: {e}"))
    };
    let (got, want) = (values(got)?, values(want)?);
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = got.iter().zip(&want).fold(0f64, |m, (g, w)| m.max((g - w).abs()));
    if diff.is_nan() || diff > 1e-9 * scale {
        let ratio = got.iter().zip(&want).find(|(_, w)| w.abs() > 0.1 * scale).map_or(f64::NAN, |(g, w)| g / w);
        return Err(format!(
            "{what}: largest difference from autograd {diff:.3e} (the entries are up to {scale:.3e}; \
             got/expected of a large entry: {ratio:.4})"
        ));
    }
    Ok(())
}

/// A network's layers (W, b), a batch of inputs and its labels.
type BackpropProblem = (Vec<(Tensor, Tensor)>, Tensor, Tensor);

/// Seeded f64 weights (Xavier), small random biases, a batch of inputs and labels.
fn backprop_problem(sizes: &[usize], batch: usize, seed: u64) -> Result<BackpropProblem> {
    let mut rng = lab::init::rng(seed);
    let mut layers = Vec::new();
    for pair in sizes.windows(2) {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let w = Init::XAVIER.tensor(fan_out, fan_in, &mut rng, &DEVICE)?.to_dtype(DType::F64)?;
        let b = Init::Normal { std: 0.3 }.tensor(1, fan_out, &mut rng, &DEVICE)?.flatten_all()?.to_dtype(DType::F64)?;
        layers.push((w, b));
    }
    let x = Init::Normal { std: 1.0 }.tensor(batch, sizes[0], &mut rng, &DEVICE)?.to_dtype(DType::F64)?;
    let classes = *sizes.last().expect("at least two sizes") as u32;
    let y = Tensor::from_vec((0..batch as u32).map(|i| (i * 7 + 1) % classes).collect(), batch, &DEVICE)?;
    Ok((layers, x, y))
}

/// The same gradients by candle's autograd.
fn autograd_gradients(layers: &Layers, act: Activation, x: &Tensor, y: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    let vars: Vec<(Var, Var)> =
        layers.iter().map(|(w, b)| Ok((Var::from_tensor(w)?, Var::from_tensor(b)?))).collect::<Result<_>>()?;
    let mut h = x.clone();
    for (l, (w, b)) in vars.iter().enumerate() {
        let z = h.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
        h = if l + 1 < vars.len() { act.forward(&z)? } else { z };
    }
    let grads = candle_nn::loss::cross_entropy(&h, y)?.backward()?;
    vars.iter()
        .map(|(w, b)| {
            let get = |v: &Var| grads.get(v).cloned().ok_or_else(|| anyhow::anyhow!("no gradient"));
            Ok((get(w)?, get(b)?))
        })
        .collect()
}

/// Exercise 1.5's network: six sigmoid layers of 30 on 784-pixel digits (Nielsen's network of
/// chapter 2, made deeper), and its training budget.
pub fn which_layers_setup() -> anyhow::Result<(lab::Mlp, lab::data::Dataset, lab::train::TrainConfig)> {
    let data = lab::data::digits(1000, 3)?;
    let net =
        MlpConfig::new(data.dim(), 30, 6, 10, Activation::Sigmoid, Init::LecunNormal).with_seed(4).build(&DEVICE)?;
    let mut cfg = lab::train::TrainConfig::new(lab::train::Optim::Sgd { lr: 0.5 }, 300, 20);
    cfg.progress = false;
    Ok((net, data, cfg))
}

/// Exercise 1.5: the relative weight change of every hidden layer after training, against the
/// checker's own measurement of the same seeded run.
pub fn which_layers_learn(
    f: impl Fn(&lab::Mlp, &Tensor, &Tensor, &lab::train::TrainConfig) -> Result<Vec<f64>>,
) -> Result<(), String> {
    let measure = |yours: bool| -> Result<Vec<f64>> {
        let (net, data, cfg) = which_layers_setup()?;
        if yours {
            return f(&net, &data.x, &data.y, &cfg);
        }
        let before: Vec<Vec<f32>> = net
            .hidden()
            .iter()
            .map(|l| l.weight.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<_>>()?;
        lab::train::train(&net, &data.x, &data.y, None, &cfg)?;
        let mut out = Vec::new();
        for (layer, w0) in net.hidden().iter().zip(&before) {
            let w1 = layer.weight.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let diff: f64 = w1.iter().zip(w0).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
            let size: f64 = w0.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
            out.push(diff / size);
        }
        Ok(out)
    };
    let want = measure(false).map_err(|e| format!("the checker could not train: {e}"))?;
    let got = measure(true).map_err(|e| format!("your function failed: {e}"))?;
    if got.len() != want.len() {
        return Err(format!(
            "{} values for a network with {} hidden layers: one per hidden layer, without the head",
            got.len(),
            want.len()
        ));
    }
    for (l, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let hint = if g == 0.0 {
            ": zero change — did you keep the weights before training with `clone()`? A clone shares the \
             Var's storage, which the optimiser updates in place; `copy()` makes a real copy"
        } else {
            ""
        };
        close(&format!("relative change of hidden layer {}", l + 1), g, w, 1e-3, 0.0)
            .map_err(|e| format!("{e}{hint}"))?;
    }
    Ok(())
}

/// Plausible wrong answers, each rejected by its exercise's checker (proved by `tests/exercises.rs`).
pub mod mistakes {
    pub fn changes_from_a_clone(
        net: &lab::Mlp,
        x: &Tensor,
        y: &Tensor,
        cfg: &lab::train::TrainConfig,
    ) -> Result<Vec<f64>> {
        let before: Vec<Tensor> = net.hidden().iter().map(|l| l.weight.as_tensor().clone()).collect();
        lab::train::train(net, x, y, None, cfg)?;
        net.hidden()
            .iter()
            .zip(&before)
            .map(|(l, w0)| Ok(lab::probe::norm(&(l.weight.as_tensor() - w0)?)? / lab::probe::norm(w0)?))
            .collect()
    }

    pub fn absolute_changes(net: &lab::Mlp, x: &Tensor, y: &Tensor, cfg: &lab::train::TrainConfig) -> Result<Vec<f64>> {
        let before: Vec<Tensor> =
            net.hidden().iter().map(|l| l.weight.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        lab::train::train(net, x, y, None, cfg)?;
        net.hidden().iter().zip(&before).map(|(l, w0)| lab::probe::norm(&(l.weight.as_tensor() - w0)?)).collect()
    }

    pub fn changes_with_head(
        net: &lab::Mlp,
        x: &Tensor,
        y: &Tensor,
        cfg: &lab::train::TrainConfig,
    ) -> Result<Vec<f64>> {
        let before: Vec<Tensor> =
            net.layers.iter().map(|l| l.weight.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        lab::train::train(net, x, y, None, cfg)?;
        net.layers
            .iter()
            .zip(&before)
            .map(|(l, w0)| Ok(lab::probe::norm(&(l.weight.as_tensor() - w0)?)? / lab::probe::norm(w0)?))
            .collect()
    }

    use anyhow::Result;
    use candle_core::{D, Tensor};
    use lab::Activation;

    pub fn sigmoid_prime_overflows(z: f64) -> f64 {
        (-z).exp() / (1.0 + (-z).exp()).powi(2)
    }

    pub fn sigmoid_prime_tanh_rule(z: f64) -> f64 {
        1.0 - Activation::Sigmoid.value(z).powi(2)
    }

    fn difference(f: &dyn Fn(&[f64]) -> f64, x: &[f64], step: f64, central: bool, divisor: f64) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let mut up = x.to_vec();
                up[i] += step;
                let mut down = x.to_vec();
                if central {
                    down[i] -= step;
                }
                (f(&up) - f(&down)) / divisor
            })
            .collect()
    }

    pub fn forward_difference(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
        difference(f, x, h, false, h)
    }

    pub fn divides_by_h(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
        difference(f, x, h, true, h)
    }

    pub fn ignores_h(f: &dyn Fn(&[f64]) -> f64, x: &[f64], _h: f64) -> Vec<f64> {
        difference(f, x, 1e-6, true, 2e-6)
    }

    pub fn last_depth_above(threshold: f64) -> Result<usize> {
        Ok(crate::solutions::vanishing_depth(threshold)? - 1)
    }

    pub fn last_layer_gradient(depth: usize) -> Result<f64> {
        super::listing_1_4_gradient(depth, depth - 1, false)
    }

    pub fn bias_gradient_norm(depth: usize) -> Result<f64> {
        super::listing_1_4_gradient(depth, 0, true)
    }

    pub fn backprop_without_mean(
        layers: &[(Tensor, Tensor)],
        act: Activation,
        x: &Tensor,
        labels: &Tensor,
    ) -> Result<Vec<(Tensor, Tensor)>> {
        let batch = x.dim(0)? as f64;
        crate::solutions::backprop(layers, act, x, labels)?
            .into_iter()
            .map(|(w, b)| Ok(((w * batch)?, (b * batch)?)))
            .collect()
    }

    /// Backpropagation with the slope of BP2 left out (`slope_at_output == false`) or taken at the
    /// activation's output h = f(z) instead of at z (`true`).
    pub fn backprop_variant(
        layers: &[(Tensor, Tensor)],
        act: Activation,
        x: &Tensor,
        labels: &Tensor,
        slope_at_output: bool,
    ) -> Result<Vec<(Tensor, Tensor)>> {
        let (mut inputs, mut h) = (Vec::new(), x.clone());
        for (l, (w, b)) in layers.iter().enumerate() {
            let z = h.matmul(&w.t()?)?.broadcast_add(b)?;
            inputs.push(h);
            h = if l + 1 < layers.len() { act.forward(&z)? } else { z };
        }
        let (batch, classes) = h.dims2()?;
        let onehot = candle_nn::encoding::one_hot(labels.clone(), classes, 1.0f64, 0.0f64)?;
        let mut delta = ((candle_nn::ops::softmax(&h, D::Minus1)? - onehot)? / batch as f64)?;
        let mut grads = Vec::new();
        for l in (0..layers.len()).rev() {
            grads.push((delta.t()?.matmul(&inputs[l])?, delta.sum(0)?));
            if l > 0 {
                delta = delta.matmul(&layers[l].0)?;
                if slope_at_output {
                    delta = (delta * act.derivative_tensor(&inputs[l])?)?;
                }
            }
        }
        grads.reverse();
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    /// The reference solutions pass (`tests/exercises.rs` also proves that stubs and mistakes fail).
    #[test]
    fn every_solution_passes_its_checker() {
        for exercise in super::EXERCISES {
            if let Err(e) = chapter_kit::exercise::run(exercise.solution) {
                panic!("exercise {}: {e}", exercise.id);
            }
        }
    }
}

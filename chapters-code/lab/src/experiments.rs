//! Experiments that several chapters run, written once so that no chapter copies another's code.
//!
//! Chapter 2 measures how the error signal ‖δˡ‖ fades in sigmoid and tanh networks; chapter 3 re-runs
//! the same measurements with ReLU; later chapters re-run them with new inits, norms and skips. The
//! pieces they share:
//!
//! - [`init_profile`]: ‖δˡ‖ per hidden layer of freshly initialised networks, over several weight
//!   draws, with [`meanfield_profile`] as the theory line;
//! - [`train_and_score`] and [`best_learning_rate`]: a fixed training budget, a small learning-rate
//!   grid chosen on a validation set, and the held-out accuracy (for accuracy-against-depth sweeps);
//! - [`inactive_fractions`]: per layer, the share of units whose pre-activation is ≤ 0 on every
//!   example of a set — a ReLU unit in that state is *dead* on it;
//! - [`train_phases`]: training through phases with different optimisers (e.g. a too-large learning
//!   rate, then a normal one), calling a hook every few steps.
//!
//! All use lab's softmax cross-entropy loss ([`crate::net::cross_entropy`]) and seeded draws: the same
//! arguments give the same numbers.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use lab::{Activation, Init, MlpConfig, experiments};
//! let data = lab::data::teacher(256, 8, 3, 0)?;
//! // Ten hidden layers of 32 sigmoid units: the first layer's error is far weaker than the last's.
//! let config = MlpConfig::new(8, 32, 10, 3, Activation::Sigmoid, Init::LecunNormal);
//! let profile = experiments::init_profile(&config, &data.x, &data.y, &[0, 1])?;
//! assert_eq!(profile.delta_norms.len(), 10);
//! assert!(profile.ratio_first_last < 1e-3);
//! // Mean-field theory predicts the same collapse, layer by layer.
//! let theory = experiments::meanfield_profile(&config, 1.0)?;
//! assert!((theory[0].log10() - profile.ratio_first_last.log10()).abs() < 1.0);
//! # Ok(())
//! # }
//! ```

use crate::data::Dataset;
use crate::meanfield::{self, Prior};
use crate::net::{Mlp, MlpConfig, accuracy, cross_entropy};
use crate::train::{Optim, StepRecord, TrainConfig, evaluate, step_grad_norm, train};
use crate::{DEVICE, Norm};
use anyhow::{Result, ensure};
use candle_core::{DType, Tensor};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// The geometric mean: the right average for quantities that span decades (gradient norms, ratios).
/// NaN when there are no values or any is not a finite positive number.
pub fn geo_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        if !(v.is_finite() && v > 0.0) {
            return f64::NAN;
        }
        sum += v.ln();
        n += 1;
    }
    if n == 0 { f64::NAN } else { (sum / n as f64).exp() }
}

/// Standardised digits ([`standardized_digits`](crate::data::standardized_digits)) split into a
/// training and a held-out set: of `train + test` images drawn with `seed`, the first `train` and
/// the other `test`.
pub struct HeldOutDigits {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

impl HeldOutDigits {
    pub fn new(train: usize, test: usize, seed: u64) -> Result<HeldOutDigits> {
        let (x, y) = crate::data::standardized_digits(train + test, seed)?;
        Ok(HeldOutDigits {
            train_x: x.narrow(0, 0, train)?,
            train_y: y.narrow(0, 0, train)?,
            test_x: x.narrow(0, train, test)?,
            test_y: y.narrow(0, train, test)?,
        })
    }
}

/// A least-squares line `y = intercept + slope·x` and its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    pub slope: f64,
    pub intercept: f64,
    /// R²: 1 when the points lie on the line.
    pub r2: f64,
}

/// Fits a line to `points` by least squares (slope 0 when every x is the same). Chapter 2 fits
/// log-ratios against depth with it, chapter 5 log-gradients against layer.
pub fn fit_line(points: &[(f64, f64)]) -> LineFit {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|&(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|&(x, y)| (x - mx) * (y - my)).sum();
    let syy: f64 = points.iter().map(|&(_, y)| (y - my).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) };
    LineFit { slope, intercept: my - slope * mx, r2 }
}

/// ‖δˡ‖ = ‖∂L/∂bˡ‖ for every hidden layer (input side first) of `net` on the batch `(x, y)`, with the
/// softmax cross-entropy averaged over the batch.
pub fn delta_norms(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<Vec<f64>> {
    let grads = net.loss(x, y)?.backward()?;
    net.hidden().iter().map(|l| crate::probe::grad_norm(&grads, l.delta_var())).collect()
}

/// The per-layer error profile of freshly initialised networks, one per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitProfile {
    /// The weight seeds, one network each.
    pub seeds: Vec<u64>,
    /// ‖δˡ‖ per seed, per hidden layer.
    pub per_seed: Vec<Vec<f64>>,
    /// Per hidden layer, the geometric mean of ‖δˡ‖ over seeds.
    pub delta_norms: Vec<f64>,
    /// ‖δ¹‖/‖δᴸ‖ per seed.
    pub ratios: Vec<f64>,
    /// Geometric mean of [`InitProfile::ratios`].
    pub ratio_first_last: f64,
    /// The per-example errors' size per seed, per hidden layer: ‖Δˡ‖_F / √B for the B × width matrix Δˡ
    /// of per-example errors ∂ℓᵢ/∂zˡ ([`crate::jacobian::per_example_deltas`]) — the root-mean-square
    /// per-example ‖δˡ‖, the quantity mean-field theory describes. (The bias gradient of the batch-mean
    /// loss is the batch *mean* of these errors, so it also depends on how they line up.)
    pub per_example_per_seed: Vec<Vec<f64>>,
    /// Per hidden layer, the geometric mean over seeds of the per-example size.
    pub per_example_norms: Vec<f64>,
    /// Geometric mean over seeds of the per-example first-over-last ratio.
    pub per_example_ratio: f64,
}

/// Builds `config` once per seed (its own seed replaced) and measures ‖δˡ‖ of every hidden layer on
/// `(x, y)` — chapter 2's "speed of learning at initialisation", for any config — and the size of the
/// per-example errors. Plain MLPs only (no norm layers, no skips).
pub fn init_profile(config: &MlpConfig, x: &Tensor, y: &Tensor, seeds: &[u64]) -> Result<InitProfile> {
    ensure!(!seeds.is_empty(), "an init profile needs at least one seed");
    let batch = (x.dim(0)? as f64).sqrt();
    let (mut per_seed, mut per_example_per_seed) = (Vec::new(), Vec::new());
    for &seed in seeds {
        let net = config.clone().with_seed(seed).build(&DEVICE)?;
        per_seed.push(delta_norms(&net, x, y)?);
        let deltas = crate::jacobian::per_example_deltas(&net, x, y)?;
        per_example_per_seed
            .push(deltas.iter().map(|d| Ok(crate::probe::norm(d)? / batch)).collect::<Result<Vec<f64>>>()?);
    }
    let layers = per_seed[0].len();
    ensure!(layers > 0, "the network has no hidden layer");
    let profile =
        |rows: &[Vec<f64>]| -> Vec<f64> { (0..layers).map(|l| geo_mean(rows.iter().map(|s| s[l]))).collect() };
    let ratio = |rows: &[Vec<f64>]| geo_mean(rows.iter().map(|s| s[0] / s[layers - 1]));
    let ratios: Vec<f64> = per_seed.iter().map(|s| s[0] / s[layers - 1]).collect();
    Ok(InitProfile {
        seeds: seeds.to_vec(),
        delta_norms: profile(&per_seed),
        ratio_first_last: ratio(&per_seed),
        per_example_norms: profile(&per_example_per_seed),
        per_example_ratio: ratio(&per_example_per_seed),
        per_seed,
        ratios,
        per_example_per_seed,
    })
}

/// σ_w² = fan_in · Var(W) of the hidden-to-hidden layers of `config` (1 for LeCun, 2 for He).
pub fn weight_gain2(config: &MlpConfig) -> f64 {
    let width = config.hidden.first().copied().unwrap_or(config.d_in);
    config.init.variance(width, width) * width as f64
}

/// Mean-field prediction of ‖δˡ‖/‖δᴸ‖ for l = 1 … L: ∏ₖ₌ₗᴸ⁻¹ √χᵏ (see [`crate::meanfield`]), for a
/// plain MLP with constant-width hidden layers, fan-in-scaled weights and constant biases, fed inputs
/// whose mean square per feature is `input_second_moment`. The last entry is 1.
pub fn meanfield_profile(config: &MlpConfig, input_second_moment: f64) -> Result<Vec<f64>> {
    ensure!(
        config.norm == Norm::None && !config.residual,
        "the mean-field profile is for plain MLPs (no norm, no skips)"
    );
    ensure!(!config.hidden.is_empty(), "the network has no hidden layer");
    let prior = Prior::fan_in(weight_gain2(config)).with_bias(config.bias_init, 0.0);
    // The first layer's fan-in is d_in; for fan-in-scaled inits its σ_w² is the same.
    let layers = meanfield::propagate(config.activation, &prior, input_second_moment, config.hidden.len());
    let mut profile = vec![1.0; layers.len()];
    for l in (0..layers.len().saturating_sub(1)).rev() {
        profile[l] = profile[l + 1] * layers[l].chi.sqrt();
    }
    Ok(profile)
}

/// The outcome of one fixed-budget training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub lr: f64,
    /// Accuracy on the validation set (used to choose the learning rate).
    pub val_accuracy: f64,
    /// Accuracy on the test set (reported).
    pub test_accuracy: f64,
    /// Mean training loss over the last tenth of the steps (NaN if the run diverged).
    pub final_train_loss: f64,
    pub diverged: bool,
}

/// Trains a network built from `config` with `cfg` on `train_set`, then scores it on `val` and `test`.
/// A run whose loss became NaN or infinite scores zero accuracy.
pub fn train_and_score(
    config: &MlpConfig,
    cfg: &TrainConfig,
    train_set: &Dataset,
    val: &Dataset,
    test: &Dataset,
) -> Result<Score> {
    let net = config.build(&DEVICE)?;
    let h = train(&net, &train_set.x, &train_set.y, None, cfg)?;
    let tail = (h.steps.len() / 10).max(1);
    let final_train_loss = h.steps[h.steps.len() - tail..].iter().map(|s| s.loss).sum::<f64>() / tail as f64;
    let score = |d: &Dataset| -> Result<f64> {
        if h.diverged {
            return Ok(0.0);
        }
        let acc = evaluate(&net, &d.x, &d.y, h.steps.len())?.accuracy;
        Ok(if acc.is_finite() { acc } else { 0.0 })
    };
    Ok(Score {
        lr: cfg.optim.lr(),
        val_accuracy: score(val)?,
        test_accuracy: score(test)?,
        final_train_loss: if h.diverged { f64::NAN } else { final_train_loss },
        diverged: h.diverged,
    })
}

/// Runs [`train_and_score`] once per learning rate (`optim(lr)` builds the optimiser) and returns every
/// score and the index of the best validation accuracy (ties go to the smaller index).
pub fn best_learning_rate(
    config: &MlpConfig,
    lrs: &[f64],
    optim: impl Fn(f64) -> Optim,
    cfg: &TrainConfig,
    train_set: &Dataset,
    val: &Dataset,
    test: &Dataset,
) -> Result<(Vec<Score>, usize)> {
    ensure!(!lrs.is_empty(), "need at least one learning rate");
    let scores: Vec<Score> = lrs
        .iter()
        .map(|&lr| train_and_score(config, &TrainConfig { optim: optim(lr), ..cfg.clone() }, train_set, val, test))
        .collect::<Result<_>>()?;
    let best = (0..scores.len()).fold(0, |b, i| if scores[i].val_accuracy > scores[b].val_accuracy { i } else { b });
    Ok((scores, best))
}

/// For each hidden layer, the fraction of its units whose pre-activation z is ≤ 0 for every row of `x`
/// (evaluation mode). For ReLU such a unit outputs 0 and passes back exactly zero gradient on all of
/// `x`: it is dead there. Leaky ReLU and GELU units in that state still pass a gradient.
pub fn inactive_fractions(net: &Mlp, x: &Tensor) -> Result<Vec<f64>> {
    let trace = net.forward_trace(x, false)?;
    trace
        .pre
        .iter()
        .map(|z| -> Result<f64> {
            let never_positive = z.max(0)?.le(0.0)?.to_dtype(DType::F64)?;
            Ok(never_positive.sum_all()?.to_scalar::<f64>()? / z.dim(1)? as f64)
        })
        .collect()
}

/// The share of all hidden units of `net` that are inactive on every row of `x` (see
/// [`inactive_fractions`]), weighting layers by their widths.
pub fn inactive_share(net: &Mlp, x: &Tensor) -> Result<f64> {
    let fractions = inactive_fractions(net, x)?;
    let widths = &net.config.hidden;
    let total: usize = widths.iter().sum();
    Ok(fractions.iter().zip(widths).map(|(f, &w)| f * w as f64).sum::<f64>() / total as f64)
}

/// One phase of [`train_phases`]: an optimiser and a number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub optim: Optim,
    pub steps: usize,
}

/// Trains `net` through `phases` in order — a fresh optimiser (and optimiser state) at the start of
/// each — on minibatches of `batch` examples from one seeded shuffle of `train_set` that runs across the
/// phases, the same sampling as [`crate::train::train`]. Calls `hook(step, net)` before step 0, every
/// `every` steps, and after the last step (`every` = 0: only those two). Stops early, with the records so
/// far, when the loss becomes NaN or infinite. Returns one record per step taken.
pub fn train_phases(
    net: &Mlp,
    train_set: &Dataset,
    phases: &[Phase],
    batch: usize,
    seed: u64,
    every: usize,
    mut hook: impl FnMut(usize, &Mlp) -> Result<()>,
) -> Result<Vec<StepRecord>> {
    let n = train_set.len();
    ensure!(batch > 0 && batch <= n, "batch size {batch} must be between 1 and the {n} training examples");
    let total: usize = phases.iter().map(|p| p.steps).sum();
    ensure!(total > 0, "the phases take no steps");
    let mut rng = crate::init::rng(seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut cursor = n;
    let vars = net.vars();
    let mut records = Vec::with_capacity(total);
    let mut step = 0;
    hook(0, net)?;
    for phase in phases {
        let mut optimizer = phase.optim.optimizer(vars.clone())?;
        for _ in 0..phase.steps {
            if cursor + batch > n {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            let idx = Tensor::new(&order[cursor..cursor + batch], &DEVICE)?;
            cursor += batch;
            let (xb, yb) = (train_set.x.index_select(&idx, 0)?, train_set.y.index_select(&idx, 0)?);
            let logits = net.forward_trace(&xb, true)?.logits;
            let loss = cross_entropy(&logits, &yb)?;
            let loss_value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let grads = loss.backward()?;
            records.push(StepRecord {
                step,
                loss: loss_value,
                accuracy: accuracy(&logits, &yb)?,
                grad_norm: step_grad_norm(&grads, &vars)?,
            });
            if !loss_value.is_finite() {
                return Ok(records);
            }
            optimizer.step(&grads)?;
            step += 1;
            if (every > 0 && step % every == 0) || step == total {
                hook(step, net)?;
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_fit_recovers_slope_intercept_and_its_quality() {
        let exact: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 - 0.5 * i as f64)).collect();
        let f = fit_line(&exact);
        assert!((f.slope + 0.5).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12 && (f.r2 - 1.0).abs() < 1e-12);
        let noisy = [(0.0, 0.0), (1.0, 2.0), (2.0, 0.0), (3.0, 2.0)];
        let f = fit_line(&noisy);
        assert!((f.slope - 0.4).abs() < 1e-12 && (f.r2 - 0.2).abs() < 1e-12, "{f:?}");
        assert_eq!(fit_line(&[(1.0, 2.0), (1.0, 4.0)]).slope, 0.0);
    }
    use crate::{Activation, Init};

    #[test]
    fn geometric_mean_and_its_refusals() {
        assert!((geo_mean([1e-6, 1e-2]) - 1e-4).abs() < 1e-18);
        assert!(geo_mean([]).is_nan());
        assert!(geo_mean([1.0, 0.0]).is_nan());
    }

    #[test]
    fn profiles_agree_with_direct_measurements_and_theory() -> Result<()> {
        let data = crate::data::teacher(128, 6, 3, 1)?;
        let config = MlpConfig::new(6, 16, 4, 3, Activation::Tanh, Init::XAVIER);
        let p = init_profile(&config, &data.x, &data.y, &[3, 4])?;
        let direct = delta_norms(&config.clone().with_seed(4).build(&DEVICE)?, &data.x, &data.y)?;
        assert_eq!(p.per_seed[1], direct);
        assert!((p.delta_norms[2] - (p.per_seed[0][2] * p.per_seed[1][2]).sqrt()).abs() < 1e-12);
        // The bias gradient is the batch mean of the per-example errors, so its norm is at most their
        // root-mean-square size.
        for (b, e) in p.per_seed.iter().flatten().zip(p.per_example_per_seed.iter().flatten()) {
            assert!(*b <= e * (1.0 + 1e-5), "{b} > {e}");
        }
        // Linear networks with σ_w² = 1 keep χ = 1: the predicted profile is flat.
        let linear = MlpConfig::new(6, 16, 5, 3, Activation::Linear, Init::LecunNormal);
        assert!(meanfield_profile(&linear, 1.0)?.iter().all(|&r| (r - 1.0).abs() < 1e-9));
        // ReLU with σ_w² = 1 halves ‖δ‖² per layer: ‖δ¹‖/‖δ⁵‖ = 2^(−4/2) = 1/4.
        let relu = MlpConfig::new(6, 16, 5, 3, Activation::Relu, Init::LecunNormal);
        assert!((meanfield_profile(&relu, 1.0)?[0] - 0.25).abs() < 1e-6);
        assert!(meanfield_profile(&config.clone().with_residual(true), 1.0).is_err());
        Ok(())
    }

    #[test]
    fn inactive_units_are_counted_per_layer() -> Result<()> {
        let net = MlpConfig::new(3, 4, 2, 2, Activation::Relu, Init::HE).with_seed(5).build(&DEVICE)?;
        // Kill unit 0 of layer 1 with a large negative bias.
        let b = net.hidden()[0].bias.as_tensor().to_vec1::<f32>()?;
        let mut killed = b.clone();
        killed[0] = -1e3;
        net.hidden()[0].bias.set(&Tensor::new(killed.as_slice(), &DEVICE)?)?;
        let x = Init::Normal { std: 1.0 }.tensor(50, 3, &mut crate::init::rng(6), &DEVICE)?;
        let f = inactive_fractions(&net, &x)?;
        assert!((f[0] - 0.25).abs() < 1e-12, "{f:?}");
        let share = inactive_share(&net, &x)?;
        assert!((share - (f[0] + f[1]) / 2.0).abs() < 1e-12);
        // A dead ReLU unit's incoming weights get exactly zero gradient.
        let y = Tensor::from_vec((0..50u32).map(|i| i % 2).collect(), 50, &DEVICE)?;
        let grads = net.loss(&x, &y)?.backward()?;
        let gw = grads.get(&net.hidden()[0].weight).unwrap().to_vec2::<f32>()?;
        assert!(gw[0].iter().all(|&g| g == 0.0), "{:?}", gw[0]);
        Ok(())
    }

    #[test]
    fn phases_run_in_order_and_call_the_hook() -> Result<()> {
        let data = crate::data::teacher(200, 4, 2, 2)?;
        let net = MlpConfig::new(4, 8, 2, 2, Activation::Relu, Init::HE).with_seed(1).build(&DEVICE)?;
        let phases = [
            Phase { optim: Optim::Sgd { lr: 0.1 }, steps: 5 },
            Phase { optim: Optim::AdamW { lr: 1e-3, weight_decay: 0.0 }, steps: 7 },
        ];
        let mut seen = Vec::new();
        let records = train_phases(&net, &data, &phases, 16, 3, 4, |s, _| {
            seen.push(s);
            Ok(())
        })?;
        assert_eq!(records.len(), 12);
        assert_eq!(seen, vec![0, 4, 8, 12]);
        // The same seed gives the same run.
        let again = MlpConfig::new(4, 8, 2, 2, Activation::Relu, Init::HE).with_seed(1).build(&DEVICE)?;
        assert_eq!(train_phases(&again, &data, &phases, 16, 3, 0, |_, _| Ok(()))?, records);
        assert!(train_phases(&net, &data, &[], 16, 3, 0, |_, _| Ok(())).is_err());
        Ok(())
    }

    #[test]
    fn a_tiny_budget_run_is_scored() -> Result<()> {
        let data = crate::data::teacher(300, 4, 2, 3)?;
        let (train_set, rest) = data.split(200)?;
        let (val, test) = rest.split(50)?;
        let config = MlpConfig::new(4, 16, 1, 2, Activation::Relu, Init::HE).with_seed(2);
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: 0.1 }, 200, 20);
        cfg.progress = false;
        let (scores, best) = best_learning_rate(
            &config,
            &[1e-4, 0.3],
            |lr| Optim::Momentum { lr, momentum: 0.9 },
            &cfg,
            &train_set,
            &val,
            &test,
        )?;
        assert_eq!(scores.len(), 2);
        assert_eq!(best, 1, "{scores:?}");
        assert!(scores[1].test_accuracy > 0.7, "{scores:?}");
        Ok(())
    }
}

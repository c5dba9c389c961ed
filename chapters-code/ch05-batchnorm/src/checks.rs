//! Checkers of the chapter 5 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch05", "5.1", "BatchNorm's forward pass in training mode", batch_norm_train(batch_norm_train), [
        ("the unbiased variance, 1/(B − 1), in the normalisation", mistakes::bn_unbiased),
        ("ε added to the standard deviation instead of the variance", mistakes::bn_eps_outside),
        ("statistics over each example's features (LayerNorm)", mistakes::bn_over_features),
    ]},
    exercise! {"ch05", "5.2", "the running averages, in the right convention", running_update(running_update), [
        ("Keras' convention: momentum weighs the old value", mistakes::running_keras),
        ("the biased variance in the running average", mistakes::running_biased),
        ("E[x²] instead of the variance", mistakes::running_second_moment),
    ]},
    exercise! {"ch05", "5.3", "a growth factor from a gradient profile", growth_towards_input(growth_towards_input), [
        ("the growth away from the input (the fitted ratio, not its inverse)", mistakes::growth_wrong_way),
        ("the two end points only, instead of a least-squares fit", mistakes::growth_end_points),
        ("the skipped layers left in the fit", mistakes::growth_no_skip),
    ]},
    exercise! {"ch05", "5.4", "train twenty sigmoid layers with BatchNorm",
        normalised_sigmoid(normalise_and_choose_rate), [
        ("no normalisation, the rate that works with it", || (lab::Norm::None, 0.1)),
        ("BatchNorm with a timid rate, 0.01", || (lab::Norm::Batch, 0.01)),
    ]},
];

/// Deterministic test batches: `rows` examples of `cols` features with unequal means and scales.
fn batch(rows: usize, cols: usize, seed: u64) -> Vec<Vec<f64>> {
    use rand::Rng;
    let mut rng = lab::init::rng(seed);
    (0..rows)
        .map(|_| (0..cols).map(|j| (j as f64 - 1.0) * 2.0 + (0.5 + j as f64) * rng.random_range(-1.7..1.7)).collect())
        .collect()
}

fn reference_bn(x: &[Vec<f64>], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<Vec<f64>> {
    crate::solutions::batch_norm_train(x, gamma, beta, eps)
}

/// Exercise 5.1: against the definition at two values of ε and three batch sizes, and against
/// candle_nn's BatchNorm.
pub fn batch_norm_train(f: impl Fn(&[Vec<f64>], &[f64], &[f64], f64) -> Vec<Vec<f64>>) -> Result<(), String> {
    let (gamma, beta) = (vec![1.0, 2.0, -0.5], vec![0.0, 0.3, 1.0]);
    for (rows, eps, seed) in [(4usize, 1e-5, 1u64), (5, 0.5, 2), (16, 1e-3, 3)] {
        let x = batch(rows, 3, seed);
        let (got, want) = (f(&x, &gamma, &beta, eps), reference_bn(&x, &gamma, &beta, eps));
        if got.len() != rows || got.iter().any(|r| r.len() != 3) {
            return Err(format!("expected {rows} rows of 3 features, got {} rows", got.len()));
        }
        for i in 0..rows {
            for j in 0..3 {
                close(&format!("output [{i}][{j}] for B = {rows}, ε = {eps}"), got[i][j], want[i][j], 1e-9, 1e-12).map_err(|e| {
                    format!("{e}; with γ = 1, β = 0 each feature of the output should have mean 0 and (biased) variance var/(var + ε) over the batch")
                })?;
            }
        }
    }
    // candle_nn agrees (f32, so a looser tolerance).
    let x = batch(8, 3, 4);
    let want = candle_bn_output(&x).map_err(|e| format!("could not run candle_nn: {e}"))?;
    let got = f(&x, &[1.0; 3], &[0.0; 3], 1e-5);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        for j in 0..3 {
            close(&format!("output [{i}][{j}] against candle_nn::BatchNorm"), g[j], w[j], 1e-4, 1e-5)?;
        }
    }
    Ok(())
}

fn candle_bn_output(x: &[Vec<f64>]) -> anyhow::Result<Vec<Vec<f64>>> {
    use candle_core::{DType, Device, ModuleT, Tensor};
    let bn = candle_nn::BatchNorm::new(
        3,
        Tensor::zeros(3, DType::F64, &Device::Cpu)?,
        Tensor::ones(3, DType::F64, &Device::Cpu)?,
        Tensor::ones(3, DType::F64, &Device::Cpu)?,
        Tensor::zeros(3, DType::F64, &Device::Cpu)?,
        1e-5,
    )?;
    let t = Tensor::from_vec(x.concat(), (x.len(), 3), &Device::Cpu)?;
    Ok(bn.forward_t(&t, true)?.to_vec2::<f64>()?)
}

/// Exercise 5.2: three updates against the definition and against candle_nn's running statistics.
pub fn running_update(f: impl Fn(&[f64], &[f64], &[Vec<f64>], f64) -> (Vec<f64>, Vec<f64>)) -> Result<(), String> {
    use candle_core::{DType, Device, ModuleT, Tensor};
    let dev = Device::Cpu;
    let bn = (|| -> anyhow::Result<candle_nn::BatchNorm> {
        Ok(candle_nn::BatchNorm::new_with_momentum(
            3,
            Tensor::zeros(3, DType::F64, &dev)?,
            Tensor::ones(3, DType::F64, &dev)?,
            Tensor::ones(3, DType::F64, &dev)?,
            Tensor::zeros(3, DType::F64, &dev)?,
            1e-5,
            0.1,
        )?)
    })()
    .map_err(|e| format!("could not build candle_nn::BatchNorm: {e}"))?;
    let (mut mean, mut var) = (vec![0.0; 3], vec![1.0; 3]);
    for (step, rows) in [(0u64, 6usize), (1, 4), (2, 10)] {
        let x = batch(rows, 3, 10 + step);
        let (m, v) = f(&mean, &var, &x, 0.1);
        if m.len() != 3 || v.len() != 3 {
            return Err(format!("expected 3 running means and variances, got {} and {}", m.len(), v.len()));
        }
        let t = Tensor::from_vec(x.concat(), (rows, 3), &dev).map_err(|e| e.to_string())?;
        bn.forward_t(&t, true).map_err(|e| e.to_string())?;
        let want_m = bn.running_mean().to_vec1::<f64>().map_err(|e| e.to_string())?;
        let want_v = bn.running_var().to_vec1::<f64>().map_err(|e| e.to_string())?;
        for j in 0..3 {
            close(&format!("running mean of feature {j} after update {}", step + 1), m[j], want_m[j], 1e-9, 1e-12)
                .map_err(|e| format!("{e}; momentum 0.1 moves the average a tenth of the way to the batch value"))?;
            close(
                &format!("running variance of feature {j} after update {} (B = {rows})", step + 1),
                v[j],
                want_v[j],
                1e-9,
                1e-12,
            )
            .map_err(|e| format!("{e}; the running variance estimates the population's, so it uses 1/(B − 1)"))?;
        }
        (mean, var) = (m, v);
    }
    Ok(())
}

/// Exercise 5.3: synthetic noisy profiles with transients at both ends, then a real linear BatchNorm
/// network against Yang et al.'s (B − 2)/(B − 3).
pub fn growth_towards_input(f: impl Fn(&[f64], usize) -> f64) -> Result<(), String> {
    use rand::Rng;
    let mut rng = lab::init::rng(5);
    for (lambda, layers, skip) in [(1.2f64, 30usize, 3usize), (0.7, 20, 2), (1.4669, 50, 5)] {
        let mut profile: Vec<f64> = (0..layers)
            .map(|l| lambda.powi((layers - 1 - l) as i32) * (rng.random_range(-0.3..0.3f64)).exp())
            .collect();
        for k in 0..skip {
            profile[k] *= 50.0;
            profile[layers - 1 - k] /= 30.0;
        }
        let want = lab::norm::backward_growth(&profile, skip).map_err(|e| e.to_string())?.ratio;
        close(
            &format!("growth of a {layers}-layer profile (true λ = {lambda}), skip {skip}"),
            f(&profile, skip),
            want,
            1e-9,
            0.0,
        )?;
    }
    let measured = (|| -> anyhow::Result<f64> {
        use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
        let config = MlpConfig::new(64, 256, 24, 10, Activation::Linear, Init::XavierNormal { gain: 1.0 })
            .with_norm(Norm::Batch)
            .with_seed(3);
        let x = Init::Normal { std: 1.0 }.tensor(8, 64, &mut lab::init::rng(4), &DEVICE)?;
        let profile = lab::norm::linear_loss_weight_grads(&config.build(&DEVICE)?, &x, 6)?;
        Ok(f(&profile, 2))
    })()
    .map_err(|e| format!("could not run the network: {e}"))?;
    close("growth of a 24-layer linear BatchNorm network with B = 8, against (B − 2)/(B − 3)", measured, 1.2, 0.06, 0.0)
}

/// Exercise 5.4's network: twenty sigmoid layers of 32 on the digits, LeCun-normal weights.
pub fn deep_sigmoid() -> lab::MlpConfig {
    lab::MlpConfig::new(784, 32, 20, 10, lab::Activation::Sigmoid, lab::Init::LecunNormal).with_seed(5)
}

/// The held-out accuracy exercise 5.4 asks for.
pub const NORMALISED_ACCURACY: f64 = 0.8;

/// Trains [`deep_sigmoid`] with `norm` for 600 steps of plain SGD at `lr` (minibatches of 32) on 1500
/// digits; returns its accuracy on 500 others, in evaluation mode (0 if it diverged).
pub fn normalised_accuracy(norm: lab::Norm, lr: f64) -> anyhow::Result<f64> {
    use lab::train::{Optim, TrainConfig};
    let (train, test) = (lab::data::digits(1500, 8)?, lab::data::digits(500, 9)?);
    let mut cfg = TrainConfig::new(Optim::Sgd { lr }, 600, 32);
    cfg.progress = false;
    let config = deep_sigmoid().with_norm(norm);
    Ok(lab::experiments::train_and_score(&config, &cfg, &train, &test, &test)?.test_accuracy)
}

/// Exercise 5.4: the network, normalised and trained as the function says, reaches
/// [`NORMALISED_ACCURACY`].
pub fn normalised_sigmoid(f: impl Fn() -> (lab::Norm, f64)) -> Result<(), String> {
    let (norm, lr) = f();
    if !(lr.is_finite() && lr > 0.0) {
        return Err(format!("a learning rate is a finite positive number, got {lr}"));
    }
    let acc = normalised_accuracy(norm, lr).map_err(|e| format!("could not train: {e}"))?;
    if acc < NORMALISED_ACCURACY {
        let hint = if norm == lab::Norm::None {
            ": without normalisation no rate rescues twenty sigmoid layers on this budget"
        } else {
            ": try other rates, a factor of 3 apart"
        };
        return Err(format!(
            "with {norm:?} and rate {lr}, held-out accuracy is {acc:.3}, below {NORMALISED_ACCURACY}{hint}"
        ));
    }
    Ok(())
}

/// Plausible wrong answers, each of which its checker must reject.
pub mod mistakes {

    fn means(x: &[Vec<f64>]) -> Vec<f64> {
        (0..x[0].len()).map(|j| x.iter().map(|r| r[j]).sum::<f64>() / x.len() as f64).collect()
    }

    pub fn bn_unbiased(x: &[Vec<f64>], g: &[f64], b: &[f64], eps: f64) -> Vec<Vec<f64>> {
        let m = means(x);
        let n = x.len() as f64;
        let v: Vec<f64> =
            (0..m.len()).map(|j| x.iter().map(|r| (r[j] - m[j]).powi(2)).sum::<f64>() / (n - 1.0)).collect();
        x.iter().map(|r| (0..r.len()).map(|j| g[j] * (r[j] - m[j]) / (v[j] + eps).sqrt() + b[j]).collect()).collect()
    }

    pub fn bn_eps_outside(x: &[Vec<f64>], g: &[f64], b: &[f64], eps: f64) -> Vec<Vec<f64>> {
        let m = means(x);
        let n = x.len() as f64;
        let v: Vec<f64> = (0..m.len()).map(|j| x.iter().map(|r| (r[j] - m[j]).powi(2)).sum::<f64>() / n).collect();
        x.iter().map(|r| (0..r.len()).map(|j| g[j] * (r[j] - m[j]) / (v[j].sqrt() + eps) + b[j]).collect()).collect()
    }

    pub fn bn_over_features(x: &[Vec<f64>], g: &[f64], b: &[f64], eps: f64) -> Vec<Vec<f64>> {
        x.iter()
            .map(|r| {
                let n = r.len() as f64;
                let m = r.iter().sum::<f64>() / n;
                let v = r.iter().map(|a| (a - m).powi(2)).sum::<f64>() / n;
                (0..r.len()).map(|j| g[j] * (r[j] - m) / (v + eps).sqrt() + b[j]).collect()
            })
            .collect()
    }

    pub fn running_keras(rm: &[f64], rv: &[f64], x: &[Vec<f64>], momentum: f64) -> (Vec<f64>, Vec<f64>) {
        crate::solutions::running_update(rm, rv, x, 1.0 - momentum)
    }

    pub fn running_biased(rm: &[f64], rv: &[f64], x: &[Vec<f64>], momentum: f64) -> (Vec<f64>, Vec<f64>) {
        let (m, v) = crate::solutions::running_update(rm, rv, x, momentum);
        let n = x.len() as f64;
        // Undo the B/(B − 1) on the batch part of the update.
        let v =
            v.iter().zip(rv).map(|(v, o)| (1.0 - momentum) * o + (v - (1.0 - momentum) * o) * (n - 1.0) / n).collect();
        (m, v)
    }

    pub fn running_second_moment(rm: &[f64], rv: &[f64], x: &[Vec<f64>], momentum: f64) -> (Vec<f64>, Vec<f64>) {
        let m = means(x);
        let sq: Vec<f64> = (0..m.len()).map(|j| x.iter().map(|r| r[j] * r[j]).sum::<f64>() / x.len() as f64).collect();
        let mix = |o: &[f64], n: &[f64]| o.iter().zip(n).map(|(o, n)| (1.0 - momentum) * o + momentum * n).collect();
        (mix(rm, &m), mix(rv, &sq))
    }

    pub fn growth_wrong_way(p: &[f64], skip: usize) -> f64 {
        1.0 / crate::solutions::growth_towards_input(p, skip)
    }

    pub fn growth_end_points(p: &[f64], skip: usize) -> f64 {
        let (first, last) = (p[skip], p[p.len() - 1 - skip]);
        (first / last).powf(1.0 / (p.len() - 1 - 2 * skip) as f64)
    }

    pub fn growth_no_skip(p: &[f64], _skip: usize) -> f64 {
        crate::solutions::growth_towards_input(p, 0)
    }
}

//! Checkers of the chapter 6 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch06", "6.1", "the residual stream's variance in closed form", stream_variance(stream_second_moment), [
        ("branches add α² even without a norm, as if their input were normalised", mistakes::always_additive),
        ("α instead of α²: scaling a signal by α scales its variance by α²", mistakes::alpha_not_squared),
        ("behind the LayerNorm, the stream's own q₀ forgotten", mistakes::norm_without_q0),
    ]},
    exercise! {"ch06", "6.2", "the Jacobian of one residual block", block_jacobian(block_jacobian), [
        ("the branch alone, without the identity of the skip", mistakes::no_identity),
        ("every ReLU counted as active", mistakes::no_relu_mask),
        ("the transpose: ∂xⱼ′/∂xᵢ in row i", mistakes::transposed),
    ]},
    exercise! {"ch06", "6.3", "the autocorrelation of a gradient curve", autocorrelation(autocorrelation), [
        ("no mean subtracted", mistakes::uncentred),
        ("each lag divided by its own number of terms (N − k) instead of N", mistakes::per_lag_normalised),
        ("the sums of the lag-k products run over only the first N − max_lag indices", mistakes::fixed_window),
    ]},
    exercise! {"ch06", "6.4", "make 32 blocks train", residual_trains(make_it_train), [
        ("the skip connection alone, α = 1", |c| lab::resnet::ResMlpConfig { skip: true, ..c }),
        ("the plain network as it was", |c| c),
    ]},
];

/// Exercise 6.1: the closed form at many (q₀, α, norm, l), then a real 12-block network.
pub fn stream_variance(f: impl Fn(f64, f64, bool, usize) -> f64) -> Result<(), String> {
    for (q0, alpha) in [(1.0f64, 1.0f64), (1.0, 0.5), (2.0, 0.125), (0.5, 1.5), (1.0, 0.0)] {
        for l in [0usize, 1, 2, 5, 16, 64] {
            let a2 = alpha * alpha;
            let (plain, normed) = (q0 * (1.0 + a2).powi(l as i32), q0 + l as f64 * a2);
            close(
                &format!("q after {l} blocks, q₀ = {q0}, α = {alpha}, no norm"),
                f(q0, alpha, false, l),
                plain,
                1e-9,
                0.0,
            )?;
            close(
                &format!("q after {l} blocks, q₀ = {q0}, α = {alpha}, LayerNorm"),
                f(q0, alpha, true, l),
                normed,
                1e-9,
                0.0,
            )?;
        }
    }
    let (q0, measured) = measured_stream().map_err(|e| format!("could not run the network: {e}"))?;
    close("your prediction against a measured 12-block network with α = 0.5", f(q0, 0.5, false, 12), measured, 0.2, 0.0)
}

fn measured_stream() -> anyhow::Result<(f64, f64)> {
    let x = lab::Init::Normal { std: 1.0 }.tensor(128, 512, &mut lab::init::rng(3), &lab::DEVICE)?;
    let net = lab::resnet::ResMlpConfig::new(512, 512, 12, 2).with_alpha(0.5).with_seed(5).build()?;
    let s = net.stream(&x, None)?;
    Ok((lab::stats::second_moment(&s[0])?, lab::stats::second_moment(&s[12])?))
}

/// Exercise 6.2: the Jacobian of a real block, from candle's autograd, at points where some ReLUs are
/// off and some on.
pub fn block_jacobian(
    f: impl Fn(&[Vec<f64>], &[f64], &[Vec<f64>], f64, &[f64]) -> Vec<Vec<f64>>,
) -> Result<(), String> {
    for (seed, alpha) in [(1u64, 1.0), (2, 0.3), (3, -0.8)] {
        let case = autograd_jacobian(seed, alpha).map_err(|e| format!("could not run candle: {e}"))?;
        let got = f(&case.w1, &case.b1, &case.w2, alpha, &case.x);
        let n = case.x.len();
        if got.len() != n || got.iter().any(|r| r.len() != n) {
            return Err(format!("the Jacobian of a block of width {n} is {n} × {n}"));
        }
        for (i, (row, want_row)) in got.iter().zip(&case.jacobian).enumerate() {
            for (j, (&g, &w)) in row.iter().zip(want_row).enumerate() {
                close(&format!("J[{i}][{j}] (seed {seed}, α = {alpha})"), g, w, 1e-6, 1e-9)?;
            }
        }
    }
    Ok(())
}

/// A block's parameters, an input, and its Jacobian from autograd.
struct JacobianCase {
    w1: Vec<Vec<f64>>,
    b1: Vec<f64>,
    w2: Vec<Vec<f64>>,
    x: Vec<f64>,
    jacobian: Vec<Vec<f64>>,
}

fn autograd_jacobian(seed: u64, alpha: f64) -> anyhow::Result<JacobianCase> {
    use candle_core::{Module, Tensor, Var};
    let n = 6;
    let net = lab::resnet::ResMlpConfig::new(n, n, 1, 1).with_seed(seed).build_f64()?;
    let mut varmap = net.varmap.clone();
    let mut rng = lab::init::rng(seed + 10);
    let b1 = lab::Init::Normal { std: 0.5 }.tensor(1, n, &mut rng, &lab::DEVICE)?.reshape(n)?;
    varmap.set_one("block0.w1.bias", b1.to_dtype(candle_core::DType::F64)?)?;
    varmap.set_one("block0.alpha", Tensor::new(&[alpha], &lab::DEVICE)?)?;
    let x0 = lab::Init::Normal { std: 1.0 }.tensor(1, n, &mut rng, &lab::DEVICE)?.to_dtype(candle_core::DType::F64)?;
    let block = &net.blocks[0];
    let x = Var::from_tensor(&x0)?;
    let y = block.forward(x.as_tensor())?;
    let mut jacobian = Vec::with_capacity(n);
    for i in 0..n {
        let grads = y.narrow(1, i, 1)?.sum_all()?.backward()?;
        jacobian.push(grads.get(x.as_tensor()).expect("x has a gradient").flatten_all()?.to_vec1::<f64>()?);
    }
    Ok(JacobianCase {
        w1: block.w1.weight().to_vec2::<f64>()?,
        b1: block.w1.bias().expect("b₁").to_vec1::<f64>()?,
        w2: block.w2.weight().to_vec2::<f64>()?,
        x: x0.flatten_all()?.to_vec1::<f64>()?,
        jacobian,
    })
}

/// Exercise 6.3: known sequences, then random ones against the chapter's own implementation.
pub fn autocorrelation(f: impl Fn(&[f64], usize) -> Vec<f64>) -> Result<(), String> {
    let alternating: Vec<f64> = (0..10).map(|i| if i % 2 == 0 { 3.0 } else { -1.0 }).collect();
    let got = f(&alternating, 3);
    if got.len() != 4 {
        return Err(format!("max_lag = 3 asks for ρ(0), …, ρ(3): 4 values, got {}", got.len()));
    }
    // Centred values ±2, Σ c² = 40; lag k sums 10 − k products of ±4.
    for (k, want) in [1.0, -0.9, 0.8, -0.7].into_iter().enumerate() {
        close(&format!("ρ({k}) of 3, −1, 3, −1, … (10 values)"), got[k], want, 1e-9, 1e-12)?;
    }
    let mut rng = lab::init::rng(7);
    for (n, max_lag) in [(32usize, 8usize), (256, 16), (20, 19)] {
        let walk: Vec<f64> = lab::Init::Normal { std: 1.0 }
            .sample(1, n, &mut rng)
            .iter()
            .scan(0.0, |s, &v| {
                *s += v as f64;
                Some(*s + 5.0)
            })
            .collect();
        let want = crate::shattered::autocorrelation(&walk, max_lag);
        let got = f(&walk, max_lag);
        if got.len() != want.len() {
            return Err(format!("max_lag = {max_lag} asks for {} values, got {}", want.len(), got.len()));
        }
        for k in 0..want.len() {
            close(&format!("ρ({k}) of a random walk of {n} steps"), got[k], want[k], 1e-9, 1e-12)?;
        }
    }
    Ok(())
}

/// Exercise 6.4's network: 32 plain two-layer ReLU blocks of width 64 on the digits.
pub fn plain_deep() -> lab::resnet::ResMlpConfig {
    lab::resnet::ResMlpConfig::new(784, 64, 32, 10).plain()
}

/// The training loss exercise 6.4 asks for.
pub const TRAINED_LOSS: f64 = 0.5;

/// Trains `config` for 100 steps of SGD with momentum (rate 0.02, momentum 0.9, minibatches of 64)
/// on 1500 standardised digits — Figure 6-2's budget — and returns the mean training loss of the
/// last 10 steps (infinite if it diverged).
pub fn final_loss(config: &lab::resnet::ResMlpConfig) -> anyhow::Result<f64> {
    let (x, y) = lab::data::standardized_digits(1500, 0)?;
    let optim = lab::train::Optim::Momentum { lr: 0.02, momentum: 0.9 };
    let losses = lab::resnet::train(&config.build()?, &x, &y, optim, 100, 64, 1)?;
    if losses.iter().any(|l| !l.is_finite()) {
        return Ok(f64::INFINITY);
    }
    Ok(lab::stats::tail_mean(&losses, 10))
}

/// Exercise 6.4: the same network with skips, trained to [`TRAINED_LOSS`].
pub fn residual_trains(f: impl Fn(lab::resnet::ResMlpConfig) -> lab::resnet::ResMlpConfig) -> Result<(), String> {
    let plain = plain_deep();
    let got = f(plain.clone());
    let same = |c: &lab::resnet::ResMlpConfig| (c.d_in, c.width, c.blocks, c.d_out, c.activation, c.seed, c.layer_norm);
    if same(&got) != same(&plain) {
        return Err("keep the network's size, activation and seed, and leave LayerNorm off".into());
    }
    if !got.skip {
        return Err("the blocks are still plain: set `skip` (the exercise is about the residual stream)".into());
    }
    let loss = final_loss(&got).map_err(|e| format!("could not train: {e}"))?;
    if loss.is_nan() || loss >= TRAINED_LOSS {
        return Err(format!(
            "the training loss after 100 steps is {loss:.3}, not below {TRAINED_LOSS}: how large is the \
             stream after 32 blocks at initialisation?"
        ));
    }
    Ok(())
}

/// Plausible wrong answers, which the checkers must reject.
pub mod mistakes {

    pub fn always_additive(q0: f64, alpha: f64, _layer_norm: bool, l: usize) -> f64 {
        q0 + l as f64 * alpha * alpha
    }

    pub fn alpha_not_squared(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
        if layer_norm { q0 + l as f64 * alpha } else { q0 * (1.0 + alpha).powi(l as i32) }
    }

    pub fn norm_without_q0(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
        let a2 = alpha * alpha;
        if layer_norm { 1.0 + l as f64 * a2 } else { q0 * (1.0 + a2).powi(l as i32) }
    }

    pub fn no_identity(w1: &[Vec<f64>], b1: &[f64], w2: &[Vec<f64>], alpha: f64, x: &[f64]) -> Vec<Vec<f64>> {
        let mut j = crate::solutions::block_jacobian(w1, b1, w2, alpha, x);
        for (i, row) in j.iter_mut().enumerate() {
            row[i] -= 1.0;
        }
        j
    }

    pub fn no_relu_mask(w1: &[Vec<f64>], _b1: &[f64], w2: &[Vec<f64>], alpha: f64, x: &[f64]) -> Vec<Vec<f64>> {
        // A bias so large that every unit is on.
        crate::solutions::block_jacobian(w1, &vec![1e9; x.len()], w2, alpha, x)
    }

    pub fn transposed(w1: &[Vec<f64>], b1: &[f64], w2: &[Vec<f64>], alpha: f64, x: &[f64]) -> Vec<Vec<f64>> {
        let j = crate::solutions::block_jacobian(w1, b1, w2, alpha, x);
        (0..j.len()).map(|i| (0..j.len()).map(|k| j[k][i]).collect()).collect()
    }

    pub fn uncentred(g: &[f64], max_lag: usize) -> Vec<f64> {
        let var: f64 = g.iter().map(|v| v * v).sum();
        (0..=max_lag).map(|k| g.iter().zip(&g[k..]).map(|(a, b)| a * b).sum::<f64>() / var).collect()
    }

    pub fn per_lag_normalised(g: &[f64], max_lag: usize) -> Vec<f64> {
        let n = g.len() as f64;
        crate::solutions::autocorrelation(g, max_lag)
            .into_iter()
            .enumerate()
            .map(|(k, r)| r * n / (n - k as f64))
            .collect()
    }

    pub fn fixed_window(g: &[f64], max_lag: usize) -> Vec<f64> {
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let c: Vec<f64> = g.iter().map(|v| v - mean).collect();
        let var: f64 = c.iter().map(|v| v * v).sum();
        let m = c.len() - max_lag;
        (0..=max_lag).map(|k| (0..m).map(|i| c[i] * c[i + k]).sum::<f64>() / var).collect()
    }
}

chapter_kit::every_exercise_is_sound!(EXERCISES);

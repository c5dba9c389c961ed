//! Checkers of the chapter 3 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use crate::shapes::mean_slope2;
use anyhow::Result;
use candle_core::Tensor;
use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch03", "3.1", "He's gain for leaky ReLU", leaky_he_gain2(leaky_he_gain2), [
        ("σ_w² = 2 whatever α", |_| 2.0),
        ("2/(1 + α), forgetting that the slope is squared", |a| 2.0 / (1.0 + a)),
        ("(1 + α²)/2, the inverse", |a| (1.0 + a * a) / 2.0),
    ]},
    exercise! {"ch03", "3.2", "the chance of a dead output", dead_at_one_input(dead_at_one_input), [
        ("(1 − 2⁻ᴺ)ᴸ, the probability of surviving", |n, l| (1.0 - 0.5f64.powi(n as i32)).powi(l as i32)),
        ("2^(−N·L), every layer dead at once", |n, l| 0.5f64.powi((n * l) as i32)),
        ("L·2⁻ᴺ, the small-probability approximation", |n, l| (l as f64 * 0.5f64.powi(n as i32)).min(1.0)),
    ]},
    exercise! {"ch03", "3.3", "GELU′", gelu_prime(gelu_prime), [
        ("Φ(z) alone, forgetting the product rule", mistakes::gelu_prime_cdf_only),
        ("the derivative of the tanh approximation of GELU", mistakes::gelu_prime_tanh_approximation),
        ("Φ(z) − zφ(z), a sign slip", mistakes::gelu_prime_sign_slip),
    ]},
    exercise! {"ch03", "3.4", "counting dead units", dead_units(dead_units), [
        ("z ≤ 0 on *some* example instead of on every one", mistakes::dead_on_any_example),
        ("looking at the first example only", mistakes::dead_on_first_example),
        ("reducing over the units instead of over the examples", mistakes::reduce_over_units),
    ]},
    exercise! {"ch03", "3.5", "the largest learning rate that keeps the units alive", safe_lr(largest_safe_lr), [
        ("half the largest safe rate: safe, but not the largest", || 0.0005),
        ("Figure 3-6's normal rate, 0.003", || 0.003),
    ]},
];

/// Exercise 3.1: with σ_w² = f(α), the mean-field factor χ = σ_w² · E[f′(z)²] is 1 for several slopes
/// α and variances q.
pub fn leaky_he_gain2(f: impl Fn(f64) -> f64) -> Result<(), String> {
    for alpha in [0.0, 0.01, 0.1, 0.3, 1.0] {
        let gain2 = f(alpha);
        for q in [0.5, 4.0] {
            let chi = gain2 * mean_slope2(Activation::LeakyRelu(alpha), q);
            close(
                &format!("χ = σ_w² · E[f′(z)²] with α = {alpha}, σ_w² = {gain2}, z ~ N(0, {q})"),
                chi,
                1.0,
                1e-9,
                0.0,
            )
            .map_err(|e| format!("{e}; f′ is 1 for z > 0 and α for z < 0, each with probability ½"))?;
        }
    }
    Ok(())
}

/// Exercise 3.2: the one-input probability against the closed form at several widths and depths,
/// and its limits.
pub fn dead_at_one_input(f: impl Fn(usize, usize) -> f64) -> Result<(), String> {
    for (n, l) in [(1, 1), (1, 3), (2, 3), (3, 10), (4, 20), (8, 50), (16, 5)] {
        let want = crate::born_dead::single_input_dead(n, l);
        close(&format!("P(dead at one input) for width {n}, depth {l}"), f(n, l), want, 1e-12, 1e-15).map_err(|e| {
            format!("{e}; a layer of N units is entirely off with probability 2⁻ᴺ, independently of the layers below")
        })?;
    }
    close("P(dead) with no hidden layer", f(3, 0), 0.0, 0.0, 1e-15)?;
    Ok(())
}

/// Exercise 3.3: GELU′ agrees with a central difference of GELU on [−8, 8], is exactly ½ at 0,
/// and tends to 0 and 1 in the tails.
pub fn gelu_prime(f: impl Fn(f64) -> f64) -> Result<(), String> {
    let gelu = |z: f64| Activation::Gelu.value(z);
    let h = 1e-5;
    for k in -32..=32 {
        let z = k as f64 * 0.25;
        let numeric = (gelu(z + h) - gelu(z - h)) / (2.0 * h);
        close(&format!("GELU′({z})"), f(z), numeric, 0.0, 1e-8)
            .map_err(|e| format!("{e}; the central difference of GELU says {numeric:.10}"))?;
    }
    close("GELU′(0)", f(0.0), 0.5, 1e-14, 0.0)?;
    close("GELU′(−40)", f(-40.0), 0.0, 0.0, 1e-12)?;
    close("GELU′(40)", f(40.0), 1.0, 1e-12, 0.0)?;
    Ok(())
}

/// The network of exercise 3.4: three ReLU layers of 8 units, with units 0 and 3 of layer 1 and
/// unit 5 of layer 2 killed by a bias of −1000, and 64 Gaussian inputs.
pub fn dead_units_problem() -> Result<(Mlp, Tensor)> {
    let net = MlpConfig::new(6, 8, 3, 3, Activation::Relu, Init::HE).with_seed(4).build(&DEVICE)?;
    for (layer, units) in [(0usize, &[0usize, 3][..]), (1, &[5][..])] {
        let mut b = net.hidden()[layer].bias.as_tensor().to_vec1::<f32>()?;
        for &u in units {
            b[u] = -1000.0;
        }
        net.hidden()[layer].bias.set(&Tensor::new(b.as_slice(), &DEVICE)?)?;
    }
    let x = Init::Normal { std: 1.0 }.tensor(64, 6, &mut lab::init::rng(5), &DEVICE)?;
    Ok((net, x))
}

/// The reference count, in plain Rust over the pre-activations.
fn reference_dead_units(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
    let trace = net.forward_trace(x, false)?;
    trace
        .pre
        .iter()
        .map(|z| {
            let rows = z.to_vec2::<f32>()?;
            Ok((0..rows[0].len()).filter(|&u| rows.iter().all(|r| r[u] <= 0.0)).count())
        })
        .collect()
}

/// Exercise 3.4: the per-layer dead-unit counts of [`dead_units_problem`]'s network.
pub fn dead_units(f: impl Fn(&Mlp, &Tensor) -> Result<Vec<usize>>) -> Result<(), String> {
    let fail = |e: anyhow::Error| format!("{e:#}");
    let (net, x) = dead_units_problem().map_err(fail)?;
    let want = reference_dead_units(&net, &x).map_err(fail)?;
    let got = f(&net, &x).map_err(fail)?;
    if got != want {
        return Err(format!(
            "dead units per layer: got {got:?}, expected {want:?} (units 0 and 3 of layer 1 and unit 5 of layer 2 \
             have a bias of −1000; a unit is dead when z ≤ 0 for every one of the {} examples)",
            x.dims()[0]
        ));
    }
    Ok(())
}

/// The dead share exercise 3.5 must stay under.
pub const DEAD_LIMIT: f64 = 0.1;

/// Exercise 3.5's experiment: a ReLU network of four hidden layers of 64 (He init, seed 11) trained
/// with Adam at `lr` for 50 steps (minibatches of 32) on 1000 digits; returns the share of its
/// hidden units whose pre-activation is ≤ 0 on every one of those digits afterwards
/// (`lab::experiments::inactive_share`).
pub fn dead_after_adam(lr: f64) -> Result<f64> {
    use lab::train::{Optim, TrainConfig, train};
    let data = lab::data::digits(1000, 12)?;
    let net = MlpConfig::new(data.dim(), 64, 4, 10, Activation::Relu, Init::HE).with_seed(11).build(&DEVICE)?;
    let mut cfg = TrainConfig::new(Optim::AdamW { lr, weight_decay: 0.0 }, 50, 32);
    cfg.progress = false;
    train(&net, &data.x, &data.y, None, &cfg)?;
    lab::experiments::inactive_share(&net, &data.x)
}

/// Exercise 3.5: fewer than [`DEAD_LIMIT`] dead at the rate given, at least that many at twice it.
pub fn safe_lr(f: impl Fn() -> f64) -> Result<(), String> {
    let lr = f();
    if !(lr.is_finite() && lr > 0.0) {
        return Err(format!("a learning rate is a finite positive number, got {lr}"));
    }
    let run = |lr: f64| dead_after_adam(lr).map_err(|e| format!("could not train at {lr}: {e}"));
    let dead = run(lr)?;
    if dead >= DEAD_LIMIT {
        return Err(format!("at rate {lr}, {:.1} % of the units die: too large", 100.0 * dead));
    }
    let dead2 = run(2.0 * lr)?;
    if dead2 < DEAD_LIMIT {
        return Err(format!(
            "at twice your rate, {}, only {:.1} % of the units die: a larger rate is still safe",
            2.0 * lr,
            100.0 * dead2
        ));
    }
    Ok(())
}

/// Plausible wrong answers, for the registry.
pub mod mistakes {

    use anyhow::Result;
    use candle_core::{DType, Tensor};
    use lab::Mlp;

    fn pdf(z: f64) -> f64 {
        (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
    }

    fn cdf(z: f64) -> f64 {
        0.5 * (1.0 + lab::act::erf(z / std::f64::consts::SQRT_2))
    }

    pub fn gelu_prime_cdf_only(z: f64) -> f64 {
        cdf(z)
    }

    pub fn gelu_prime_sign_slip(z: f64) -> f64 {
        cdf(z) - z * pdf(z)
    }

    /// d/dz of ½z(1 + tanh(√(2/π)(z + 0.044715z³))), Hendrycks & Gimpel's approximation.
    pub fn gelu_prime_tanh_approximation(z: f64) -> f64 {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        let u = k * (z + 0.044715 * z.powi(3));
        let t = u.tanh();
        0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * z * z)
    }

    fn count(net: &Mlp, x: &Tensor, pick: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<usize>> {
        let trace = net.forward_trace(x, false)?;
        trace.pre.iter().map(|z| Ok(pick(z)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()? as usize)).collect()
    }

    pub fn dead_on_any_example(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
        count(net, x, |z| Ok(z.min(0)?.le(0.0)?))
    }

    pub fn dead_on_first_example(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
        count(net, x, |z| Ok(z.get(0)?.le(0.0)?))
    }

    pub fn reduce_over_units(net: &Mlp, x: &Tensor) -> Result<Vec<usize>> {
        count(net, x, |z| Ok(z.max(1)?.le(0.0)?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_exercise_is_sound() {
        for exercise in super::EXERCISES {
            let problems = chapter_kit::exercise::prove(exercise);
            assert!(problems.is_empty(), "{problems:#?}");
        }
    }
}

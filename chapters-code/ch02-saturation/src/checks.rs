//! Checkers of the chapter 2 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use crate::window::window_numeric;
use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use lab::meanfield::{Prior, layer_moments, log_delta_ratio, propagate};
use lab::{Activation, act::SATURATION_MARGIN};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch02", "2.1", "where σ and tanh saturate", saturation_threshold(saturation_threshold), [
        ("the lower asymptote's threshold, ln(m/(1 − m))", mistakes::threshold_lower),
        ("tanh treated as a sigmoid", mistakes::threshold_tanh_as_sigmoid),
    ]},
    exercise! {"ch02", "2.2", "the window where one factor reaches one", window(window), [
        ("ignoring the bias", mistakes::window_without_bias),
        ("the ends unsorted when w < 0", mistakes::window_unsorted),
        ("the window in z = wa + b instead of in a", mistakes::window_in_z),
    ]},
    exercise! {"ch02", "2.3", "χ, the per-layer factor, from the initialisation", chi(chi), [
        ("E[f′]² instead of E[f′²]", mistakes::chi_square_of_mean),
        ("q taken as the standard deviation", mistakes::chi_q_as_std),
        ("without σ_w²", mistakes::chi_without_gain),
    ]},
    exercise! {"ch02", "2.4", "g¹/gᴸ predicted before any network exists", predicted_ratio(predicted_ratio), [
        ("q held at its first-layer value", mistakes::ratio_fixed_q),
        ("a factor for every one of the L layers", mistakes::ratio_one_factor_too_many),
        ("χ instead of √χ per layer", mistakes::ratio_chi_not_sqrt),
    ]},
    exercise! {"ch02", "2.5", "rescue a deep sigmoid network by changing one thing", rescue(rescue), [
        ("Xavier's initialisation instead of LeCun's, still sigmoid", mistakes::rescue_with_xavier),
        ("ReLU and He's initialisation: two changes", mistakes::rescue_with_two_changes),
    ]},
];

/// Exercise 2.1: the closed-form thresholds for the book's margin and another, σ(z*) = 1 − m and
/// tanh(z*) = 1 − m, and `None` for activations without asymptotes.
pub fn saturation_threshold(f: impl Fn(Activation, f64) -> Option<f64>) -> Result<(), String> {
    for margin in [SATURATION_MARGIN, 0.01] {
        for (act, want) in
            [(Activation::Sigmoid, ((1.0 - margin) / margin).ln()), (Activation::Tanh, (1.0 - margin).atanh())]
        {
            let got = f(act, margin).ok_or_else(|| format!("{act} saturates, but the threshold is None"))?;
            close(&format!("the {act} threshold for margin {margin}"), got, want, 1e-9, 0.0)
                .map_err(|e| format!("{e}; at z = {got} the output is {:.6}, not 1 − {margin}", act.value(got)))?;
        }
    }
    for act in [Activation::Relu, Activation::Linear] {
        if let Some(z) = f(act, SATURATION_MARGIN) {
            return Err(format!("{act} has no asymptote to saturate against, but got a threshold {z}"));
        }
    }
    Ok(())
}

/// Exercise 2.2: the interval's ends match bisection on σ′ itself (the crate's
/// `window::window_numeric`) for weights of both signs, with and without bias; `None` below |w| = 4.
pub fn window(f: impl Fn(f64, f64) -> Option<(f64, f64)>) -> Result<(), String> {
    for (w, b) in [(5.0, 0.0), (10.0, -1.0), (6.9, 0.7), (-8.0, 2.0), (100.0, 0.5)] {
        let want = window_numeric(w, b).ok_or("the reference found no window")?;
        let got = f(w, b).ok_or_else(|| format!("w = {w}, b = {b}: got None, but |w| ≥ 4 has a window"))?;
        if got.0 > got.1 {
            return Err(format!("w = {w}, b = {b}: got [{}, {}], whose ends are out of order", got.0, got.1));
        }
        close(&format!("w = {w}, b = {b}: the lower end a₋"), got.0, want.0, 0.0, 1e-9)?;
        close(&format!("w = {w}, b = {b}: the upper end a₊"), got.1, want.1, 0.0, 1e-9)?;
    }
    for w in [3.9, -3.9, 0.0, 1.0] {
        if let Some(ends) = f(w, 0.3) {
            return Err(format!("w = {w}: |w|·σ′ ≤ |w|/4 < 1 everywhere, so there is no window, but got {ends:?}"));
        }
    }
    Ok(())
}

/// Exercise 2.3: χ against `lab::meanfield` for saturating and non-saturating regimes.
pub fn chi(f: impl Fn(Activation, f64, f64) -> f64) -> Result<(), String> {
    for (act, gain2, q) in [
        (Activation::Sigmoid, 1.0, 0.3),
        (Activation::Sigmoid, 4.0, 4.0),
        (Activation::Tanh, 1.0, 0.5),
        (Activation::Tanh, 2.0, 9.0),
    ] {
        let want = layer_moments(act, &Prior::fan_in(gain2), q, 1).chi;
        close(&format!("χ for {act}, σ_w² = {gain2}, q = {q}"), f(act, gain2, q), want, 1e-6, 0.0)?;
    }
    Ok(())
}

/// Exercise 2.4: the predicted ratio against `lab::meanfield::propagate` for sigmoid and tanh
/// networks of a few depths.
pub fn predicted_ratio(f: impl Fn(Activation, f64, f64, usize) -> f64) -> Result<(), String> {
    for (act, gain2, m0, depth) in [
        (Activation::Sigmoid, 1.0, 1.0, 2),
        (Activation::Sigmoid, 1.0, 1.0, 10),
        (Activation::Tanh, 1.0, 1.0, 10),
        (Activation::Sigmoid, 4.0, 0.5, 6),
    ] {
        let want = log_delta_ratio(&propagate(act, &Prior::fan_in(gain2), m0, depth)).exp();
        let what = format!("‖δ¹‖/‖δᴸ‖ for {act}, σ_w² = {gain2}, inputs' mean square {m0}, L = {depth}");
        close(&what, f(act, gain2, m0, depth), want, 1e-5, 0.0)?;
    }
    close("‖δ¹‖/‖δᴸ‖ of a single layer (no factor at all)", f(Activation::Sigmoid, 1.0, 1.0, 1), 1.0, 1e-12, 0.0)
}

/// Exercise 2.5's network: ten sigmoid layers of 32 on the digits, LeCun-normal weights.
pub fn deep_sigmoid() -> lab::MlpConfig {
    lab::MlpConfig::new(784, 32, 10, 10, Activation::Sigmoid, lab::Init::LecunNormal).with_seed(5)
}

/// Exercise 2.5's budget: SGD with momentum, held-out accuracy after training.
pub const RESCUE_STEPS: usize = 1000;
/// The held-out accuracy exercise 2.5 asks for.
pub const RESCUE_ACCURACY: f64 = 0.85;

/// Trains `config` for [`RESCUE_STEPS`] steps of SGD with momentum (rate 0.005, momentum 0.9,
/// minibatches of 32) on 1500 digits and returns its accuracy on 500 others (0 if it diverged).
pub fn rescue_accuracy(config: &lab::MlpConfig) -> anyhow::Result<f64> {
    use lab::train::{Optim, TrainConfig};
    let (train, test) = (lab::data::digits(1500, 8)?, lab::data::digits(500, 9)?);
    let mut cfg = TrainConfig::new(Optim::Momentum { lr: 0.005, momentum: 0.9 }, RESCUE_STEPS, 32);
    cfg.progress = false;
    let score = lab::experiments::train_and_score(config, &cfg, &train, &test, &test)?;
    Ok(score.test_accuracy)
}

/// Exercise 2.5: one field of the config changed (not the sizes or the seed), and the budget
/// reaches [`RESCUE_ACCURACY`].
pub fn rescue(f: impl Fn(lab::MlpConfig) -> lab::MlpConfig) -> Result<(), String> {
    let base = deep_sigmoid();
    let got = f(base.clone());
    if (got.d_in, &got.hidden, got.d_out, got.seed) != (base.d_in, &base.hidden, base.d_out, base.seed) {
        return Err("keep the network's size and seed: the exercise is to make *this* network learn".into());
    }
    let changed: Vec<&str> = [
        ("activation", got.activation != base.activation),
        ("initialisation", got.init != base.init),
        ("bias", got.bias_init != base.bias_init),
        ("normalisation", got.norm != base.norm),
        ("skip connections", got.residual != base.residual),
    ]
    .into_iter()
    .filter_map(|(what, differs)| differs.then_some(what))
    .collect();
    match changed.len() {
        0 => return Err("nothing changed: this network stays near chance on this budget".into()),
        1 => {}
        _ => return Err(format!("{} things changed ({}): change exactly one", changed.len(), changed.join(", "))),
    }
    let acc = rescue_accuracy(&got).map_err(|e| format!("could not train your network: {e}"))?;
    if acc < RESCUE_ACCURACY {
        return Err(format!(
            "changing the {} reaches {acc:.3} held-out accuracy after {RESCUE_STEPS} steps, below \
             {RESCUE_ACCURACY}: the product of slopes still vanishes",
            changed[0]
        ));
    }
    Ok(())
}

/// Plausible wrong answers, each rejected by its exercise's checker (proved by `tests/exercises.rs`).
pub mod mistakes {
    pub fn rescue_with_xavier(base: lab::MlpConfig) -> lab::MlpConfig {
        lab::MlpConfig { init: lab::Init::XAVIER, ..base }
    }

    pub fn rescue_with_two_changes(base: lab::MlpConfig) -> lab::MlpConfig {
        lab::MlpConfig { activation: lab::Activation::Relu, init: lab::Init::HE, ..base }
    }

    use crate::solutions;
    use lab::Activation;

    pub fn threshold_lower(act: Activation, margin: f64) -> Option<f64> {
        solutions::saturation_threshold(act, margin).map(|z| -z)
    }

    pub fn threshold_tanh_as_sigmoid(_act: Activation, margin: f64) -> Option<f64> {
        solutions::saturation_threshold(Activation::Sigmoid, margin)
    }

    pub fn window_without_bias(w: f64, _b: f64) -> Option<(f64, f64)> {
        solutions::window(w, 0.0)
    }

    pub fn window_unsorted(w: f64, b: f64) -> Option<(f64, f64)> {
        solutions::window(w, b).map(|(lo, hi)| if w < 0.0 { (hi, lo) } else { (lo, hi) })
    }

    pub fn window_in_z(w: f64, b: f64) -> Option<(f64, f64)> {
        solutions::window(w, b).map(|(lo, hi)| {
            let (z1, z2) = (w * lo + b, w * hi + b);
            (z1.min(z2), z1.max(z2))
        })
    }

    fn gaussian_mean(g: impl Fn(f64) -> f64, sd: f64) -> f64 {
        let n = 4800;
        let h = 24.0 / n as f64;
        (0..=n)
            .map(|i| {
                let u = -12.0 + i as f64 * h;
                let weight = if i == 0 || i == n { 0.5 } else { 1.0 };
                weight * g(sd * u) * (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt()
            })
            .sum::<f64>()
            * h
    }

    pub fn chi_square_of_mean(act: Activation, weight_gain2: f64, q: f64) -> f64 {
        weight_gain2 * gaussian_mean(|z| act.derivative(z), q.sqrt()).powi(2)
    }

    pub fn chi_q_as_std(act: Activation, weight_gain2: f64, q: f64) -> f64 {
        weight_gain2 * gaussian_mean(|z| act.derivative(z).powi(2), q)
    }

    pub fn chi_without_gain(act: Activation, _weight_gain2: f64, q: f64) -> f64 {
        solutions::chi(act, 1.0, q)
    }

    pub fn ratio_fixed_q(act: Activation, weight_gain2: f64, input_second_moment: f64, depth: usize) -> f64 {
        let q = weight_gain2 * input_second_moment;
        solutions::chi(act, weight_gain2, q).sqrt().powi(depth as i32 - 1)
    }

    pub fn ratio_one_factor_too_many(act: Activation, weight_gain2: f64, m0: f64, depth: usize) -> f64 {
        let last_q = {
            let mut m = m0;
            for _ in 1..depth {
                m = gaussian_mean(|z| act.value(z).powi(2), (weight_gain2 * m).sqrt());
            }
            weight_gain2 * m
        };
        solutions::predicted_ratio(act, weight_gain2, m0, depth) * solutions::chi(act, weight_gain2, last_q).sqrt()
    }

    pub fn ratio_chi_not_sqrt(act: Activation, weight_gain2: f64, m0: f64, depth: usize) -> f64 {
        solutions::predicted_ratio(act, weight_gain2, m0, depth).powi(2)
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

//! Reference solutions of the chapter 2 exercises. The book shows each one, collapsed, under its
//! exercise; `cargo test --workspace` proves each passes its checker (`tests/exercises.rs`).

use lab::Activation;

// ANCHOR: exercise_2_1
pub fn saturation_threshold(act: Activation, margin: f64) -> Option<f64> {
    match act {
        // σ(z) = 1 − m  ⇔  z = ln((1 − m)/m).
        Activation::Sigmoid => Some(((1.0 - margin) / margin).ln()),
        // tanh z = 1 − m  ⇔  z = atanh(1 − m).
        Activation::Tanh => Some((1.0 - margin).atanh()),
        _ => None,
    }
}
// ANCHOR_END: exercise_2_1

// ANCHOR: exercise_2_2
pub fn window(w: f64, b: f64) -> Option<(f64, f64)> {
    // |w|·s(1 − s) ≥ 1 for s = σ(wa + b) between the roots s± = (1 ± √(1 − 4/|w|))/2.
    if w.abs() < 4.0 {
        return None;
    }
    let r = (1.0 - 4.0 / w.abs()).sqrt();
    let logit = |s: f64| (s / (1.0 - s)).ln();
    let (z_lo, z_hi) = (logit((1.0 - r) / 2.0), logit((1.0 + r) / 2.0));
    // z = wa + b  ⇔  a = (z − b)/w; a negative w reverses the order.
    let (a1, a2) = ((z_lo - b) / w, (z_hi - b) / w);
    Some((a1.min(a2), a1.max(a2)))
}
// ANCHOR_END: exercise_2_2

// ANCHOR: exercise_2_3
/// E[g(z)] for z ~ N(0, q), by the trapezoid rule on ±12 standard deviations.
fn gaussian_mean(g: impl Fn(f64) -> f64, q: f64) -> f64 {
    let sd = q.sqrt();
    let n = 4800;
    let h = 24.0 / n as f64;
    let density = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut sum = 0.0;
    for i in 0..=n {
        let u = -12.0 + i as f64 * h;
        let weight = if i == 0 || i == n { 0.5 } else { 1.0 };
        sum += weight * g(sd * u) * density(u);
    }
    sum * h
}

pub fn chi(act: Activation, weight_gain2: f64, q: f64) -> f64 {
    weight_gain2 * gaussian_mean(|z| act.derivative(z).powi(2), q)
}
// ANCHOR_END: exercise_2_3

// ANCHOR: exercise_2_4
pub fn predicted_ratio(act: Activation, weight_gain2: f64, input_second_moment: f64, depth: usize) -> f64 {
    let mut second_moment = input_second_moment;
    let mut ratio = 1.0;
    for layer in 1..=depth {
        let q = weight_gain2 * second_moment;
        if layer < depth {
            ratio *= chi(act, weight_gain2, q).sqrt();
        }
        second_moment = gaussian_mean(|z| act.value(z).powi(2), q);
    }
    ratio
}
// ANCHOR_END: exercise_2_4

// ANCHOR: exercise_2_5
/// tanh: the same weights, but a slope of 1 at zero instead of ¼, and outputs centred on zero, so
/// χ sits near 1 instead of near 1/16 (exercise 2.3). BatchNorm (chapter 5) passes too; ReLU with
/// LeCun's init does not — it halves the signal at every layer and needs He's init, a second change.
pub fn rescue(base: lab::MlpConfig) -> lab::MlpConfig {
    lab::MlpConfig { activation: lab::Activation::Tanh, ..base }
}
// ANCHOR_END: exercise_2_5

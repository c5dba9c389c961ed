//! Reference solutions of the chapter 6 exercises (shown collapsed in the book).

// ANCHOR: exercise_6_1
/// A He branch returns a signal with its input's second moment, independent of the stream it is
/// added to, so second moments add. Without a norm the branch sees the stream itself: q ← q(1 + α²).
/// Behind a LayerNorm it sees second moment 1: q ← q + α².
pub fn stream_second_moment(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
    let a2 = alpha * alpha;
    if layer_norm { q0 + l as f64 * a2 } else { q0 * (1.0 + a2).powi(l as i32) }
}
// ANCHOR_END: exercise_6_1

// ANCHOR: exercise_6_2
/// J = I + α·W₂·diag(relu′(W₁x + b₁))·W₁: the identity from the skip, plus the branch's chain rule.
pub fn block_jacobian(w1: &[Vec<f64>], b1: &[f64], w2: &[Vec<f64>], alpha: f64, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let active: Vec<bool> =
        (0..n).map(|k| w1[k].iter().zip(x).map(|(w, xj)| w * xj).sum::<f64>() + b1[k] > 0.0).collect();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let branch: f64 = (0..n).filter(|&k| active[k]).map(|k| w2[i][k] * w1[k][j]).sum();
                    f64::from(u8::from(i == j)) + alpha * branch
                })
                .collect()
        })
        .collect()
}
// ANCHOR_END: exercise_6_2

// ANCHOR: exercise_6_3
/// Centre on the mean of the whole sequence; divide every lag by the same lag-0 sum, so that
/// ρ(0) = 1 and |ρ(k)| ≤ 1.
pub fn autocorrelation(g: &[f64], max_lag: usize) -> Vec<f64> {
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    let c: Vec<f64> = g.iter().map(|v| v - mean).collect();
    let var: f64 = c.iter().map(|v| v * v).sum();
    (0..=max_lag).map(|k| c.iter().zip(&c[k..]).map(|(a, b)| a * b).sum::<f64>() / var).collect()
}
// ANCHOR_END: exercise_6_3

// ANCHOR: exercise_6_4
/// The skip alone is not enough: with He-initialised branches each block doubles the stream's
/// second moment, 2³² over 32 blocks. Scaling every branch by α = 1/√L keeps the growth at
/// (1 + 1/L)ᴸ < e (exercise 6.1); Fixup's zero-initialised last layers (`.fixup()`) work too.
pub fn make_it_train(plain: lab::resnet::ResMlpConfig) -> lab::resnet::ResMlpConfig {
    let alpha = 1.0 / (plain.blocks as f64).sqrt();
    lab::resnet::ResMlpConfig { skip: true, ..plain }.with_alpha(alpha)
}
// ANCHOR_END: exercise_6_4

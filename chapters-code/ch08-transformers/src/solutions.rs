//! Reference solutions of the chapter 8 exercises (shown collapsed in the book).

use lab::transformer::{TrainOptions, TransformerConfig};

// ANCHOR: exercise_8_1
/// Subtract the largest logit before exponentiating (the softmax does not change), so that
/// e^(z − max) ≤ 1 never overflows; terms with pⱼ = 0 contribute 0 (the limit of p ln p).
pub fn attention_entropy(logits: &[f64]) -> f64 {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x / sum).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum()
}
// ANCHOR_END: exercise_8_1

// ANCHOR: exercise_8_2
/// The softmax's Jacobian is diag(p) − p pᵀ, so ∂L/∂zᵢ = pᵢ (gᵢ − Σⱼ pⱼ gⱼ). When p is one-hot, every
/// term vanishes: a saturated row passes no gradient, as a saturated sigmoid does not.
pub fn softmax_backward(logits: &[f64], grad_p: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|x| x / sum).collect();
    let mean: f64 = p.iter().zip(grad_p).map(|(p, g)| p * g).sum();
    p.iter().zip(grad_p).map(|(p, g)| p * (g - mean)).collect()
}
// ANCHOR_END: exercise_8_2

// ANCHOR: exercise_8_3
/// Either fix works: move the norm inside the branches (Pre-LN), or warm the learning rate up.
/// Here, both are shown; the check passes with either alone.
pub fn make_it_train(config: TransformerConfig, opts: TrainOptions) -> (TransformerConfig, TrainOptions) {
    (config.pre_ln(), TrainOptions { warmup: 50, ..opts })
}
// ANCHOR_END: exercise_8_3

//! Checkers of the chapter 8 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use lab::transformer::{TrainOptions, TransformerConfig};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch08", "8.1", "the entropy of an attention row", entropy(attention_entropy), [
        ("no max subtracted: e^z overflows for large logits", mistakes::entropy_overflow),
        ("bits (log₂) instead of nats", mistakes::entropy_bits),
        ("the entropy of the normalised logits, not of the softmax", mistakes::entropy_of_logits),
    ]},
    exercise! {"ch08", "8.2", "the gradient through a softmax", softmax_grad(softmax_backward), [
        ("only the diagonal of the Jacobian, p ⊙ g", mistakes::diagonal_only),
        ("the gradient passed through unchanged", |_, g| g.to_vec()),
        ("p pᵀ's sign flipped: p ⊙ (g + p·g)", mistakes::wrong_sign),
    ]},
    exercise! {"ch08", "8.3", "make a Post-LN transformer learn", trains(make_it_train), [
        ("the model and schedule as they were", |c, o| (c, o)),
        ("a smaller learning rate (not allowed)", |c, o| (c, TrainOptions { lr: o.lr / 10.0, ..o })),
    ]},
];

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|x| (x - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Exercise 8.1: uniform and one-hot rows, a two-key row by hand, huge logits.
pub fn entropy(f: impl Fn(&[f64]) -> f64) -> Result<(), String> {
    close("16 equal logits: the uniform row, ln 16", f(&[0.3; 16]), 16f64.ln(), 1e-9, 1e-12)?;
    let (a, b) = (1.0f64, 0.0f64);
    let p = a.exp() / (a.exp() + b.exp());
    close("logits [1, 0]", f(&[a, b]), -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()), 1e-9, 1e-12)?;
    let row = [2.0, -1.0, 0.5, 3.0, 0.0];
    let h: f64 = softmax(&row).iter().map(|p| -p * p.ln()).sum();
    close("logits [2, −1, 0.5, 3, 0]", f(&row), h, 1e-9, 1e-12)?;
    let big = [1000.0, 990.0, 0.0, -1000.0];
    let h: f64 = softmax(&big).iter().filter(|&&p| p > 0.0).map(|p| -p * p.ln()).sum();
    let got = f(&big);
    if !got.is_finite() {
        return Err(format!("logits [1000, 990, 0, −1000]: got {got}; subtract the largest logit first"));
    }
    close("logits [1000, 990, 0, −1000] (a saturated head)", got, h, 1e-6, 1e-9)
}

/// Exercise 8.2: against candle's autograd through `candle_nn::ops::softmax` on random rows, and
/// a saturated row, whose gradient must vanish.
pub fn softmax_grad(f: impl Fn(&[f64], &[f64]) -> Vec<f64>) -> Result<(), String> {
    let reference = |z: &[f64], g: &[f64]| -> anyhow::Result<Vec<f64>> {
        let zt = candle_core::Var::from_vec(z.to_vec(), z.len(), &lab::DEVICE)?;
        let gt = candle_core::Tensor::from_vec(g.to_vec(), g.len(), &lab::DEVICE)?;
        let p = candle_nn::ops::softmax(zt.as_tensor(), 0)?;
        let grads = (p * gt)?.sum_all()?.backward()?;
        Ok(grads.get(zt.as_tensor()).expect("z has a gradient").to_vec1::<f64>()?)
    };
    let mut rng = lab::init::rng(8);
    for (n, scale) in [(2usize, 1.0f64), (5, 0.5), (16, 3.0), (16, 30.0)] {
        let z: Vec<f64> = lab::Init::Normal { std: scale }.sample(1, n, &mut rng).iter().map(|&x| x as f64).collect();
        let g: Vec<f64> = lab::Init::Normal { std: 1.0 }.sample(1, n, &mut rng).iter().map(|&x| x as f64).collect();
        let want = reference(&z, &g).map_err(|e| format!("could not run candle: {e}"))?;
        let got = f(&z, &g);
        if got.len() != n {
            return Err(format!("{n} logits: {} gradient entries returned", got.len()));
        }
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            close(&format!("{n} logits of scale {scale}, ∂L/∂z[{i}]"), *a, *b, 1e-8, 1e-12)?;
        }
    }
    let got = f(&[50.0, 0.0, 0.0], &[1.0, -2.0, 3.0]);
    let norm = got.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm.is_nan() || norm >= 1e-15 {
        return Err(format!("a saturated row [50, 0, 0]: ‖∂L/∂z‖ = {norm:e}, expected almost 0"));
    }
    Ok(())
}

/// The exercise's starting point: Figure 8-5's 6-block Post-LN transformer, Adam at 0.01 without
/// warm-up.
pub fn exercise_setup() -> (TransformerConfig, TrainOptions) {
    let config = TransformerConfig::new(16, 16, 32, 4, 6).post_ln().with_seed(0);
    let opts = TrainOptions {
        task: lab::data::SeqTask::Sort,
        lr: 0.01,
        warmup: 0,
        steps: 150,
        batch: 16,
        eval_batch: 256,
        seed: 1,
    };
    (config, opts)
}

/// The accuracy a run must reach.
pub const TARGET_ACCURACY: f64 = 0.4;

/// Exercise 8.3: trains what `f` returns and asks for held-out accuracy ≥ [`TARGET_ACCURACY`].
pub fn trains(f: impl Fn(TransformerConfig, TrainOptions) -> (TransformerConfig, TrainOptions)) -> Result<(), String> {
    let (config, opts) = exercise_setup();
    let (c, o) = f(config.clone(), opts.clone());
    if (o.lr, o.steps, o.batch, o.task, o.seed) != (opts.lr, opts.steps, opts.batch, opts.task, opts.seed) {
        return Err("keep the learning rate, steps, batch, task and seed; change the model or the warm-up".into());
    }
    if (c.blocks, c.d_model, c.vocab, c.seq_len) != (config.blocks, config.d_model, config.vocab, config.seq_len) {
        return Err("keep the 6 blocks, the width, the vocabulary and the length".into());
    }
    let run = (|| -> anyhow::Result<_> { lab::transformer::train(&c.build()?, &o) })()
        .map_err(|e| format!("could not train: {e}"))?;
    let acc = run.accuracy.unwrap_or(0.0);
    if run.diverged || acc < TARGET_ACCURACY {
        return Err(format!(
            "held-out accuracy {acc:.3} after {} steps (diverged: {}); it needs at least {TARGET_ACCURACY}",
            o.steps, run.diverged
        ));
    }
    Ok(())
}

mod mistakes {
    pub fn entropy_overflow(z: &[f64]) -> f64 {
        let e: Vec<f64> = z.iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).map(|p| if p > 0.0 { -p * p.ln() } else { 0.0 }).sum()
    }

    pub fn entropy_bits(z: &[f64]) -> f64 {
        crate::solutions::attention_entropy(z) / std::f64::consts::LN_2
    }

    pub fn entropy_of_logits(z: &[f64]) -> f64 {
        let s: f64 = z.iter().map(|x| x.abs()).sum::<f64>().max(1e-300);
        z.iter().map(|x| x.abs() / s).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum()
    }

    fn p(z: &[f64]) -> Vec<f64> {
        super::softmax(z)
    }

    pub fn diagonal_only(z: &[f64], g: &[f64]) -> Vec<f64> {
        p(z).iter().zip(g).map(|(p, g)| p * g).collect()
    }

    pub fn wrong_sign(z: &[f64], g: &[f64]) -> Vec<f64> {
        let p = p(z);
        let m: f64 = p.iter().zip(g).map(|(p, g)| p * g).sum();
        p.iter().zip(g).map(|(p, g)| p * (g + m)).collect()
    }
}

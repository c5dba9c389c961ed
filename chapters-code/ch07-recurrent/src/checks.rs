//! Checkers of the chapter 7 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch07", "7.1", "Pascanu's bound for a given W_hh", pascanu(pascanu_bound), [
        ("the largest |eigenvalue| (spectral radius) instead of the largest singular value", mistakes::spectral_radius),
        ("the Frobenius norm of W instead of its largest singular value", mistakes::frobenius),
        ("γ left out", mistakes::no_gamma),
    ]},
    exercise! {"ch07", "7.2", "gradient clipping by global norm", clipping(clip_by_global_norm), [
        ("each tensor clipped by its own norm", mistakes::per_tensor),
        ("each entry clamped to ±max", mistakes::clamp_values),
        ("always rescaled to norm max, even when below it", mistakes::always_rescale),
    ]},
    exercise! {"ch07", "7.3", "the LSTM's cell-state path, a product of forget gates", carousel(carousel_gain), [
        ("f_t included: the product starts one step too early", mistakes::includes_t),
        ("the forget gates summed instead of multiplied", mistakes::summed),
        ("every step's gate multiplied in, whatever t", mistakes::all_steps),
    ]},
    exercise! {"ch07", "7.4", "a forget-gate bias that remembers 20 steps", remembers(forget_bias), [
        ("a forget bias of 0, candle's and PyTorch's default", || 0.0),
    ]},
];

fn random_matrix(n: usize, scale: f64, seed: u64) -> Vec<Vec<f64>> {
    let v = lab::Init::Normal { std: scale / (n as f64).sqrt() }.sample(n, n, &mut lab::init::rng(seed));
    v.chunks(n).map(|r| r.iter().map(|&x| x as f64).collect()).collect()
}

/// Exercise 7.1: matrices whose singular values are known, a non-normal one whose eigenvalues are
/// far below its largest singular value, and random ones against `lab::linalg`.
pub fn pascanu(f: impl Fn(&[Vec<f64>], f64, usize) -> f64) -> Result<(), String> {
    let diag = vec![vec![0.5, 0.0], vec![0.0, -1.2]];
    close("diag(0.5, −1.2), tanh (γ = 1), lag 3", f(&diag, 1.0, 3), 1.2f64.powi(3), 1e-6, 0.0)?;
    close("diag(0.5, −1.2), sigmoid (γ = 1/4), lag 3", f(&diag, 0.25, 3), 0.3f64.powi(3), 1e-6, 0.0)?;
    close("lag 0 is the identity", f(&diag, 1.0, 0), 1.0, 1e-12, 0.0)?;
    // Eigenvalues 0.5 and 0.5, but the largest singular value, from WᵀW's larger eigenvalue, is 2.1.
    let shear = vec![vec![0.5, 2.0], vec![0.0, 0.5]];
    let (a, b, c): (f64, f64, f64) = (0.25, 1.0, 4.25); // WᵀW = [[a, b], [b, c]]
    let s1 = (((a + c) + ((a - c) * (a - c) + 4.0 * b * b).sqrt()) / 2.0f64).sqrt();
    close("a non-normal W (eigenvalues 0.5, 0.5), γ = 1, lag 5", f(&shear, 1.0, 5), s1.powi(5), 1e-6, 0.0)?;
    for (n, scale, seed) in [(8, 1.0, 1u64), (16, 1.7, 2), (5, 0.6, 3)] {
        let w = random_matrix(n, scale, seed);
        let flat: Vec<f64> = w.iter().flatten().copied().collect();
        let s = lab::linalg::singular_values(&flat, n, n).map_err(|e| e.to_string())?;
        let s1 = s.iter().copied().fold(0.0, f64::max);
        close(&format!("random {n} × {n} W, γ = 1, lag 4"), f(&w, 1.0, 4), s1.powi(4), 1e-5, 0.0)?;
        close(&format!("random {n} × {n} W, γ = 1/4, lag 2"), f(&w, 0.25, 2), (s1 / 4.0).powi(2), 1e-5, 0.0)?;
    }
    Ok(())
}

/// Exercise 7.2: small cases by hand (above, below and at the threshold), then agreement with
/// `lab::train::clip_global_norm` on a real RNN's gradients.
pub fn clipping(f: impl Fn(&mut [Vec<f64>], f64) -> f64) -> Result<(), String> {
    let mut g = vec![vec![3.0, 0.0], vec![0.0, 4.0, 0.0]];
    close("‖g‖ of (3, 0), (0, 4, 0)", f(&mut g, 1.0), 5.0, 1e-12, 0.0)?;
    let want = [[0.6, 0.0].as_slice(), [0.0, 0.8, 0.0].as_slice()];
    for (i, (row, w)) in g.iter().zip(want).enumerate() {
        for (j, (&x, &y)) in row.iter().zip(w).enumerate() {
            close(&format!("clipped g[{i}][{j}], max 1"), x, y, 1e-12, 1e-15)?;
        }
    }
    let mut small = vec![vec![0.3], vec![-0.4]];
    close("‖g‖ of (0.3), (−0.4)", f(&mut small, 1.0), 0.5, 1e-12, 0.0)?;
    close("below the threshold g[0][0] is unchanged", small[0][0], 0.3, 1e-12, 0.0)?;
    close("below the threshold g[1][0] is unchanged", small[1][0], -0.4, 1e-12, 0.0)?;
    // Two tensors of very different sizes: clipping must keep their ratio.
    let mut uneven = vec![vec![10.0; 4], vec![0.1; 4]];
    f(&mut uneven, 2.0);
    close("the ratio of two tensors' entries is kept", uneven[0][0] / uneven[1][0], 100.0, 1e-9, 0.0)?;
    let norm = uneven.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    close("the clipped global norm equals max = 2", norm, 2.0, 1e-9, 0.0)?;
    lab_agrees(&f).map_err(|e| format!("{e}"))?
}

fn lab_agrees(f: &impl Fn(&mut [Vec<f64>], f64) -> f64) -> anyhow::Result<Result<(), String>> {
    use candle_core::Module;
    let model = lab::rnn::RnnConfig::new(lab::rnn::Cell::Tanh { rho: 1.8 }, 3, 6, 2).with_seed(1).build()?;
    let xs = lab::Init::Normal { std: 1.0 }.tensor(40, 3, &mut lab::init::rng(2), &lab::DEVICE)?.reshape((4, 10, 3))?;
    let loss = model.forward(&xs)?.sqr()?.sum_all()?;
    let vars = model.vars();
    let mut grads = loss.backward()?;
    let mut mine: Vec<Vec<f64>> = Vec::new();
    for v in &vars {
        let g = grads.get(v).expect("every parameter has a gradient");
        mine.push(g.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?);
    }
    let max = 0.5;
    let before = lab::train::clip_global_norm(&mut grads, &vars, max)?;
    let got = f(&mut mine, max);
    if let Err(e) = close("‖g‖ of a tanh RNN's gradients", got, before, 1e-5, 0.0) {
        return Ok(Err(e));
    }
    for (v, row) in vars.iter().zip(&mine) {
        let want = grads.get(v).expect("kept").flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        for (k, (&a, &b)) in row.iter().zip(&want).enumerate() {
            if let Err(e) = close(&format!("clipped RNN gradient entry {k}"), a, b, 1e-4, 1e-7) {
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(()))
}

/// Exercise 7.3: by hand, then against candle's autograd through the cell-state recursion with the
/// gates held fixed.
pub fn carousel(f: impl Fn(&[Vec<f64>], usize) -> Vec<f64>) -> Result<(), String> {
    let forget = vec![vec![0.5, 0.9], vec![0.8, 1.0], vec![0.5, 0.7], vec![0.25, 0.6]];
    let got = f(&forget, 1);
    if got.len() != 2 {
        return Err(format!("one gain per unit: expected 2 values, got {}", got.len()));
    }
    close("unit 0, t = 1 of T = 3", got[0], 0.5 * 0.25, 1e-12, 0.0)?;
    close("unit 1, t = 1 of T = 3", got[1], 0.7 * 0.6, 1e-12, 0.0)?;
    let last = f(&forget, 3);
    close("t = T: ∂c_T/∂c_T = 1", last[0], 1.0, 1e-12, 0.0)?;
    autograd_carousel(&f).map_err(|e| format!("{e}"))?
}

fn autograd_carousel(f: &impl Fn(&[Vec<f64>], usize) -> Vec<f64>) -> anyhow::Result<Result<(), String>> {
    use candle_core::{DType, Tensor, Var};
    let (n, steps) = (5, 12);
    let mut rng = lab::init::rng(9);
    let z = lab::Init::Normal { std: 2.0 }.sample(steps + 1, n, &mut rng);
    let forget: Vec<Vec<f64>> =
        z.chunks(n).map(|r| r.iter().map(|&x| 1.0 / (1.0 + (-(x as f64) - 1.0).exp())).collect()).collect();
    let input = lab::Init::Normal { std: 1.0 }.tensor(steps + 1, n, &mut rng, &lab::DEVICE)?.to_dtype(DType::F64)?;
    for t in [0usize, 4, 11] {
        let c_t = Var::from_tensor(&Tensor::zeros(n, DType::F64, &lab::DEVICE)?)?;
        let mut c = c_t.as_tensor().clone();
        for (k, f_k) in forget.iter().enumerate().skip(t + 1) {
            c = ((c * Tensor::new(f_k.as_slice(), &lab::DEVICE)?)? + input.get(k)?)?;
        }
        // Σ_j c_T[j] has gradient ∂c_T[j]/∂c_t[j] per unit: ∂c_T/∂c_t is diagonal.
        let grads = c.sum_all()?.backward()?;
        let want = grads.get(c_t.as_tensor()).expect("c_t has a gradient").to_vec1::<f64>()?;
        let got = f(&forget, t);
        if got.len() != n {
            return Ok(Err(format!("one gain per unit: expected {n} values, got {}", got.len())));
        }
        for j in 0..n {
            if let Err(e) =
                close(&format!("unit {j}, t = {t} of T = {steps}, against autograd"), got[j], want[j], 1e-9, 1e-15)
            {
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(()))
}

/// The sequence length of exercise 7.4.
pub const REMEMBER_STEPS: usize = 20;

/// Exercise 7.4's model: an LSTM of 32 units on Figure 7-2's task, with forget-gate bias `b`.
pub fn memory_lstm(forget_bias: f64) -> lab::rnn::RnnConfig {
    let task = crate::task::Task::default();
    lab::rnn::RnnConfig::new(lab::rnn::Cell::Lstm { forget_bias }, task.d_in(), 32, task.classes).with_seed(0)
}

/// Trains [`memory_lstm`] on sequences of [`REMEMBER_STEPS`] for 300 Adam steps (rate 0.01,
/// minibatches of 32) and returns its held-out accuracy (0 if it diverged).
pub fn lstm_accuracy(forget_bias: f64) -> anyhow::Result<f64> {
    let budget = crate::task::Budget {
        optim: lab::train::Optim::AdamW { lr: 0.01, weight_decay: 0.0 },
        steps: 300,
        batch: 32,
        clip: None,
        eval_batch: 512,
    };
    let run = crate::task::train(
        &memory_lstm(forget_bias).build()?,
        crate::task::Task::default(),
        REMEMBER_STEPS,
        &budget,
        1,
        true,
    )?;
    Ok(if run.diverged { 0.0 } else { run.accuracy.unwrap_or(0.0) })
}

/// Exercise 7.4: 90 % held-out accuracy at length [`REMEMBER_STEPS`].
pub fn remembers(f: impl Fn() -> f64) -> Result<(), String> {
    let b = f();
    if !b.is_finite() {
        return Err(format!("a bias is a finite number, got {b}"));
    }
    let acc = lstm_accuracy(b).map_err(|e| format!("could not train: {e}"))?;
    if acc < 0.9 {
        let kept = (1.0 / (1.0 + (-b).exp())).powi(REMEMBER_STEPS as i32);
        return Err(format!(
            "with forget bias {b} the LSTM reaches {acc:.3} held-out accuracy, below 0.9; at \
             initialisation its cell state keeps σ({b})^{REMEMBER_STEPS} = {kept:.1e} of itself over the sequence"
        ));
    }
    Ok(())
}

/// Plausible wrong answers, which the checkers must reject.
pub mod mistakes {

    use crate::solutions;

    pub fn spectral_radius(w: &[Vec<f64>], gamma: f64, lag: usize) -> f64 {
        // Power iteration on W itself converges to the largest |eigenvalue| when it is real and dominant.
        let n = w.len();
        let mut v: Vec<f64> = (0..n).map(|i| 1.0 + i as f64).collect();
        let mut rho = 0.0;
        for _ in 0..500 {
            let wv: Vec<f64> = (0..n).map(|i| (0..n).map(|j| w[i][j] * v[j]).sum()).collect();
            let norm = wv.iter().map(|x| x * x).sum::<f64>().sqrt();
            rho = norm / v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v = wv.iter().map(|x| x / norm).collect();
        }
        (gamma * rho).powi(lag as i32)
    }

    pub fn frobenius(w: &[Vec<f64>], gamma: f64, lag: usize) -> f64 {
        (gamma * w.iter().flatten().map(|x| x * x).sum::<f64>().sqrt()).powi(lag as i32)
    }

    pub fn no_gamma(w: &[Vec<f64>], _gamma: f64, lag: usize) -> f64 {
        solutions::pascanu_bound(w, 1.0, lag)
    }

    pub fn per_tensor(grads: &mut [Vec<f64>], max: f64) -> f64 {
        let total = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        for g in grads.iter_mut() {
            solutions::clip_by_global_norm(std::slice::from_mut(g), max);
        }
        total
    }

    pub fn clamp_values(grads: &mut [Vec<f64>], max: f64) -> f64 {
        let total = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        grads.iter_mut().flatten().for_each(|g| *g = g.clamp(-max, max));
        total
    }

    pub fn always_rescale(grads: &mut [Vec<f64>], max: f64) -> f64 {
        let total = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
        grads.iter_mut().flatten().for_each(|g| *g *= max / total);
        total
    }

    pub fn includes_t(forget: &[Vec<f64>], t: usize) -> Vec<f64> {
        let gain = solutions::carousel_gain(forget, t);
        gain.iter().zip(&forget[t]).map(|(g, f)| g * f).collect()
    }

    pub fn summed(forget: &[Vec<f64>], t: usize) -> Vec<f64> {
        let mut gain = vec![0.0; forget[0].len()];
        for f in &forget[t + 1..] {
            gain.iter_mut().zip(f).for_each(|(g, f)| *g += f);
        }
        if t + 1 == forget.len() { vec![1.0; gain.len()] } else { gain }
    }

    pub fn all_steps(forget: &[Vec<f64>], _t: usize) -> Vec<f64> {
        solutions::carousel_gain(forget, 0)
    }
}

chapter_kit::every_exercise_is_sound!(EXERCISES);

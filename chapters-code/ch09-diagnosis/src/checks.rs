//! Checkers of the chapter 9 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use crate::{Case, Setup, Variant};
use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use gradient_doctor::{Doctor, Options, Report};

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch09", "9.1", "the update:data ratio", update_data(update_data_log10), [
        ("the learning rate left out: grad:data, not update:data", |g, w, _| mistakes::ratio(g, w, 1.0)),
        ("the natural logarithm instead of log10", |g, w, lr| mistakes::ratio(g, w, lr).ln()),
        ("squared norms", mistakes::squared),
    ]},
    exercise! {"ch09", "9.2", "the dead fraction of a ReLU layer", dead(dead_fraction), [
        ("the fraction of zero entries, not of units zero on every example", mistakes::zero_entries),
        ("a unit counted dead when it is zero on any example", mistakes::zero_on_any),
        ("rows and columns swapped", mistakes::transposed),
    ]},
    exercise! {"ch09", "9.3", "diagnose and fix a mystery network", mystery(treat), [
        ("the network returned untreated", |s, _| s.clone()),
        ("always lower the learning rate", |s, _| Setup { lr: s.lr.min(0.05), ..s.clone() }),
        ("always switch to ReLU with He init",
            |s, _| Setup { activation: lab::Activation::Relu, init: crate::cases::he(1.0), ..s.clone() }),
    ]},
];

/// Exercise 9.1: a case by hand, then the doctor's own number after one SGD step of a real layer.
pub fn update_data(f: impl Fn(&[f64], &[f64], f64) -> f64) -> Result<(), String> {
    // ‖g‖ = 5, ‖w‖ = 50, lr = 0.01: the step is a thousandth of the weights.
    close("g = (3, 4), w = (30, 40), lr 0.01", f(&[3.0, 4.0], &[30.0, 40.0], 0.01), -3.0, 1e-9, 1e-9)?;
    close("g = (0, 2), w = (1, 0, 0), lr 0.5", f(&[0.0, 2.0], &[1.0, 0.0, 0.0], 0.5), 0.0, 1e-9, 1e-9)?;
    doctor_agrees(&f).map_err(|e| format!("{e:#}"))?
}

fn doctor_agrees(f: &impl Fn(&[f64], &[f64], f64) -> f64) -> anyhow::Result<Result<(), String>> {
    use candle_core::{DType, Module};
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &lab::DEVICE);
    let layer = candle_nn::linear(6, 3, vb.pp("l0"))?;
    let doctor = Doctor::with_options(&varmap, Options { window: 1, ..Options::default() })?;
    let x = lab::Init::Normal { std: 1.0 }.tensor(8, 6, &mut lab::init::rng(3), &lab::DEVICE)?;
    let grads = layer.forward(&x)?.sqr()?.sum_all()?.backward()?;
    let lr = 0.02;
    doctor.observe_step(&grads, lr)?;
    let want = doctor.report()?.layers[0].update_data_log10;
    let (mut g, mut w) = (Vec::new(), Vec::new());
    for var in varmap.all_vars() {
        let flat = |t: &candle_core::Tensor| -> anyhow::Result<Vec<f64>> {
            Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?)
        };
        g.extend(flat(grads.get(&var).expect("every parameter has a gradient"))?);
        w.extend(flat(var.as_tensor())?);
    }
    Ok(close("a 6 → 3 linear layer after one step at lr 0.02, against the doctor", f(&g, &w, lr), want, 1e-4, 1e-4))
}

/// Exercise 9.2: small batches by hand, then the doctor's dead fraction on a ReLU layer.
pub fn dead(f: impl Fn(&[f32], usize) -> f64) -> Result<(), String> {
    // Two examples, three units: unit 0 is zero on both, unit 1 on one, unit 2 on none.
    let h = [0.0, 0.0, 1.0, 0.0, 2.0, 3.0];
    close("2 examples × 3 units, one unit dead", f(&h, 2), 1.0 / 3.0, 1e-12, 0.0)?;
    // Three examples, two units: unit 1 is zero everywhere.
    let h = [0.5, 0.0, 0.0, 0.0, 0.0, 0.0];
    close("3 examples × 2 units, one unit dead", f(&h, 3), 0.5, 1e-12, 0.0)?;
    close("every unit alive", f(&[1.0, 2.0, 3.0, 4.0], 2), 0.0, 0.0, 0.0)?;
    let (batch, units) = (16, 24);
    let z = lab::Init::Normal { std: 1.0 }.sample(batch, units, &mut lab::init::rng(5));
    // Shift some units far negative so they die; the rest fire on some examples.
    let h: Vec<f32> =
        z.iter().enumerate().map(|(i, &v)| (v - if i % units < 7 { 10.0 } else { 0.0 }).max(0.0)).collect();
    let t = candle_core::Tensor::from_slice(&h, (batch, units), &lab::DEVICE).map_err(|e| e.to_string())?;
    let want = gradient_doctor::TapStats::of(&t, Some(gradient_doctor::Act::Relu)).map_err(|e| e.to_string())?.dead;
    close("16 × 24 ReLU activations, against the doctor", f(&h, batch), want, 1e-12, 0.0)
}

/// The networks exercise 9.3 trains: the chapter's broken MLPs with another seed and other sizes.
pub fn mysteries() -> Vec<Setup> {
    let mut cases = Vec::new();
    for (case, depth) in
        [(Case::DeepSigmoid, 12), (Case::DyingRelu, 4), (Case::InitTimesTen, 5), (Case::BatchNormEval, 3)]
    {
        let mut s = case.setup(Variant::Broken).expect("an MLP");
        s.depth = depth;
        cases.push(s);
    }
    cases
}

/// The seed of exercise 9.3's runs (the chapter's are seed 0).
pub const MYSTERY_SEED: u64 = 1;

/// Exercise 9.3: for each mystery network, the doctor's report goes to `treat`; the network it
/// returns is trained with the doctor on and must get a clean bill, at the same depth.
pub fn mystery(treat: impl Fn(&Setup, &Report) -> Setup) -> Result<(), String> {
    for (i, sick) in mysteries().iter().enumerate() {
        let report = crate::train_setup(sick, MYSTERY_SEED).map_err(|e| format!("could not train: {e:#}"))?;
        if report.is_healthy() {
            return Err(format!("mystery network {i} is healthy: the checker is wrong"));
        }
        let treated = treat(sick, &report);
        if treated.depth != sick.depth {
            return Err(format!(
                "mystery network {i}: depth {} changed to {}; treat the network, do not replace it",
                sick.depth, treated.depth
            ));
        }
        let after = crate::train_setup(&treated, MYSTERY_SEED).map_err(|e| format!("could not train: {e:#}"))?;
        if !after.is_healthy() {
            return Err(format!(
                "mystery network {i} ({:?}) was diagnosed {:?}; your treatment {treated:?} still gets {:?}:\n{}",
                sick,
                report.verdicts(),
                after.verdicts(),
                after.table(false)
            ));
        }
    }
    Ok(())
}

/// Plausible wrong answers, which the checkers must reject.
pub mod mistakes {
    fn norm(v: &[f64]) -> f64 {
        v.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    pub fn ratio(g: &[f64], w: &[f64], lr: f64) -> f64 {
        (lr * norm(g) / norm(w)).log10()
    }

    pub fn squared(g: &[f64], w: &[f64], lr: f64) -> f64 {
        (lr * norm(g).powi(2) / norm(w).powi(2)).log10()
    }

    pub fn zero_entries(h: &[f32], _batch: usize) -> f64 {
        h.iter().filter(|&&v| v <= 0.0).count() as f64 / h.len() as f64
    }

    pub fn zero_on_any(h: &[f32], batch: usize) -> f64 {
        let units = h.len() / batch;
        (0..units).filter(|&u| (0..batch).any(|b| h[b * units + u] <= 0.0)).count() as f64 / units as f64
    }

    pub fn transposed(h: &[f32], batch: usize) -> f64 {
        let units = h.len() / batch;
        (0..batch).filter(|&b| (0..units).all(|u| h[b * units + u] <= 0.0)).count() as f64 / batch as f64
    }
}

chapter_kit::every_exercise_is_sound!(EXERCISES);

//! Reference solutions of the chapter 9 exercises (shown collapsed in the book).

use crate::Setup;
use gradient_doctor::{Report, Verdict};
use lab::Activation;

// ANCHOR: exercise_9_1
/// One norm over every entry of the gradient, one over every entry of the weights: the size of the
/// step, lr·‖g‖, against the size of what it moves.
pub fn update_data_log10(grads: &[f64], weights: &[f64], lr: f64) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    (lr * norm(grads) / norm(weights)).log10()
}
// ANCHOR_END: exercise_9_1

// ANCHOR: exercise_9_2
/// A unit is a column; it is dead when every row holds zero (or less) in it.
pub fn dead_fraction(h: &[f32], batch: usize) -> f64 {
    let units = h.len() / batch;
    let dead = (0..units).filter(|&u| (0..batch).all(|b| h[b * units + u] <= 0.0)).count();
    dead as f64 / units as f64
}
// ANCHOR_END: exercise_9_2

// ANCHOR: exercise_9_3
/// Apply the remedy the book measured for each finding — a diverged run is often diagnosed as
/// exploding *and* too high a learning rate — and change nothing else.
pub fn treat(sick: &Setup, report: &Report) -> Setup {
    let mut s = sick.clone();
    for verdict in report.verdicts() {
        match verdict {
            // Chapters 3 and 4: a slope of one, and the scale that keeps it.
            Verdict::Vanishing | Verdict::Saturation => {
                s.activation = Activation::Relu;
                s.init = crate::cases::he(1.0);
            }
            // Chapter 4: the variance-preserving scale for the activation.
            Verdict::Exploding => {
                s.init = match s.activation {
                    Activation::Relu => crate::cases::he(1.0),
                    _ => lab::Init::XavierNormal { gain: 1.0 },
                }
            }
            // Chapter 3: one step too large kills units; the chapter's fixes train at 0.05.
            Verdict::DeadUnits | Verdict::LearningRateTooHigh | Verdict::NonFinite => s.lr = s.lr.min(0.05),
            // Chapter 5: evaluate with the running statistics.
            Verdict::BatchStatsAtEval => s.eval_in_train_mode = false,
            Verdict::LearningRateTooLow => s.lr *= 10.0,
            Verdict::Healthy => {}
        }
    }
    s
}
// ANCHOR_END: exercise_9_3

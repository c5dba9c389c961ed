//! The long-range task of Figures 7-2 to 7-5, "remember the first symbol", and a training loop
//! for a [`SeqModel`] on it.
//!
//! A sequence of length T starts with one of `classes` symbols; the T − 1 steps after it show
//! distractors drawn from `distractors` other symbols (all one-hot). The read-out of the last hidden
//! state must name the first symbol. The information the loss needs sits T − 1 steps back, so
//! the gradient that would teach the network to keep it has to travel all of them: chance is
//! 1/`classes`. (A simplified relative of Hochreiter & Schmidhuber's 1997 long-lag tasks.)

use anyhow::{Result, ensure};
use candle_core::Tensor;
use lab::DEVICE;
use lab::rnn::{SeqModel, classify};
use lab::train::{Optim, clip_global_norm};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

/// The task's alphabet.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Task {
    pub classes: usize,
    pub distractors: usize,
}

impl Default for Task {
    fn default() -> Self {
        Task { classes: 4, distractors: 4 }
    }
}

impl Task {
    /// One-hot input width: the classes, then the distractors.
    pub fn d_in(&self) -> usize {
        self.classes + self.distractors
    }

    /// `batch` sequences of length `steps` `(batch, steps, d_in)` and their labels (u32).
    pub fn batch(&self, batch: usize, steps: usize, rng: &mut StdRng) -> Result<(Tensor, Tensor)> {
        ensure!(steps >= 1 && self.classes >= 2 && self.distractors >= 1, "need T ≥ 1, ≥ 2 classes, ≥ 1 distractor");
        let d = self.d_in();
        let mut x = vec![0f32; batch * steps * d];
        let mut y = Vec::with_capacity(batch);
        for b in 0..batch {
            let label = rng.random_range(0..self.classes);
            y.push(label as u32);
            x[b * steps * d + label] = 1.0;
            for t in 1..steps {
                x[(b * steps + t) * d + self.classes + rng.random_range(0..self.distractors)] = 1.0;
            }
        }
        Ok((Tensor::from_vec(x, (batch, steps, d), &DEVICE)?, Tensor::new(y, &DEVICE)?))
    }
}

/// How to train on the task.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    pub optim: Optim,
    pub steps: usize,
    pub batch: usize,
    /// Clip the global gradient norm to this before each update.
    pub clip: Option<f64>,
    /// Held-out sequences the final accuracy is measured on.
    pub eval_batch: usize,
}

/// What one training run recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    /// Minibatch loss before each update.
    pub losses: Vec<f64>,
    /// Global gradient norm before clipping.
    pub grad_norms: Vec<f64>,
    /// Held-out accuracy after training (absent in quick runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// True when the loss became NaN or infinite and training stopped.
    pub diverged: bool,
}

/// Trains `model` on sequences of length `steps` for `budget.steps` updates, fresh minibatches from
/// `seed` every step; evaluates on a held-out set when `evaluate`.
pub fn train(model: &SeqModel, task: Task, steps: usize, budget: &Budget, seed: u64, evaluate: bool) -> Result<Run> {
    let vars = model.vars();
    let mut opt = budget.optim.optimizer(vars.clone())?;
    let mut rng = lab::init::rng(seed);
    let mut run = Run::default();
    for _ in 0..budget.steps {
        let (x, y) = task.batch(budget.batch, steps, &mut rng)?;
        let logits = model.readout(&model.trace(&x, false)?)?;
        let (loss, _) = classify(&logits, &y)?;
        let value = loss.to_scalar::<f32>()? as f64;
        let mut grads = loss.backward()?;
        let norm = match budget.clip {
            Some(max) => clip_global_norm(&mut grads, &vars, max)?,
            None => lab::train::global_norm(&grads, &vars)?,
        };
        run.losses.push(value);
        run.grad_norms.push(norm);
        if !value.is_finite() || !norm.is_finite() {
            run.diverged = true;
            break;
        }
        opt.step(&grads)?;
    }
    if evaluate {
        let (x, y) = task.batch(budget.eval_batch, steps, &mut lab::init::rng(seed ^ 0x5eed))?;
        let logits = model.readout(&model.trace(&x, false)?)?;
        run.accuracy = Some(classify(&logits, &y)?.1);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_the_first_symbol_and_the_rest_are_distractors() -> Result<()> {
        let task = Task::default();
        let (x, y) = task.batch(16, 7, &mut lab::init::rng(1))?;
        let x = x.to_vec3::<f32>()?;
        let y = y.to_vec1::<u32>()?;
        for (seq, label) in x.iter().zip(y) {
            assert_eq!(seq[0].iter().position(|&v| v == 1.0), Some(label as usize));
            for step in &seq[1..] {
                assert_eq!(step.iter().sum::<f32>(), 1.0);
                assert!(step.iter().position(|&v| v == 1.0).unwrap() >= task.classes);
            }
        }
        Ok(())
    }
}

//! Runs `lab`'s training loop with the doctor on.

use anyhow::Result;
use candle_core::backprop::GradStore;
use gradient_doctor::{Act, Doctor};
use lab::Activation;
use lab::net::Trace;
use lab::train::StepObserver;

/// A [`StepObserver`] that taps every hidden layer of a `lab` MLP (as `l0`, `l1`, …, the names of
/// its parameters' layers) and hands each step's gradients to the doctor.
///
/// A tap of NaN or infinite activations is an error in the doctor; the watch keeps the first such
/// error in [`Watch::diverged`] and stops tapping, so the doctor still sees the non-finite gradients
/// (and `lab`'s loop stops on the non-finite loss).
pub struct Watch<'a> {
    pub doctor: &'a Doctor,
    pub act: Act,
    pub diverged: Option<String>,
}

impl<'a> Watch<'a> {
    pub fn new(doctor: &'a Doctor, activation: Activation) -> Self {
        let act = match activation {
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Tanh => Act::Tanh,
            Activation::Relu => Act::Relu,
            _ => Act::Other,
        };
        Watch { doctor, act, diverged: None }
    }
}

impl StepObserver for Watch<'_> {
    fn observe(&mut self, _step: usize, trace: &Trace, grads: &GradStore, lr: f64) -> Result<()> {
        if self.diverged.is_none() {
            for (i, a) in trace.post.iter().enumerate() {
                if let Err(e) = self.doctor.tap_as(&format!("l{i}"), a, self.act) {
                    self.diverged = Some(format!("{e:#}"));
                    self.doctor.discard_taps();
                    break;
                }
            }
        }
        self.doctor.observe_step(grads, lr)
    }
}

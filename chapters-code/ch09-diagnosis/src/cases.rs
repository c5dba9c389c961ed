//! The five networks that won't learn, and their fixes, each run with the doctor on.

use crate::Watch;
use anyhow::Result;
use candle_core::{DType, IndexOp, ModuleT, Tensor};
use candle_nn::rnn::{LSTMState, RNN};
use gradient_doctor::{Doctor, Options, Report, Verdict};
use lab::init::Fan;
use lab::rnn::{AnyCell, Cell, RnnConfig, TanhState};
use lab::train::{Optim, TrainConfig, train_observed};
use lab::{Activation, Init, MlpConfig, Norm};
use serde::{Deserialize, Serialize};

/// One of the book's five ways for a network not to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// A deep sigmoid MLP at the standard init (chapter 2). Fix: ReLU with He init (chapters 3, 4).
    DeepSigmoid,
    /// A ReLU MLP whose learning rate kills its units (chapter 3). Fix: a normal learning rate.
    DyingRelu,
    /// A ReLU MLP initialised at ten times He's scale (chapter 4). Fix: He's scale.
    InitTimesTen,
    /// A BatchNorm MLP evaluated in training mode (chapter 5). Fix: evaluation mode.
    BatchNormEval,
    /// A tanh RNN asked to remember its first input over a long lag (chapter 7). Fix: an LSTM with
    /// its forget gate biased open.
    RnnLongLag,
}

/// The broken network or its fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Broken,
    Fixed,
}

impl Case {
    pub const ALL: [Case; 5] =
        [Case::DeepSigmoid, Case::DyingRelu, Case::InitTimesTen, Case::BatchNormEval, Case::RnnLongLag];

    /// The verdict the doctor should give the broken network.
    pub fn expected(&self) -> Verdict {
        match self {
            Case::DeepSigmoid => Verdict::Vanishing,
            Case::DyingRelu => Verdict::DeadUnits,
            Case::InitTimesTen => Verdict::Exploding,
            Case::BatchNormEval => Verdict::BatchStatsAtEval,
            Case::RnnLongLag => Verdict::Vanishing,
        }
    }

    /// A short description of the network.
    pub fn describe(&self, variant: Variant) -> &'static str {
        match (self, variant) {
            (Case::DeepSigmoid, Variant::Broken) => "sigmoid MLP, 10 × 32, standard init",
            (Case::DeepSigmoid, Variant::Fixed) => "ReLU MLP, 10 × 32, He init",
            (Case::DyingRelu, Variant::Broken) => "ReLU MLP, 4 × 32, SGD at lr 3",
            (Case::DyingRelu, Variant::Fixed) => "ReLU MLP, 4 × 32, SGD at lr 0.05",
            (Case::InitTimesTen, Variant::Broken) => "ReLU MLP, 6 × 32, 10 × He's scale",
            (Case::InitTimesTen, Variant::Fixed) => "ReLU MLP, 6 × 32, He's scale",
            (Case::BatchNormEval, Variant::Broken) => "BatchNorm MLP, evaluated in training mode",
            (Case::BatchNormEval, Variant::Fixed) => "BatchNorm MLP, evaluated in evaluation mode",
            (Case::RnnLongLag, Variant::Broken) => "tanh RNN, lag 40, PyTorch's init",
            (Case::RnnLongLag, Variant::Fixed) => "LSTM, lag 40, forget bias 3",
        }
    }
}

/// Steps each network trains for: enough for the window, few enough for a test.
pub const STEPS: usize = 30;

/// He's scale (N(0, 2/fan_in)) times `times`: `he(1.0)` is He et al.'s initialisation.
pub fn he(times: f64) -> Init {
    Init::HeNormal { gain: times * 2f64.sqrt(), fan: Fan::In }
}

/// One of the chapter's MLPs on the teacher task (16 inputs, 4 classes, width 32): everything
/// exercise 9.3 may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Hidden layers.
    pub depth: usize,
    pub activation: Activation,
    pub init: Init,
    pub norm: Norm,
    /// Plain SGD's learning rate.
    pub lr: f64,
    /// Evaluate in training mode (batch statistics): what a forgotten `forward_t(x, false)` does. It
    /// matters only with BatchNorm, where the doctor checks evaluation after training.
    pub eval_in_train_mode: bool,
}

impl Case {
    /// The MLP of this case (`None` for the recurrent network).
    pub fn setup(&self, variant: Variant) -> Option<Setup> {
        let fixed = variant == Variant::Fixed;
        let mlp = |depth, activation, init, norm, lr| Setup {
            depth,
            activation,
            init,
            norm,
            lr,
            eval_in_train_mode: *self == Case::BatchNormEval && !fixed,
        };
        Some(match self {
            Case::DeepSigmoid if !fixed => mlp(10, Activation::Sigmoid, Init::Standard, Norm::None, 0.1),
            Case::DeepSigmoid => mlp(10, Activation::Relu, he(1.0), Norm::None, 0.05),
            Case::DyingRelu => mlp(4, Activation::Relu, he(1.0), Norm::None, if fixed { 0.05 } else { 3.0 }),
            Case::InitTimesTen => mlp(6, Activation::Relu, he(if fixed { 1.0 } else { 10.0 }), Norm::None, 0.05),
            Case::BatchNormEval => mlp(4, Activation::Relu, he(1.0), Norm::Batch, 0.05),
            Case::RnnLongLag => return None,
        })
    }
}

/// Trains the network of `case` (broken or fixed) with the doctor on, and returns its report.
pub fn diagnose(case: Case, variant: Variant, seed: u64) -> Result<Report> {
    match case.setup(variant) {
        Some(setup) => train_setup(&setup, seed),
        None => rnn(variant == Variant::Fixed, seed),
    }
}

/// Trains `setup` for [`STEPS`] SGD steps of 32 examples with the doctor on (window 10, every hidden
/// layer tapped); with BatchNorm, then checks evaluation in the setup's mode. Returns the report.
pub fn train_setup(setup: &Setup, seed: u64) -> Result<Report> {
    let data = lab::data::teacher(1024, 16, 4, seed)?;
    let net = MlpConfig::new(16, 32, setup.depth, 4, setup.activation, setup.init)
        .with_norm(setup.norm)
        .with_seed(seed)
        .build(&lab::DEVICE)?;
    let doctor = Doctor::with_options(&net.varmap, Options { window: 10, ..Options::default() })?;
    let mut cfg = TrainConfig::new(Optim::Sgd { lr: setup.lr }, STEPS, 32);
    cfg.progress = false;
    cfg.seed = seed;
    train_observed(&net, &data.x, &data.y, None, &cfg, &mut Watch::new(&doctor, setup.activation))?;
    if setup.norm == Norm::Batch {
        let probe = data.x.narrow(0, 0, 64)?;
        doctor.check_eval(&probe, |x| Ok(net.forward_t(x, setup.eval_in_train_mode)?))?;
    }
    doctor.report()
}

/// Length of the lag the recurrent network must bridge.
pub const LAG: usize = 40;

/// Sequences of length [`LAG`] whose label is the sign of the first input's first component; every
/// later input is noise.
fn lag_task(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let mut rng = lab::init::rng(seed);
    let x = Init::Normal { std: 1.0 }.tensor(n * LAG, 4, &mut rng, &lab::DEVICE)?.reshape((n, LAG, 4))?;
    let y = x.i((.., 0, 0))?.gt(0.0)?.to_dtype(DType::U32)?;
    Ok((x, y))
}

fn rnn(fixed: bool, seed: u64) -> Result<Report> {
    let cell = if fixed { Cell::Lstm { forget_bias: 3.0 } } else { Cell::TanhDefault };
    let model = RnnConfig::new(cell, 4, 32, 2).with_seed(seed).build()?;
    let doctor = Doctor::with_options(&model.varmap, Options { window: 10, ..Options::default() })?;
    let (x, y) = lag_task(256, seed)?;
    let lr = 0.05;
    let mut opt = Optim::Sgd { lr }.optimizer(model.vars())?;
    for step in 0..STEPS {
        let start = (step * 32) % 256;
        let (xb, yb) = (x.narrow(0, start, 32)?, y.narrow(0, start, 32)?);
        let mut last = None;
        match &model.cell {
            AnyCell::Tanh(c) => {
                let mut s = c.zero_state(32)?;
                for t in 0..LAG {
                    s = c.step(&xb.i((.., t, ..))?.contiguous()?, &s)?;
                    s = TanhState { h: doctor.probe(&format!("t{t:02}"), &s.h)? };
                }
                last = Some(s.h);
            }
            AnyCell::Lstm(c) => {
                let mut s = c.zero_state(32)?;
                for t in 0..LAG {
                    s = c.step(&xb.i((.., t, ..))?.contiguous()?, &s)?;
                    // The cell state is the LSTM's memory path: probe it (but for the last step's,
                    // which reaches the loss only through an h already computed).
                    if t + 1 < LAG {
                        s = LSTMState { h: s.h.clone(), c: doctor.probe(&format!("t{t:02}"), &s.c)? };
                    }
                }
                last = Some(s.h);
            }
            AnyCell::Gru(_) => {}
        }
        let h = last.ok_or_else(|| anyhow::anyhow!("unsupported cell"))?;
        let logits = candle_core::Module::forward(&model.head, &h)?;
        let (loss, _) = lab::rnn::classify(&logits, &yb)?;
        let grads = loss.backward()?;
        doctor.observe_step(&grads, lr)?;
        opt.step(&grads)?;
    }
    doctor.report()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_network_gets_its_verdict_and_each_fix_a_clean_bill() -> Result<()> {
        let mut failures = Vec::new();
        for case in Case::ALL {
            let broken = diagnose(case, Variant::Broken, 0)?;
            if broken.findings[0].verdict != case.expected() {
                failures.push(format!("{case:?} broken: {:?}\n{}", broken.verdicts(), broken.table(false)));
            }
            let fixed = diagnose(case, Variant::Fixed, 0)?;
            if !fixed.is_healthy() {
                failures.push(format!("{case:?} fixed: {:?}\n{}", fixed.verdicts(), fixed.table(false)));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    }

    #[test]
    fn lab_calls_the_observer_every_step_and_the_dashboard_shows_every_layer() -> Result<()> {
        let report = diagnose(Case::DeepSigmoid, Variant::Broken, 1)?;
        assert_eq!(report.steps, STEPS);
        assert_eq!(report.history.len(), STEPS);
        assert_eq!(report.layers.len(), 11, "10 hidden layers and the head");
        assert_eq!(report.taps.len(), 10);
        let svg = report.svg(&gradient_doctor::Options::default());
        // One bar per layer, two lines over the steps, the verdict in the alt text.
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 11, "background, two panels, eleven bars");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("Verdict: vanishing gradients"), "{svg}");
        // JSON round trip.
        let back: Report = serde_json::from_str(&report.to_json()?)?;
        assert_eq!(back.verdicts(), report.verdicts());
        Ok(())
    }
}

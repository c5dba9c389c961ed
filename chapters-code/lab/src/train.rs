//! Training: minibatch loops with SGD, momentum SGD or AdamW, optional gradient clipping, and a
//! per-step history that serialises into a figure's JSON.
//!
//! Minibatches are drawn from a seeded shuffle, so a run is reproducible from its config. Probing
//! reuses the step's own forward and backward pass: a probed step costs little more than a plain one.

use crate::net::{Mlp, Trace, accuracy, cross_entropy};
use crate::probe::{Probe, probe_from};
use anyhow::{Result, ensure};
use candle_core::{Tensor, Var, backprop::GradStore};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, SGD};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// The optimiser and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optim {
    /// Plain SGD, w ← w − lr·g (candle-nn's `SGD`).
    Sgd { lr: f64 },
    /// SGD with heavy-ball momentum, PyTorch's convention: v ← μv + g, w ← w − lr·v.
    Momentum { lr: f64, momentum: f64 },
    /// AdamW (candle-nn's `AdamW`, β = (0.9, 0.999), ε = 1e-8).
    AdamW { lr: f64, weight_decay: f64 },
}

impl Optim {
    pub fn lr(&self) -> f64 {
        match *self {
            Optim::Sgd { lr } | Optim::Momentum { lr, .. } | Optim::AdamW { lr, .. } => lr,
        }
    }

    fn build(&self, vars: Vec<Var>) -> Result<Box<dyn Step>> {
        let lr = self.lr();
        ensure!(lr.is_finite() && lr > 0.0, "learning rate must be a finite positive number, got {lr}");
        Ok(match *self {
            Optim::Sgd { lr } if crate::fast::kernel_enabled(crate::fast::Kernel::Sgd) => {
                Box::new(InPlaceSgd { vars, lr })
            }
            Optim::Sgd { lr } => Box::new(SGD::new(vars, lr)?),
            Optim::Momentum { lr, momentum } => {
                ensure!((0.0..1.0).contains(&momentum), "momentum must be in [0, 1), got {momentum}");
                Box::new(MomentumSgd::new(vars, lr, momentum)?)
            }
            Optim::AdamW { lr, weight_decay } => {
                ensure!(
                    weight_decay.is_finite() && weight_decay >= 0.0,
                    "weight decay must be ≥ 0, got {weight_decay}"
                );
                Box::new(AdamW::new(vars, ParamsAdamW { lr, weight_decay, ..Default::default() })?)
            }
        })
    }
}

/// A built optimiser over a set of variables, for loops written outside [`train`] (benchmarks, custom
/// experiments): `let mut opt = optim.optimizer(net.vars())?; … opt.step(&grads)?;`.
pub struct BoxedOptimizer(Box<dyn Step>);

impl BoxedOptimizer {
    /// Applies one update from the gradients.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        Ok(self.0.step(grads)?)
    }
}

impl Optim {
    /// Builds this optimiser over `vars` (the same one [`train`] uses).
    pub fn optimizer(&self, vars: Vec<Var>) -> Result<BoxedOptimizer> {
        Ok(BoxedOptimizer(self.build(vars)?))
    }
}

/// Object-safe view of candle-nn's `Optimizer`, so the loop can hold any of them.
trait Step {
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()>;
}

impl<O: Optimizer> Step for O {
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        Optimizer::step(self, grads)
    }
}

/// Plain SGD updating each parameter in place in one pass ([`crate::fast::sgd_update`]); the same
/// arithmetic as candle-nn's `SGD`, which makes three tensors per parameter and step.
struct InPlaceSgd {
    vars: Vec<Var>,
    lr: f64,
}

impl Step for InPlaceSgd {
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for var in &self.vars {
            if let Some(g) = grads.get(var) {
                crate::fast::sgd_update(var, g, self.lr)?;
            }
        }
        Ok(())
    }
}

/// SGD with momentum, PyTorch's convention (candle-nn's `SGD` has none).
pub struct MomentumSgd {
    vars: Vec<(Var, Tensor)>,
    lr: f64,
    momentum: f64,
}

impl Optimizer for MomentumSgd {
    type Config = (f64, f64);

    fn new(vars: Vec<Var>, (lr, momentum): (f64, f64)) -> candle_core::Result<Self> {
        let vars = vars.into_iter().map(|v| -> candle_core::Result<_> { Ok((v.clone(), v.zeros_like()?)) });
        Ok(MomentumSgd { vars: vars.collect::<candle_core::Result<_>>()?, lr, momentum })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for (var, velocity) in self.vars.iter_mut() {
            if let Some(g) = grads.get(var) {
                *velocity = ((&*velocity * self.momentum)? + g)?;
                var.set(&var.sub(&(&*velocity * self.lr)?)?)?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr
    }
}

impl MomentumSgd {
    fn new(vars: Vec<Var>, lr: f64, momentum: f64) -> candle_core::Result<Self> {
        <Self as Optimizer>::new(vars, (lr, momentum))
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub optim: Optim,
    /// Number of optimiser steps.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Clip the global gradient norm to this value before each step.
    pub clip: Option<f64>,
    /// Seed of the minibatch shuffle.
    pub seed: u64,
    /// Record a full [`Probe`] every this many steps (0: never). Step 0 is always probed when > 0.
    pub probe_every: usize,
    /// Evaluate on the held-out set every this many steps (0: only at the end).
    pub eval_every: usize,
    /// Show a progress bar (on a terminal, for runs of more than 50 steps).
    pub progress: bool,
}

impl TrainConfig {
    pub fn new(optim: Optim, steps: usize, batch: usize) -> Self {
        TrainConfig { optim, steps, batch, clip: None, seed: 0, probe_every: 0, eval_every: 0, progress: true }
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(self.steps > 0, "steps must be at least 1");
        ensure!(self.batch > 0, "batch size must be at least 1");
        if let Some(c) = self.clip {
            ensure!(c.is_finite() && c > 0.0, "clip norm must be a finite positive number, got {c}");
        }
        Ok(())
    }
}

/// One optimiser step's training loss and minibatch accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// Held-out loss and accuracy at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// Everything a training run recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub steps: Vec<StepRecord>,
    /// `(step, probe)` pairs, taken before that step's update.
    pub probes: Vec<(usize, Probe)>,
    pub evals: Vec<EvalRecord>,
    /// True when the loss became NaN or infinite and training stopped early.
    pub diverged: bool,
}

impl History {
    pub fn final_eval(&self) -> Option<&EvalRecord> {
        self.evals.last()
    }

    /// Training losses, one per step.
    pub fn losses(&self) -> Vec<f64> {
        self.steps.iter().map(|s| s.loss).collect()
    }
}

/// A VarMap's variables sorted by name. `VarMap::all_vars` follows its `HashMap`'s order, which
/// changes from process to process; anything that sums over parameters (a global gradient norm,
/// clipping) must visit them in a fixed order for the same seed to give the same bytes.
pub fn vars_in_name_order(varmap: &candle_nn::VarMap) -> Vec<candle_core::Var> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut named: Vec<_> = data.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// Watches a [`train`] run from inside its loop — a gradient doctor, a logger: called once a step
/// with the forward trace and the gradients, after `backward()` and before clipping and the update.
pub trait StepObserver {
    fn observe(&mut self, step: usize, trace: &Trace, grads: &GradStore, lr: f64) -> Result<()>;
}

/// An observer that does nothing ([`train`]'s).
impl StepObserver for () {
    fn observe(&mut self, _: usize, _: &Trace, _: &GradStore, _: f64) -> Result<()> {
        Ok(())
    }
}

/// Trains `net` on `(x, y)` (rows are examples; labels u32), evaluating on `eval` if given.
pub fn train(
    net: &Mlp,
    x: &Tensor,
    y: &Tensor,
    eval: Option<(&Tensor, &Tensor)>,
    cfg: &TrainConfig,
) -> Result<History> {
    train_observed(net, x, y, eval, cfg, &mut ())
}

/// [`train`] with an observer called at every step (see [`StepObserver`]).
pub fn train_observed(
    net: &Mlp,
    x: &Tensor,
    y: &Tensor,
    eval: Option<(&Tensor, &Tensor)>,
    cfg: &TrainConfig,
    observer: &mut dyn StepObserver,
) -> Result<History> {
    cfg.validate()?;
    let n = x.dim(0)?;
    ensure!(n == y.dim(0)?, "{n} inputs but {} labels", y.dim(0)?);
    ensure!(cfg.batch <= n, "batch size {} is larger than the {n} training examples", cfg.batch);
    let mut optimizer = cfg.optim.build(net.vars())?;
    let mut rng = crate::init::rng(cfg.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut cursor = n; // forces a shuffle before the first batch
    let bar = progress_bar(cfg.progress && cfg.steps > 50, cfg.steps as u64, "training");
    let mut history = History::default();
    let vars = net.vars();
    for step in 0..cfg.steps {
        if cursor + cfg.batch > n {
            order.shuffle(&mut rng);
            cursor = 0;
        }
        let idx = Tensor::new(&order[cursor..cursor + cfg.batch], x.device())?;
        cursor += cfg.batch;
        let (xb, yb) = (x.index_select(&idx, 0)?, y.index_select(&idx, 0)?);
        let trace = net.forward_trace(&xb, true)?;
        let loss = cross_entropy(&trace.logits, &yb)?;
        let loss_value = loss.to_scalar::<f32>()? as f64;
        let mut grads = loss.backward()?;
        observer.observe(step, &trace, &grads, cfg.optim.lr())?;
        if cfg.probe_every > 0 && step % cfg.probe_every == 0 {
            history.probes.push((step, probe_from(net, &trace, &loss, &yb, &grads)?));
        }
        let grad_norm = global_norm(&grads, &vars)?;
        history.steps.push(StepRecord { step, loss: loss_value, accuracy: accuracy(&trace.logits, &yb)?, grad_norm });
        if !loss_value.is_finite() {
            history.diverged = true;
            break;
        }
        if let Some(max) = cfg.clip
            && grad_norm > max
        {
            scale_grads(&mut grads, &vars, max / grad_norm)?;
        }
        optimizer.step(&grads)?;
        if let Some((ex, ey)) = eval
            && cfg.eval_every > 0
            && (step + 1) % cfg.eval_every == 0
        {
            history.evals.push(evaluate(net, ex, ey, step + 1)?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some((ex, ey)) = eval
        && history.evals.last().map(|e| e.step) != Some(history.steps.len())
    {
        history.evals.push(evaluate(net, ex, ey, history.steps.len())?);
    }
    Ok(history)
}

/// Loss and accuracy on a held-out set, in evaluation mode.
pub fn evaluate(net: &Mlp, x: &Tensor, y: &Tensor, step: usize) -> Result<EvalRecord> {
    use candle_core::ModuleT;
    let logits = net.forward_t(x, false)?;
    Ok(EvalRecord {
        step,
        loss: cross_entropy(&logits, y)?.to_scalar::<f32>()? as f64,
        accuracy: accuracy(&logits, y)?,
    })
}

/// √(Σ ‖g‖²) over the given variables' gradients.
pub fn global_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut sum = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v) {
            sum += crate::probe::norm(g)?.powi(2);
        }
    }
    Ok(sum.sqrt())
}

/// Clipping by global norm (Pascanu, Mikolov & Bengio 2013, algorithm 1): when ‖g‖ = √(Σ ‖g_v‖²)
/// over `vars` exceeds `max`, scales every gradient by `max/‖g‖`, keeping the direction. Returns ‖g‖
/// before clipping. The same rule [`train`] applies with [`TrainConfig::clip`].
pub fn clip_global_norm(grads: &mut GradStore, vars: &[Var], max: f64) -> Result<f64> {
    ensure!(max.is_finite() && max > 0.0, "clip norm must be a finite positive number, got {max}");
    let norm = global_norm(grads, vars)?;
    if norm > max {
        scale_grads(grads, vars, max / norm)?;
    }
    Ok(norm)
}

fn scale_grads(grads: &mut GradStore, vars: &[Var], factor: f64) -> Result<()> {
    for v in vars {
        if let Some(g) = grads.remove(v) {
            grads.insert(v, (g * factor)?);
        }
    }
    Ok(())
}

/// A progress bar on stderr for long runs; hidden when `show` is false or stderr is not a terminal.
pub fn progress_bar(show: bool, len: u64, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DEVICE, Init, MlpConfig, init};

    #[test]
    fn vars_come_in_name_order_whatever_the_hash_map_does() -> Result<()> {
        // Two maps filled the same way: their HashMaps iterate in different orders, the helper not.
        let names: Vec<String> = (0..24).map(|i| format!("layer{i:02}.weight")).collect();
        let fill = || -> Result<candle_nn::VarMap> {
            let map = candle_nn::VarMap::new();
            for (i, name) in names.iter().enumerate() {
                map.data().lock().unwrap().insert(name.clone(), Var::new(&[i as f32 + 0.1], &DEVICE)?);
            }
            Ok(map)
        };
        let values = |map: &candle_nn::VarMap| -> Result<Vec<f32>> {
            vars_in_name_order(map).iter().map(|v| Ok(v.as_tensor().to_vec1::<f32>()?[0])).collect()
        };
        let want: Vec<f32> = (0..24).map(|i| i as f32 + 0.1).collect();
        assert_eq!(values(&fill()?)?, want);
        assert_eq!(values(&fill()?)?, want);
        Ok(())
    }

    /// A linearly separable toy task: the label is the sign of the first coordinate.
    fn toy(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
        let x = Init::Normal { std: 1.0 }.tensor(n, 4, &mut init::rng(seed), &DEVICE)?;
        let y = x.narrow(1, 0, 1)?.squeeze(1)?.gt(0.0)?.to_dtype(candle_core::DType::U32)?;
        Ok((x, y))
    }

    #[test]
    fn every_optimiser_learns_a_separable_task() -> Result<()> {
        let (x, y) = toy(512, 1)?;
        let (ex, ey) = toy(256, 2)?;
        for optim in [
            Optim::Sgd { lr: 0.5 },
            Optim::Momentum { lr: 0.1, momentum: 0.9 },
            Optim::AdamW { lr: 0.01, weight_decay: 0.0 },
        ] {
            let net = MlpConfig::new(4, 16, 2, 2, Activation::Tanh, Init::XAVIER).with_seed(3).build(&DEVICE)?;
            let mut cfg = TrainConfig::new(optim, 300, 32);
            cfg.progress = false;
            cfg.eval_every = 100;
            let h = train(&net, &x, &y, Some((&ex, &ey)), &cfg)?;
            assert_eq!(h.steps.len(), 300);
            assert_eq!(h.evals.iter().map(|e| e.step).collect::<Vec<_>>(), vec![100, 200, 300]);
            let acc = h.final_eval().unwrap().accuracy;
            assert!(acc > 0.93, "{optim:?}: held-out accuracy {acc}");
            assert!(h.steps[299].loss < h.steps[0].loss);
        }
        Ok(())
    }

    #[test]
    fn runs_are_reproducible_and_probes_are_recorded() -> Result<()> {
        let (x, y) = toy(128, 5)?;
        let run = || -> Result<History> {
            let net = MlpConfig::new(4, 8, 3, 2, Activation::Sigmoid, Init::Standard).with_seed(1).build(&DEVICE)?;
            let mut cfg = TrainConfig::new(Optim::Sgd { lr: 0.1 }, 20, 16);
            cfg.probe_every = 10;
            cfg.progress = false;
            train(&net, &x, &y, None, &cfg)
        };
        let (a, b) = (run()?, run()?);
        assert_eq!(a, b);
        assert_eq!(a.probes.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 10]);
        assert_eq!(a.probes[0].1.layers.len(), 3);
        Ok(())
    }

    #[test]
    fn clipping_bounds_the_update() -> Result<()> {
        let (x, y) = toy(64, 7)?;
        let net =
            MlpConfig::new(4, 8, 1, 2, Activation::Relu, Init::Normal { std: 5.0 }).with_seed(2).build(&DEVICE)?;
        let before: Vec<Tensor> =
            net.vars().iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: 1.0 }, 1, 64);
        cfg.clip = Some(0.01);
        cfg.progress = false;
        let h = train(&net, &x, &y, None, &cfg)?;
        assert!(h.steps[0].grad_norm > 0.01);
        let moved: f64 = net
            .vars()
            .iter()
            .zip(&before)
            .map(|(v, b)| crate::probe::norm(&(v.as_tensor() - b).unwrap()).unwrap().powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((moved - 0.01).abs() < 1e-4, "update norm {moved}");
        Ok(())
    }

    #[test]
    fn bad_configs_are_refused() -> Result<()> {
        let (x, y) = toy(16, 1)?;
        let net = MlpConfig::new(4, 4, 1, 2, Activation::Relu, Init::HE).build(&DEVICE)?;
        let err = |cfg: TrainConfig| train(&net, &x, &y, None, &cfg).unwrap_err().to_string();
        assert!(err(TrainConfig::new(Optim::Sgd { lr: f64::NAN }, 1, 4)).contains("learning rate"));
        assert!(err(TrainConfig::new(Optim::Sgd { lr: 0.1 }, 0, 4)).contains("steps"));
        assert!(err(TrainConfig::new(Optim::Sgd { lr: 0.1 }, 1, 32)).contains("larger than"));
        Ok(())
    }
}

//! Training: minibatch loops with SGD, momentum SGD or AdamW, optional gradient clipping, and a
//! per-step history that serialises into a figure's JSON.
//!
//! Minibatches are drawn from a seeded shuffle, so a run is reproducible from its config. Probing
//! reuses the step's own forward and backward pass: a probed step costs little more than a plain one.

use crate::net::{Mlp, Trace, accuracy, cross_entropy};
use crate::probe::{Probe, probe_from};
use anyhow::{Result, ensure};
use candle_core::{CpuStorage, DType, Layout, Tensor, Var, backprop::GradStore};
use candle_nn::{Optimizer, ParamsAdamW, SGD};
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
                Box::new(InPlaceAdamW::new(vars, ParamsAdamW { lr, weight_decay, ..Default::default() })?)
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

/// SGD with momentum, PyTorch's convention (candle-nn's `SGD` has none): v ← μv + g, w ← w − lr·v,
/// each parameter and its velocity updated in place in one pass. The arithmetic is that of the
/// tensor expressions `v·μ + g` and `w − v·lr` element by element (candle's `t * c` is
/// `t·(c as T) + 0`), without the four tensors per parameter and step they would allocate.
pub struct MomentumSgd {
    vars: Vec<(Var, Buffers)>,
    lr: f64,
    momentum: f64,
}

impl Optimizer for MomentumSgd {
    type Config = (f64, f64);

    fn new(vars: Vec<Var>, (lr, momentum): (f64, f64)) -> candle_core::Result<Self> {
        let vars = vars.into_iter().map(|v| -> candle_core::Result<_> {
            let velocity = Buffers::zeros(&v, 1)?;
            Ok((v, velocity))
        });
        Ok(MomentumSgd { vars: vars.collect::<candle_core::Result<_>>()?, lr, momentum })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let (lr, momentum) = (self.lr, self.momentum);
        for (var, velocity) in self.vars.iter_mut() {
            if let Some(g) = grads.get(var) {
                update_in_place(var, g, velocity, &MomentumUpdate { lr, momentum })?;
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

/// candle-nn's `AdamW` (the same `ParamsAdamW`), each parameter and its two moments updated in place
/// in one pass. The arithmetic is candle-nn's tensor expressions element by element, in their order
/// (its `t * c` and `t + c` are `t·(c as T) + 0` and `t·1 + (c as T)`), so the bits are the same;
/// what goes is the dozen tensors candle-nn allocates per parameter and step, which for a small
/// transformer cost about as much as the forward and backward passes.
pub struct InPlaceAdamW {
    vars: Vec<(Var, Buffers)>,
    step_t: usize,
    params: ParamsAdamW,
}

impl Optimizer for InPlaceAdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> candle_core::Result<Self> {
        let vars = vars.into_iter().filter(|v| v.dtype().is_float()).map(|v| -> candle_core::Result<_> {
            let moments = Buffers::zeros(&v, 2)?;
            Ok((v, moments))
        });
        Ok(InPlaceAdamW { vars: vars.collect::<candle_core::Result<_>>()?, step_t: 0, params })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let update = AdamUpdate {
            beta1: p.beta1,
            beta2: p.beta2,
            scale_m: 1f64 / (1f64 - p.beta1.powi(self.step_t as i32)),
            scale_v: 1f64 / (1f64 - p.beta2.powi(self.step_t as i32)),
            decay: 1f64 - p.lr * p.weight_decay,
            eps: p.eps,
            lr: p.lr,
        };
        for (var, moments) in self.vars.iter_mut() {
            if let Some(g) = grads.get(var) {
                update_in_place(var, g, moments, &update)?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }
}

/// An optimiser's per-parameter state: `k` buffers the size of the parameter, in its float type.
enum Buffers {
    F32(Vec<Vec<f32>>),
    F64(Vec<Vec<f64>>),
}

impl Buffers {
    fn zeros(var: &Var, k: usize) -> candle_core::Result<Buffers> {
        let n = var.elem_count();
        Ok(match var.dtype() {
            DType::F32 => Buffers::F32(vec![vec![0.0; n]; k]),
            DType::F64 => Buffers::F64(vec![vec![0.0; n]; k]),
            dtype => candle_core::bail!("lab's optimisers handle f32 and f64 parameters, not {dtype:?}"),
        })
    }
}

/// The float types the in-place optimisers handle.
trait UpdateFloat: candle_core::WithDType {
    fn square_root(self) -> Self;
}

impl UpdateFloat for f32 {
    fn square_root(self) -> f32 {
        self.sqrt()
    }
}

impl UpdateFloat for f64 {
    fn square_root(self) -> f64 {
        self.sqrt()
    }
}

/// One optimiser update of a parameter `w` from its gradient `g` and its state buffers, written once
/// for both float types.
trait Update {
    fn apply<T: UpdateFloat>(&self, w: &mut [T], g: &[T], state: &mut [Vec<T>]);
}

/// v ← v·μ + g, w ← w − v·lr.
struct MomentumUpdate {
    lr: f64,
    momentum: f64,
}

impl Update for MomentumUpdate {
    fn apply<T: UpdateFloat>(&self, w: &mut [T], g: &[T], state: &mut [Vec<T>]) {
        let [velocity] = state else { unreachable!("momentum keeps one buffer") };
        let (zero, lr, momentum) = (T::from_f64(0.0), T::from_f64(self.lr), T::from_f64(self.momentum));
        for ((w, &g), v) in w.iter_mut().zip(g).zip(velocity.iter_mut()) {
            *v = (*v * momentum + zero) + g;
            *w -= *v * lr + zero;
        }
    }
}

/// candle-nn's AdamW step, with its coefficients for this step.
struct AdamUpdate {
    beta1: f64,
    beta2: f64,
    scale_m: f64,
    scale_v: f64,
    decay: f64,
    eps: f64,
    lr: f64,
}

impl Update for AdamUpdate {
    fn apply<T: UpdateFloat>(&self, w: &mut [T], g: &[T], state: &mut [Vec<T>]) {
        let [m, v] = state else { unreachable!("Adam keeps two buffers") };
        let c = T::from_f64;
        let (zero, one) = (c(0.0), c(1.0));
        let (b1, one_minus_b1) = (c(self.beta1), c(1.0 - self.beta1));
        let (b2, one_minus_b2) = (c(self.beta2), c(1.0 - self.beta2));
        let (scale_m, scale_v, decay, eps, lr) =
            (c(self.scale_m), c(self.scale_v), c(self.decay), c(self.eps), c(self.lr));
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = (*m * b1 + zero) + (g * one_minus_b1 + zero);
            *v = (*v * b2 + zero) + ((g * g) * one_minus_b2 + zero);
            let m_hat = *m * scale_m + zero;
            let v_hat = *v * scale_v + zero;
            let adjusted = m_hat / (v_hat.square_root() * one + eps);
            *w = (*w * decay + zero) - (adjusted * lr + zero);
        }
    }
}

/// Applies `update` to `var` in place, as a candle in-place op (so that no reader of the variable
/// sees a half-written value).
fn update_in_place<U: Update>(var: &Var, g: &Tensor, state: &mut Buffers, update: &U) -> candle_core::Result<()> {
    let w = var.as_tensor();
    if w.dims() != g.dims() {
        candle_core::bail!("parameter {:?} and gradient {:?} differ in shape", w.dims(), g.dims());
    }
    w.inplace_op2(&g.contiguous()?, &InPlace { update, state: std::sync::Mutex::new(state) })
}

struct InPlace<'a, U> {
    update: &'a U,
    state: std::sync::Mutex<&'a mut Buffers>,
}

impl<U: Update> candle_core::InplaceOp2 for InPlace<'_, U> {
    fn name(&self) -> &'static str {
        "lab-optimiser-update"
    }

    fn cpu_fwd(&self, w: &mut CpuStorage, wl: &Layout, g: &CpuStorage, gl: &Layout) -> candle_core::Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (wl.contiguous_offsets(), gl.contiguous_offsets()) else {
            candle_core::bail!("cannot update a non-contiguous parameter in place");
        };
        let mut state = self.state.lock().expect("one update at a time");
        let lengths_match = |n: usize| w1 - w0 == g1 - g0 && n == w1 - w0;
        match (w, g, &mut **state) {
            (CpuStorage::F32(w), CpuStorage::F32(g), Buffers::F32(s)) if s.iter().all(|b| lengths_match(b.len())) => {
                self.update.apply(&mut w[w0..w1], &g[g0..g1], s)
            }
            (CpuStorage::F64(w), CpuStorage::F64(g), Buffers::F64(s)) if s.iter().all(|b| lengths_match(b.len())) => {
                self.update.apply(&mut w[w0..w1], &g[g0..g1], s)
            }
            _ => candle_core::bail!("parameter, gradient and optimiser state differ in type or size"),
        }
        Ok(())
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
        let grad_norm = step_grad_norm(&grads, &vars)?;
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

/// √(Σ ‖g‖²) over the given variables' gradients, each ‖g‖ by [`crate::probe::norm`].
pub fn global_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut sum = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v) {
            sum += crate::probe::norm(g)?.powi(2);
        }
    }
    Ok(sum.sqrt())
}

/// The global gradient norm a training step records and clips by: √(Σ g²) over `vars`, like
/// [`global_norm`], but with each gradient's squares summed in f64 over eight interleaved partial
/// sums, which vectorise. [`global_norm`] adds the squares one after another in order
/// ([`crate::probe::norm`]), a chain of dependent additions that cost a sixth of a small network's
/// step; the two differ only in the last bits.
pub(crate) fn step_grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    fn sum_of_squares<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
        let mut lanes = [0.0f64; 8];
        let chunks = xs.chunks_exact(8);
        let tail = chunks.remainder();
        for chunk in chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                let x: f64 = x.into();
                *lane += x * x;
            }
        }
        let tail: f64 = tail.iter().map(|&x| x.into() * x.into()).sum();
        lanes.iter().sum::<f64>() + tail
    }
    let mut sum = 0.0;
    for v in vars {
        let Some(g) = grads.get(v) else { continue };
        let (storage, layout) = g.storage_and_layout();
        sum += match (&*storage, layout.contiguous_offsets()) {
            (candle_core::Storage::Cpu(CpuStorage::F32(xs)), Some((a, b))) => sum_of_squares(&xs[a..b]),
            (candle_core::Storage::Cpu(CpuStorage::F64(xs)), Some((a, b))) => sum_of_squares(&xs[a..b]),
            _ => {
                drop(storage);
                crate::probe::norm(g)?.powi(2)
            }
        };
    }
    Ok(sum.sqrt())
}

/// Clipping by global norm (Pascanu, Mikolov & Bengio 2013, algorithm 1): when ‖g‖ = √(Σ ‖g_v‖²)
/// over `vars` exceeds `max`, scales every gradient by `max/‖g‖`, keeping the direction. Returns ‖g‖
/// before clipping. The same rule [`train`] applies with [`TrainConfig::clip`] (with the norm summed as
/// in `step_grad_norm`, equal up to the last bits).
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

    /// The in-place optimisers against the tensor expressions they replace, bit for bit, over a few
    /// steps (with a weight decay, a changed learning rate and a parameter without a gradient).
    #[test]
    fn in_place_optimisers_match_their_tensor_expressions_bit_for_bit() -> Result<()> {
        let params = |n: usize| -> Result<Vec<Var>> {
            let rand = |r, c, s| Init::Normal { std: 1.0 }.tensor(r, c, &mut init::rng(s), &DEVICE);
            let (w, b) = (rand(7, 5, n as u64)?, rand(1, 5, n as u64 + 1)?.squeeze(0)?);
            Ok(vec![Var::from_tensor(&w)?, Var::from_tensor(&b.to_dtype(candle_core::DType::F64)?)?])
        };
        let grads_for = |vars: &[Var], step: u64| -> Result<GradStore> {
            let mut grads = vars[0].as_tensor().zeros_like()?.sum_all()?.backward()?;
            for (i, v) in vars.iter().enumerate().take(if step == 2 { 1 } else { 2 }) {
                let g = Init::Normal { std: 0.1 }.tensor(
                    1,
                    v.elem_count(),
                    &mut init::rng(10 * step + i as u64),
                    &DEVICE,
                )?;
                grads.insert(v, g.reshape(v.shape())?.to_dtype(v.dtype())?);
            }
            Ok(grads)
        };
        let bits = |vars: &[Var]| -> Result<Vec<u64>> {
            let w = vars[0].as_tensor().flatten_all()?.to_vec1::<f32>()?.into_iter().map(|x| x.to_bits() as u64);
            let b = vars[1].as_tensor().to_vec1::<f64>()?.into_iter().map(f64::to_bits);
            Ok(w.chain(b).collect())
        };
        let adam = ParamsAdamW { lr: 0.01, weight_decay: 0.1, ..Default::default() };
        let (ours, theirs) = (params(1)?, params(1)?);
        let mut a = InPlaceAdamW::new(ours.clone(), adam.clone())?;
        let mut b = candle_nn::AdamW::new(theirs.clone(), adam)?;
        // The tensor expressions the in-place momentum step replaces.
        let (mom_ours, mom_theirs) = (params(3)?, params(3)?);
        let mut m = MomentumSgd::new(mom_ours.clone(), 0.1, 0.9)?;
        let mut velocities: Vec<Tensor> =
            mom_theirs.iter().map(|v| v.zeros_like()).collect::<candle_core::Result<_>>()?;
        for step in 0..4 {
            if step == 3 {
                a.set_learning_rate(0.03);
                b.set_learning_rate(0.03);
            }
            Optimizer::step(&mut a, &grads_for(&ours, step)?)?;
            Optimizer::step(&mut b, &grads_for(&theirs, step)?)?;
            assert_eq!(bits(&ours)?, bits(&theirs)?, "AdamW, step {step}");
            Optimizer::step(&mut m, &grads_for(&mom_ours, step)?)?;
            let grads = grads_for(&mom_theirs, step)?;
            for (var, velocity) in mom_theirs.iter().zip(velocities.iter_mut()) {
                if let Some(g) = grads.get(var) {
                    *velocity = ((&*velocity * 0.9)? + g)?;
                    var.set(&var.sub(&(&*velocity * 0.1)?)?)?;
                }
            }
            assert_eq!(bits(&mom_ours)?, bits(&mom_theirs)?, "momentum, step {step}");
        }
        Ok(())
    }

    #[test]
    fn the_step_norm_is_the_global_norm_up_to_rounding() -> Result<()> {
        let (x, y) = toy(64, 9)?;
        let net = MlpConfig::new(4, 37, 2, 3, Activation::Tanh, Init::XAVIER).with_seed(5).build(&DEVICE)?;
        let grads = cross_entropy(&net.forward_trace(&x, true)?.logits, &y)?.backward()?;
        let vars = net.vars();
        let (ordered, interleaved) = (global_norm(&grads, &vars)?, step_grad_norm(&grads, &vars)?);
        assert!(ordered > 1e-3 && (ordered - interleaved).abs() <= 1e-12 * ordered, "{ordered} vs {interleaved}");
        // Without gradients the norm is zero, and f64 gradients are summed too.
        assert_eq!(step_grad_norm(&grads, &[])?, 0.0);
        let net64 = MlpConfig::new(4, 5, 1, 2, Activation::Relu, Init::HE).build_f64(&DEVICE)?;
        let grads64 = cross_entropy(&net64.forward_trace(&x.to_dtype(DType::F64)?, true)?.logits, &y)?.backward()?;
        let (a, b) = (global_norm(&grads64, &net64.vars())?, step_grad_norm(&grads64, &net64.vars())?);
        assert!(a > 0.0 && (a - b).abs() <= 1e-12 * a, "{a} vs {b}");
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

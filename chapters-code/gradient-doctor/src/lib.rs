#![doc = include_str!("../README.md")]
//!
//! # How it works
//!
//! A [`Doctor`] wraps a candle-nn [`VarMap`]. It groups the parameters into layers by name prefix
//! (everything before the last `.`: `l3.weight` and `l3.bias` are layer `l3`), ordered naturally
//! (`l2` before `l10`). After each `loss.backward()` the training loop calls
//! [`Doctor::observe_step`]; the model may also call [`Doctor::tap`] on its hidden activations and
//! [`Doctor::probe`] on tensors whose gradient it wants measured (an RNN's hidden state at each time
//! step). Statistics are kept over a sliding window of steps, and [`Doctor::report`] turns them into a
//! [`Report`]: per-layer numbers and a list of [`Finding`]s, each with its evidence and the remedy the
//! book measured, printed as a table ([`Report::table`]), serialised as JSON (`serde`), or drawn as an
//! SVG dashboard ([`Report::svg`]).
//!
//! The thresholds behind each verdict are in [`Thresholds`], each with the measurement that sets it.
//!
//! # What is measured
//!
//! Per layer and step: the size of the gradient (the RMS entry of the bias gradient — δ summed over
//! the batch, the book's measure — when every layer has a bias, else of all its gradients), the
//! grad:data ratio ‖g‖/‖w‖, the update:data ratio lr·‖g‖/‖w‖ (exact for plain SGD; for Adam-like
//! optimisers pass the rate and read it as a scale), and the count of NaN or infinite gradient
//! entries. Per tap: mean, standard deviation, saturated fraction (sigmoid, tanh) and dead fraction
//! (ReLU). Per probe: the per-example ‖∂L/∂h‖. The depth profile is the probes when the model has
//! any (an RNN's time steps), else the layers, and its first-to-last ratio decides vanishing and
//! exploding. Ratios are averaged as logarithms (geometric means) over the window.
//!
//! After a step with non-finite gradients, the window's statistics describe wrecked weights, not the
//! cause: the report then says the run diverged and looks back over every step for an exploding
//! profile or an oversized update before it.
//!
//! # Cost
//!
//! [`Doctor::observe_step`] reads every parameter and gradient once, in place on the CPU (two sums of
//! squares per parameter, no new tensors); a tap copies the activation out once. On the book's
//! reference workload W1 (sigmoid MLP, 20 × 256, batch 128, SGD) the doctor adds a few percent to a
//! step, within the noise of a shared machine (`cargo run --release -p gradient-doctor --example
//! overhead`); taps on all twenty layers add a little more.

mod dashboard;
mod report;
mod stats;
mod thresholds;

pub use report::{Finding, LayerSummary, ProbeSummary, Report, StepSummary, TapSummary, Verdict};
pub use stats::{Act, SATURATION_MARGIN, TapStats};
pub use thresholds::Thresholds;

use anyhow::{Context, Result, bail, ensure};
use candle_core::{Tensor, Var, backprop::GradStore};
use candle_nn::VarMap;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How a [`Doctor`] observes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    /// Number of recent steps the statistics average over.
    pub window: usize,
    /// Record activation taps and gradient probes; when false, [`Doctor::tap`] does nothing and
    /// [`Doctor::probe`] returns its input unchanged (no extra work in the forward pass).
    pub taps: bool,
    /// The thresholds of the verdicts.
    pub thresholds: Thresholds,
}

impl Default for Options {
    fn default() -> Self {
        Options { window: 20, taps: true, thresholds: Thresholds::default() }
    }
}

/// A layer: a name and the parameters that share it as prefix.
#[derive(Debug, Clone)]
struct Group {
    name: String,
    vars: Vec<(String, Var)>,
}

/// What a step recorded, layer by layer.
#[derive(Debug, Clone, Default)]
struct Step {
    /// Per layer: ‖g‖, ‖w‖, count of non-finite gradient entries.
    layers: Vec<stats::LayerStep>,
    taps: Vec<(String, TapStats)>,
    probes: Vec<(String, f64)>,
    lr: f64,
}

#[derive(Default)]
struct Pending {
    taps: Vec<(String, TapStats)>,
    probes: Vec<(String, Var)>,
}

/// Watches a candle model's gradients and activations while it trains, and says what is wrong.
///
/// Every method takes `&self` (the state sits behind a mutex), so the model's `forward(&self)` can
/// call [`Doctor::tap`] through a shared reference while the loop holds another.
pub struct Doctor {
    groups: Vec<Group>,
    options: Options,
    pending: Mutex<Pending>,
    history: Mutex<History>,
}

#[derive(Default)]
struct History {
    window: VecDeque<Step>,
    steps: usize,
    /// Per step (all of them): step, mean log10 update:data, first-to-last gradient ratio.
    summary: Vec<StepSummary>,
    batch_check: Option<f64>,
}

impl Doctor {
    /// A doctor over every parameter of `varmap`, with the default [`Options`].
    pub fn new(varmap: &VarMap) -> Result<Doctor> {
        Doctor::with_options(varmap, Options::default())
    }

    /// A doctor with explicit options.
    pub fn with_options(varmap: &VarMap, options: Options) -> Result<Doctor> {
        ensure!(options.window > 0, "the window must be at least one step");
        options.thresholds.validate()?;
        let named: Vec<(String, Var)> = {
            let data = varmap.data().lock().map_err(|_| anyhow::anyhow!("the VarMap's lock is poisoned"))?;
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        ensure!(
            !named.is_empty(),
            "the VarMap is empty: build the model through a VarBuilder on this VarMap before creating the doctor"
        );
        let mut groups: Vec<Group> = Vec::new();
        let mut sorted = named;
        sorted.sort_by(|a, b| natural_cmp(&a.0, &b.0));
        for (name, var) in sorted {
            let prefix = name.rsplit_once('.').map_or(name.as_str(), |(p, _)| p).to_string();
            match groups.iter_mut().find(|g| g.name == prefix) {
                Some(g) => g.vars.push((name, var)),
                None => groups.push(Group { name: prefix, vars: vec![(name, var)] }),
            }
        }
        groups.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        Ok(Doctor { groups, options, pending: Mutex::default(), history: Mutex::default() })
    }

    /// Puts the layers in this order (input side first), for models whose names do not sort that way.
    /// Every name must be a layer of the VarMap, and every layer must be named once.
    pub fn with_layer_order(mut self, order: &[&str]) -> Result<Doctor> {
        let known: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        for name in order {
            ensure!(known.contains(name), "no layer `{name}` in the VarMap; its layers are {known:?}");
        }
        for name in &known {
            ensure!(
                order.iter().filter(|n| *n == name).count() == 1,
                "layer `{name}` must appear exactly once in the order {order:?}"
            );
        }
        self.groups.sort_by_key(|g| order.iter().position(|n| *n == g.name));
        Ok(self)
    }

    /// The layer names, input side first.
    pub fn layers(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Records the statistics of a hidden activation `h` (`batch × …`) under `name`, inferring the
    /// activation function from its values (see [`Act::infer`]). Does nothing when taps are off.
    /// Fails on NaN or infinite values, and when `name` was tapped already in this step.
    pub fn tap(&self, name: &str, h: &Tensor) -> Result<()> {
        if !self.options.taps {
            return Ok(());
        }
        self.record_tap(name, h, None)
    }

    /// [`Doctor::tap`] with the activation function stated, so that saturated and dead fractions use
    /// its definition.
    pub fn tap_as(&self, name: &str, h: &Tensor, act: Act) -> Result<()> {
        if !self.options.taps {
            return Ok(());
        }
        self.record_tap(name, h, Some(act))
    }

    fn record_tap(&self, name: &str, h: &Tensor, act: Option<Act>) -> Result<()> {
        let stats = TapStats::of(h, act).with_context(|| format!("tap `{name}`"))?;
        let mut pending = self.pending.lock().map_err(|_| anyhow::anyhow!("the doctor's lock is poisoned"))?;
        ensure!(
            !pending.taps.iter().any(|(n, _)| n == name),
            "tap `{name}` was recorded twice in one step: give each tapped layer its own name"
        );
        pending.taps.push((name.to_string(), stats));
        Ok(())
    }

    /// Returns `h + p` with `p` a zero `Var` the doctor keeps: the forward pass is unchanged, and
    /// after `backward()` the gradient of `p` is ∂L/∂h, which candle does not keep for intermediate
    /// tensors. Use it where the gradient of interest is not a parameter's — an RNN's hidden state at
    /// each step. The probes, in call order, become the gradient profile of the report. Returns `h`
    /// unchanged when taps are off.
    pub fn probe(&self, name: &str, h: &Tensor) -> Result<Tensor> {
        if !self.options.taps {
            return Ok(h.clone());
        }
        let mut pending = self.pending.lock().map_err(|_| anyhow::anyhow!("the doctor's lock is poisoned"))?;
        ensure!(
            !pending.probes.iter().any(|(n, _)| n == name),
            "probe `{name}` was recorded twice in one step: give each probe its own name"
        );
        let p = Var::zeros(h.shape(), h.dtype(), h.device())?;
        let out = h.broadcast_add(p.as_tensor())?;
        pending.probes.push((name.to_string(), p));
        Ok(out)
    }

    /// Forgets the taps and probes recorded since the last step (call it after a forward pass that
    /// is not followed by [`Doctor::observe_step`], such as an evaluation).
    pub fn discard_taps(&self) {
        if let Ok(mut p) = self.pending.lock() {
            *p = Pending::default();
        }
    }

    /// Records one optimiser step: call after `loss.backward()`, before the optimiser updates the
    /// weights, with the learning rate the update will use (the update:data ratio is that of plain
    /// SGD, lr·‖g‖/‖w‖). Non-finite gradients are recorded (they are a finding), not an error. Fails
    /// when none of the doctor's parameters has a gradient in `grads` (gradients of another model).
    pub fn observe_step(&self, grads: &GradStore, lr: f64) -> Result<()> {
        ensure!(lr.is_finite() && lr >= 0.0, "the learning rate must be finite and ≥ 0, got {lr}");
        let mut layers = Vec::with_capacity(self.groups.len());
        let mut found = 0;
        for g in &self.groups {
            let mut step = stats::LayerStep::default();
            for (_, var) in &g.vars {
                let w = stats::sum_sq(var.as_tensor())?;
                step.data_sq += w;
                if let Some(grad) = grads.get(var) {
                    found += 1;
                    let s = stats::sum_sq(grad)?;
                    if s.is_finite() {
                        step.grad_sq += s;
                        if var.rank() <= 1 {
                            step.vec_sq += s;
                        }
                    } else {
                        step.nonfinite += stats::count_nonfinite(grad)?;
                    }
                }
            }
            layers.push(step);
        }
        let pending = std::mem::take(&mut *self.pending.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?);
        if found == 0 {
            let names: Vec<&str> = self.groups.iter().flat_map(|g| g.vars.iter().map(|(n, _)| n.as_str())).collect();
            bail!(
                "none of the doctor's {} parameters ({}) has a gradient in this GradStore: were the gradients \
                 computed from a loss of the model built on this VarMap?",
                names.len(),
                names.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
                    + if names.len() > 4 { ", …" } else { "" }
            );
        }
        let mut probes = Vec::with_capacity(pending.probes.len());
        for (name, p) in &pending.probes {
            let norm = match grads.get(p) {
                Some(g) => stats::rms_row_norm(g)?,
                None => 0.0,
            };
            probes.push((name.clone(), norm));
        }
        let step = Step { layers, taps: pending.taps, probes, lr };
        let mut h = self.history.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        let summary = StepSummary::of(h.steps, &step, &self.counts());
        h.summary.push(summary);
        h.steps += 1;
        h.window.push_back(step);
        while h.window.len() > self.options.window {
            h.window.pop_front();
        }
        Ok(())
    }

    /// Checks that the model's evaluation-mode outputs do not depend on the batch: runs `forward` on
    /// `x` as one batch and again in batches of two, and records the largest change of an output,
    /// relative to the largest output. A model that normalises with batch statistics at evaluation
    /// (BatchNorm left in training mode) fails this check; see [`Verdict::BatchStatsAtEval`].
    pub fn check_eval<F>(&self, x: &Tensor, forward: F) -> Result<f64>
    where
        F: Fn(&Tensor) -> Result<Tensor>,
    {
        let n = x.dim(0)?;
        ensure!(n >= 4, "the evaluation check needs at least 4 examples, got {n}");
        let whole = forward(x)?.to_dtype(candle_core::DType::F64)?;
        ensure!(whole.dim(0)? == n, "the model returned {} rows for {n} examples", whole.dim(0)?);
        let scale = whole.abs()?.max_all()?.to_scalar::<f64>()?.max(1e-12);
        let mut worst: f64 = 0.0;
        let mut start = 0;
        while start + 2 <= n {
            let part = forward(&x.narrow(0, start, 2)?)?.to_dtype(candle_core::DType::F64)?;
            let diff = (part - whole.narrow(0, start, 2)?)?.abs()?.max_all()?.to_scalar::<f64>()?;
            worst = worst.max(diff / scale);
            start += 2;
        }
        ensure!(worst.is_finite(), "the model's outputs are not finite");
        self.discard_taps();
        self.history.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?.batch_check = Some(worst);
        Ok(worst)
    }

    /// Steps observed so far.
    pub fn steps(&self) -> usize {
        self.history.lock().map(|h| h.steps).unwrap_or(0)
    }

    /// The statistics over the window and the verdicts. Fails before the first observed step.
    pub fn report(&self) -> Result<Report> {
        let h = self.history.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        ensure!(h.steps > 0, "no step observed yet: call observe_step after each backward pass");
        let names: Vec<String> = self.groups.iter().map(|g| g.name.clone()).collect();
        let window: Vec<Step> = h.window.iter().cloned().collect();
        Report::build(&names, &self.counts(), &window, &h.summary, h.steps, h.batch_check, &self.options)
    }

    /// Number of parameter entries in each layer: all, and those of vector parameters (rank ≤ 1).
    fn counts(&self) -> Vec<(usize, usize)> {
        let count = |g: &Group, vec_only: bool| -> usize {
            g.vars.iter().filter(|(_, v)| !vec_only || v.rank() <= 1).map(|(_, v)| v.elem_count()).sum()
        };
        self.groups.iter().map(|g| (count(g, false), count(g, true))).collect()
    }
}

/// Orders names with embedded numbers by value: `l2` < `l10`, `block.3` < `block.12`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then(p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["l10", "l2", "l1", "head", "block.12", "block.3"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["block.3", "block.12", "head", "l1", "l2", "l10"]);
    }
}

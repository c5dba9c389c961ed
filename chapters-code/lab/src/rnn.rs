//! Recurrent networks with observable per-step gradients (chapter 7).
//!
//! Three cells share candle-nn's [`RNN`] trait: the vanilla tanh cell [`TanhRnn`],
//!
//! ```text
//! h_t = tanh(W_hh h_{t−1} + W_ih x_t + b),
//! ```
//!
//! built here through a [`VarBuilder`] (PyTorch's parameter names `weight_ih_l0`, `weight_hh_l0`,
//! `bias_ih_l0`), and candle-nn's own [`LSTM`] and [`GRU`]. [`RnnConfig`] builds any of them with a
//! linear read-out of the last hidden state into a [`SeqModel`], every weight drawn from a seeded
//! generator (candle's CPU generator cannot be seeded, so the VarBuilder's draws are overwritten).
//!
//! candle's `backward()` keeps gradients only for `Var`s, and h_t is an intermediate tensor. So
//! [`unroll`] adds a zero "probe" `Var` to every part of the state after every step,
//! h_t ← h_t + p_t with p_t = 0: the forward pass is unchanged, and ∂L/∂p_t = ∂L/∂h_t, the total
//! gradient of the loss with respect to the state at step t (through every later step). For an LSTM
//! the state has two parts, h_t and the cell c_t, and both are probed.
//!
//! Training unrolls thousands of sequences, and candle's graph of a dozen small nodes per step costs
//! several times the arithmetic at these sizes. So, with lab's fast paths on, an unprobed
//! [`SeqModel::trace`] of a tanh RNN or an LSTM is one op, [`crate::fast::recurrent`]: the same
//! function with a hand-written backpropagation through time, its gradients handed to the same
//! `Var`s ([`SeqModel::trace_one_op`] runs it with probes too, for the tests).

use crate::fast::Recurrence;
use crate::{DEVICE, Init, init};
use anyhow::{Result, ensure};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor, Var, backprop::GradStore};
use candle_nn::rnn::{GRU, GRUConfig, GRUState, LSTM, LSTMConfig, LSTMState, RNN};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// The state of a [`TanhRnn`]: the hidden vector, `(batch, hidden)`.
#[derive(Debug, Clone)]
pub struct TanhState {
    pub h: Tensor,
}

/// The vanilla recurrent cell h_t = tanh(W_hh h_{t−1} + W_ih x_t + b).
#[derive(Debug, Clone)]
pub struct TanhRnn {
    /// Input weights and the bias b, `(hidden, d_in)`.
    pub w_ih: Linear,
    /// Recurrent weights, `(hidden, hidden)`.
    pub w_hh: Tensor,
}

/// Creates a [`TanhRnn`] through `vb`; weights start at zero, biases too (fill them afterwards).
pub fn tanh_rnn(d_in: usize, hidden: usize, vb: VarBuilder) -> candle_core::Result<TanhRnn> {
    let zero = candle_nn::Init::Const(0.);
    let w_ih = vb.get_with_hints((hidden, d_in), "weight_ih_l0", zero)?;
    let b = vb.get_with_hints(hidden, "bias_ih_l0", zero)?;
    let w_hh = vb.get_with_hints((hidden, hidden), "weight_hh_l0", zero)?;
    Ok(TanhRnn { w_ih: Linear::new(w_ih, Some(b)), w_hh })
}

impl TanhRnn {
    pub fn hidden(&self) -> usize {
        self.w_hh.dim(0).unwrap_or(0)
    }
}

impl RNN for TanhRnn {
    type State = TanhState;

    fn zero_state(&self, batch_dim: usize) -> candle_core::Result<TanhState> {
        Ok(TanhState { h: Tensor::zeros((batch_dim, self.hidden()), self.w_hh.dtype(), self.w_hh.device())? })
    }

    fn step(&self, input: &Tensor, state: &TanhState) -> candle_core::Result<TanhState> {
        let w = self.w_ih.weight();
        let b = self.w_ih.bias().expect("the input weights carry the bias");
        let input = crate::net::add_bias(&input.matmul(&w.t()?)?, b).map_err(candle_core::Error::wrap)?;
        let z = (input + state.h.matmul(&self.w_hh.t()?)?)?;
        Ok(TanhState { h: z.tanh()? })
    }

    fn states_to_tensor(&self, states: &[TanhState]) -> candle_core::Result<Tensor> {
        Tensor::stack(&states.iter().map(|s| s.h.clone()).collect::<Vec<_>>(), 1)
    }
}

/// A sequence `(batch, T, d_in)` to its hidden states `(batch, T, hidden)`.
impl Module for TanhRnn {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.states_to_tensor(&self.seq(xs)?)
    }
}

/// A recurrent state whose parts can be probed: `[h]`, or `[h, c]` for an LSTM.
pub trait StateParts: Clone {
    /// The names of the parts, in order.
    const NAMES: &'static [&'static str];
    fn parts(&self) -> Vec<Tensor>;
    fn from_parts(parts: Vec<Tensor>) -> Self;
    /// The hidden vector the read-out sees.
    fn hidden(&self) -> &Tensor;
}

impl StateParts for TanhState {
    const NAMES: &'static [&'static str] = &["h"];
    fn parts(&self) -> Vec<Tensor> {
        vec![self.h.clone()]
    }
    fn from_parts(mut parts: Vec<Tensor>) -> Self {
        TanhState { h: parts.remove(0) }
    }
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

impl StateParts for GRUState {
    const NAMES: &'static [&'static str] = &["h"];
    fn parts(&self) -> Vec<Tensor> {
        vec![self.h.clone()]
    }
    fn from_parts(mut parts: Vec<Tensor>) -> Self {
        GRUState { h: parts.remove(0) }
    }
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

impl StateParts for LSTMState {
    const NAMES: &'static [&'static str] = &["h", "c"];
    fn parts(&self) -> Vec<Tensor> {
        vec![self.h.clone(), self.c.clone()]
    }
    fn from_parts(mut parts: Vec<Tensor>) -> Self {
        let c = parts.remove(1);
        LSTMState::new(parts.remove(0), c)
    }
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

/// An unrolled sequence: the state after every step and, if asked, the zero probes added to it.
pub struct Unrolled<S> {
    /// `states[t]` is the state after reading `x_t` (t = 0, …, T−1).
    pub states: Vec<S>,
    /// `probes[t][part]`, a zero `(batch, hidden)` `Var` added to that part of `states[t]` after the
    /// step computed it: its gradient is the loss's sensitivity to the state step t + 1 receives (and,
    /// for h_t, to the read-out at t = T − 1).
    pub probes: Vec<Vec<Var>>,
}

impl<S: StateParts> Unrolled<S> {
    /// The last hidden state, `(batch, hidden)`.
    pub fn last_hidden(&self) -> &Tensor {
        self.states.last().expect("at least one step").hidden()
    }

    /// For each part (`S::NAMES`) and step t, the root-mean-square over the batch of the per-example
    /// norm ‖∂L/∂(part)_t‖ (zero where the loss does not depend on it). Needs `probe = true`.
    pub fn grad_norms(&self, grads: &GradStore) -> Result<Vec<Vec<f64>>> {
        probe_norms(&self.probes, S::NAMES.len(), grads)
    }
}

/// `[part][t]`: the RMS over the batch of ‖∂L/∂(part)_t‖ from each step's probes.
fn probe_norms(probes: &[Vec<Var>], parts: usize, grads: &GradStore) -> Result<Vec<Vec<f64>>> {
    ensure!(!probes.is_empty(), "the sequence was unrolled without probes");
    let mut out = vec![Vec::with_capacity(probes.len()); parts];
    for step in probes {
        for (part, probe) in step.iter().enumerate() {
            out[part].push(match grads.get(probe) {
                Some(g) => rms_row_norm(g)?,
                None => 0.0,
            });
        }
    }
    Ok(out)
}

/// √(mean over rows of ‖row‖²) of a `(batch, d)` tensor.
pub fn rms_row_norm(t: &Tensor) -> Result<f64> {
    let t = t.to_dtype(DType::F64)?;
    Ok((t.sqr()?.sum_all()?.to_scalar::<f64>()? / t.dim(0)? as f64).sqrt())
}

/// Runs `cell` over `xs` `(batch, T, d_in)` from the zero state. With `probe`, every part of every
/// state gets a zero `Var` added, so that the loss's gradient with respect to it can be read.
pub fn unroll<R>(cell: &R, xs: &Tensor, probe: bool) -> Result<Unrolled<R::State>>
where
    R: RNN,
    R::State: StateParts,
{
    let (batch, steps, _) = xs.dims3()?;
    ensure!(steps > 0, "an empty sequence");
    let mut state = cell.zero_state(batch)?;
    let (mut states, mut probes) = (Vec::with_capacity(steps), Vec::new());
    for t in 0..steps {
        state = cell.step(&xs.i((.., t, ..))?.contiguous()?, &state)?;
        if probe {
            let parts = state.parts();
            let vars: Vec<Var> = parts
                .iter()
                .map(|p| Var::zeros(p.shape(), p.dtype(), p.device()))
                .collect::<candle_core::Result<_>>()?;
            let probed = parts.iter().zip(&vars).map(|(p, v)| p + v.as_tensor());
            state = R::State::from_parts(probed.collect::<candle_core::Result<_>>()?);
            probes.push(vars);
        }
        states.push(state.clone());
    }
    Ok(Unrolled { states, probes })
}

/// Which recurrent cell, with its initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "cell")]
pub enum Cell {
    /// [`TanhRnn`] with W_hh = ρ·Q, Q a random orthogonal matrix (all its singular values are ρ), and
    /// W_ih ~ N(0, input_gain²/d_in).
    Tanh { rho: f64 },
    /// [`TanhRnn`] with PyTorch's default `nn.RNN` initialisation: every weight U(±1/√hidden), biases 0.
    TanhDefault,
    /// candle-nn's [`LSTM`], weights U(±1/√hidden) (PyTorch's default), biases 0 except the
    /// forget gate's.
    Lstm { forget_bias: f64 },
    /// candle-nn's [`GRU`], weights U(±1/√hidden), biases 0.
    Gru,
}

impl Cell {
    pub fn label(&self) -> String {
        match *self {
            Cell::Tanh { rho } => format!("tanh RNN, ρ = {rho}"),
            Cell::TanhDefault => "tanh RNN, default init".into(),
            Cell::Lstm { forget_bias } => format!("LSTM, forget bias {forget_bias}"),
            Cell::Gru => "GRU".into(),
        }
    }
}

/// Everything that defines a [`SeqModel`], serialisable into a figure's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    pub cell: Cell,
    pub d_in: usize,
    pub hidden: usize,
    /// Outputs of the read-out of the last hidden state.
    pub d_out: usize,
    /// Scale of the tanh cell's input weights (see [`Cell::Tanh`]).
    pub input_gain: f64,
    pub seed: u64,
}

impl RnnConfig {
    pub fn new(cell: Cell, d_in: usize, hidden: usize, d_out: usize) -> Self {
        RnnConfig { cell, d_in, hidden, d_out, input_gain: 1.0, seed: 0 }
    }

    setters! {
        with_seed(seed: u64) => seed = seed;
        with_input_gain(gain: f64) => input_gain = gain;
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(self.d_in > 0 && self.hidden > 0 && self.d_out > 0, "every size must be at least 1");
        ensure!(self.input_gain.is_finite() && self.input_gain >= 0.0, "the input gain must be finite and ≥ 0");
        match self.cell {
            Cell::Tanh { rho } => ensure!(rho.is_finite() && rho >= 0.0, "ρ must be finite and ≥ 0, got {rho}"),
            Cell::Lstm { forget_bias } => ensure!(forget_bias.is_finite(), "the forget bias must be finite"),
            Cell::TanhDefault | Cell::Gru => {}
        }
        Ok(())
    }

    pub fn build(&self) -> Result<SeqModel> {
        SeqModel::new(self.clone(), &DEVICE, DType::F32)
    }

    /// The same weights in f64, for gradient checks.
    pub fn build_f64(&self) -> Result<SeqModel> {
        SeqModel::new(self.clone(), &DEVICE, DType::F64)
    }
}

/// One of the three cells.
#[derive(Debug, Clone)]
pub enum AnyCell {
    Tanh(TanhRnn),
    Lstm(LSTM),
    Gru(GRU),
}

/// candle-nn's LSTM step with its two biases added by [`crate::net::add_bias`]: the same bits, a
/// cheaper backward (candle-nn's `LSTM` keeps its weights private: these are the same tensors, from
/// the model's `VarMap`).
struct BiasedLstm<'a> {
    cell: &'a LSTM,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
}

impl RNN for BiasedLstm<'_> {
    type State = LSTMState;

    fn zero_state(&self, batch_dim: usize) -> candle_core::Result<LSTMState> {
        self.cell.zero_state(batch_dim)
    }

    fn step(&self, input: &Tensor, in_state: &LSTMState) -> candle_core::Result<LSTMState> {
        let bias = |x: Tensor, b: &Tensor| crate::net::add_bias(&x, b).map_err(candle_core::Error::wrap);
        let w_ih = bias(input.matmul(&self.w_ih.t()?)?, &self.b_ih)?;
        let w_hh = bias(in_state.h.matmul(&self.w_hh.t()?)?, &self.b_hh)?;
        let chunks = (&w_ih + &w_hh)?.chunk(4, 1)?;
        let in_gate = candle_nn::ops::sigmoid(&chunks[0])?;
        let forget_gate = candle_nn::ops::sigmoid(&chunks[1])?;
        let cell_gate = chunks[2].tanh()?;
        let out_gate = candle_nn::ops::sigmoid(&chunks[3])?;
        let next_c = ((forget_gate * &in_state.c)? + (in_gate * cell_gate)?)?;
        let next_h = (out_gate * next_c.tanh()?)?;
        Ok(LSTMState { c: next_c, h: next_h })
    }

    fn states_to_tensor(&self, states: &[LSTMState]) -> candle_core::Result<Tensor> {
        self.cell.states_to_tensor(states)
    }
}

/// The last hidden state and the per-step gradient probes of one forward pass.
pub struct Trace {
    pub last_hidden: Tensor,
    /// Names of the probed state parts (`["h"]` or `["h", "c"]`).
    pub parts: &'static [&'static str],
    pub probes: Vec<Vec<Var>>,
}

impl Trace {
    /// See [`Unrolled::grad_norms`]: `[part][t]`.
    pub fn grad_norms(&self, grads: &GradStore) -> Result<Vec<Vec<f64>>> {
        probe_norms(&self.probes, self.parts.len(), grads)
    }
}

fn trace_of<S: StateParts>(u: Unrolled<S>) -> Trace {
    Trace { last_hidden: u.last_hidden().clone(), parts: S::NAMES, probes: u.probes }
}

/// A recurrent cell and a linear read-out of its last hidden state.
pub struct SeqModel {
    pub config: RnnConfig,
    pub varmap: VarMap,
    pub cell: AnyCell,
    pub head: Linear,
}

impl SeqModel {
    fn new(config: RnnConfig, device: &Device, dtype: DType) -> Result<Self> {
        config.validate()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let mut rng = init::rng(config.seed);
        let (d, n) = (config.d_in, config.hidden);
        // Overwrites a variable the VarBuilder created with a seeded draw.
        let mut set = |name: &str, w: Init, rows: usize, cols: usize| -> Result<()> {
            let t = w.tensor(rows, cols, &mut rng, device)?.to_dtype(dtype)?;
            varmap.clone().set_one(name, t)?;
            Ok(())
        };
        // PyTorch's default for LSTM and GRU weights: U(±1/√hidden), whatever the fan-in.
        // He-uniform's limit is gain·√(3/fan_in); this gain makes it 1/√hidden.
        let pytorch =
            |fan_in: usize| Init::HeUniform { gain: (fan_in as f64 / (3 * n) as f64).sqrt(), fan: init::Fan::In };
        let vector = |values: Vec<f64>| -> Result<Tensor> { Ok(Tensor::new(values, device)?.to_dtype(dtype)?) };
        let cell = match config.cell {
            Cell::Tanh { rho } => {
                let cell = tanh_rnn(d, n, vb.pp("rnn"))?;
                set("rnn.weight_hh_l0", Init::Orthogonal { gain: rho }, n, n)?;
                set("rnn.weight_ih_l0", Init::Normal { std: config.input_gain / (d as f64).sqrt() }, n, d)?;
                AnyCell::Tanh(cell)
            }
            Cell::TanhDefault => {
                let cell = tanh_rnn(d, n, vb.pp("rnn"))?;
                set("rnn.weight_ih_l0", pytorch(d), n, d)?;
                set("rnn.weight_hh_l0", pytorch(n), n, n)?;
                AnyCell::Tanh(cell)
            }
            Cell::Lstm { forget_bias } => {
                let cell = candle_nn::rnn::lstm(d, n, LSTMConfig::default(), vb.pp("rnn"))?;
                set("rnn.weight_ih_l0", pytorch(d), 4 * n, d)?;
                set("rnn.weight_hh_l0", pytorch(n), 4 * n, n)?;
                // Gate order i, f, g, o (PyTorch's): the forget gate's bias is the second quarter.
                let bias = (0..4 * n).map(|k| if (n..2 * n).contains(&k) { forget_bias } else { 0.0 });
                varmap.clone().set_one("rnn.bias_ih_l0", vector(bias.collect())?)?;
                varmap.clone().set_one("rnn.bias_hh_l0", vector(vec![0.0; 4 * n])?)?;
                AnyCell::Lstm(cell)
            }
            Cell::Gru => {
                let cell = candle_nn::rnn::gru(d, n, GRUConfig::default(), vb.pp("rnn"))?;
                set("rnn.weight_ih_l0", pytorch(d), 3 * n, d)?;
                set("rnn.weight_hh_l0", pytorch(n), 3 * n, n)?;
                varmap.clone().set_one("rnn.bias_ih_l0", vector(vec![0.0; 3 * n])?)?;
                varmap.clone().set_one("rnn.bias_hh_l0", vector(vec![0.0; 3 * n])?)?;
                AnyCell::Gru(cell)
            }
        };
        let w = vb.get_with_hints((config.d_out, n), "head.weight", candle_nn::Init::Const(0.))?;
        let b = vb.get_with_hints(config.d_out, "head.bias", candle_nn::Init::Const(0.))?;
        set("head.weight", Init::Normal { std: (1.0 / n as f64).sqrt() }, config.d_out, n)?;
        Ok(SeqModel { config, varmap, cell, head: Linear::new(w, Some(b)) })
    }

    /// Every trainable variable, in name order (so that sums over them are reproducible).
    pub fn vars(&self) -> Vec<Var> {
        crate::train::vars_in_name_order(&self.varmap)
    }

    /// The cell's variable `rnn.<name>` (candle-nn's `LSTM` keeps its weights private).
    fn cell_var(&self, name: &str) -> Result<Tensor> {
        let vars = self.varmap.data().lock().expect("varmap lock");
        let var = vars.get(&format!("rnn.{name}")).ok_or_else(|| anyhow::anyhow!("no rnn.{name}"))?;
        Ok(var.as_tensor().clone())
    }

    /// Unrolls the cell over `xs` `(batch, T, d_in)`, with probes if asked. Without probes and with
    /// lab's fast paths on ([`crate::fast::enabled`]), a tanh RNN or an LSTM on the CPU runs as one op
    /// ([`Self::trace_one_op`]), which is what makes chapter 7's trainings cheap; otherwise, and for a
    /// GRU, candle's step-by-step graph. Probed passes keep to the graph: the figures that read
    /// probes make one pass per network, where its cost does not matter.
    pub fn trace(&self, xs: &Tensor, probe: bool) -> Result<Trace> {
        if crate::fast::enabled()
            && !probe
            && let Some(trace) = self.trace_one_op(xs, false)?
        {
            return Ok(trace);
        }
        Ok(match &self.cell {
            AnyCell::Tanh(c) => trace_of(unroll(c, xs, probe)?),
            AnyCell::Lstm(c) => {
                let (w_ih, w_hh) = (self.cell_var("weight_ih_l0")?, self.cell_var("weight_hh_l0")?);
                let (b_ih, b_hh) = (self.cell_var("bias_ih_l0")?, self.cell_var("bias_hh_l0")?);
                trace_of(unroll(&BiasedLstm { cell: c, w_ih, w_hh, b_ih, b_hh }, xs, probe)?)
            }
            AnyCell::Gru(c) => trace_of(unroll(c, xs, probe)?),
        })
    }

    /// The unroll as one op, [`crate::fast::recurrent`] (a hand-written backpropagation through time),
    /// with probes if asked: the same zero `Var`s as [`unroll`]'s, one per step and part, stacked into
    /// the op's probe input. `None` where the op does not apply (a GRU, another device or dtype).
    pub fn trace_one_op(&self, xs: &Tensor, probe: bool) -> Result<Option<Trace>> {
        if !xs.device().is_cpu() || !matches!(xs.dtype(), DType::F32 | DType::F64) {
            return Ok(None);
        }
        let (cell, w_ih, w_hh, biases, parts) = match &self.cell {
            AnyCell::Tanh(c) => {
                let b = c.w_ih.bias().expect("the input weights carry the bias").clone();
                (Recurrence::Tanh, c.w_ih.weight().clone(), c.w_hh.clone(), vec![b], TanhState::NAMES)
            }
            AnyCell::Lstm(_) => {
                let biases = vec![self.cell_var("bias_ih_l0")?, self.cell_var("bias_hh_l0")?];
                let (w_ih, w_hh) = (self.cell_var("weight_ih_l0")?, self.cell_var("weight_hh_l0")?);
                (Recurrence::Lstm, w_ih, w_hh, biases, LSTMState::NAMES)
            }
            AnyCell::Gru(_) => return Ok(None),
        };
        let (batch, steps, _) = xs.dims3()?;
        let shape = (batch, self.config.hidden);
        let mut probes: Vec<Vec<Var>> = Vec::new();
        if probe {
            for _ in 0..steps {
                let step = parts.iter().map(|_| Var::zeros(shape, xs.dtype(), xs.device()));
                probes.push(step.collect::<candle_core::Result<_>>()?);
            }
        }
        let flat: Vec<&Tensor> = probes.iter().flatten().map(|v| v.as_tensor()).collect();
        let stacked = if probe { Some(Tensor::stack(&flat, 0)?) } else { None };
        let last_hidden = crate::fast::recurrent(cell, xs, &w_ih, &w_hh, &biases, stacked.as_ref())?;
        Ok(Some(Trace { last_hidden, parts, probes }))
    }

    /// The read-out of the last hidden state, `(batch, d_out)`.
    pub fn readout(&self, trace: &Trace) -> Result<Tensor> {
        Ok(self.head.forward(&trace.last_hidden)?)
    }
}

/// A sequence `(batch, T, d_in)` to the read-out of its last hidden state.
impl Module for SeqModel {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let trace = self.trace(xs, false).map_err(candle_core::Error::wrap)?;
        self.head.forward(&trace.last_hidden)
    }
}

/// Softmax cross-entropy of `(batch, classes)` logits against u32 labels, and the accuracy.
pub fn classify(logits: &Tensor, labels: &Tensor) -> Result<(Tensor, f64)> {
    let loss = candle_nn::loss::cross_entropy(logits, labels)?;
    let predicted = logits.argmax(D::Minus1)?;
    let correct = predicted.eq(&labels.to_dtype(predicted.dtype())?)?.to_dtype(DType::F64)?.sum_all()?;
    Ok((loss, correct.to_scalar::<f64>()? / labels.dim(0)? as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(batch: usize, steps: usize, d: usize, seed: u64) -> Result<Tensor> {
        let x = Init::Normal { std: 1.0 }.tensor(batch * steps, d, &mut init::rng(seed), &DEVICE)?;
        Ok(x.to_dtype(DType::F64)?.reshape((batch, steps, d))?)
    }

    /// L = Σ_batch v·h_T, and ∂L/∂(part)_t from the probes, as `(batch, hidden)` tensors.
    fn probe_grads(model: &SeqModel, xs: &Tensor, v: &Tensor) -> Result<Vec<Vec<Tensor>>> {
        let trace = model.trace(xs, true)?;
        let grads = trace.last_hidden.broadcast_mul(v)?.sum_all()?.backward()?;
        let mut out = Vec::new();
        for step in &trace.probes {
            // The last cell state feeds no later step and h_T is computed before its probe: no gradient.
            let grad = |p: &Var| grads.get(p).cloned().map_or_else(|| p.zeros_like(), Ok);
            out.push(step.iter().map(grad).collect::<candle_core::Result<_>>()?);
        }
        Ok(out)
    }

    /// The same loss with `eps` added to entry (row, col) of part `part` of the state at step `t`,
    /// unrolled by hand with `RNN::step`.
    fn perturbed_loss<R: RNN>(
        cell: &R,
        xs: &Tensor,
        v: &Tensor,
        (t, part, row, col): (usize, usize, usize, usize),
        eps: f64,
    ) -> Result<f64>
    where
        R::State: StateParts,
    {
        let (batch, steps, _) = xs.dims3()?;
        let mut state = cell.zero_state(batch)?;
        for s in 0..steps {
            state = cell.step(&xs.i((.., s, ..))?.contiguous()?, &state)?;
            if s == t {
                let mut parts = state.parts();
                let hidden = parts[part].dim(1)?;
                let mut bump = vec![0f64; batch * hidden];
                bump[row * hidden + col] = eps;
                parts[part] = (&parts[part] + Tensor::from_vec(bump, (batch, hidden), &DEVICE)?)?;
                state = R::State::from_parts(parts);
            }
        }
        Ok(state.hidden().broadcast_mul(v)?.sum_all()?.to_scalar::<f64>()?)
    }

    fn check_against_finite_differences(cell: Cell) -> Result<()> {
        let (d, n, batch, steps) = (3, 5, 2, 6);
        let model = RnnConfig::new(cell, d, n, 1).with_seed(4).build_f64()?;
        let xs = inputs(batch, steps, d, 9)?;
        let v = Init::Normal { std: 1.0 }.tensor(1, n, &mut init::rng(2), &DEVICE)?.to_dtype(DType::F64)?;
        let grads = probe_grads(&model, &xs, &v)?;
        let eps = 1e-6;
        for (t, part, row, col) in [(0, 0, 0, 1), (2, 0, 1, 4), (5, 0, 1, 0), (1, 1, 0, 2), (4, 1, 1, 3)] {
            if part >= grads[t].len() {
                continue;
            }
            let at = (t, part, row, col);
            let fd = match &model.cell {
                AnyCell::Tanh(c) => {
                    (perturbed_loss(c, &xs, &v, at, eps)? - perturbed_loss(c, &xs, &v, at, -eps)?) / (2.0 * eps)
                }
                AnyCell::Lstm(c) => {
                    (perturbed_loss(c, &xs, &v, at, eps)? - perturbed_loss(c, &xs, &v, at, -eps)?) / (2.0 * eps)
                }
                AnyCell::Gru(c) => {
                    (perturbed_loss(c, &xs, &v, at, eps)? - perturbed_loss(c, &xs, &v, at, -eps)?) / (2.0 * eps)
                }
            };
            let probe = grads[t][part].i((row, col))?.to_scalar::<f64>()?;
            assert!((probe - fd).abs() < 1e-7 + 1e-6 * fd.abs(), "{cell:?} at {at:?}: probe {probe}, fd {fd}");
        }
        Ok(())
    }

    #[test]
    fn probe_gradients_match_finite_differences() -> Result<()> {
        check_against_finite_differences(Cell::Tanh { rho: 1.2 })?;
        check_against_finite_differences(Cell::Lstm { forget_bias: 1.0 })?;
        check_against_finite_differences(Cell::Gru)
    }

    #[test]
    fn tanh_probes_follow_the_bptt_product() -> Result<()> {
        // ∂L/∂h_{t−1} = W_hhᵀ (tanh′(z_t) ⊙ ∂L/∂h_t), with tanh′(z_t) = 1 − h_t².
        let (d, n, batch, steps) = (2, 4, 3, 8);
        let model = RnnConfig::new(Cell::Tanh { rho: 0.9 }, d, n, 1).with_seed(1).build_f64()?;
        let AnyCell::Tanh(cell) = &model.cell else { unreachable!() };
        let xs = inputs(batch, steps, d, 3)?;
        let v = Tensor::ones((1, n), DType::F64, &DEVICE)?;
        let grads = probe_grads(&model, &xs, &v)?;
        let states = unroll(cell, &xs, false)?.states;
        let mut delta = v.broadcast_as((batch, n))?.contiguous()?;
        for t in (0..steps).rev() {
            let diff = (&grads[t][0] - &delta)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(diff < 1e-12, "step {t}: {diff}");
            let tanh_prime = states[t].h.sqr()?.affine(-1.0, 1.0)?;
            delta = (delta * tanh_prime)?.matmul(&cell.w_hh)?;
        }
        Ok(())
    }

    #[test]
    fn the_recurrent_matrix_has_the_asked_singular_values() -> Result<()> {
        let model = RnnConfig::new(Cell::Tanh { rho: 1.5 }, 3, 6, 2).build_f64()?;
        let AnyCell::Tanh(cell) = &model.cell else { unreachable!() };
        // W Wᵀ = ρ² I.
        let gram = cell.w_hh.matmul(&cell.w_hh.t()?)?;
        let eye = Tensor::eye(6, DType::F64, &DEVICE)?.affine(2.25, 0.0)?;
        assert!((gram - eye)?.abs()?.max_all()?.to_scalar::<f64>()? < 1e-5);
        Ok(())
    }

    #[test]
    fn lstm_forget_bias_lands_in_the_forget_gate() -> Result<()> {
        let model = RnnConfig::new(Cell::Lstm { forget_bias: 1.0 }, 3, 4, 2).build()?;
        let b = model.varmap.data().lock().unwrap()["rnn.bias_ih_l0"].as_tensor().to_vec1::<f32>()?;
        assert_eq!(b, [[0.0; 4], [1.0; 4], [0.0; 4], [0.0; 4]].concat());
        // Zero input and state: c_1 = σ(0)·tanh(0)… = 0, but the gate σ(1) shows in a one-step state.
        let xs = Tensor::zeros((1, 1, 3), DType::F32, &DEVICE)?;
        let same = model.forward(&xs)?.dims().to_vec();
        assert_eq!(same, [1, 2]);
        Ok(())
    }

    #[test]
    fn seeded_models_are_reproducible_and_seeds_differ() -> Result<()> {
        let xs = inputs(2, 5, 3, 0)?.to_dtype(DType::F32)?;
        let out = |seed| -> Result<Vec<f32>> {
            let m = RnnConfig::new(Cell::Gru, 3, 8, 2).with_seed(seed).build()?;
            Ok(m.forward(&xs)?.flatten_all()?.to_vec1::<f32>()?)
        };
        assert_eq!(out(1)?, out(1)?);
        assert_ne!(out(1)?, out(2)?);
        Ok(())
    }

    #[test]
    fn clipping_by_global_norm_rescales_every_gradient_alike() -> Result<()> {
        let model = RnnConfig::new(Cell::Tanh { rho: 1.5 }, 3, 6, 2).build()?;
        let xs = inputs(4, 10, 3, 5)?.to_dtype(DType::F32)?;
        let loss = model.forward(&xs)?.sqr()?.sum_all()?;
        let vars = model.vars();
        let before = loss.backward()?;
        let mut clipped = loss.backward()?;
        let norm = crate::train::clip_global_norm(&mut clipped, &vars, 1e-3)?;
        assert!((crate::train::global_norm(&before, &vars)? - norm).abs() < 1e-9 * norm && norm > 1e-3);
        assert!((crate::train::global_norm(&clipped, &vars)? - 1e-3).abs() < 1e-8);
        for v in &vars {
            let (a, b) = (before.get(v).unwrap(), clipped.get(v).unwrap());
            let diff = (a.affine(1e-3 / norm, 0.0)? - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-9, "{diff}");
        }
        // Below the threshold, nothing changes.
        let mut unclipped = loss.backward()?;
        assert_eq!(crate::train::clip_global_norm(&mut unclipped, &vars, 10.0 * norm)?, norm);
        assert!(crate::train::global_norm(&unclipped, &vars)? == norm);
        Ok(())
    }
}

//! Figures 7-1 and 7-6: ‖∂L/∂h_t‖ against the lag T − t, for tanh RNNs with W_hh = ρ·(orthogonal) and
//! for gated cells (LSTM with several forget-gate biases, GRU). The loss reads only the last hidden
//! state, L = Σ_batch v·h_T with a fixed unit vector v, so ‖∂L/∂h_T‖ = 1 for every example and the
//! curve is ‖∂h_T/∂h_t‖ seen along one direction.

use anyhow::{Result, ensure};
use candle_core::{DType, IndexOp, Tensor};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{AnyCell, Cell, RnnConfig, SeqModel, Trace};
use lab::{DEVICE, Init};
use serde::Serialize;

/// The probed networks and their inputs: hidden units, input features, sequences (Figures 7-1, 7-6
/// and 7-10).
#[derive(Debug, Clone, Copy, Serialize, clap::Args)]
pub struct SeqShape {
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Input features (standard normal at every step).
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in: usize,
    /// Sequences averaged over.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
}
chapter_kit::defaults_from_flags!(SeqShape);

/// Settings of Figures 7-1 and 7-6.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct LagOptions {
    /// Sequence length T.
    #[arg(long, default_value_t = 60, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: SeqShape,
    /// Scales ρ of the tanh RNNs' recurrent matrix W_hh = ρ·Q (every singular value is ρ),
    /// comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5, 0.9, 1.0, 1.1, 1.5], value_parser = cli::finite_positive_f64)]
    pub rhos: Vec<f64>,
    /// Forget-gate biases of the LSTMs, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 1.0, 3.0], value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub forget_biases: Vec<f64>,
    /// Scale of the tanh RNNs' input weights, W_ih ~ N(0, gain²/d_in).
    #[arg(long, default_value_t = 0.3, value_parser = cli::finite_non_negative_f64)]
    pub input_gain: f64,
    /// Seed of the weights (plus one: of the inputs; plus two: of the read-out direction).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(LagOptions);

impl LagOptions {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.steps >= 2, "--steps must be at least 2, got {}", self.steps);
        let SeqShape { hidden, d_in, batch } = self.shape;
        ensure!(hidden > 0 && d_in > 0 && batch > 0, "sizes must be positive");
        ensure!(!self.rhos.is_empty(), "need at least one ρ");
        ensure!(self.rhos.iter().all(|r| r.is_finite() && *r > 0.0), "every ρ must be a finite positive number");
        ensure!(self.forget_biases.iter().all(|b| b.is_finite()), "every forget bias must be finite");
        ensure!(self.input_gain.is_finite() && self.input_gain >= 0.0, "the input gain must be finite and ≥ 0");
        Ok(())
    }
}

/// The gradient profile of one model: `h[k]` = RMS over the batch of ‖∂L/∂h_{T−k}‖ (k = 0 is the
/// last step), and for an LSTM `c[k]` the same for the cell state.
#[derive(Debug, Clone, Serialize)]
pub struct LagProfile {
    pub name: String,
    pub cell: Cell,
    pub h: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<Vec<f64>>,
    /// LSTM only: the geometric mean of the forget gate over units, steps and examples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_forget: Option<f64>,
}

/// `batch` sequences of `steps` standard-normal inputs.
pub fn normal_inputs(batch: usize, steps: usize, d_in: usize, seed: u64) -> Result<Tensor> {
    let x = Init::Normal { std: 1.0 }.tensor(batch * steps, d_in, &mut lab::init::rng(seed), &DEVICE)?;
    Ok(x.reshape((batch, steps, d_in))?)
}

/// Unrolls `model` over `xs` with probes, backpropagates L = Σ_batch v·h_T, and returns the per-part
/// gradient norms indexed by lag (`[part][k]`), with the trace.
pub fn lag_profile(model: &SeqModel, xs: &Tensor, v: &Tensor) -> Result<(Vec<Vec<f64>>, Trace)> {
    let trace = model.trace(xs, true)?;
    let loss = trace.last_hidden.broadcast_mul(v)?.sum_all()?;
    let mut norms = trace.grad_norms(&loss.backward()?)?;
    for part in norms.iter_mut() {
        part.reverse();
    }
    Ok((norms, trace))
}

/// A unit vector of length `n`, the read-out direction v.
pub fn unit_vector(n: usize, seed: u64) -> Result<Tensor> {
    let v = Init::Normal { std: 1.0 }.tensor(1, n, &mut lab::init::rng(seed), &DEVICE)?;
    let norm = lab::probe::norm(&v)?;
    Ok(v.affine(1.0 / norm, 0.0)?)
}

/// An LSTM's forget gates f_t = σ(W_if x_t + W_hf h_{t−1} + b_f) along a forward pass over `xs`:
/// one `(batch, hidden)` tensor per step, in f64.
pub fn forget_gates(model: &SeqModel, xs: &Tensor) -> Result<Vec<Tensor>> {
    let AnyCell::Lstm(cell) = &model.cell else { anyhow::bail!("not an LSTM") };
    let n = model.config.hidden;
    let vars = model.varmap.data().lock().map_err(|_| anyhow::anyhow!("poisoned varmap"))?.clone();
    let get = |name: &str| vars[name].as_tensor().clone();
    let (w_ih, w_hh) = (get("rnn.weight_ih_l0").narrow(0, n, n)?, get("rnn.weight_hh_l0").narrow(0, n, n)?);
    let b = (get("rnn.bias_ih_l0").narrow(0, n, n)? + get("rnn.bias_hh_l0").narrow(0, n, n)?)?;
    let (batch, steps, _) = xs.dims3()?;
    let states = lab::rnn::unroll(cell, xs, false)?.states;
    let mut h = Tensor::zeros((batch, n), xs.dtype(), &DEVICE)?;
    let mut gates = Vec::with_capacity(steps);
    for (t, state) in states.iter().enumerate().take(steps) {
        let z = (xs.i((.., t, ..))?.matmul(&w_ih.t()?)? + h.matmul(&w_hh.t()?)?)?.broadcast_add(&b)?;
        gates.push(candle_nn::ops::sigmoid(&z)?.to_dtype(DType::F64)?);
        h = state.h.clone();
    }
    Ok(gates)
}

/// The geometric mean of an LSTM's forget gate over units, steps and examples along a forward pass.
pub fn mean_forget_gate(model: &SeqModel, xs: &Tensor) -> Result<f64> {
    let gates = forget_gates(model, xs)?;
    let mut log_sum = 0.0;
    for f in &gates {
        log_sum += f.log()?.sum_all()?.to_scalar::<f64>()?;
    }
    Ok((log_sum / (gates.len() * gates[0].elem_count()) as f64).exp())
}

/// Runs every model: tanh cells for each ρ, then LSTMs for each forget bias, then a GRU. Quick mode
/// runs only the first three tanh cells (the larger ρ are chaotic: round-off differences between
/// builds grow along the sequence).
pub fn lag_profiles(opts: &LagOptions, quick: bool) -> Result<Vec<LagProfile>> {
    opts.validate()?;
    let SeqShape { hidden, d_in, batch } = opts.shape;
    let xs = normal_inputs(batch, opts.steps, d_in, opts.seed + 1)?;
    let v = unit_vector(hidden, opts.seed + 2)?;
    let mut cells: Vec<Cell> = opts.rhos.iter().map(|&rho| Cell::Tanh { rho }).collect();
    if quick {
        cells.truncate(3);
    }
    cells.extend(opts.forget_biases.iter().map(|&forget_bias| Cell::Lstm { forget_bias }));
    cells.push(Cell::Gru);
    let mut out = Vec::new();
    for cell in cells {
        let config = RnnConfig::new(cell, d_in, hidden, 1).with_input_gain(opts.input_gain);
        let model = config.with_seed(opts.seed).build()?;
        let (mut norms, _) = lag_profile(&model, &xs, &v)?;
        let c = (norms.len() > 1).then(|| norms.remove(1));
        let mean_forget = if c.is_some() { Some(mean_forget_gate(&model, &xs)?) } else { None };
        out.push(LagProfile { name: cell.label(), cell, h: norms.remove(0), c, mean_forget });
    }
    Ok(out)
}

fn points(values: &[f64], from: usize) -> Vec<(f64, f64)> {
    values.iter().enumerate().skip(from).map(|(k, &v)| (k as f64, v)).collect()
}

/// Figure 7-1's numbers for one tanh cell: ‖∂L/∂h‖ at lags 10, 30 and the last, and its bound ρ^k.
#[derive(Debug, Clone, Serialize)]
pub struct TanhSummary {
    pub rho: f64,
    pub lag10: f64,
    pub lag30: f64,
    pub last: f64,
    pub bound_lag10: f64,
    pub bound_last: f64,
    /// Per-step decay between lags 10 and 30.
    pub per_step: f64,
}

/// Figure 7-6's numbers for one gated cell (the `c_` ones for an LSTM only).
#[derive(Debug, Clone, Serialize)]
pub struct GatedSummary {
    pub name: String,
    pub h_lag30: f64,
    pub h_last: f64,
    pub c_lag30: Option<f64>,
    pub c_last: Option<f64>,
    /// Per-step decay of ‖∂L/∂c‖ between lags 10 and 30, against the mean forget gate.
    pub c_per_step: Option<f64>,
    pub mean_forget: Option<f64>,
}

/// The data of one of the two figures.
#[derive(Debug, Clone, Serialize)]
pub struct LagFigure<S> {
    pub options: LagOptions,
    pub runs: Vec<LagProfile>,
    pub summary: Vec<S>,
    /// The largest lag, T − 1.
    pub max_lag: usize,
}

/// What Figures 7-1 and 7-6 measured (quick mode: only the first three tanh cells).
#[derive(Debug, Clone, Serialize)]
pub struct LagData {
    pub tanh: LagFigure<TanhSummary>,
    pub gated: LagFigure<GatedSummary>,
}

/// Figures 7-1 (tanh cells against the bound ρ^k) and 7-6 (gated cells).
pub struct BpttLag;

impl Experiment for BpttLag {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "bptt-lag";
    const ABOUT: &'static str = "Backpropagation through time: ‖∂L/∂h_t‖ against the lag T − t (Figures 7-1, 7-6)";
    type Options = LagOptions;
    type Data = LagData;

    fn run(opts: &LagOptions, run_mode: &GenOptions) -> Result<LagData> {
        let profiles = lag_profiles(opts, run_mode.quick)?;
        let k_max = opts.steps - 1;
        let (tanh, gated): (Vec<LagProfile>, Vec<LagProfile>) =
            profiles.into_iter().partition(|p| matches!(p.cell, Cell::Tanh { .. }));
        let tanh_summary = tanh
            .iter()
            .map(|p| {
                let Cell::Tanh { rho } = p.cell else { unreachable!() };
                let at = |k: usize| p.h[k.min(k_max)];
                TanhSummary {
                    rho,
                    lag10: at(10),
                    lag30: at(30),
                    last: at(k_max),
                    bound_lag10: rho.powi(10),
                    bound_last: rho.powi(k_max as i32),
                    per_step: (at(30) / at(10)).powf(1.0 / 20.0),
                }
            })
            .collect();
        let gated_summary = gated
            .iter()
            .map(|p| {
                let c = p.c.as_ref();
                GatedSummary {
                    name: p.name.clone(),
                    h_lag30: p.h[30.min(k_max)],
                    h_last: p.h[k_max],
                    c_lag30: c.map(|c| c[30.min(k_max)]),
                    c_last: c.map(|c| c[k_max]),
                    c_per_step: c.map(|c| (c[30.min(k_max)] / c[10.min(k_max)]).powf(1.0 / 20.0)),
                    mean_forget: p.mean_forget,
                }
            })
            .collect();
        Ok(LagData {
            tanh: LagFigure { options: opts.clone(), runs: tanh, summary: tanh_summary, max_lag: k_max },
            gated: LagFigure { options: opts.clone(), runs: gated, summary: gated_summary, max_lag: k_max },
        })
    }

    fn draw(data: &LagData) -> Result<Vec<Drawing>> {
        let (opts, k_max) = (&data.tanh.options, data.tanh.max_lag);
        let mut chart = LineChart::new(format!(
            "Tanh RNN, hidden {}, W_hh = ρ·Q: gradient through time (T = {})",
            opts.shape.hidden, opts.steps
        ))
        .x_label("lag T − t (steps back from the loss)")
        .y_label("‖∂L/∂h_t‖  (‖∂L/∂h_T‖ = 1)")
        .log_y()
        .legend(lab::plot::Legend::Outside);
        for (i, p) in data.tanh.runs.iter().enumerate() {
            let Cell::Tanh { rho } = p.cell else { unreachable!() };
            chart = chart.series_with(format!("ρ = {rho}"), points(&p.h, 0), SeriesStyle::solid().color(i));
            let bound: Vec<(f64, f64)> = (0..=k_max).map(|k| (k as f64, rho.powi(k as i32))).collect();
            chart = chart.series_with(format!("bound ρ^(T−t), ρ = {rho}"), bound, SeriesStyle::dashed().color(i));
        }
        let alt = "Gradient norm of a tanh RNN's hidden state against the number of steps back from the loss, for recurrent matrices with all singular values equal to 0.5, 0.9, 1, 1.1 and 1.5, each with its dashed bound ρ to the power of the lag. Every measured curve lies below its bound; for ρ ≤ 1 they fall geometrically, and even for ρ > 1 the saturating tanh keeps the growth far below the bound.";
        let fig_tanh = Drawing::new("lag-tanh", alt, chart.render(alt)?, &data.tanh)?;

        let reference = data.tanh.runs.iter().find(|p| p.cell == Cell::Tanh { rho: 1.0 });
        let mut chart = LineChart::new(format!(
            "Gated cells, hidden {}: gradient through time (T = {})",
            opts.shape.hidden, opts.steps
        ))
        .x_label("lag T − t")
        .y_label("gradient norm")
        .log_y()
        .legend(lab::plot::Legend::Outside);
        for (i, p) in data.gated.runs.iter().enumerate() {
            chart = chart.series_with(format!("{}: ‖∂L/∂h_t‖", p.name), points(&p.h, 0), SeriesStyle::solid().color(i));
            if let Some(c) = &p.c {
                chart =
                    chart.series_with(format!("{}: ‖∂L/∂c_t‖", p.name), points(c, 1), SeriesStyle::dashed().color(i));
            }
        }
        if let Some(r) = reference {
            chart = chart.series_with("tanh RNN, ρ = 1: ‖∂L/∂h_t‖", points(&r.h, 0), SeriesStyle::dotted().color(6));
        }
        let alt = "Gradient norms against the lag for LSTMs with forget-gate bias 0, 1 and 3 (hidden state solid, cell state dashed), a GRU, and the tanh RNN with ρ = 1 for reference. The larger the forget bias, the slower the cell-state gradient decays; with bias 3 it is still large after the whole sequence.";
        let fig_gated = Drawing::new("lag-gated", alt, chart.render(alt)?, &data.gated)?;
        Ok(vec![fig_tanh, fig_gated])
    }
}

impl std::fmt::Display for LagData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let k_max = self.tanh.max_lag;
        writeln!(f, "{:<28} {:>12} {:>12} {:>12}", "‖∂L/∂h_t‖ at lag", "10", "30", k_max)?;
        for r in self.tanh.runs.iter().chain(&self.gated.runs) {
            for (part, label) in [(Some(&r.h), ""), (r.c.as_ref(), " (cell c)")] {
                let Some(part) = part else { continue };
                let cells: Vec<String> =
                    [10, 30, k_max].iter().map(|&k| part.get(k).map_or("-".into(), |v| format!("{v:.3e}"))).collect();
                let name = format!("{}{label}", r.name);
                writeln!(f, "{name:<28} {:>12} {:>12} {:>12}", cells[0], cells[1], cells[2])?;
            }
        }
        Ok(())
    }
}

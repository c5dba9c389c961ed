//! Figure 7-10: the LSTM's forget-gate product over 100 steps. The cell state's direct path back in
//! time multiplies the gradient by one forget gate a step, ∂c_t/∂c_{t−1} = diag(f_t) with the
//! gates held fixed, so over k steps by Π f. We measure that pure product along a forward pass, for
//! forget-gate biases 0, 1 and 3, beside the full ‖∂L/∂c_t‖ of the same network and inputs (the
//! measurement of Figure 7-6, at T = 100), and beside σ(b_f)^k, the product if every gate sat at
//! its bias.

use crate::lag::{SeqShape, forget_gates, lag_profile, normal_inputs, unit_vector};
use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig};
use serde::Serialize;

/// Settings of Figure 7-10.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ForgetOptions {
    /// Sequence length T.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: SeqShape,
    /// Forget-gate biases, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 1.0, 3.0], value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub forget_biases: Vec<f64>,
    /// Seed of the weights (plus one: of the inputs; plus two: of the read-out direction), as in
    /// Figure 7-6.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ForgetOptions);

/// One LSTM's curves, indexed by the lag k = 1, …, T − 1 (entry 0 is lag 1).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetRun {
    pub forget_bias: f64,
    /// ‖∂L/∂c_{T−k}‖ / ‖∂L/∂c_{T−1}‖ (RMS over the batch, as in Figure 7-6).
    pub measured: Vec<f64>,
    /// The pure product of the k − 1 forget gates between lag 1 and lag k, averaged over units and
    /// sequences.
    pub product: Vec<f64>,
    /// σ(b_f)^(k−1).
    pub at_bias: Vec<f64>,
    /// The geometric mean of the gates over units, steps and sequences.
    pub mean_forget: f64,
    /// The three curves at the largest lag.
    pub measured_last: f64,
    pub product_last: f64,
    pub at_bias_last: f64,
}

/// What Figure 7-10 measured (quick mode: the first bias only).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetData {
    pub options: ForgetOptions,
    /// The largest lag, T − 1, and the number of gates in the longest product, T − 2.
    pub max_lag: usize,
    pub factors: usize,
    pub runs: Vec<ForgetRun>,
}

fn sigmoid(b: f64) -> f64 {
    lab::Activation::Sigmoid.value(b)
}

/// One LSTM at forget bias `b`: its cell-state gradient profile and its forget-gate products.
pub fn forget_run(opts: &ForgetOptions, xs: &Tensor, v: &Tensor, forget_bias: f64) -> Result<ForgetRun> {
    let model = RnnConfig::new(Cell::Lstm { forget_bias }, opts.shape.d_in, opts.shape.hidden, 1)
        .with_seed(opts.seed)
        .build()?;
    let (norms, _) = lag_profile(&model, xs, v)?;
    let c = &norms[1];
    let gates = forget_gates(&model, xs)?;
    let t = opts.steps;
    // Lag k is step T − 1 − k; back from lag 1 (step T − 2) to lag k, the direct path multiplies by
    // the gates of steps T − 2, T − 3, …, T − k.
    let mut running = Tensor::ones_like(&gates[0])?;
    let (mut measured, mut product, mut at_bias) = (Vec::new(), Vec::new(), Vec::new());
    for k in 1..t {
        if k > 1 {
            running = (running * &gates[t - k])?;
        }
        measured.push(c[k] / c[1]);
        product.push(running.mean_all()?.to_scalar::<f64>()?);
        at_bias.push(sigmoid(forget_bias).powi(k as i32 - 1));
    }
    let log_sum: f64 =
        gates.iter().map(|f| f.log()?.sum_all()?.to_scalar::<f64>()).sum::<candle_core::Result<f64>>()?;
    let mean_forget = (log_sum / (gates.len() * gates[0].elem_count()) as f64).exp();
    Ok(ForgetRun {
        forget_bias,
        measured_last: *measured.last().unwrap(),
        product_last: *product.last().unwrap(),
        at_bias_last: *at_bias.last().unwrap(),
        measured,
        product,
        at_bias,
        mean_forget,
    })
}

/// Figure 7-10: the forget-gate product against the full cell-state gradient.
pub struct ForgetProduct;

impl Experiment for ForgetProduct {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "forget-product";
    const ABOUT: &'static str =
        "The LSTM's forget-gate product over 100 steps against its cell-state gradient (Figure 7-10)";
    type Options = ForgetOptions;
    type Data = ForgetData;

    fn run(opts: &ForgetOptions, run_mode: &GenOptions) -> Result<ForgetData> {
        ensure!(opts.steps >= 3, "--steps must be at least 3, got {}", opts.steps);
        ensure!(!opts.forget_biases.is_empty(), "need at least one forget bias");
        let xs = normal_inputs(opts.shape.batch, opts.steps, opts.shape.d_in, opts.seed + 1)?;
        let v = unit_vector(opts.shape.hidden, opts.seed + 2)?;
        let biases = if run_mode.quick { &opts.forget_biases[..1] } else { &opts.forget_biases[..] };
        let runs = biases.iter().map(|&b| forget_run(opts, &xs, &v, b)).collect::<Result<_>>()?;
        Ok(ForgetData { options: opts.clone(), max_lag: opts.steps - 1, factors: opts.steps - 2, runs })
    }

    fn draw(data: &ForgetData) -> Result<Vec<Drawing>> {
        let o = &data.options;
        let mut chart = LineChart::new(format!(
            "LSTM, hidden {}, T = {}: the forget-gate product and the cell-state gradient",
            o.shape.hidden, o.steps
        ))
        .x_label("lag T − t")
        .y_label("relative to lag 1")
        .log_y()
        .legend(lab::plot::Legend::Outside);
        for (i, r) in data.runs.iter().enumerate() {
            let pts = |v: &[f64]| v.iter().enumerate().map(|(j, &y)| ((j + 1) as f64, y)).collect::<Vec<_>>();
            let b = r.forget_bias;
            chart = chart
                .series_with(format!("b_f = {b}: ‖∂L/∂c_t‖"), pts(&r.measured), SeriesStyle::solid().color(i))
                .series_with(format!("b_f = {b}: mean Π f"), pts(&r.product), SeriesStyle::dashed().color(i))
                .series_with(format!("b_f = {b}: σ(b_f)^(lag−1)"), pts(&r.at_bias), SeriesStyle::dotted().color(i));
        }
        let alt = "For LSTMs with forget-gate bias 0, 1 and 3, against the lag up to 99 steps: the cell state's full gradient norm (solid), the pure product of the forget gates along the way averaged over units and sequences (dashed), and the bias's sigmoid to the power of the lag (dotted), all relative to lag 1. The products fall geometrically, fastest for bias 0; the full gradient falls more slowly than the product for each bias.";
        Ok(vec![Drawing::new("forget-product", alt, chart.render(alt)?, data)?])
    }
}

impl std::fmt::Display for ForgetData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "relative to lag 1, at lag {}:", self.max_lag)?;
        writeln!(f, "{:>6} {:>10} {:>14} {:>14} {:>14}", "b_f", "mean f", "‖∂L/∂c‖", "mean Π f", "σ(b_f)^k")?;
        for r in &self.runs {
            writeln!(
                f,
                "{:>6} {:>10.3} {:>14.3e} {:>14.3e} {:>14.3e}",
                r.forget_bias, r.mean_forget, r.measured_last, r.product_last, r.at_bias_last
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_starts_at_one_falls_and_its_gates_average_sigma_of_the_bias() -> Result<()> {
        let opts = ForgetOptions {
            steps: 12,
            shape: SeqShape { batch: 8, ..SeqShape::default() },
            ..ForgetOptions::default()
        };
        let xs = normal_inputs(opts.shape.batch, opts.steps, opts.shape.d_in, 1)?;
        let v = unit_vector(opts.shape.hidden, 2)?;
        let r = forget_run(&opts, &xs, &v, 1.0)?;
        assert_eq!(r.product.len(), opts.steps - 1);
        assert!((r.product[0] - 1.0).abs() < 1e-12 && (r.measured[0] - 1.0).abs() < 1e-12);
        assert!(r.product.windows(2).all(|w| w[1] < w[0]), "{:?}", r.product);
        assert!((r.mean_forget - sigmoid(1.0)).abs() < 0.05, "{}", r.mean_forget);
        // One factor: the mean of the gate of step T − 2 over units and sequences.
        let gates = forget_gates(
            &RnnConfig::new(Cell::Lstm { forget_bias: 1.0 }, opts.shape.d_in, opts.shape.hidden, 1)
                .with_seed(opts.seed)
                .build()?,
            &xs,
        )?;
        let f = gates[opts.steps - 2].mean_all()?.to_scalar::<f64>()?;
        assert!((r.product[1] - f).abs() < 1e-12, "{} {f}", r.product[1]);
        Ok(())
    }
}

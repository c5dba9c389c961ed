//! The chain rule as a product of per-layer factors.
//!
//! In a chain of one-neuron layers aˡ = f(w·aˡ⁻¹ + b), the derivative of the output with respect to
//! the input is ∂aᴸ/∂a⁰ = ∏ₗ w·f'(zˡ): one factor per layer. If every factor is below 1 the product
//! vanishes exponentially with depth, above 1 it explodes, and only factors of exactly 1 keep it
//! steady. [`measured_chain`] computes the product with candle's autograd through a real chain;
//! [`product`] is the closed form it must match.
//!
//! [`ChainProduct`] draws Figure 1-3: the product against depth for four chains and the bound 4⁻ᴸ.

use anyhow::Result;
use candle_core::{Tensor, Var};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::plot::{LineChart, SeriesStyle};
use serde::Serialize;

/// factorᴸ for L = 1..=depth.
pub fn product(factor: f64, depth: usize) -> Vec<f64> {
    (1..=depth as i32).map(|l| factor.powi(l)).collect()
}

/// ∂aᴸ/∂a⁰ measured by autograd for every depth L = 1..=depth, through a chain of scalar neurons
/// aˡ = f(w·aˡ⁻¹ + b) started at a⁰ = `input`. Computed in f64.
pub fn measured_chain(act: Activation, w: f64, b: f64, input: f64, depth: usize) -> Result<Vec<f64>> {
    let x = Var::new(&[input], &lab::DEVICE)?;
    let mut a: Tensor = x.as_tensor().clone();
    let mut out = Vec::with_capacity(depth);
    for _ in 0..depth {
        a = act.forward(&a.affine(w, b)?)?;
        // One backward pass per depth: the gradient of the output of a chain of L layers.
        let grads = a.sum_all()?.backward()?;
        out.push(grads.get(&x).map_or(Ok(0.0), |g| g.to_vec1::<f64>().map(|v| v[0]))?);
    }
    Ok(out)
}

/// The same product computed by hand, factor by factor: ∏ w·f'(zˡ) along the forward pass.
pub fn chain_rule_by_hand(act: Activation, w: f64, b: f64, input: f64, depth: usize) -> Vec<f64> {
    let (mut a, mut prod) = (input, 1.0);
    (0..depth)
        .map(|_| {
            let z = w * a + b;
            prod *= w * act.derivative(z);
            a = act.value(z);
            prod
        })
        .collect()
}

/// One series of the chain figure.
#[derive(Debug, Clone, Serialize)]
pub struct ChainSeries {
    pub label: String,
    /// Product at depth 1, 2, …
    pub values: Vec<f64>,
}

/// Settings of Figure 1-3.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ChainOptions {
    /// Longest chain.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Depth whose values are printed and quoted.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub report_depth: usize,
}
chapter_kit::defaults_from_flags!(ChainOptions);

/// The chains of Figure 1-3: label, activation, weight (zero bias, input 0).
pub const CHAINS: [(&str, Activation, f64); 4] = [
    ("linear, w = 0.5", Activation::Linear, 0.5),
    ("linear, w = 1", Activation::Linear, 1.0),
    ("linear, w = 1.5", Activation::Linear, 1.5),
    ("sigmoid, w = 1", Activation::Sigmoid, 1.0),
];

/// What the full run adds: the depths and the values the prose quotes.
#[derive(Debug, Clone, Serialize)]
pub struct ChainDetail {
    pub depth: usize,
    pub report_depth: usize,
    pub bound_at_report: f64,
    pub explode_at_report: f64,
    /// Largest relative difference between autograd and the chain rule by hand; below f64 round-off,
    /// reported so the prose can say how exact the agreement is.
    pub max_rel_diff: f64,
}

/// What Figure 1-3 measured (quick mode: the chains up to the report depth only).
#[derive(Debug, Clone, Serialize)]
pub struct ChainData {
    pub series: Vec<ChainSeries>,
    /// The bound 4⁻ᴸ at depth 1, 2, …
    pub bound: Vec<f64>,
    pub sigmoid_at_report: f64,
    #[serde(flatten)]
    pub detail: Option<ChainDetail>,
    /// The depth the summary prints.
    #[serde(skip)]
    pub report_depth: usize,
}

/// Figure 1-3: the chain-rule product against depth.
pub struct ChainProduct;

impl Experiment for ChainProduct {
    const CHAPTER: &'static str = "ch01";
    const NAME: &'static str = "chain-product";
    const ABOUT: &'static str = "The chain-rule product through chains of scalar neurons against depth (Figure 1-3)";
    type Options = ChainOptions;
    type Data = ChainData;

    fn run(opts: &ChainOptions, go: &GenOptions) -> Result<ChainData> {
        anyhow::ensure!(
            opts.report_depth >= 1 && opts.report_depth <= opts.depth,
            "report depth must be within 1..=depth (--report-depth {}, --depth {})",
            opts.report_depth,
            opts.depth
        );
        let depth = if go.quick { opts.depth.min(opts.report_depth) } else { opts.depth };
        let mut series = Vec::new();
        let mut max_rel_diff = 0f64;
        for (label, act, w) in CHAINS {
            let measured = measured_chain(act, w, 0.0, 0.0, depth)?;
            for (m, h) in measured.iter().zip(chain_rule_by_hand(act, w, 0.0, 0.0, depth)) {
                max_rel_diff = max_rel_diff.max((m / h - 1.0).abs());
            }
            series.push(ChainSeries { label: label.into(), values: measured });
        }
        let bound = product(0.25, depth);
        let at = opts.report_depth - 1;
        let detail = (!go.quick).then(|| ChainDetail {
            depth,
            report_depth: opts.report_depth,
            bound_at_report: bound[at],
            explode_at_report: series[2].values[at],
            max_rel_diff: max_rel_diff.max(f64::EPSILON),
        });
        Ok(ChainData {
            sigmoid_at_report: series[3].values[at],
            series,
            bound,
            detail,
            report_depth: opts.report_depth,
        })
    }

    fn draw(data: &ChainData) -> Result<Vec<Drawing>> {
        let Some(detail) = &data.detail else {
            // A quick run: the chains up to the report depth, not drawn.
            return Ok(vec![Drawing::data_only("chain-product", data)?]);
        };
        let xy = |v: &[f64]| v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect::<Vec<_>>();
        let mut chart = LineChart::new("The chain rule is a product: ∂aᴸ/∂a⁰ against depth")
            .x_label("depth L (layers)")
            .y_label("∂aᴸ/∂a⁰")
            .log_y();
        for s in &data.series {
            chart = chart.series(s.label.clone(), xy(&s.values));
        }
        let alt = format!(
            "Log-scale plot of the derivative of a chain's output with respect to its input against depth 1 to {}: linear chains with w = 0.5, 1 and 1.5 are straight lines falling, flat and rising; the sigmoid chain falls below the dashed 4^-L bound",
            detail.depth
        );
        let svg = chart.series_with("bound 4⁻ᴸ", xy(&data.bound), SeriesStyle::dashed()).render(&alt)?;
        Ok(vec![Drawing::new("chain-product", &alt, svg, data)?])
    }
}

impl std::fmt::Display for ChainData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (l, at) = (self.report_depth, self.report_depth - 1);
        for s in &self.series {
            writeln!(f, "{:<16} depth {l}: {:.3e}", s.label, s.values[at])?;
        }
        writeln!(f, "{:<16} depth {l}: {:.3e}", "bound 4^-L", self.bound[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_chain_is_exactly_the_power() -> Result<()> {
        for w in [0.5, 1.0, 1.5] {
            let measured = measured_chain(Activation::Linear, w, 0.0, 0.3, 30)?;
            for (m, p) in measured.iter().zip(product(w, 30)) {
                assert!((m / p - 1.0).abs() < 1e-12, "w {w}: {m} vs {p}");
            }
        }
        Ok(())
    }

    #[test]
    fn autograd_agrees_with_the_chain_rule_by_hand() -> Result<()> {
        // candle evaluates erf (inside GELU) with a rational approximation good to ~1e-7, so GELU
        // agrees less exactly than the activations built from exp.
        for (act, tol) in [(Activation::Sigmoid, 1e-10), (Activation::Tanh, 1e-10), (Activation::Gelu, 1e-5)] {
            let measured = measured_chain(act, 1.3, 0.1, 0.5, 20)?;
            let by_hand = chain_rule_by_hand(act, 1.3, 0.1, 0.5, 20);
            for (m, h) in measured.iter().zip(&by_hand) {
                assert!((m / h - 1.0).abs() < tol, "{act}: {m} vs {h}");
            }
        }
        Ok(())
    }

    #[test]
    fn a_sigmoid_chain_with_unit_weights_stays_below_the_quarter_bound() -> Result<()> {
        let measured = measured_chain(Activation::Sigmoid, 1.0, 0.0, 0.0, 40)?;
        for (l, (m, bound)) in measured.iter().zip(product(0.25, 40)).enumerate() {
            assert!(*m <= bound * (1.0 + 1e-12), "depth {}: {m} > {bound}", l + 1);
        }
        Ok(())
    }
}

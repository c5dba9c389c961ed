//! Dynamical isometry (Pennington, Schoenholz & Ganguli 2017): the singular values of the input–output
//! Jacobian of deep linear, tanh and ReLU networks at criticality, with Gaussian or orthogonal weights.

use anyhow::{Context, Result, ensure};
use candle_core::{DType, Tensor};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::chaos::{WeightEnsemble, critical_point, fixed_point_q, spectrum_spread_per_layer};
use lab::jacobian::{input_output_jacobians, singular_values, squared_sv_moments};
use lab::plot::{HistogramGrid, LineChart, SeriesStyle};
use lab::{Activation, DEVICE, Init};
use serde::Serialize;

/// Settings of Figures 4-7 and 4-8.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct IsometryOptions {
    /// Units per layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Depths at which the Jacobian is measured, ascending and comma-separated; the deepest sets the
    /// network depth.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4, 8, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Independent networks (weights, biases and input) averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub networks: usize,
    /// Fixed point q* of the tanh networks (their σ_w², σ_b² are chosen on the critical line; small q*:
    /// tanh works near its linear regime).
    #[arg(long, default_value_t = 1.0 / 64.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub tanh_q_star: f64,
    /// Depth whose singular values are histogrammed (one of --depths).
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub spectrum_depth: usize,
    /// Seed of the first network (network k uses seed + 1000 k).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(IsometryOptions);

impl IsometryOptions {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.width >= 2 && self.networks >= 1, "need width ≥ 2 and at least one network");
        ensure!(!self.depths.is_empty() && self.depths[0] >= 1, "need at least one depth ≥ 1");
        cli::ensure_ascending("depths", &self.depths)?;
        ensure!(
            self.depths.contains(&self.spectrum_depth),
            "the spectrum depth {} must be one of the depths {:?}",
            self.spectrum_depth,
            self.depths
        );
        ensure!(self.tanh_q_star.is_finite() && self.tanh_q_star > 0.0, "q* must be a finite positive number");
        Ok(())
    }
}

/// A critical network: activation, σ_w², σ_b² and the fixed point its pre-activations sit at.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Critical {
    pub activation: Activation,
    pub sigma_w2: f64,
    pub sigma_b2: f64,
    pub q_star: f64,
}

/// The critical points of Figure 4-7: linear (σ_w² = 1), tanh on the critical line at `tanh_q`, and
/// ReLU with He's σ_w² = 2 (any q: ReLU's slope statistics do not depend on the scale).
pub fn critical_points(tanh_q: f64) -> Result<[Critical; 3]> {
    let (w, b) = critical_point(Activation::Tanh, tanh_q)?;
    Ok([
        Critical { activation: Activation::Linear, sigma_w2: 1.0, sigma_b2: 0.0, q_star: 1.0 },
        Critical {
            activation: Activation::Tanh,
            sigma_w2: w,
            sigma_b2: b,
            q_star: fixed_point_q(Activation::Tanh, w, b)?,
        },
        Critical { activation: Activation::Relu, sigma_w2: 2.0, sigma_b2: 0.0, q_star: 1.0 },
    ])
}

const ENSEMBLES: [WeightEnsemble; 2] = [WeightEnsemble::Gaussian, WeightEnsemble::Orthogonal];

fn ensemble_name(e: WeightEnsemble) -> &'static str {
    match e {
        WeightEnsemble::Gaussian => "Gaussian",
        WeightEnsemble::Orthogonal => "orthogonal",
    }
}

/// Unit-scale weights (Var = 1/n, or orthogonal) and standard-normal bias directions for `depth`
/// layers, drawn layer by layer from one seed so a shallower draw is a prefix of a deeper one.
fn base_layers(ensemble: WeightEnsemble, width: usize, depth: usize, seed: u64) -> Result<Vec<(Tensor, Tensor)>> {
    let mut rng = lab::init::rng(seed);
    let init = match ensemble {
        WeightEnsemble::Gaussian => Init::Normal { std: (1.0 / width as f64).sqrt() },
        WeightEnsemble::Orthogonal => Init::Orthogonal { gain: 1.0 },
    };
    (0..depth)
        .map(|_| {
            let w = init.tensor(width, width, &mut rng, &DEVICE)?.to_dtype(DType::F64)?;
            let b = Init::Normal { std: 1.0 }.tensor(1, width, &mut rng, &DEVICE)?.squeeze(0)?.to_dtype(DType::F64)?;
            Ok((w, b))
        })
        .collect()
}

/// One network family of Figure 4-7: a critical point with one weight ensemble.
#[derive(Debug, Clone, Serialize)]
pub struct IsometryConfig {
    pub activation: Activation,
    pub weights: WeightEnsemble,
    pub label: String,
    pub sigma_w2: f64,
    pub sigma_b2: f64,
    pub q_star: f64,
    /// Predicted growth per layer of var(λ)/mean(λ)².
    pub theory_per_layer: f64,
    /// The prediction L · theory_per_layer at each depth.
    pub theory: Vec<f64>,
    /// Per depth: normalized variance of the squared singular values, per network.
    pub normalized_variance: Vec<Vec<f64>>,
    /// Per depth: mean squared singular value, per network.
    pub mean_sq_sv: Vec<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized_variance_avg: Option<Vec<f64>>,
    /// The singular values at the spectrum depth, of every network (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<Vec<f64>>,
}

/// What Figures 4-7 and 4-8 measured (Figure 4-7's JSON holds all of it). Quick mode: the depths
/// ≤ 4 only, without the spectra.
#[derive(Debug, Clone, Serialize)]
pub struct IsometryData {
    pub options: IsometryOptions,
    pub depths: Vec<usize>,
    pub configs: Vec<IsometryConfig>,
    #[serde(skip)]
    pub quick: bool,
}

/// Figure 4-8's data: how concentrated each family's spectrum is.
#[derive(Serialize)]
struct SpectraData<'a> {
    options: &'a IsometryOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    configs: Option<Vec<SpectrumSummary<'a>>>,
}

#[derive(Serialize)]
struct SpectrumSummary<'a> {
    label: &'a str,
    max_sv: f64,
    share_within_2x: f64,
    share_within_10pct: f64,
}

/// Figures 4-7 (spread against depth) and 4-8 (singular-value histograms at one depth).
pub struct Isometry;

impl Experiment for Isometry {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "isometry";
    const ABOUT: &'static str =
        "Dynamical isometry: spread of the input–output Jacobian's singular values against depth (Figures 4-7, 4-8)";
    type Options = IsometryOptions;
    type Data = IsometryData;

    fn run(opts: &IsometryOptions, run_mode: &GenOptions) -> Result<IsometryData> {
        opts.validate()?;
        // Quick mode: the shallow depths only (≤ 4), the same networks.
        let depths: Vec<usize> = if run_mode.quick {
            opts.depths.iter().copied().filter(|&d| d <= 4).collect()
        } else {
            opts.depths.clone()
        };
        ensure!(!depths.is_empty(), "quick mode needs a depth ≤ 4");
        let max_depth = *depths.last().expect("non-empty");
        let criticals = critical_points(opts.tanh_q_star)?;
        let n = opts.width;
        let mut configs: Vec<IsometryConfig> = Vec::new();
        for c in &criticals {
            for e in ENSEMBLES {
                configs.push(IsometryConfig {
                    activation: c.activation,
                    weights: e,
                    label: format!("{}, {}", c.activation, ensemble_name(e)),
                    sigma_w2: c.sigma_w2,
                    sigma_b2: c.sigma_b2,
                    q_star: c.q_star,
                    theory_per_layer: spectrum_spread_per_layer(c.activation, c.q_star, e),
                    theory: depths
                        .iter()
                        .map(|&d| d as f64 * spectrum_spread_per_layer(c.activation, c.q_star, e))
                        .collect(),
                    normalized_variance: vec![Vec::new(); depths.len()],
                    mean_sq_sv: vec![Vec::new(); depths.len()],
                    normalized_variance_avg: None,
                    spectrum: if run_mode.quick { None } else { Some(Vec::new()) },
                });
            }
        }
        for net in 0..opts.networks {
            let seed = opts.seed + 1000 * net as u64;
            let input: Vec<f64> = Init::Normal { std: 1.0 }
                .sample(1, n, &mut lab::init::rng(seed + 1))
                .into_iter()
                .map(f64::from)
                .collect();
            for (ei, e) in ENSEMBLES.iter().enumerate() {
                let base = base_layers(*e, n, max_depth, seed + 2 + ei as u64)?;
                for (ci, c) in criticals.iter().enumerate() {
                    let config = &mut configs[2 * ci + ei];
                    let (sw, sb) = (c.sigma_w2.sqrt(), c.sigma_b2.sqrt());
                    let layers: Vec<(Tensor, Tensor)> =
                        base.iter().map(|(w, b)| Ok(((w * sw)?, (b * sb)?))).collect::<Result<_>>()?;
                    // The input sits at the fixed point: E[x²] = (q* − σ_b²)/σ_w², so that z¹ = σ_w·Wx + b
                    // already has variance q*, as if x were the output of a layer at the fixed point.
                    let scale = ((c.q_star - c.sigma_b2) / c.sigma_w2).sqrt();
                    let x = (Tensor::from_vec(input.clone(), (1, n), &DEVICE)? * scale)?;
                    for (k, (depth, j)) in
                        input_output_jacobians(&layers, c.activation, &x, &depths)?.into_iter().enumerate()
                    {
                        let m = squared_sv_moments(&j)?;
                        config.normalized_variance[k].push(m.normalized_variance());
                        config.mean_sq_sv[k].push(m.mean);
                        if depth == opts.spectrum_depth && !run_mode.quick {
                            config.spectrum.as_mut().expect("full mode").extend(singular_values(&j)?);
                        }
                    }
                }
            }
        }
        if !run_mode.quick {
            for c in &mut configs {
                c.normalized_variance_avg = Some(c.normalized_variance.iter().map(|v| mean(v)).collect());
            }
        }
        Ok(IsometryData { options: opts.clone(), depths, configs, quick: run_mode.quick })
    }

    fn draw(data: &IsometryData) -> Result<Vec<Drawing>> {
        let (opts, depths, configs) = (&data.options, &data.depths, &data.configs);
        if data.quick {
            // The spectra need the deep networks; the quick run checks only their settings.
            return Ok(vec![
                Drawing::data_only("isometry-spread", data)?,
                Drawing::new("isometry-spectra", "", String::new(), &SpectraData { options: opts, configs: None })?,
            ]);
        }
        let n = opts.width;

        // Figure 4-7: var(λ)/mean(λ)² against depth, log–log, with the free-probability prediction.
        let mut chart =
            LineChart::new(format!("Spread of the input–output Jacobian's spectrum at criticality (width {n})"))
                .x_label("depth L")
                .y_label("var(λ) / mean(λ)²,  λ = squared singular value")
                .log_x()
                .log_y()
                .markers();
        let mut slot = 0;
        for c in configs {
            if c.activation == Activation::Linear && c.weights == WeightEnsemble::Orthogonal {
                continue; // exactly zero: no point on a log axis (its values are in the JSON).
            }
            let averages = c.normalized_variance_avg.as_ref().context("a full run has the averages")?;
            let points = depths.iter().zip(averages).map(|(&d, &v)| (d as f64, v)).collect();
            chart = chart.series_with(c.label.clone(), points, SeriesStyle::solid().color(slot));
            let theory = depths.iter().map(|&d| (d as f64, d as f64 * c.theory_per_layer)).collect();
            chart = chart.series_with(format!("theory {}", c.label), theory, SeriesStyle::dashed().color(slot));
            slot += 1;
        }
        let alt = "Log-log plot of the normalized variance of the squared singular values of the input-output Jacobian against depth, for critical linear, tanh and ReLU networks with Gaussian or orthogonal weights. Every curve grows in proportion to depth, as the dashed predictions do; ReLU with Gaussian weights spreads fastest, tanh with orthogonal weights stays two orders of magnitude lower than anything else. Linear with orthogonal weights is exactly zero and not drawn.";
        let spread_svg = chart.legend(lab::plot::Legend::Outside).size(820, 460).render(alt)?;

        // Figure 4-8: the singular values themselves at one depth.
        let mut grid = HistogramGrid::new(format!(
            "Singular values of the input–output Jacobian at depth {} (log₁₀ scale)",
            opts.spectrum_depth
        ))
        .x_label("log₁₀ singular value")
        .x_range(-6.0, 1.5)
        .bins(30)
        .columns(2);
        let mut summaries = Vec::new();
        for c in configs {
            let s = c.spectrum.as_ref().context("a full run has the spectra")?;
            let logs: Vec<f64> = s.iter().map(|s| s.max(1e-300).log10()).collect();
            grid = grid.panel(c.label.clone(), logs);
            let within = |f: f64| s.iter().filter(|&&v| v >= 1.0 / f && v <= f).count() as f64 / s.len() as f64;
            summaries.push(SpectrumSummary {
                label: &c.label,
                max_sv: s.iter().copied().fold(0.0, f64::max),
                share_within_2x: within(2.0),
                share_within_10pct: within(1.1),
            });
        }
        let alt_spec = format!(
            "Histograms of log10 singular values at depth {}, from 10^-6 (the leftmost bar collects everything smaller) to 10^1.5: linear orthogonal is a single spike at 0 and tanh orthogonal a narrow one; linear and tanh with Gaussian weights spread over many decades with most values below 10^-6; ReLU spreads even with orthogonal weights.",
            opts.spectrum_depth
        );
        let spectra_svg = grid.render(&alt_spec)?;
        let spectra = SpectraData { options: opts, configs: Some(summaries) };
        Ok(vec![
            Drawing::new("isometry-spread", alt, spread_svg, data)?,
            Drawing::new("isometry-spectra", &alt_spec, spectra_svg, &spectra)?,
        ])
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

impl std::fmt::Display for IsometryData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "var(λ)/mean(λ)² of the input–output Jacobian (measured / predicted L·slope)")?;
        write!(f, "{:<22}", "network")?;
        for depth in &self.depths {
            write!(f, " {:>17}", format!("L = {depth}"))?;
        }
        writeln!(f)?;
        for c in &self.configs {
            write!(f, "{:<22}", c.label)?;
            for (per_net, depth) in c.normalized_variance.iter().zip(&self.depths) {
                let predicted = c.theory_per_layer * *depth as f64;
                write!(f, " {:>17}", format!("{:.3}/{predicted:.3}", mean(per_net)))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

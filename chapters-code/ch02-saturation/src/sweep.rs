//! The depth sweep: how much weaker the gradient at the first layer is than at the last, g¹/gᴸ (the
//! book's measure, chapter 1), at initialisation, for depths 2…50 — measured, predicted from the network's own pre-activations, and
//! predicted by mean-field theory before any network exists.
//!
//! Backpropagation multiplies the error by one factor per layer, δˡ = (δˡ⁺¹Wˡ⁺¹) ⊙ f′(zˡ). For
//! independent weights of variance Var(W) = σ_w²/n, a layer of n units passes back, on average,
//!
//! ```text
//! ‖δˡ‖² / ‖δˡ⁺¹‖² ≈ n · Var(Wˡ⁺¹) · E[f′(zˡ)²] = σ_w² · E[f′(zˡ)²] = χˡ
//! ```
//!
//! so the per-layer factor is √χˡ. [`measured_chi`] evaluates it with the network's actual weights and
//! pre-activations; [`lab::experiments::meanfield_profile`] evaluates it from the init's σ_w² alone, and
//! [`measure`] measures the ratio itself, for the per-example errors — the book's gˡ, which is also the
//! quantity the theory describes ([`gradient_profile`]) — and for the bias gradients (Nielsen's measure).

use crate::nielsen::DataArgs;
use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::{delta_norms, geo_mean, meanfield_profile};
use lab::meanfield::{self, Prior};
use lab::net::Trace;
use lab::plot::{Legend, LineChart, SeriesStyle};
use lab::{Activation, Init, Mlp, MlpConfig};
use serde::Serialize;

/// The measured per-layer factor χ̂ˡ = (‖Wˡ⁺¹‖²_F / nˡ⁺¹) · mean over batch and units of f′(zˡ)², for
/// l = 1…L−1 (the factor that carries the error from layer l+1 back to layer l), from a forward trace.
pub fn measured_chi(net: &Mlp, trace: &Trace) -> Result<Vec<f64>> {
    let act = net.config.activation;
    let hidden = net.hidden();
    let mut chi = Vec::with_capacity(hidden.len().saturating_sub(1));
    for l in 0..hidden.len().saturating_sub(1) {
        let slope2 = lab::probe::mean_std(&act.derivative_tensor(&trace.pre[l])?.sqr()?)?.0;
        let w = hidden[l + 1].weight.as_tensor();
        let gain2 = lab::probe::norm(w)?.powi(2) / w.dim(0)? as f64;
        chi.push(gain2 * slope2);
    }
    Ok(chi)
}

/// The gradient at every hidden layer, gˡ = sqrt((1/B) Σᵢ ‖δˡᵢ‖²), input side first: the book's
/// measure ([`lab::probe::error_rms`]), computed here from the per-example errors in f64
/// ([`lab::jacobian::per_example_deltas`], plain MLPs with a softmax output), so that the first layer of a
/// 50-layer sigmoid network, some 10⁻³⁰ below the last, is far from f32's underflow.
pub fn gradient_profile(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<Vec<f64>> {
    let root_batch = (x.dim(0)? as f64).sqrt();
    lab::jacobian::per_example_deltas(net, x, y)?.iter().map(|d| Ok(lab::probe::norm(d)? / root_batch)).collect()
}

/// What the sweep measures at one depth, over several weight draws.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub depth: usize,
    /// ‖δ¹‖/‖δᴸ‖ per seed, δ the bias gradient (Nielsen's speed of learning).
    pub bias_ratios: Vec<f64>,
    /// g¹/gᴸ per seed: the book's gradient at layer l ([`gradient_profile`]), the root-mean-square
    /// per-example error.
    pub per_example_ratios: Vec<f64>,
    /// ∏ √χ̂ˡ from each network's own weights and pre-activations, per seed.
    pub chi_ratios: Vec<f64>,
    /// The mean-field prediction.
    pub theory: f64,
}

impl SweepPoint {
    /// Geometric means over seeds: (bias, per-example, measured-χ).
    pub fn means(&self) -> (f64, f64, f64) {
        let g = |v: &[f64]| geo_mean(v.iter().copied());
        (g(&self.bias_ratios), g(&self.per_example_ratios), g(&self.chi_ratios))
    }
}

/// Measures `config` (its seed replaced by each of `seeds`) on `(x, y)`, whose inputs have mean
/// square `input_second_moment` per feature. Each seed's network is built once and measured three ways
/// (what [`lab::experiments::init_profile`] measures, and [`measured_chi`]).
pub fn measure(
    config: &MlpConfig,
    x: &Tensor,
    y: &Tensor,
    seeds: &[u64],
    input_second_moment: f64,
) -> Result<SweepPoint> {
    ensure!(!seeds.is_empty(), "a sweep point needs at least one seed");
    let (mut bias_ratios, mut per_example_ratios, mut chi_ratios) = (Vec::new(), Vec::new(), Vec::new());
    for &seed in seeds {
        let net = config.clone().with_seed(seed).build(&lab::DEVICE)?;
        let bias = delta_norms(&net, x, y)?;
        let per_example = gradient_profile(&net, x, y)?;
        ensure!(!bias.is_empty(), "the network has no hidden layer");
        bias_ratios.push(bias[0] / bias[bias.len() - 1]);
        per_example_ratios.push(per_example[0] / per_example[per_example.len() - 1]);
        chi_ratios.push(measured_chi(&net, &net.forward_trace(x, true)?)?.iter().map(|c| c.sqrt()).product());
    }
    Ok(SweepPoint {
        depth: config.depth(),
        bias_ratios,
        per_example_ratios,
        chi_ratios,
        theory: meanfield_profile(config, input_second_moment)?[0],
    })
}

/// The per-layer factor of a geometric decay fitted to `(depth, ratio)` points: 10^slope of
/// log₁₀(ratio) against depth.
pub fn per_layer_factor(points: &[(f64, f64)]) -> f64 {
    let logs: Vec<(f64, f64)> = points.iter().map(|&(d, r)| (d, r.log10())).collect();
    10f64.powf(lab::experiments::fit_line(&logs).slope)
}

/// The activations compared in the sweep figure.
pub const SWEEP_ACTIVATIONS: [Activation; 2] = [Activation::Sigmoid, Activation::Tanh];

/// Settings of Figure 2-8.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SweepOptions {
    /// Numbers of hidden layers (each at least 2), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 40, 50], value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Images in the probe batch.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n: usize,
    /// Networks per depth (weight seeds 0, 1, …); ratios are averaged geometrically.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Weight init.
    #[arg(long, default_value_t = Init::LecunNormal, value_parser = cli::init)]
    pub init: Init,
    /// Hidden activations to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = SWEEP_ACTIVATIONS, value_parser = cli::activation)]
    pub activations: Vec<Activation>,
    #[command(flatten)]
    pub data: DataArgs,
}
chapter_kit::defaults_from_flags!(SweepOptions);

/// Geometric means over seeds of one depth's ratios (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct SweepMeans {
    pub bias_ratio: f64,
    pub per_example_ratio: f64,
    pub chi_ratio: f64,
}

/// One depth of one activation's sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPointData {
    #[serde(flatten)]
    pub point: SweepPoint,
    #[serde(flatten)]
    pub means: Option<SweepMeans>,
}

/// The deepest network's ratios.
#[derive(Debug, Clone, Serialize)]
pub struct Deepest {
    pub depth: f64,
    pub bias_ratio: f64,
    pub per_example_ratio: f64,
    pub chi_ratio: f64,
    pub theory: f64,
    /// How many decades the bias gradient fell from the last layer to the first.
    pub orders_of_magnitude: f64,
}

/// The geometric decay fitted to one activation's sweep, against theory (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct SweepFit {
    pub fit_per_layer_bias: f64,
    pub fit_per_layer_per_example: f64,
    pub fit_per_layer_theory: f64,
    /// |fitted bias factor / fitted theory factor − 1|.
    pub fit_relative_difference: f64,
    /// Mean-field √χ, q and E[f′(z)²] deep in the network (at the largest depth of the sweep).
    pub theory_per_layer_deep: f64,
    pub theory_q_deep: f64,
    pub theory_slope2_deep: f64,
    /// How far the measurements sit from theory, in decades, at worst over the depths.
    pub worst_decades_bias: f64,
    pub worst_decades_per_example: f64,
    pub worst_decades_chi: f64,
    pub deepest: Deepest,
}

/// One activation's sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSeries {
    pub activation: Activation,
    pub points: Vec<SweepPointData>,
    #[serde(flatten)]
    pub fit: Option<SweepFit>,
}

/// What Figure 2-8 measured (quick mode: the first two depths, one seed, no means or fits).
#[derive(Debug, Clone, Serialize)]
pub struct DepthSweepData {
    pub options: SweepOptions,
    /// Mean square per feature of the probe batch's inputs (the theory's q⁰ input).
    pub input_second_moment: f64,
    pub series: Vec<SweepSeries>,
}

/// Figure 2-8: ‖δ¹‖/‖δᴸ‖ at initialisation against depth, measured and predicted (zero biases, softmax
/// output: lab's standard network, so the theory has nothing to average over but the weights).
pub struct DepthSweep;

/// Fits and compares one activation's full sweep against theory.
fn fit(opts: &SweepOptions, act: Activation, points: &[SweepPointData], input_second_moment: f64) -> Option<SweepFit> {
    let curve = |value: &dyn Fn(&SweepPointData) -> Option<f64>| -> Option<Vec<(f64, f64)>> {
        points.iter().map(|p| Some((p.point.depth as f64, value(p)?))).collect()
    };
    let bias = curve(&|p| p.means.as_ref().map(|m| m.bias_ratio))?;
    let per_ex = curve(&|p| p.means.as_ref().map(|m| m.per_example_ratio))?;
    let chi = curve(&|p| p.means.as_ref().map(|m| m.chi_ratio))?;
    let theory = curve(&|p| Some(p.point.theory))?;
    let worst = |pts: &[(f64, f64)]| {
        pts.iter().zip(&theory).map(|(a, t)| (a.1.log10() - t.1.log10()).abs()).fold(0.0, f64::max)
    };
    let deepest = theory.len() - 1;
    let prior = Prior::fan_in(lab::experiments::weight_gain2(&MlpConfig::new(1, opts.width, 1, 1, act, opts.init)));
    let max_depth = *opts.depths.iter().max().expect("depths");
    let theory_layers = meanfield::propagate(act, &prior, input_second_moment, max_depth);
    let deep = theory_layers.last().expect("layers");
    let (fit_bias, fit_theory) = (per_layer_factor(&bias), per_layer_factor(&theory));
    Some(SweepFit {
        fit_per_layer_bias: fit_bias,
        fit_per_layer_per_example: per_layer_factor(&per_ex),
        fit_per_layer_theory: fit_theory,
        fit_relative_difference: (fit_bias / fit_theory - 1.0).abs(),
        theory_per_layer_deep: deep.chi.sqrt(),
        theory_q_deep: deep.q,
        theory_slope2_deep: deep.slope2,
        worst_decades_bias: worst(&bias),
        worst_decades_per_example: worst(&per_ex),
        worst_decades_chi: worst(&chi),
        deepest: Deepest {
            depth: theory[deepest].0,
            bias_ratio: bias[deepest].1,
            per_example_ratio: per_ex[deepest].1,
            chi_ratio: chi[deepest].1,
            theory: theory[deepest].1,
            orders_of_magnitude: -bias[deepest].1.log10(),
        },
    })
}

impl Experiment for DepthSweep {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "depth-sweep";
    const ABOUT: &'static str =
        "First-to-last layer gradient ratio at initialisation against depth, with mean-field theory (Figure 2-8)";
    type Options = SweepOptions;
    type Data = DepthSweepData;

    fn run(opts: &SweepOptions, run_mode: &GenOptions) -> Result<DepthSweepData> {
        cli::ensure_nonempty("depths", &opts.depths, "depth")?;
        cli::ensure_nonempty("activations", &opts.activations, "activation")?;
        ensure!(opts.depths.iter().all(|&d| d >= 2), "every depth must be at least 2 (a ratio of two layers)");
        let (train, _) = opts.data.source()?.load(opts.n, 0)?;
        let input_second_moment = train.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        let (depths, seeds) =
            if run_mode.quick { (&opts.depths[..opts.depths.len().min(2)], 1) } else { (&opts.depths[..], opts.seeds) };
        let seeds: Vec<u64> = (0..seeds as u64).collect();
        let mut series = Vec::new();
        for &act in &opts.activations {
            let mut points = Vec::new();
            for &depth in depths {
                let config = MlpConfig::new(train.dim(), opts.width, depth, train.classes, act, opts.init);
                let point = measure(&config, &train.x, &train.y, &seeds, input_second_moment)?;
                let means = (!run_mode.quick).then(|| {
                    let (bias_ratio, per_example_ratio, chi_ratio) = point.means();
                    SweepMeans { bias_ratio, per_example_ratio, chi_ratio }
                });
                points.push(SweepPointData { point, means });
            }
            let fit = fit(opts, act, &points, input_second_moment);
            series.push(SweepSeries { activation: act, points, fit });
        }
        Ok(DepthSweepData { options: opts.clone(), input_second_moment, series })
    }

    fn draw(data: &DepthSweepData) -> Result<Vec<Drawing>> {
        if data.series.iter().any(|s| s.fit.is_none()) {
            // A quick run has no means over seeds to draw (and its figure is never drawn).
            return Ok(vec![Drawing::data_only("depth-sweep", data)?]);
        }
        let mut chart =
            LineChart::new(format!("g¹/gᴸ at initialisation: N(0, 1/n) weights, width {}", data.options.width))
                .x_label("depth L (hidden layers)")
                .y_label("first over last hidden layer")
                .log_y();
        for (i, s) in data.series.iter().enumerate() {
            let name = s.activation.name();
            let pts = |value: &dyn Fn(&SweepPointData) -> f64| -> Vec<(f64, f64)> {
                s.points.iter().map(|p| (p.point.depth as f64, value(p))).collect()
            };
            let mean = |pick: fn(&SweepMeans) -> f64| move |p: &SweepPointData| p.means.as_ref().map_or(f64::NAN, pick);
            chart = chart
                .series_with(
                    format!("{name}: Nielsen's ‖∂L/∂bˡ‖"),
                    pts(&mean(|m| m.bias_ratio)),
                    SeriesStyle::points().color(i),
                )
                .series_with(
                    format!("{name}: gˡ"),
                    pts(&mean(|m| m.per_example_ratio)),
                    SeriesStyle::solid().color(i).width(1.5),
                )
                .series_with(
                    format!("{name}: mean-field theory"),
                    pts(&|p| p.point.theory),
                    SeriesStyle::dashed().color(i),
                );
        }
        let alt = "Log-scale ratio of the gradient at the first to the last hidden layer, g¹/gᴸ, against depth 2 to 50: for sigmoid it falls in a straight line, about 30 orders of magnitude by depth 50, with the mean-field prediction and Nielsen's bias-gradient ratio on top of it; for tanh g¹/gᴸ falls slowly, to about a third, and the bias-gradient ratio stays near one";
        let svg = chart.legend(Legend::BottomLeft).render(alt)?;
        Ok(vec![Drawing::new("depth-sweep", alt, svg, data)?])
    }
}

impl std::fmt::Display for DepthSweepData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for s in &self.series {
            let name = s.activation.name();
            let Some(fit) = &s.fit else {
                let first = s.points.first().map(|p| p.point.bias_ratios[0]).unwrap_or(f64::NAN);
                writeln!(f, "{name}: quick run, first depth's bias ratio {first:?}")?;
                continue;
            };
            let rows = [
                ("fit_per_layer_bias", fit.fit_per_layer_bias),
                ("fit_per_layer_per_example", fit.fit_per_layer_per_example),
                ("fit_per_layer_theory", fit.fit_per_layer_theory),
                ("theory_per_layer_deep", fit.theory_per_layer_deep),
            ];
            for (key, value) in rows {
                writeln!(f, "{:<34} {value:?}", format!("{name}: {key}"))?;
            }
            let d = &fit.deepest;
            writeln!(
                f,
                "{:<34} depth {}: bias_ratio {:?}, per_example_ratio {:?}, chi_ratio {:?}, theory {:?}, orders_of_magnitude {:?}",
                format!("{name}: deepest"),
                d.depth,
                d.bias_ratio,
                d.per_example_ratio,
                d.chi_ratio,
                d.theory,
                d.orders_of_magnitude
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lab::{DEVICE, Init};

    #[test]
    fn measured_chi_of_a_linear_network_is_the_weight_gain() -> Result<()> {
        let x = Init::Normal { std: 1.0 }.tensor(16, 6, &mut lab::init::rng(4), &DEVICE)?;
        let net = MlpConfig::new(6, 200, 3, 3, Activation::Linear, Init::LecunNormal).build(&DEVICE)?;
        let chi = measured_chi(&net, &net.forward_trace(&x, true)?)?;
        assert_eq!(chi.len(), 2);
        assert!(chi.iter().all(|c| (c - 1.0).abs() < 0.02), "{chi:?}");
        Ok(())
    }

    #[test]
    fn sigmoid_theory_and_measurement_agree_within_a_decade_at_depth_8() -> Result<()> {
        let data = lab::data::teacher(200, 16, 4, 1)?;
        let m2 = data.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        let config = MlpConfig::new(16, 64, 8, 4, Activation::Sigmoid, Init::LecunNormal);
        let p = measure(&config, &data.x, &data.y, &[0, 1], m2)?;
        let (bias, per_example, chi) = p.means();
        // Seven factors of about √(1/17) ≈ 0.24: around 5e-5.
        assert!(p.theory < 1e-4 && p.theory > 1e-5, "{}", p.theory);
        for m in [bias, per_example, chi] {
            assert!((m.log10() - p.theory.log10()).abs() < 1.0, "{m} vs theory {}", p.theory);
        }
        Ok(())
    }

    #[test]
    fn the_sweeps_profile_is_the_books_gradient_at_each_layer() -> Result<()> {
        // The same net and batch: the sweep's per-layer numbers are lab's error_rms within 1e-5.
        let data = lab::data::teacher(100, 16, 4, 2)?;
        for act in [Activation::Sigmoid, Activation::Tanh] {
            let net = MlpConfig::new(16, 32, 6, 4, act, Init::LecunNormal).with_seed(3).build(&DEVICE)?;
            let ours = gradient_profile(&net, &data.x, &data.y)?;
            let lab = lab::probe::error_rms(&net, &data.x, &data.y)?;
            assert_eq!(ours.len(), 6);
            for (a, b) in ours.iter().zip(&lab) {
                assert!((a - b).abs() <= 1e-5 * b.abs(), "{act:?}: {ours:?} vs error_rms {lab:?}");
            }
            let p = measure(&MlpConfig::new(16, 32, 6, 4, act, Init::LecunNormal), &data.x, &data.y, &[3], 1.0)?;
            assert!((p.per_example_ratios[0] - lab[0] / lab[5]).abs() <= 1e-5 * p.per_example_ratios[0]);
        }
        Ok(())
    }

    #[test]
    fn line_fit_recovers_a_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 - 0.5 * i as f64)).collect();
        let lab::experiments::LineFit { slope: s, intercept: c, .. } = lab::experiments::fit_line(&pts);
        assert!((s + 0.5).abs() < 1e-12 && (c - 3.0).abs() < 1e-12);
        let geometric: Vec<(f64, f64)> = (2..20).map(|d| (d as f64, 0.25f64.powi(d - 1))).collect();
        assert!((per_layer_factor(&geometric) - 0.25).abs() < 1e-12);
    }
}

//! The wandering length: how much the size of a ReLU network's signal varies from one random
//! initialisation to the next (Hanin & Rolnick 2018, "How to start training: the effect of
//! initialization and architecture": their second failure mode, a variance of the activation length
//! that grows exponentially, avoided by keeping the sum of the reciprocal widths Σ 1/nₗ fixed).
//!
//! With He-normal weights (variance 2/fan-in) and zero biases, the squared norm of a fixed input's
//! activations changes at layer l by the factor
//!
//! ‖xˡ‖² / ‖xˡ⁻¹‖² = (2/nₗ₋₁) Σᵢ relu(gᵢ)², i = 1 … nₗ, with gᵢ independent standard normals,
//!
//! whatever xˡ⁻¹ ≠ 0 is (each zᵢ = wᵢ·xˡ⁻¹ is N(0, 2‖xˡ⁻¹‖²/nₗ₋₁)). The factors of different layers
//! are therefore independent, and log ‖xᴸ‖² is log ‖x⁰‖² plus a sum of independent terms:
//!
//! Var[log ‖xᴸ‖²] = Σₗ V(nₗ), V(n) = Var[log Σᵢ₌₁ⁿ relu(gᵢ)²] ≈ 5/n for large n,
//!
//! since (2/n) Σ relu(gᵢ)² has mean 1 and variance 4·n·(E relu(g)⁴ − (E relu(g)²)²)/n² = 4(3/2 − 1/4)/n
//! = 5/n. [`log_sq_norm_variance`] computes V(n) exactly: K ~ Binomial(n, ½) units are on, and
//! Σ relu(gᵢ)² given K = k is χ²ₖ, whose log has variance ψ′(k/2) and mean ψ(k/2) + ln 2. A layer
//! that switches every unit off (probability 2⁻ⁿ) kills the network — it is born dead, and its log
//! norm is −∞ — so V(n) and the measurements condition on the network being alive.
//!
//! [`LengthVariance`] measures Var[log ‖xᴸ‖²] over independently drawn networks, layer by layer, for
//! constant widths and a mixed profile, against Σₗ 1/nₗ (Figure 3-9).

use crate::born_dead::{inputs, relu_layer, sample_seed};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Init;
use lab::plot::{Legend, LineChart, SeriesStyle};
use serde::Serialize;

/// ψ(x), the digamma function, for x > 0 (recurrence up to x ≥ 12, then the asymptotic series).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 12.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + x.ln() - 0.5 / x - x2 * (1.0 / 12.0 - x2 * (1.0 / 120.0 - x2 * (1.0 / 252.0 - x2 / 240.0)))
}

/// ψ′(x), the trigamma function, for x > 0.
pub fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 12.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + 1.0 / x + x2 / 2.0 + x2 / x * (1.0 / 6.0 - x2 * (1.0 / 30.0 - x2 * (1.0 / 42.0 - x2 / 30.0)))
}

/// V(n) = Var[log Σᵢ₌₁ⁿ relu(gᵢ)²] for standard normal gᵢ, given that some gᵢ > 0: what one ReLU
/// layer of n units with He-normal weights adds to the variance of log ‖x‖², exactly.
pub fn log_sq_norm_variance(n: usize) -> f64 {
    // P(K = k) ∝ C(n, k), k ≥ 1, with ln C(n, k) built up term by term; ln(2ⁿ − 1) without 2ⁿ.
    let ln_norm = n as f64 * 2f64.ln() + (-(0.5f64.powi(n as i32))).ln_1p();
    let (mut ln_choose, mut mean, mut second) = (0.0, 0.0, 0.0);
    for k in 1..=n {
        ln_choose += ((n - k + 1) as f64 / k as f64).ln();
        let p = (ln_choose - ln_norm).exp();
        let psi = digamma(k as f64 / 2.0);
        mean += p * psi;
        second += p * (trigamma(k as f64 / 2.0) + psi * psi);
    }
    second - mean * mean
}

/// log ‖xˡ‖² at every layer l = 1 ..= widths.len() of one network drawn from `rng` (He-normal weights,
/// zero biases) for the input `x`, until a layer is all zero (the network is born dead at `x`; the
/// returned list then stops before that layer).
pub fn log_sq_norms(widths: &[usize], x: &[f64], rng: &mut rand::rngs::StdRng) -> Vec<f64> {
    let mut h = x.to_vec();
    let mut out = Vec::with_capacity(widths.len());
    for &n in widths {
        let w = Init::HE.sample(n, h.len(), rng);
        h = relu_layer(&h, 1, &w, n);
        let sq: f64 = h.iter().map(|v| v * v).sum();
        if sq == 0.0 {
            break;
        }
        out.push(sq.ln());
    }
    out
}

/// Settings of Figure 3-9.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct LengthVarianceOptions {
    /// Constant widths, comma-separated: one profile each.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub widths: Vec<usize>,
    /// A mixed profile: these widths repeated in turn, layer after layer.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 128], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub mixed: Vec<usize>,
    /// Hidden layers of every profile.
    #[arg(long, default_value_t = 32, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Random networks drawn per profile.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub samples: usize,
    /// Dimension of the fixed Gaussian input.
    #[arg(long = "d-in", value_name = "D", default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in: usize,
    /// Seed of the weights and of the input.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(LengthVarianceOptions);

/// One width profile's measurements, layer by layer.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    pub widths: Vec<usize>,
    /// Σ 1/nⱼ over layers 1 ..= l.
    pub beta: Vec<f64>,
    /// Var[log ‖xˡ‖²] over the networks still alive at layer l, and its standard error.
    pub measured: Vec<f64>,
    pub std_error: Vec<f64>,
    /// Σ V(nⱼ), the exact prediction, and 5 Σ 1/nⱼ, its large-width law.
    pub exact: Vec<f64>,
    pub law: Vec<f64>,
    /// Share of the networks born dead at x by layer l.
    pub dead: Vec<f64>,
}

/// Measures one profile over `samples` networks (sample i of profile p has its own seed, so fewer
/// layers of the same networks give a prefix of every list).
pub fn measure_profile(name: String, widths: Vec<usize>, samples: usize, x: &[f64], seed: u64, p: usize) -> Profile {
    let runs: Vec<Vec<f64>> =
        (0..samples).map(|i| log_sq_norms(&widths, x, &mut lab::init::rng(sample_seed(seed, 1000 + p, i)))).collect();
    let (mut beta, mut measured, mut std_error, mut exact, mut law, mut dead) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut b, mut e) = (0.0, 0.0);
    for (l, &n) in widths.iter().enumerate() {
        b += 1.0 / n as f64;
        e += log_sq_norm_variance(n);
        let alive: Vec<f64> = runs.iter().filter_map(|r| r.get(l).copied()).collect();
        let m = alive.len().max(1) as f64;
        let mean = alive.iter().sum::<f64>() / m;
        let var = alive.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0);
        let m4 = alive.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / m;
        beta.push(b);
        measured.push(var);
        std_error.push(((m4 - var * var).max(0.0) / m).sqrt());
        exact.push(e);
        law.push(5.0 * b);
        dead.push(1.0 - alive.len() as f64 / samples as f64);
    }
    Profile { name, widths, beta, measured, std_error, exact, law, dead }
}

/// A profile's values at its last layer, as the chapter quotes them.
#[derive(Debug, Clone, Serialize)]
pub struct LastLayer {
    pub name: String,
    pub beta: f64,
    pub measured: f64,
    pub std_error: f64,
    pub exact: f64,
    pub law: f64,
    /// measured ÷ exact.
    pub ratio_to_exact: f64,
    pub dead: f64,
}

/// n·V(n): the constant one layer of width n puts in front of 1/n (5 as n → ∞).
#[derive(Debug, Clone, Serialize)]
pub struct LayerConstant {
    pub n: usize,
    pub n_v: f64,
}

/// What the full run adds: the options, each profile's last layer, and the slope of the measured
/// variance against Σ 1/nⱼ over every layer of every profile (least squares through the origin).
#[derive(Debug, Clone, Serialize)]
pub struct LengthDetail {
    pub options: LengthVarianceOptions,
    pub last: Vec<LastLayer>,
    pub slope: f64,
    /// n·V(n) for each constant width and a few wider ones: how far the exact V(n) is from 5/n.
    pub constants: Vec<LayerConstant>,
}

/// What Figure 3-9 measured (quick mode: the first two profiles, first 8 layers).
#[derive(Debug, Clone, Serialize)]
pub struct LengthVarianceData {
    pub profiles: Vec<Profile>,
    #[serde(flatten)]
    pub detail: Option<LengthDetail>,
}

/// Figure 3-9: Var[log ‖xᴸ‖²] over random He-initialised ReLU networks against Σ 1/nⱼ.
pub struct LengthVariance;

impl Experiment for LengthVariance {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "length-variance";
    const ABOUT: &'static str =
        "Hanin & Rolnick's second failure mode: Var[log ‖xᴸ‖²] over random ReLU nets against Σ 1/nⱼ (Figure 3-9)";
    type Options = LengthVarianceOptions;
    type Data = LengthVarianceData;

    fn run(opts: &LengthVarianceOptions, go: &GenOptions) -> Result<LengthVarianceData> {
        cli::ensure_nonempty("widths", &opts.widths, "constant width")?;
        cli::ensure_nonempty("mixed", &opts.mixed, "width of the mixed profile")?;
        ensure!(opts.samples >= 2, "need at least 2 samples to measure a variance, got {}", opts.samples);
        let x = inputs(1, opts.d_in, opts.seed);
        let depth = if go.quick { opts.depth.min(8) } else { opts.depth };
        let mut profiles: Vec<(String, Vec<usize>)> =
            opts.widths.iter().map(|&n| (format!("width {n}"), vec![n; depth])).collect();
        let mixed_name = opts.mixed.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        profiles.push((
            format!("widths {mixed_name}, … in turn"),
            opts.mixed.iter().copied().cycle().take(depth).collect(),
        ));
        if go.quick {
            profiles.truncate(2);
        }
        let profiles: Vec<Profile> = profiles
            .into_iter()
            .enumerate()
            .map(|(p, (name, widths))| measure_profile(name, widths, opts.samples, &x, opts.seed, p))
            .collect();
        if go.quick {
            return Ok(LengthVarianceData { profiles, detail: None });
        }
        let last = profiles
            .iter()
            .map(|p| {
                let l = p.beta.len() - 1;
                LastLayer {
                    name: p.name.clone(),
                    beta: p.beta[l],
                    measured: p.measured[l],
                    std_error: p.std_error[l],
                    exact: p.exact[l],
                    law: p.law[l],
                    ratio_to_exact: p.measured[l] / p.exact[l],
                    dead: p.dead[l],
                }
            })
            .collect();
        let (sxy, sxx) = profiles
            .iter()
            .flat_map(|p| p.beta.iter().zip(&p.measured))
            .fold((0.0, 0.0), |(sxy, sxx), (b, v)| (sxy + b * v, sxx + b * b));
        let constants = opts
            .widths
            .iter()
            .copied()
            .chain([256, 1024, 4096])
            .map(|n| LayerConstant { n, n_v: n as f64 * log_sq_norm_variance(n) })
            .collect();
        let detail = LengthDetail { options: opts.clone(), last, slope: sxy / sxx, constants };
        Ok(LengthVarianceData { profiles, detail: Some(detail) })
    }

    fn draw(data: &LengthVarianceData) -> Result<Vec<Drawing>> {
        let Some(detail) = &data.detail else {
            return Ok(vec![Drawing::data_only("length-variance", data)?]);
        };
        let pts = |p: &Profile, v: &[f64]| p.beta.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
        let mut chart = LineChart::new(format!(
            "Var[log ‖xᴸ‖²] over {} random He-initialised ReLU nets, one fixed input",
            detail.options.samples
        ))
        .x_label("Σ 1/nⱼ over the layers so far")
        .y_label("Var[log ‖xᴸ‖²]");
        for (i, p) in data.profiles.iter().enumerate() {
            chart =
                chart.series_with(format!("{}: measured", p.name), pts(p, &p.measured), SeriesStyle::points().color(i));
            chart = chart.series_with(
                format!("{}: exact Σ V(nⱼ)", p.name),
                pts(p, &p.exact),
                SeriesStyle::dashed().color(i).width(1.5),
            );
        }
        let first = &data.profiles[0];
        let beta_max = data.profiles.iter().filter_map(|p| p.beta.last()).fold(0.0f64, |a, &b| a.max(b));
        chart = chart.series_with(
            "law: 5 Σ 1/nⱼ",
            vec![(0.0, 0.0), (beta_max, 5.0 * beta_max)],
            SeriesStyle::solid().color(data.profiles.len()).width(1.5),
        );
        let alt = format!(
            "Variance over random networks of the log squared norm of one input's activations at each layer, against the sum of the reciprocal widths so far, for {} and a mixed profile: every profile grows in a straight line in Σ 1/n, the measured points lie on their dashed exact predictions, and the slopes approach the law 5 Σ 1/n as the layers widen, the narrowest width ({}) the steepest.",
            data.profiles[..data.profiles.len() - 1].iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
            first.widths[0]
        );
        let svg = chart.legend(Legend::Outside).size(820, 460).render(&alt)?;
        Ok(vec![Drawing::new("length-variance", &alt, svg, data)?])
    }
}

impl std::fmt::Display for LengthVarianceData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "Var[log ‖x^L‖²] at the last layer: measured ± standard error, exact Σ V(n), law 5 Σ 1/n")?;
        for p in &self.profiles {
            let l = p.beta.len() - 1;
            writeln!(
                f,
                "{:<28} L={:<3} Σ1/n={:.3}  {:.3} ± {:.3}   exact {:.3}   law {:.3}   born dead {:.3}",
                p.name,
                l + 1,
                p.beta[l],
                p.measured[l],
                p.std_error[l],
                p.exact[l],
                p.law[l],
                p.dead[l]
            )?;
        }
        if let Some(d) = &self.detail {
            writeln!(f, "slope of the measured variance against Σ 1/n: {:.3} (law: 5)", d.slope)?;
            let nv: Vec<String> = d.constants.iter().map(|c| format!("n={}: {:.3}", c.n, c.n_v)).collect();
            writeln!(f, "exact n·V(n), the constant in front of 1/n: {}", nv.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions() {
        // ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ψ′(1) = π²/6, ψ′(½) = π²/2.
        let gamma = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + gamma).abs() < 1e-10);
        assert!((digamma(0.5) + gamma + 2.0 * 2f64.ln()).abs() < 1e-10);
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((trigamma(1.0) - pi2 / 6.0).abs() < 1e-10);
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-10);
    }

    #[test]
    fn one_layer_variance_tends_to_five_over_n() {
        // V(1) = ψ′(½) = π²/2 exactly (one unit, on).
        assert!((log_sq_norm_variance(1) - std::f64::consts::PI.powi(2) / 2.0).abs() < 1e-10);
        let nv = |n: usize| n as f64 * log_sq_norm_variance(n);
        assert!(nv(16) > nv(64) && nv(64) > nv(1024));
        assert!((nv(4096) - 5.0).abs() < 0.01, "{}", nv(4096));
        assert!(nv(1024) > nv(4096) && nv(1024) < nv(256), "{}", nv(1024));
        assert!(nv(16) > 6.0 && nv(16) < 7.5, "{}", nv(16));
    }

    #[test]
    fn the_exact_layer_variance_matches_sampling() {
        // V(32) against 100 000 direct draws of log Σ relu(gᵢ)²: within 4 standard errors (≈ 0.45 %).
        use rand_distr::{Distribution, StandardNormal};
        let (n, draws) = (32, 100_000);
        let mut rng = lab::init::rng(11);
        let logs: Vec<f64> = (0..draws)
            .map(|_| {
                let s: f64 = (0..n).map(|_| StandardNormal.sample(&mut rng)).map(|g: f64| g.max(0.0).powi(2)).sum();
                s.ln()
            })
            .filter(|v: &f64| v.is_finite())
            .collect();
        let m = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / m;
        let var = logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0);
        let exact = log_sq_norm_variance(n);
        assert!((var / exact - 1.0).abs() < 4.0 * (2.0 / m).sqrt(), "{var} vs {exact}");
    }

    #[test]
    fn measurements_match_the_exact_prediction() {
        // 8 layers of width 8, 3000 networks: the measured variance within 4 standard errors of Σ V(n).
        let x = inputs(1, 8, 2);
        let p = measure_profile("w8".into(), vec![8; 8], 3000, &x, 5, 0);
        for l in [0, 3, 7] {
            let (m, e, se) = (p.measured[l], p.exact[l], p.std_error[l]);
            assert!((m - e).abs() < 4.0 * se, "layer {}: {m} vs {e} ± {se}", l + 1);
        }
        // Width 8 dies now and then: 1 − (1 − 2⁻⁸)⁸ ≈ 3 % by layer 8 at one input.
        assert!(p.dead[7] > 0.01 && p.dead[7] < 0.06, "{}", p.dead[7]);
    }

    #[test]
    fn the_simulation_agrees_with_lab_networks() -> Result<()> {
        // log_sq_norms draws the same weights as MlpConfig::build: the same squared norms.
        use candle_core::Tensor;
        use lab::{Activation, DEVICE, MlpConfig};
        let x = inputs(1, 16, 0);
        let widths = [16; 6];
        let seed = sample_seed(0, 1000, 3);
        let ours = log_sq_norms(&widths, &x, &mut lab::init::rng(seed));
        let net = MlpConfig::new(16, 16, 6, 3, Activation::Relu, Init::HE).with_seed(seed).build(&DEVICE)?;
        let xt = Tensor::from_vec(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), (1, 16), &DEVICE)?;
        let trace = net.forward_trace(&xt, false)?;
        for (l, &o) in ours.iter().enumerate() {
            let sq = trace.post[l].sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            assert!((sq.ln() - o).abs() < 1e-4, "layer {}: {} vs {o}", l + 1, sq.ln());
        }
        Ok(())
    }
}

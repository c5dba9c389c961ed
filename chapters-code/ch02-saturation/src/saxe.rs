//! Saxe, McClelland & Ganguli (2014), "Exact solutions to the nonlinear dynamics of learning in deep
//! linear neural networks": a three-layer linear network y = W²W¹x learns a target map T = U S Vᵀ
//! from whitened inputs by plain full-batch gradient descent, and each singular mode's strength
//! u_α(t) = u_αᵀ W²W¹ v_α follows the paper's sigmoidal solution
//! u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀), τ = 1/λ, reaching u_f at
//! t = τ/(2s) · ln[u_f (s − u₀) / (u₀ (s − u_f))].

use anyhow::{Result, ensure};
use candle_core::{Tensor, Var};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{Legend, LineChart, SeriesStyle};
use lab::train::Optim;
use lab::{DEVICE, Init};
use serde::Serialize;

/// Settings of Figure 2-14.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SaxeOptions {
    /// Input and output dimension (the target map is square).
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// The target's non-zero singular values s_α, comma-separated, distinct, in decreasing order.
    #[arg(long, value_delimiter = ',', default_values_t = [3.0, 2.0, 1.0, 0.5], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub strengths: Vec<f64>,
    /// Training examples (whitened: Σ_μ x xᵀ = I, so at least --d).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub examples: usize,
    /// Standard deviation of the small random initial weights.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub init_std: f64,
    /// Learning rate λ of plain gradient descent (the paper's time constant is τ = 1/λ).
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Gradient-descent steps.
    #[arg(long, default_value_t = 1500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// A mode is learned when its strength reaches this fraction of s_α.
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    pub fraction: f64,
    /// Record the trajectories every this many steps.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub record_every: usize,
    /// Seed of the target's singular vectors, the inputs and the initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(SaxeOptions);

/// The paper's solution: a mode's strength at time `t` (in steps) from `u0`, with τ = 1/λ.
pub fn strength_at(s: f64, u0: f64, t: f64, tau: f64) -> f64 {
    let e = (2.0 * s * t / tau).exp();
    s * e / (e - 1.0 + s / u0)
}

/// The paper's learning time: steps for a mode of strength `s` to go from `u0` to `uf`.
pub fn learning_time(s: f64, u0: f64, uf: f64, tau: f64) -> f64 {
    tau / (2.0 * s) * (uf * (s - u0) / (u0 * (s - uf))).ln()
}

/// One singular mode of the target.
#[derive(Debug, Clone, Serialize)]
pub struct Mode {
    pub s: f64,
    /// u_α(0) = u_αᵀ W²W¹ v_α at initialisation.
    pub u_init: f64,
    /// The effective initial strength the prediction starts from: |(a_α + b_α)/2|² with
    /// a_α = W¹v_α and b_α = W²ᵀu_α (the part of the two that grows; see the chapter).
    pub u0: f64,
    /// u_α every `record_every` steps, measured and predicted.
    pub measured: Vec<f64>,
    pub predicted: Vec<f64>,
    /// Steps to reach `fraction`·s, measured and by the paper's formula; their ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// What Figure 2-14 measured (quick mode: the first tenth of the steps, no learning times).
#[derive(Debug, Clone, Serialize)]
pub struct SaxeData {
    pub options: SaxeOptions,
    pub tau: f64,
    pub modes: Vec<Mode>,
    /// The ratios' extremes over the modes (full run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_max: Option<f64>,
}

fn to_rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    Ok(t.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?)
}

/// uᵀ M v for the α-th columns of `u` and `v` (d × d, row-major rows).
fn project(u: &[Vec<f64>], m: &[Vec<f64>], v: &[Vec<f64>], alpha: usize) -> f64 {
    let d = m.len();
    let mut total = 0.0;
    for i in 0..d {
        for j in 0..m[i].len() {
            total += u[i][alpha] * m[i][j] * v[j][alpha];
        }
    }
    total
}

fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter().map(|row| (0..b[0].len()).map(|j| row.iter().zip(b).map(|(x, r)| x * r[j]).sum()).collect()).collect()
}

/// Trains the network for `steps` steps and measures every mode's strength after each.
pub fn run(opts: &SaxeOptions, steps: usize) -> Result<SaxeData> {
    let (d, k) = (opts.d, opts.strengths.len());
    ensure!(k <= d, "--strengths has {k} values but the map is only {d} × {d}");
    ensure!(opts.examples >= d, "--examples {} must be at least --d {d} (whitened inputs)", opts.examples);
    ensure!(
        opts.strengths.windows(2).all(|w| w[0] > w[1]),
        "--strengths must be distinct and decreasing, got {:?}",
        opts.strengths
    );
    ensure!(opts.fraction > 0.0 && opts.fraction < 1.0, "--fraction must be strictly between 0 and 1");
    let mut rng = lab::init::rng(opts.seed);
    let orth = Init::Orthogonal { gain: 1.0 };
    // Target T = U S Vᵀ; whitened inputs X (examples × d) with orthonormal columns, so Σ x xᵀ = I.
    let u = orth.tensor(d, d, &mut rng, &DEVICE)?;
    let v = orth.tensor(d, d, &mut rng, &DEVICE)?;
    let mut s = vec![0f32; d];
    for (a, &sa) in opts.strengths.iter().enumerate() {
        s[a] = sa as f32;
    }
    let t = u.broadcast_mul(&Tensor::from_vec(s, (1, d), &DEVICE)?)?.matmul(&v.t()?)?;
    let x = orth.tensor(opts.examples, d, &mut rng, &DEVICE)?;
    let y = x.matmul(&t.t()?)?;
    let small = Init::Normal { std: opts.init_std };
    let w1 = Var::from_tensor(&small.tensor(opts.hidden, d, &mut rng, &DEVICE)?)?;
    let w2 = Var::from_tensor(&small.tensor(d, opts.hidden, &mut rng, &DEVICE)?)?;
    let mut opt = Optim::Sgd { lr: opts.lr }.optimizer(vec![w1.clone(), w2.clone()])?;
    let (u, v) = (to_rows(&u)?, to_rows(&v)?);
    let tau = 1.0 / opts.lr;

    // Effective initial strengths: a_α = W¹v_α, b_α = W²ᵀu_α.
    let (w1_0, w2_0) = (to_rows(w1.as_tensor())?, to_rows(w2.as_tensor())?);
    let total = |w1: &[Vec<f64>], w2: &[Vec<f64>]| matmul(w2, w1);
    let u0: Vec<f64> = (0..k)
        .map(|a| {
            (0..opts.hidden)
                .map(|h| {
                    let av: f64 = (0..d).map(|j| w1_0[h][j] * v[j][a]).sum();
                    let bu: f64 = (0..d).map(|i| w2_0[i][h] * u[i][a]).sum();
                    ((av + bu) / 2.0).powi(2)
                })
                .sum()
        })
        .collect();
    let w0 = total(&w1_0, &w2_0);
    let mut modes: Vec<Mode> = (0..k)
        .map(|a| Mode {
            s: opts.strengths[a],
            u_init: project(&u, &w0, &v, a),
            u0: u0[a],
            measured: vec![project(&u, &w0, &v, a)],
            predicted: vec![u0[a]],
            measured_time: None,
            predicted_time: None,
            ratio: None,
        })
        .collect();
    let mut last: Vec<f64> = modes.iter().map(|m| m.u_init).collect();
    for step in 1..=steps {
        let pred = x.matmul(&w1.t()?)?.matmul(&w2.t()?)?;
        let loss = ((pred - &y)?.sqr()?.sum_all()? * 0.5)?;
        opt.step(&loss.backward()?)?;
        let w = total(&to_rows(w1.as_tensor())?, &to_rows(w2.as_tensor())?);
        for (a, mode) in modes.iter_mut().enumerate() {
            let ua = project(&u, &w, &v, a);
            ensure!(ua.is_finite(), "training diverged at step {step} (learning rate {} too high?)", opts.lr);
            let target = opts.fraction * mode.s;
            if mode.measured_time.is_none() && ua >= target {
                // Linear interpolation between the two steps around the crossing.
                mode.measured_time = Some(step as f64 - 1.0 + (target - last[a]) / (ua - last[a]));
            }
            last[a] = ua;
            if step % opts.record_every == 0 {
                mode.measured.push(ua);
                mode.predicted.push(strength_at(mode.s, mode.u0, step as f64, tau));
            }
        }
    }
    for mode in &mut modes {
        let predicted = learning_time(mode.s, mode.u0, opts.fraction * mode.s, tau);
        mode.predicted_time = Some(predicted);
        mode.ratio = mode.measured_time.map(|m| m / predicted);
    }
    let ratios: Vec<f64> = modes.iter().filter_map(|m| m.ratio).collect();
    let all = ratios.len() == modes.len();
    Ok(SaxeData {
        options: opts.clone(),
        tau,
        ratio_min: all.then(|| ratios.iter().copied().fold(f64::INFINITY, f64::min)),
        ratio_max: all.then(|| ratios.iter().copied().fold(0.0, f64::max)),
        modes,
    })
}

/// Figure 2-14: the strength of each singular mode of the target during gradient descent, measured
/// and as Saxe et al.'s solution predicts.
pub struct Saxe;

impl Experiment for Saxe {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "saxe";
    const ABOUT: &'static str =
        "A deep linear network learns a map mode by mode, against Saxe et al.'s exact solution (Figure 2-14)";
    type Options = SaxeOptions;
    type Data = SaxeData;

    fn run(opts: &SaxeOptions, run_mode: &GenOptions) -> Result<SaxeData> {
        let mut data = if run_mode.quick {
            // The first tenth of the run, with no learning times (no mode is learned yet).
            let steps = (opts.steps / 10).max(opts.record_every).min(opts.steps);
            let mut data = run(opts, steps)?;
            data.ratio_min = None;
            data.ratio_max = None;
            data
        } else {
            run(opts, opts.steps)?
        };
        if run_mode.quick {
            for m in &mut data.modes {
                (m.measured_time, m.predicted_time, m.ratio) = (None, None, None);
            }
        } else {
            ensure!(
                data.modes.iter().all(|m| m.measured_time.is_some()),
                "some modes did not reach {} of their strength in --steps {}; run longer",
                opts.fraction,
                opts.steps
            );
        }
        Ok(data)
    }

    fn draw(data: &SaxeData) -> Result<Vec<Drawing>> {
        let every = data.options.record_every as f64;
        let mut chart = LineChart::new(format!(
            "Mode strengths of an {}→{}→{} linear network under gradient descent (λ = {})",
            data.options.d, data.options.hidden, data.options.d, data.options.lr
        ))
        .x_label("gradient-descent step (full batch)")
        .y_label("mode strength u_α = u_αᵀ W²W¹ v_α");
        for (a, m) in data.modes.iter().enumerate() {
            let pts = |v: &[f64]| v.iter().enumerate().map(|(i, &u)| (i as f64 * every, u)).collect();
            chart = chart
                .series_with(format!("s = {}: measured", m.s), pts(&m.measured), SeriesStyle::solid().color(a))
                .series_with(format!("s = {}: Saxe et al.", m.s), pts(&m.predicted), SeriesStyle::dashed().color(a));
        }
        let alt = "Strength of each of four singular modes of the target map against gradient-descent step: each rises along a sigmoid from near zero to its singular value s, the strongest mode first and the weakest last; the measured curves (solid) lie on Saxe et al.'s analytic solutions (dashed)";
        Ok(vec![Drawing::new("saxe", alt, chart.legend(Legend::Outside).render(alt)?, data)?])
    }
}

impl std::fmt::Display for SaxeData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for m in &self.modes {
            match (m.measured_time, m.predicted_time) {
                (Some(meas), Some(pred)) => writeln!(
                    f,
                    "s = {:4}: u0 = {:.2e}, learned in {meas:7.1} steps, predicted {pred:7.1} (ratio {:.3})",
                    m.s,
                    m.u0,
                    meas / pred
                )?,
                _ => writeln!(
                    f,
                    "s = {:4}: u0 = {:.2e}, u = {:.3e} at the end (quick run)",
                    m.s,
                    m.u0,
                    m.measured.last().copied().unwrap_or(f64::NAN)
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_time_inverts_the_solution() {
        let (s, u0, tau) = (2.0, 1e-3, 50.0);
        let t = learning_time(s, u0, 0.9 * s, tau);
        assert!((strength_at(s, u0, t, tau) - 0.9 * s).abs() < 1e-9);
        assert!((strength_at(s, u0, 0.0, tau) - u0).abs() < 1e-12);
    }

    #[test]
    fn measured_learning_times_match_the_prediction() -> Result<()> {
        let opts = SaxeOptions { strengths: vec![2.0, 1.0], steps: 1000, ..Default::default() };
        let data = run(&opts, opts.steps)?;
        for m in &data.modes {
            let ratio = m.ratio.expect("every mode is learned");
            assert!((ratio - 1.0).abs() < 0.05, "s = {}: ratio {ratio}", m.s);
        }
        // The stronger mode is learned first.
        assert!(data.modes[0].measured_time < data.modes[1].measured_time);
        Ok(())
    }

    #[test]
    fn bad_strengths_are_refused() {
        let opts = SaxeOptions { strengths: vec![1.0, 2.0], ..Default::default() };
        assert!(run(&opts, 10).unwrap_err().to_string().contains("decreasing"));
    }
}

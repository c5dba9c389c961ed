//! Figures 7-12 and 7-13: Pascanu et al.'s §2.1 measurement at their scale. For a 64-unit RNN run
//! over 50 steps, the largest singular value of the whole Jacobian ∂h_T/∂h_0 = Π diag(φ'(z_t))·W,
//! against the sufficient condition for vanishing, (γ·s₁(W))^T, for a tanh RNN (γ = 1) and a
//! sigmoid RNN (γ = 1/4). Unlike Figure 7-1, which reads the gradient along one direction for
//! orthogonal W (where the spectral radius and the largest singular value are both ρ), W here is
//! Gaussian and scaled to a spectral radius ρ, so its largest singular value is about 2ρ: the gap
//! between the two conditions of §2.1 — spectral radius for the linear case, largest singular
//! value for the bound — shows.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::{Activation, Init};
use serde::Serialize;

/// Settings of Figures 7-12 and 7-13.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct JacobianOptions {
    /// Hidden units (64: our choice, near the 50 hidden units of the paper's §4.1 experiments).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Steps T.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Spectral radii of the tanh RNN's W, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5, 0.9, 1.0, 1.1, 1.5, 2.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub tanh_radii: Vec<f64>,
    /// Spectral radii of the sigmoid RNN's W, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 2.0, 4.0, 8.0, 16.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub sigmoid_radii: Vec<f64>,
    /// Input features (standard normal at every step), weights N(0, gain²/d_in).
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in: usize,
    #[arg(long, default_value_t = 0.3, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub input_gain: f64,
    /// Sequences averaged over (geometric mean of s₁).
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the weights (plus one: of the inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(JacobianOptions);

/// A dense row-major square matrix product, `a·b`, n × n.
fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik != 0.0 {
                for j in 0..n {
                    c[i * n + j] += aik * b[k * n + j];
                }
            }
        }
    }
    c
}

fn frobenius(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The spectral radius of an n × n matrix by Gelfand's formula, ‖A^k‖^(1/k) with k = 2^squarings
/// (each squaring renormalised so nothing overflows).
pub fn spectral_radius(a: &[f64], n: usize, squarings: u32) -> f64 {
    let mut p = a.to_vec();
    let mut log_norm = 0.0;
    for _ in 0..squarings {
        let f = frobenius(&p);
        p.iter_mut().for_each(|x| *x /= f);
        log_norm = 2.0 * (log_norm + f.ln());
        p = matmul(&p, &p, n);
    }
    ((log_norm + frobenius(&p).ln()) / 2f64.powi(squarings as i32)).exp()
}

/// The largest singular value of an n × n matrix.
pub fn largest_singular_value(a: &[f64], n: usize) -> Result<f64> {
    let s = lab::linalg::singular_values(a, n, n)?;
    Ok(s.iter().copied().fold(0.0, f64::max))
}

/// One RNN: its W, and the geometric mean over sequences of s₁(∂h_t/∂h_0) for t = 1..T.
#[derive(Debug, Clone, Serialize)]
pub struct JacobianRun {
    pub rho: f64,
    /// W's largest singular value, and its spectral radius as measured (Gelfand).
    pub s1: f64,
    pub measured_radius: f64,
    /// s₁ of ∂h_t/∂h_0, t = 1..T (geometric mean over sequences).
    pub norms: Vec<f64>,
    /// The bound (γ·s₁(W))^t, t = 1..T.
    pub bound: Vec<f64>,
    pub last: f64,
    pub bound_last: f64,
}

/// Runs the RNN h_t = φ(W h_{t−1} + U x_t), h_0 = 0, with W Gaussian scaled to spectral radius
/// `rho`, and multiplies the Jacobians diag(φ'(z_t))·W along the way.
pub fn jacobian_run(opts: &JacobianOptions, phi: Activation, rho: f64) -> Result<JacobianRun> {
    let n = opts.hidden;
    let mut rng = lab::init::rng(opts.seed);
    let w0 = Init::Normal { std: 1.0 / (n as f64).sqrt() }.tensor(n, n, &mut rng, &lab::DEVICE)?;
    let w0: Vec<f64> = w0.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1()?;
    let r0 = spectral_radius(&w0, n, 10);
    let w: Vec<f64> = w0.iter().map(|x| x * rho / r0).collect();
    let u = Init::Normal { std: opts.input_gain / (opts.d_in as f64).sqrt() }.tensor(
        n,
        opts.d_in,
        &mut rng,
        &lab::DEVICE,
    )?;
    let u: Vec<f64> = u.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1()?;
    let mut input_rng = lab::init::rng(opts.seed + 1);
    let xs = Init::Normal { std: 1.0 }.tensor(opts.batch * opts.steps, opts.d_in, &mut input_rng, &lab::DEVICE)?;
    let xs: Vec<f64> = xs.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1()?;
    let mut log_norms = vec![0.0; opts.steps];
    for s in 0..opts.batch {
        let mut h = vec![0.0; n];
        let mut jac: Vec<f64> = (0..n * n).map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.0 }).collect();
        for t in 0..opts.steps {
            let x = &xs[(s * opts.steps + t) * opts.d_in..][..opts.d_in];
            let z: Vec<f64> = (0..n)
                .map(|i| {
                    let rec: f64 = (0..n).map(|j| w[i * n + j] * h[j]).sum();
                    rec + (0..opts.d_in).map(|j| u[i * opts.d_in + j] * x[j]).sum::<f64>()
                })
                .collect();
            // ∂h_t/∂h_{t−1} = diag(φ'(z_t))·W, and ∂h_t/∂h_0 = that · ∂h_{t−1}/∂h_0.
            let step: Vec<f64> = (0..n * n).map(|k| phi.derivative(z[k / n]) * w[k]).collect();
            jac = matmul(&step, &jac, n);
            h = z.iter().map(|&v| phi.value(v)).collect();
            log_norms[t] += largest_singular_value(&jac, n)?.ln();
        }
    }
    let norms: Vec<f64> = log_norms.iter().map(|l| (l / opts.batch as f64).exp()).collect();
    let s1 = largest_singular_value(&w, n)?;
    let gamma = phi.max_derivative();
    let bound: Vec<f64> = (1..=opts.steps).map(|t| (gamma * s1).powi(t as i32)).collect();
    Ok(JacobianRun {
        rho,
        s1,
        measured_radius: spectral_radius(&w, n, 10),
        last: *norms.last().unwrap(),
        bound_last: *bound.last().unwrap(),
        norms,
        bound,
    })
}

/// One figure: one activation at several radii.
#[derive(Debug, Clone, Serialize)]
pub struct JacobianFigure {
    pub options: JacobianOptions,
    pub activation: String,
    /// γ = sup |φ'|.
    pub gamma: f64,
    pub runs: Vec<JacobianRun>,
}

/// What Figures 7-12 and 7-13 measured (quick mode: the first radius of each).
#[derive(Debug, Clone, Serialize)]
pub struct JacobianData {
    pub tanh: JacobianFigure,
    pub sigmoid: JacobianFigure,
}

/// Figures 7-12 (tanh) and 7-13 (sigmoid): ‖∂h_T/∂h_0‖ near the paper's scale.
pub struct JacobianNorm;

impl Experiment for JacobianNorm {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "jacobian";
    const ABOUT: &'static str = "Pascanu et al.'s §2.1 at their scale: ‖∂h_T/∂h_0‖ of 64-unit tanh and sigmoid RNNs over 50 steps (Figures 7-12, 7-13)";
    type Options = JacobianOptions;
    type Data = JacobianData;

    fn run(opts: &JacobianOptions, run_mode: &GenOptions) -> Result<JacobianData> {
        ensure!(opts.hidden >= 2, "--hidden must be at least 2");
        ensure!(!opts.tanh_radii.is_empty() && !opts.sigmoid_radii.is_empty(), "need at least one radius of each");
        let figure = |phi: Activation, radii: &[f64]| -> Result<JacobianFigure> {
            let radii = if run_mode.quick { &radii[..1] } else { radii };
            Ok(JacobianFigure {
                options: opts.clone(),
                activation: phi.name().to_string(),
                gamma: phi.max_derivative(),
                runs: radii.iter().map(|&rho| jacobian_run(opts, phi, rho)).collect::<Result<_>>()?,
            })
        };
        Ok(JacobianData {
            tanh: figure(Activation::Tanh, &opts.tanh_radii)?,
            sigmoid: figure(Activation::Sigmoid, &opts.sigmoid_radii)?,
        })
    }

    fn draw(data: &JacobianData) -> Result<Vec<Drawing>> {
        let chart = |fig: &JacobianFigure| -> Result<String> {
            let o = &fig.options;
            let mut chart = LineChart::new(format!(
                "{} RNN, {} units, Gaussian W with spectral radius ρ: ‖∂h_t/∂h_0‖₂",
                fig.activation, o.hidden
            ))
            .x_label("steps t")
            .y_label("largest singular value of ∂h_t/∂h_0")
            .log_y()
            .legend(lab::plot::Legend::Outside);
            for (i, r) in fig.runs.iter().enumerate() {
                let pts = |v: &[f64]| v.iter().enumerate().map(|(t, &y)| ((t + 1) as f64, y)).collect::<Vec<_>>();
                chart = chart
                    .series_with(format!("ρ = {}", r.rho), pts(&r.norms), SeriesStyle::solid().color(i))
                    .series_with(
                        format!("bound (γ·s₁)^t, s₁ = {:.2}", r.s1),
                        pts(&r.bound),
                        SeriesStyle::dashed().color(i),
                    );
            }
            let alt = format!(
                "The largest singular value of the Jacobian from h_0 to h_t of a {} RNN with 64 units, against t up to 50, for several spectral radii of its recurrent matrix, each with its dashed bound (γ times the matrix's largest singular value) to the power t.",
                fig.activation
            );
            chart.render(&alt)
        };
        let alt_t = "The Jacobian norm of 64-unit tanh RNNs over 50 steps against Pascanu's bound.";
        let alt_s = "The Jacobian norm of 64-unit sigmoid RNNs over 50 steps against Pascanu's bound.";
        Ok(vec![
            Drawing::new("jacobian-tanh", alt_t, chart(&data.tanh)?, &data.tanh)?,
            Drawing::new("jacobian-sigmoid", alt_s, chart(&data.sigmoid)?, &data.sigmoid)?,
        ])
    }
}

impl std::fmt::Display for JacobianData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for fig in [&self.tanh, &self.sigmoid] {
            writeln!(f, "{} RNN (γ = {}):", fig.activation, fig.gamma)?;
            for r in &fig.runs {
                writeln!(
                    f,
                    "  ρ = {:<5} (measured {:.3}), s₁(W) = {:.3}: ‖∂h_T/∂h_0‖ = {:.3e}, bound {:.3e}",
                    r.rho, r.measured_radius, r.s1, r.last, r.bound_last
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelfands_formula_finds_the_spectral_radius_of_a_non_normal_matrix() {
        // Upper triangular: eigenvalues 0.5 and −0.8, a large off-diagonal entry (s₁ > 10).
        let a = [0.5, 10.0, 0.0, -0.8];
        assert!((spectral_radius(&a, 2, 10) - 0.8).abs() < 1e-2, "{}", spectral_radius(&a, 2, 10));
        assert!(largest_singular_value(&a, 2).unwrap() > 10.0);
    }

    #[test]
    fn the_jacobian_norm_stays_under_the_bound_and_w_has_the_asked_radius() -> Result<()> {
        let opts = JacobianOptions { hidden: 16, steps: 12, batch: 2, ..JacobianOptions::default() };
        for (phi, rho) in [(Activation::Tanh, 1.5), (Activation::Sigmoid, 6.0)] {
            let r = jacobian_run(&opts, phi, rho)?;
            assert!((r.measured_radius / rho - 1.0).abs() < 0.05, "{}", r.measured_radius);
            for (g, b) in r.norms.iter().zip(&r.bound) {
                assert!(*g <= b * (1.0 + 1e-9), "{g} above {b}");
            }
        }
        Ok(())
    }
}

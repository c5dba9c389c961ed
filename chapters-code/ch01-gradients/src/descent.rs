//! Gradient descent on the smallest problem that shows its behaviour: least-squares linear
//! regression, y ≈ w·x + b, whose loss is a quadratic bowl with a closed-form curvature.
//!
//! For L(θ) = (1/n)‖Xθ − y‖², the Hessian is H = (2/n) XᵀX. Gradient descent with learning rate η
//! converges iff η < 2/λ_max(H), oscillates for η between 1/λ_max and 2/λ_max, and diverges above.
//!
//! [`Descent`] draws Figure 1-1: the loss curves at fractions of the limit 2/λ_max.

use anyhow::Result;
use candle_core::{D, DType, Tensor, Var};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::LineChart;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// A seeded 1-D regression problem: x ~ N(mean, 1), y = 2x − 1 + N(0, 0.1²).
pub struct Regression {
    pub x: Tensor,
    pub y: Tensor,
}

impl Regression {
    pub fn new(n: usize, x_mean: f64, seed: u64) -> Result<Self> {
        let mut rng = lab::init::rng(seed);
        let (xs, noise) = (Normal::new(x_mean, 1.0)?, Normal::new(0.0, 0.1)?);
        let x: Vec<f64> = (0..n).map(|_| xs.sample(&mut rng)).collect();
        let y: Vec<f64> = x.iter().map(|&xi| 2.0 * xi - 1.0 + noise.sample(&mut rng)).collect();
        Ok(Regression { x: Tensor::from_vec(x, n, &lab::DEVICE)?, y: Tensor::from_vec(y, n, &lab::DEVICE)? })
    }

    /// The loss's Hessian eigenvalues (λ_min, λ_max), in closed form from the 2×2 matrix (2/n)XᵀX
    /// with X = [x 1].
    pub fn curvature(&self) -> Result<(f64, f64)> {
        let n = self.x.dim(0)? as f64;
        let sxx = self.x.sqr()?.sum_all()?.to_scalar::<f64>()?;
        let sx = self.x.sum_all()?.to_scalar::<f64>()?;
        let (a, b, d) = (2.0 * sxx / n, 2.0 * sx / n, 2.0);
        let (mean, disc) = ((a + d) / 2.0, (((a - d) / 2.0).powi(2) + b * b).sqrt());
        Ok((mean - disc, mean + disc))
    }

    /// Mean squared error of (w, b).
    pub fn loss(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        let pred = self.x.broadcast_mul(w)?.broadcast_add(b)?;
        Ok((pred - &self.y)?.sqr()?.mean(D::Minus1)?)
    }
}

/// Losses along `steps` full-batch gradient-descent steps from (w, b) = (0, 0), computed with
/// candle's autograd: [L(θ₀), L(θ₁), …]. Stops early (shorter vector) if the loss overflows.
pub fn descend(problem: &Regression, lr: f64, steps: usize) -> Result<Vec<f64>> {
    let w = Var::zeros(1, DType::F64, &lab::DEVICE)?;
    let b = Var::zeros(1, DType::F64, &lab::DEVICE)?;
    let mut losses = Vec::with_capacity(steps + 1);
    for _ in 0..=steps {
        let loss = problem.loss(w.as_tensor(), b.as_tensor())?;
        let value = loss.to_scalar::<f64>()?;
        if !value.is_finite() || value > 1e12 {
            break;
        }
        losses.push(value);
        let grads = loss.backward()?;
        for p in [&w, &b] {
            let g = grads.get(p).expect("both parameters are used");
            p.set(&(p.as_tensor() - (g * lr)?)?)?;
        }
    }
    Ok(losses)
}

/// Settings of Figure 1-1.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct DescentOptions {
    /// Number of data points.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n: usize,
    /// Mean of the inputs x (an offset makes the loss bowl elongated: λ_max/λ_min grows).
    #[arg(long, default_value_t = 3.0, value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub x_mean: f64,
    /// Gradient-descent steps.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Learning rates, as fractions of the stability limit 2/λ_max, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0.1, 0.5, 0.95, 1.05], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub fractions: Vec<f64>,
    /// Seed of the data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(DescentOptions);

/// How a full run ended (quick runs are shorter, so their ends are not comparable).
#[derive(Debug, Clone, Serialize)]
pub struct DescentEnd {
    pub lr: f64,
    pub steps_run: usize,
    pub final_loss: f64,
}

/// One learning rate's loss curve.
#[derive(Debug, Clone, Serialize)]
pub struct DescentRun {
    /// The learning rate as a multiple of 2/λ_max, the stability limit.
    pub fraction: f64,
    /// [L(θ₀), L(θ₁), …], shorter if the loss overflowed.
    pub losses: Vec<f64>,
    #[serde(flatten)]
    pub end: Option<DescentEnd>,
}

/// The data's settings, recorded by the full run.
#[derive(Debug, Clone, Serialize)]
pub struct DescentSettings {
    pub x_mean: f64,
    pub seed: u64,
    pub steps: usize,
}

/// What Figure 1-1 measured (quick mode: the first 20 steps of each curve).
#[derive(Debug, Clone, Serialize)]
pub struct DescentData {
    pub n: usize,
    #[serde(flatten)]
    pub settings: Option<DescentSettings>,
    pub lambda_max: f64,
    pub lambda_min: f64,
    /// The stability limit 2/λ_max.
    pub limit: f64,
    pub runs: Vec<DescentRun>,
}

/// Figure 1-1: loss curves of gradient descent at fractions of the stability limit.
pub struct Descent;

impl Experiment for Descent {
    const CHAPTER: &'static str = "ch01";
    const NAME: &'static str = "descent";
    const ABOUT: &'static str =
        "Gradient descent on least squares at fractions of the stability limit 2/λ_max (Figure 1-1)";
    type Options = DescentOptions;
    type Data = DescentData;

    fn run(opts: &DescentOptions, go: &GenOptions) -> Result<DescentData> {
        chapter_kit::cli::ensure_nonempty("fractions", &opts.fractions, "learning rate")?;
        let problem = Regression::new(opts.n, opts.x_mean, opts.seed)?;
        let (lambda_min, lambda_max) = problem.curvature()?;
        let limit = 2.0 / lambda_max;
        // Quick mode runs the same descents for fewer steps: a prefix of the full curves.
        let steps = if go.quick { opts.steps.min(20) } else { opts.steps };
        let mut runs = Vec::new();
        for &fraction in &opts.fractions {
            let losses = descend(&problem, fraction * limit, steps)?;
            let end = (!go.quick).then(|| DescentEnd {
                lr: fraction * limit,
                steps_run: losses.len() - 1,
                final_loss: *losses.last().expect("at least the initial loss"),
            });
            runs.push(DescentRun { fraction, losses, end });
        }
        let settings =
            (!go.quick).then_some(DescentSettings { x_mean: opts.x_mean, seed: opts.seed, steps: opts.steps });
        Ok(DescentData { n: opts.n, settings, lambda_max, lambda_min, limit, runs })
    }

    fn draw(data: &DescentData) -> Result<Vec<Drawing>> {
        if data.settings.is_none() {
            // A quick run: the first steps only, not drawn.
            return Ok(vec![Drawing::data_only("descent", data)?]);
        }
        let fractions: Vec<f64> = data.runs.iter().map(|r| r.fraction).collect();
        let alt = format!(
            "Loss against step on a log scale for learning rates {:?} times the stability limit 2/λmax = {:.4}; the runs below the limit fall, the one above diverges",
            fractions, data.limit
        );
        let mut chart = LineChart::new("Gradient descent on least squares")
            .x_label("step")
            .y_label("loss (mean squared error)")
            .log_y();
        for r in &data.runs {
            let points = r.losses.iter().enumerate().map(|(i, &l)| (i as f64, l)).collect();
            chart = chart.series(format!("η = {}× limit", r.fraction), points);
        }
        let svg = chart.render(&alt)?;
        Ok(vec![Drawing::new("descent", &alt, svg, data)?])
    }
}

impl std::fmt::Display for DescentData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "λ_min = {:.4}, λ_max = {:.4}, stability limit 2/λ_max = {:.4}",
            self.lambda_min, self.lambda_max, self.limit
        )?;
        for r in &self.runs {
            let (first, last) = (r.losses[0], r.losses[r.losses.len() - 1]);
            writeln!(f, "η = {} × limit: {} steps, loss {first:.3e} → {last:.3e}", r.fraction, r.losses.len() - 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curvature_matches_a_finite_difference_hessian() -> Result<()> {
        let p = Regression::new(200, 1.0, 0)?;
        let (lo, hi) = p.curvature()?;
        // Trace and determinant of (2/n)XᵀX computed directly.
        let n = 200.0;
        let sxx = p.x.sqr()?.sum_all()?.to_scalar::<f64>()?;
        let sx = p.x.sum_all()?.to_scalar::<f64>()?;
        let (a, b, d) = (2.0 * sxx / n, 2.0 * sx / n, 2.0);
        assert!((lo + hi - (a + d)).abs() < 1e-9);
        assert!((lo * hi - (a * d - b * b)).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn the_stability_limit_separates_convergence_from_divergence() -> Result<()> {
        let p = Regression::new(200, 1.0, 0)?;
        let limit = 2.0 / p.curvature()?.1;
        let below = descend(&p, 0.9 * limit, 200)?;
        let above = descend(&p, 1.1 * limit, 200)?;
        assert!(below.last().unwrap() < &0.02, "converged loss {:?}", below.last());
        assert!(above.len() < 201 || above.last().unwrap() > &above[0], "diverges above the limit");
        Ok(())
    }
}

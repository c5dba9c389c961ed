//! Gradient descent on the smallest problem that shows its behaviour: least-squares linear
//! regression, y ≈ w·x + b, whose loss is a quadratic bowl with a closed-form curvature.
//!
//! For L(θ) = (1/n)‖Xθ − y‖², the Hessian is H = (2/n) XᵀX. Gradient descent with learning rate η
//! converges iff η < 2/λ_max(H), oscillates for η between 1/λ_max and 2/λ_max, and diverges above.

use anyhow::Result;
use candle_core::{D, DType, Tensor, Var};
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

/// One learning rate's loss curve.
#[derive(Debug, Clone, Serialize)]
pub struct DescentRun {
    pub lr: f64,
    /// lr as a multiple of 2/λ_max, the stability limit.
    pub lr_over_limit: f64,
    pub losses: Vec<f64>,
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

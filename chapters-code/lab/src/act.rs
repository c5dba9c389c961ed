//! Activation functions, their derivatives, and the predicates the book measures them by.
//!
//! Each activation is available three ways: on `f64` scalars (for plots of the function itself and
//! closed-form checks), on candle tensors (for networks, differentiable through candle's autograd), and
//! as a derivative tensor computed from the pre-activation (for probes that need σ'(z) per unit).

use anyhow::{Result, bail};
use candle_core::{D, Tensor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An elementwise activation function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^(−z)); σ'(z) = σ(z)(1 − σ(z)) ≤ 1/4.
    Sigmoid,
    /// tanh z; tanh'(z) = 1 − tanh²(z) ≤ 1.
    Tanh,
    /// max(0, z); derivative 1 for z > 0, 0 otherwise (we take 0 at z = 0, as PyTorch does).
    Relu,
    /// max(αz, z) with slope α for z < 0.
    LeakyRelu(f64),
    /// z Φ(z), the exact (erf) form.
    Gelu,
    /// z / (1 + |z|); derivative 1 / (1 + |z|)².
    Softsign,
    /// The identity: a deep linear network.
    Linear,
}

/// A unit of a saturating activation counts as *saturated* when its output is this close to an
/// asymptote (σ < 0.03 or σ > 0.97; |tanh| > 0.97; |softsign| > 0.97) — the threshold of Karpathy's
/// "makemore part 3" histograms.
pub const SATURATION_MARGIN: f64 = 0.03;

impl Activation {
    /// Every activation, in the order the book presents them (leaky ReLU with α = 0.01).
    pub const ALL: [Activation; 7] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Gelu,
        Activation::Softsign,
        Activation::Linear,
    ];

    /// The activation's value at a scalar.
    pub fn value(&self, z: f64) -> f64 {
        match *self {
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu(a) => {
                if z > 0.0 {
                    z
                } else {
                    a * z
                }
            }
            Activation::Gelu => 0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2)),
            Activation::Softsign => z / (1.0 + z.abs()),
            Activation::Linear => z,
        }
    }

    /// The activation's derivative at a scalar.
    pub fn derivative(&self, z: f64) -> f64 {
        match *self {
            Activation::Sigmoid => {
                let s = Activation::Sigmoid.value(z);
                s * (1.0 - s)
            }
            Activation::Tanh => 1.0 - z.tanh().powi(2),
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if z > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Gelu => {
                let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2)) + z * phi
            }
            Activation::Softsign => 1.0 / (1.0 + z.abs()).powi(2),
            Activation::Linear => 1.0,
        }
    }

    /// The supremum of |f'(z)| over all z: 1/4 for sigmoid, 1 for tanh, ReLU, softsign and linear.
    pub fn max_derivative(&self) -> f64 {
        match *self {
            Activation::Sigmoid => 0.25,
            Activation::LeakyRelu(a) => a.abs().max(1.0),
            // GELU's derivative peaks at z = √2 with value ≈ 1.1289.
            Activation::Gelu => Activation::Gelu.derivative(std::f64::consts::SQRT_2),
            _ => 1.0,
        }
    }

    /// Applies the activation to a tensor (differentiable through candle's autograd).
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        if crate::fast::kernel_enabled(crate::fast::Kernel::Activations) {
            // Fused single-pass kernels with analytic backward passes (see `crate::fast`).
            match *self {
                Activation::Sigmoid => return Ok(crate::fast::sigmoid(z)?),
                Activation::Tanh => return Ok(crate::fast::tanh(z)?),
                Activation::Relu => return Ok(crate::fast::relu(z)?),
                _ => {}
            }
        }
        Ok(match *self {
            Activation::Sigmoid => candle_nn::ops::sigmoid(z)?,
            Activation::Tanh => z.tanh()?,
            Activation::Relu => z.relu()?,
            Activation::LeakyRelu(a) => candle_nn::ops::leaky_relu(z, a)?,
            Activation::Gelu => z.gelu_erf()?,
            Activation::Softsign => (z / (z.abs()? + 1.0)?)?,
            Activation::Linear => z.clone(),
        })
    }

    /// f'(z) elementwise, from the pre-activation `z` (not part of any autograd graph).
    pub fn derivative_tensor(&self, z: &Tensor) -> Result<Tensor> {
        let z = z.detach();
        Ok(match *self {
            Activation::Sigmoid => {
                let s = candle_nn::ops::sigmoid(&z)?;
                (&s * (1.0 - &s)?)?
            }
            Activation::Tanh => (1.0 - z.tanh()?.sqr()?)?,
            Activation::Relu => z.gt(0.0)?.to_dtype(z.dtype())?,
            Activation::LeakyRelu(a) => {
                let pos = z.gt(0.0)?.to_dtype(z.dtype())?;
                ((&pos * (1.0 - a))? + a)?
            }
            Activation::Gelu => {
                let cdf = ((z.affine(std::f64::consts::FRAC_1_SQRT_2, 0.0)?.erf()? + 1.0)? * 0.5)?;
                let pdf = (z.sqr()?.affine(-0.5, 0.0)?.exp()? / (2.0 * std::f64::consts::PI).sqrt())?;
                (cdf + (&z * pdf)?)?
            }
            Activation::Softsign => (z.abs()? + 1.0)?.sqr()?.recip()?,
            Activation::Linear => z.ones_like()?,
        })
    }

    /// Whether the activation has flat asymptotes where units can saturate.
    pub fn saturates(&self) -> bool {
        matches!(self, Activation::Sigmoid | Activation::Tanh | Activation::Softsign)
    }

    /// Whether a post-activation value `a` counts as saturated (see [`SATURATION_MARGIN`]).
    /// Always false for non-saturating activations.
    pub fn is_saturated(&self, a: f64) -> bool {
        let m = SATURATION_MARGIN;
        match self {
            Activation::Sigmoid => a < m || a > 1.0 - m,
            Activation::Tanh | Activation::Softsign => a.abs() > 1.0 - m,
            _ => false,
        }
    }

    /// Fraction of entries of the post-activation tensor `a` that are saturated.
    pub fn saturated_fraction(&self, a: &Tensor) -> Result<f64> {
        let m = SATURATION_MARGIN;
        let mask = match self {
            Activation::Sigmoid => (a.lt(m)?.to_dtype(a.dtype())? + a.gt(1.0 - m)?.to_dtype(a.dtype())?)?,
            Activation::Tanh | Activation::Softsign => a.abs()?.gt(1.0 - m)?.to_dtype(a.dtype())?,
            _ => return Ok(0.0),
        };
        mean_all(&mask)
    }

    /// Fraction of *units* (columns of the batch × width pre-activation `z`) that are dead: zero
    /// gradient for every example of the batch. Only ReLU units die; a leaky ReLU, by design, never does.
    pub fn dead_fraction(&self, z: &Tensor) -> Result<f64> {
        if *self != Activation::Relu {
            return Ok(0.0);
        }
        // A unit is dead on this batch when max over examples of z ≤ 0.
        let max_per_unit = z.max(0)?;
        mean_all(&max_per_unit.le(0.0)?.to_dtype(z.dtype())?)
    }

    /// The name the command-line flags use.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Gelu => "gelu",
            Activation::Softsign => "softsign",
            Activation::Linear => "linear",
        }
    }
}

fn mean_all(t: &Tensor) -> Result<f64> {
    let n = t.elem_count();
    if n == 0 {
        return Ok(0.0);
    }
    Ok(t.flatten_all()?.to_dtype(candle_core::DType::F64)?.sum(D::Minus1)?.to_scalar::<f64>()? / n as f64)
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu(a) if *a != 0.01 => write!(f, "leaky_relu:{a}"),
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for Activation {
    type Err = anyhow::Error;

    /// Parses `sigmoid`, `tanh`, `relu`, `leaky_relu` (α = 0.01) or `leaky_relu:α`, `gelu`, `softsign`, `linear`.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leaky-relu" | "leakyrelu" => Activation::LeakyRelu(0.01),
            "gelu" => Activation::Gelu,
            "softsign" => Activation::Softsign,
            "linear" | "identity" => Activation::Linear,
            other => {
                if let Some(alpha) = other.strip_prefix("leaky_relu:") {
                    let a: f64 = alpha.parse().map_err(|_| anyhow::anyhow!("bad leaky_relu slope `{alpha}`"))?;
                    if !a.is_finite() {
                        bail!("leaky_relu slope must be finite, got `{alpha}`");
                    }
                    return Ok(Activation::LeakyRelu(a));
                }
                bail!(
                    "unknown activation `{s}` (expected one of: sigmoid, tanh, relu, leaky_relu, leaky_relu:<slope>, gelu, softsign, linear)"
                )
            }
        })
    }
}

/// The error function, to ~1e-15 absolute accuracy, via the complementary function's continued
/// fraction for large |x| and the Taylor series for small |x|. (std has no erf.)
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series: erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0;
        let mut term = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        loop {
            let add = term / (2.0 * n + 1.0);
            sum += add;
            // The series converges for every x; 200 terms bound the loop for |x| < 2.5.
            if add.abs() <= 1e-17 * sum.abs() || n > 200.0 {
                break;
            }
            n += 1.0;
            term *= -x2 / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax > 6.0 {
        1.0
    } else {
        // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated backwards.
        let mut f = ax;
        for k in (1..60).rev() {
            f = ax + (k as f64 / 2.0) / f;
        }
        1.0 - (-ax * ax).exp() / (std::f64::consts::PI.sqrt() * f)
    };
    if x < 0.0 { -r } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn erf_matches_known_values() {
        // Abramowitz & Stegun table 7.1.
        for (x, e) in
            [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265_0), (3.0, 0.999_977_909_5)]
        {
            assert!((erf(x) - e).abs() < 1e-9, "erf({x}) = {} vs {e}", erf(x));
            assert!((erf(-x) + e).abs() < 1e-9);
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-6;
        for act in Activation::ALL {
            for &z in &[-3.1, -0.7, -0.05, 0.3, 1.2, 4.0] {
                let fd = (act.value(z + h) - act.value(z - h)) / (2.0 * h);
                assert!((fd - act.derivative(z)).abs() < 1e-6, "{act} at {z}: fd {fd} vs {}", act.derivative(z));
            }
        }
    }

    #[test]
    fn sigmoid_derivative_peaks_at_a_quarter() {
        let peak = (-1000..=1000).map(|i| Activation::Sigmoid.derivative(i as f64 / 100.0)).fold(0.0, f64::max);
        assert!((peak - 0.25).abs() < 1e-12);
        assert_eq!(Activation::Sigmoid.max_derivative(), 0.25);
        let gelu_peak = (-4000..=4000).map(|i| Activation::Gelu.derivative(i as f64 / 1000.0)).fold(0.0, f64::max);
        assert!((gelu_peak - Activation::Gelu.max_derivative()).abs() < 1e-5);
    }

    #[test]
    fn tensor_forms_agree_with_scalar_forms() -> Result<()> {
        let zs: Vec<f32> = vec![-4.0, -1.5, -0.2, 0.1, 0.9, 3.3];
        let z = Tensor::new(zs.as_slice(), &Device::Cpu)?;
        for act in Activation::ALL {
            let v = act.forward(&z)?.to_vec1::<f32>()?;
            let d = act.derivative_tensor(&z)?.to_vec1::<f32>()?;
            for (i, &zi) in zs.iter().enumerate() {
                assert!((v[i] as f64 - act.value(zi as f64)).abs() < 1e-5, "{act} value at {zi}");
                assert!((d[i] as f64 - act.derivative(zi as f64)).abs() < 1e-5, "{act} derivative at {zi}");
            }
        }
        Ok(())
    }

    #[test]
    fn autograd_derivative_matches_derivative_tensor() -> Result<()> {
        let z = candle_core::Var::new(&[-2.0f32, -0.3, 0.4, 2.5], &Device::Cpu)?;
        for act in Activation::ALL {
            let grads = act.forward(z.as_tensor())?.sum_all()?.backward()?;
            let g = grads.get(&z).expect("gradient").to_vec1::<f32>()?;
            let d = act.derivative_tensor(z.as_tensor())?.to_vec1::<f32>()?;
            for (a, b) in g.iter().zip(&d) {
                assert!((a - b).abs() < 1e-5, "{act}: autograd {a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn saturation_and_death_are_counted() -> Result<()> {
        let a = Tensor::new(&[0.01f32, 0.5, 0.99, 0.98], &Device::Cpu)?;
        assert!((Activation::Sigmoid.saturated_fraction(&a)? - 0.75).abs() < 1e-9);
        assert_eq!(Activation::Relu.saturated_fraction(&a)?, 0.0);
        // Two units (columns): the first is negative on every example, the second is not.
        let z = Tensor::new(&[[-1.0f32, 2.0], [-0.5, -3.0]], &Device::Cpu)?;
        assert!((Activation::Relu.dead_fraction(&z)? - 0.5).abs() < 1e-9);
        assert_eq!(Activation::LeakyRelu(0.01).dead_fraction(&z)?, 0.0);
        Ok(())
    }

    #[test]
    fn names_round_trip_and_bad_names_error() {
        for act in Activation::ALL {
            assert_eq!(act.to_string().parse::<Activation>().unwrap(), act);
        }
        assert_eq!("leaky_relu:0.2".parse::<Activation>().unwrap(), Activation::LeakyRelu(0.2));
        let err = "foo".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("unknown activation `foo`"), "{err}");
    }
}

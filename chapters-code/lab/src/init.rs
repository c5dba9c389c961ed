//! Weight initialisation schemes, every one drawn from a seeded RNG.
//!
//! candle's CPU random generator cannot be seeded, so the book never uses it: every weight comes
//! from a [`rand::rngs::StdRng`] seeded explicitly, and the same seed gives the same network.
//! Weight matrices are `(fan_out, fan_in)` — PyTorch's and candle-nn's `Linear` layout.
//!
//! A trap worth stating: `candle_nn::linear` initialises weights with Kaiming-normal scaled for ReLU
//! (std = √2/√fan_in) whatever activation follows, and `candle_nn::Init` has no Xavier preset. Building
//! layers from an [`Init`] avoids both.

use anyhow::{Result, bail};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The seeded random generator used for every random draw in the book.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Which fan a variance-scaling scheme divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fan {
    /// Preserve the variance of activations in the forward pass.
    In,
    /// Preserve the variance of gradients in the backward pass.
    Out,
}

/// A weight initialisation scheme for a `(fan_out, fan_in)` matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// U(−1/√fan_in, 1/√fan_in): the "standard" heuristic of Glorot & Bengio (2010), eq. 1.
    Standard,
    /// N(0, std²) with a fixed std, whatever the layer's size.
    Normal { std: f64 },
    /// N(0, 1/fan_in) (LeCun): the init of Nielsen's NNDL chapter 5 experiments.
    LecunNormal,
    /// U(±gain·√(6/(fan_in+fan_out))): Glorot & Bengio's "normalized initialization", Var = gain²·2/(fan_in+fan_out).
    XavierUniform { gain: f64 },
    /// N(0, gain²·2/(fan_in+fan_out)).
    XavierNormal { gain: f64 },
    /// He et al. (2015): N(0, gain²/fan) with gain √2 for ReLU.
    HeNormal { gain: f64, fan: Fan },
    /// U(±gain·√(3/fan)), the same variance as [`Init::HeNormal`].
    HeUniform { gain: f64, fan: Fan },
    /// A random (semi-)orthogonal matrix times `gain` (Saxe et al. 2014).
    Orthogonal { gain: f64 },
    /// All zeros (biases; the last layer of a residual branch in Fixup/SkipInit).
    Zeros,
}

/// The recommended gain for an activation (PyTorch's `calculate_gain`): 5/3 for tanh, √2 for ReLU,
/// √(2/(1+α²)) for leaky ReLU, 1 otherwise.
pub fn gain(act: crate::Activation) -> f64 {
    use crate::Activation as A;
    match act {
        A::Tanh => 5.0 / 3.0,
        A::Relu => 2f64.sqrt(),
        A::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
        _ => 1.0,
    }
}

impl Init {
    /// He normal with the ReLU gain √2, fan-in mode (PyTorch's `kaiming_normal_` default).
    pub const HE: Init = Init::HeNormal { gain: std::f64::consts::SQRT_2, fan: Fan::In };
    /// Xavier uniform with gain 1.
    pub const XAVIER: Init = Init::XavierUniform { gain: 1.0 };

    /// The variance of a single weight under this scheme (for theory lines in the figures).
    pub fn variance(&self, fan_out: usize, fan_in: usize) -> f64 {
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        let fan = |f: Fan| if f == Fan::In { fi } else { fo };
        match *self {
            Init::Standard => 1.0 / (3.0 * fi),
            Init::Normal { std } => std * std,
            Init::LecunNormal => 1.0 / fi,
            Init::XavierUniform { gain } | Init::XavierNormal { gain } => gain * gain * 2.0 / (fi + fo),
            Init::HeNormal { gain, fan: f } | Init::HeUniform { gain, fan: f } => gain * gain / fan(f),
            // Rows (or columns) of an orthogonal matrix have unit norm.
            Init::Orthogonal { gain } => gain * gain / fi.max(fo),
            Init::Zeros => 0.0,
        }
    }

    /// Draws a `(fan_out, fan_in)` matrix, row-major.
    pub fn sample(&self, fan_out: usize, fan_in: usize, rng: &mut StdRng) -> Vec<f32> {
        let n = fan_out * fan_in;
        let uniform = |limit: f64, rng: &mut StdRng| -> Vec<f32> {
            let u = Uniform::new_inclusive(-limit, limit).expect("finite limit");
            (0..n).map(|_| u.sample(rng) as f32).collect()
        };
        let normal = |std: f64, rng: &mut StdRng| -> Vec<f32> {
            let d = Normal::new(0.0, std).expect("finite std");
            (0..n).map(|_| d.sample(rng) as f32).collect()
        };
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        match *self {
            Init::Standard => uniform(1.0 / fi.sqrt(), rng),
            Init::Normal { std } => normal(std, rng),
            Init::LecunNormal => normal((1.0 / fi).sqrt(), rng),
            Init::XavierUniform { gain } => uniform(gain * (6.0 / (fi + fo)).sqrt(), rng),
            Init::XavierNormal { .. } | Init::HeNormal { .. } => normal(self.variance(fan_out, fan_in).sqrt(), rng),
            Init::HeUniform { .. } => uniform((3.0 * self.variance(fan_out, fan_in)).sqrt(), rng),
            Init::Orthogonal { gain } => orthogonal(fan_out, fan_in, gain, rng),
            Init::Zeros => vec![0.0; n],
        }
    }

    /// Draws a `(fan_out, fan_in)` f32 tensor.
    pub fn tensor(&self, fan_out: usize, fan_in: usize, rng: &mut StdRng, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_vec(self.sample(fan_out, fan_in, rng), (fan_out, fan_in), device)?)
    }

    /// Checks the scheme's parameters (finite, positive where they must be).
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f64| -> Result<()> {
            if !v.is_finite() || v <= 0.0 {
                bail!("init {name} must be a finite positive number, got {v}");
            }
            Ok(())
        };
        match *self {
            Init::Normal { std } => check("std", std),
            Init::XavierUniform { gain }
            | Init::XavierNormal { gain }
            | Init::HeNormal { gain, .. }
            | Init::HeUniform { gain, .. }
            | Init::Orthogonal { gain } => check("gain", gain),
            _ => Ok(()),
        }
    }
}

/// A random matrix with orthonormal rows (fan_out ≤ fan_in) or columns (fan_out > fan_in), drawn
/// uniformly from the Haar measure: QR of a Gaussian matrix with the signs of R's diagonal folded
/// into Q (Mezzadri 2007), as `torch.nn.init.orthogonal_` does.
fn orthogonal(fan_out: usize, fan_in: usize, gain: f64, rng: &mut StdRng) -> Vec<f32> {
    // Work on the tall orientation: m ≥ k, orthonormalise the k columns of an m × k matrix.
    let (m, k, transpose) = if fan_out >= fan_in { (fan_out, fan_in, false) } else { (fan_in, fan_out, true) };
    let d = Normal::new(0.0, 1.0).expect("unit normal");
    // cols[j] is column j (length m).
    let mut cols: Vec<Vec<f64>> = (0..k).map(|_| (0..m).map(|_| d.sample(rng)).collect()).collect();
    // Modified Gram–Schmidt, twice for numerical orthogonality; the sign of R's diagonal is +1 by
    // construction, which is exactly the Haar correction.
    for j in 0..k {
        for _pass in 0..2 {
            for i in 0..j {
                let (done, rest) = cols.split_at_mut(j);
                let dot: f64 = done[i].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
                for (x, q) in rest[0].iter_mut().zip(&done[i]) {
                    *x -= dot * q;
                }
            }
        }
        let norm = cols[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        cols[j].iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0f32; fan_out * fan_in];
    for r in 0..fan_out {
        for c in 0..fan_in {
            let v = if transpose { cols[r][c] } else { cols[c][r] };
            out[r * fan_in + c] = (gain * v) as f32;
        }
    }
    out
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fan = |x: Fan| if x == Fan::In { "" } else { ",fan_out" };
        match *self {
            Init::Standard => write!(f, "standard"),
            Init::Normal { std } => write!(f, "normal:{std}"),
            Init::LecunNormal => write!(f, "lecun_normal"),
            Init::XavierUniform { gain } => write!(f, "xavier_uniform:{gain}"),
            Init::XavierNormal { gain } => write!(f, "xavier_normal:{gain}"),
            Init::HeNormal { gain, fan: x } => write!(f, "he_normal:{gain}{}", fan(x)),
            Init::HeUniform { gain, fan: x } => write!(f, "he_uniform:{gain}{}", fan(x)),
            Init::Orthogonal { gain } => write!(f, "orthogonal:{gain}"),
            Init::Zeros => write!(f, "zeros"),
        }
    }
}

impl FromStr for Init {
    type Err = anyhow::Error;

    /// Parses `standard`, `normal:<std>`, `lecun_normal`, `xavier_uniform[:gain]`, `xavier_normal[:gain]`,
    /// `he_normal[:gain][,fan_out]`, `he_uniform[:gain][,fan_out]`, `orthogonal[:gain]`, `zeros`.
    /// Gains default to 1 (Xavier, orthogonal) and √2 (He).
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s.as_str(), None),
        };
        let (arg, fan) = match arg {
            Some(a) => match a.split_once(',') {
                Some((g, "fan_out")) => (Some(g), Fan::Out),
                Some((_, other)) => bail!("unknown init option `{other}` in `{s}` (expected fan_out)"),
                None if a == "fan_out" => (None, Fan::Out),
                None => (Some(a), Fan::In),
            },
            None => (None, Fan::In),
        };
        let num = |default: Option<f64>| -> Result<f64> {
            match (arg, default) {
                (Some(a), _) => a.parse::<f64>().map_err(|_| anyhow::anyhow!("bad number `{a}` in init `{s}`")),
                (None, Some(d)) => Ok(d),
                (None, None) => bail!("init `{name}` needs a value, e.g. `{name}:0.1`"),
            }
        };
        let init = match name {
            "standard" => Init::Standard,
            "normal" => Init::Normal { std: num(None)? },
            "lecun_normal" | "lecun" => Init::LecunNormal,
            "xavier_uniform" | "xavier" | "glorot" => Init::XavierUniform { gain: num(Some(1.0))? },
            "xavier_normal" => Init::XavierNormal { gain: num(Some(1.0))? },
            "he_normal" | "he" | "kaiming" => Init::HeNormal { gain: num(Some(2f64.sqrt()))?, fan },
            "he_uniform" => Init::HeUniform { gain: num(Some(2f64.sqrt()))?, fan },
            "orthogonal" => Init::Orthogonal { gain: num(Some(1.0))? },
            "zeros" => Init::Zeros,
            _ => bail!(
                "unknown init `{s}` (expected one of: standard, normal:<std>, lecun_normal, xavier_uniform[:gain], xavier_normal[:gain], he_normal[:gain][,fan_out], he_uniform[:gain][,fan_out], orthogonal[:gain], zeros)"
            ),
        };
        init.validate()?;
        Ok(init)
    }
}

/// What [`lsuv`] did to one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LsuvStep {
    /// 1-based layer index; the head is layer `depth + 1`.
    pub layer: usize,
    /// Variance of the layer's output (its affine output z, or the logits) before any rescaling.
    pub variance_before: f64,
    /// The same variance after the last rescaling.
    pub variance_after: f64,
    /// The factor the weights were multiplied by in all.
    pub scale: f64,
    /// Forward passes of this layer that rescaled its weights.
    pub iterations: usize,
}

/// Layer-sequential unit-variance initialisation, LSUV (Mishkin & Matas 2016, "All you need is a good
/// init", Algorithm 1): starting from the network's current weights — the paper pre-initialises with
/// orthonormal matrices ([`Init::Orthogonal`]) — take each layer in order, input side first, and while
/// the variance of its output on the minibatch `x` differs from 1 by `tol` or more (at most `max_iter`
/// times), divide its weights by the square root of that variance. The output is the affine output
/// z = hWᵀ + b of a hidden layer, and the logits for the head; the variance is over every entry.
///
/// With zero biases one pass suffices (z is linear in W); the loop matters when biases are not zero.
/// Unlike a gain derived for one activation, it works for any activation — but it fixes the forward
/// variance only, on one minibatch. Plain and residual MLPs; not with norm layers (they undo it).
pub fn lsuv(net: &crate::Mlp, x: &Tensor, tol: f64, max_iter: usize) -> Result<Vec<LsuvStep>> {
    anyhow::ensure!(
        net.config.norm == crate::Norm::None,
        "LSUV rescales plain layers; this network has {} norm layers",
        net.config.norm
    );
    anyhow::ensure!(tol.is_finite() && tol > 0.0, "LSUV tolerance must be a finite positive number, got {tol}");
    anyhow::ensure!(max_iter > 0, "LSUV needs at least one iteration per layer");
    let variance = |t: &Tensor| -> Result<f64> {
        let t = t.to_dtype(candle_core::DType::F64)?.flatten_all()?;
        let n = t.elem_count() as f64;
        let mean = t.sum_all()?.to_scalar::<f64>()? / n;
        Ok(t.affine(1.0, -mean)?.sqr()?.sum_all()?.to_scalar::<f64>()? / n)
    };
    let act = net.config.activation;
    let depth = net.hidden().len();
    let mut h = x.to_dtype(net.layers[0].weight.dtype())?;
    let mut steps = Vec::with_capacity(net.layers.len());
    for (i, layer) in net.layers.iter().enumerate() {
        let affine = |h: &Tensor| -> Result<Tensor> {
            Ok(h.matmul(&layer.weight.as_tensor().t()?)?.broadcast_add(layer.bias.as_tensor())?)
        };
        let mut z = affine(&h)?;
        let variance_before = variance(&z)?;
        let mut var = variance_before;
        let (mut scale, mut iterations) = (1.0, 0);
        while (var - 1.0).abs() >= tol && iterations < max_iter {
            anyhow::ensure!(
                var > 0.0 && var.is_finite(),
                "layer {}: output variance is {var}; LSUV cannot rescale it",
                i + 1
            );
            let s = 1.0 / var.sqrt();
            layer.weight.set(&(layer.weight.as_tensor() * s)?)?;
            scale *= s;
            iterations += 1;
            z = affine(&h)?;
            var = variance(&z)?;
        }
        steps.push(LsuvStep { layer: i + 1, variance_before, variance_after: var, scale, iterations });
        if i < depth {
            let a = act.forward(&z)?;
            h = if net.config.residual && a.dims() == h.dims() { (&h + &a)? } else { a };
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn sample_variances_match_the_formulas() {
        let (fo, fi) = (300, 200);
        let schemes = [
            Init::Standard,
            Init::Normal { std: 0.3 },
            Init::LecunNormal,
            Init::XavierUniform { gain: 1.0 },
            Init::XavierNormal { gain: 5.0 / 3.0 },
            Init::HE,
            Init::HeUniform { gain: 2f64.sqrt(), fan: Fan::Out },
            Init::Orthogonal { gain: 1.0 },
        ];
        for init in schemes {
            let w = init.sample(fo, fi, &mut rng(7));
            let (mean, var) = moments(&w);
            let expect = init.variance(fo, fi);
            assert!(mean.abs() < 0.01 * expect.sqrt() * 10.0, "{init}: mean {mean}");
            assert!((var / expect - 1.0).abs() < 0.03, "{init}: var {var} vs {expect}");
        }
    }

    #[test]
    fn uniform_schemes_respect_their_limits() {
        let w = Init::XavierUniform { gain: 1.0 }.sample(50, 70, &mut rng(1));
        let limit = (6.0f64 / 120.0).sqrt() as f32;
        assert!(w.iter().all(|x| x.abs() <= limit));
        assert!(w.iter().any(|x| x.abs() > 0.95 * limit));
    }

    #[test]
    fn same_seed_same_weights_other_seed_other_weights() {
        let a = Init::HE.sample(10, 10, &mut rng(42));
        let b = Init::HE.sample(10, 10, &mut rng(42));
        let c = Init::HE.sample(10, 10, &mut rng(43));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn orthogonal_is_orthogonal_in_both_orientations() {
        for (fo, fi) in [(8, 8), (5, 12), (12, 5)] {
            let w = Init::Orthogonal { gain: 2.0 }.sample(fo, fi, &mut rng(3));
            // W Wᵀ = 4 I (wide) or Wᵀ W = 4 I (tall).
            let (rows, cols, wide) = (fo, fi, fo <= fi);
            let k = if wide { rows } else { cols };
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = if wide {
                        (0..cols).map(|j| w[a * cols + j] as f64 * w[b * cols + j] as f64).sum()
                    } else {
                        (0..rows).map(|i| w[i * cols + a] as f64 * w[i * cols + b] as f64).sum()
                    };
                    let expect = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - expect).abs() < 1e-5, "({fo},{fi}) [{a},{b}] = {dot}");
                }
            }
        }
    }

    #[test]
    fn parses_and_rejects() {
        for init in
            [Init::Standard, Init::LecunNormal, Init::XAVIER, Init::HE, Init::Orthogonal { gain: 1.5 }, Init::Zeros]
        {
            assert_eq!(init.to_string().parse::<Init>().unwrap(), init);
        }
        assert_eq!("he_uniform:1,fan_out".parse::<Init>().unwrap(), Init::HeUniform { gain: 1.0, fan: Fan::Out });
        assert!("normal".parse::<Init>().unwrap_err().to_string().contains("needs a value"));
        assert!("normal:-1".parse::<Init>().is_err());
        assert!("normal:nan".parse::<Init>().is_err());
        assert!("bogus".parse::<Init>().unwrap_err().to_string().contains("unknown init"));
    }

    #[test]
    fn gains_match_pytorch() {
        use crate::Activation as A;
        assert_eq!(gain(A::Tanh), 5.0 / 3.0);
        assert_eq!(gain(A::Relu), 2f64.sqrt());
        assert!((gain(A::LeakyRelu(0.01)) - (2.0f64 / 1.0001).sqrt()).abs() < 1e-12);
        assert_eq!(gain(A::Sigmoid), 1.0);
    }
    #[test]
    fn lsuv_brings_every_layer_to_unit_variance() -> Result<()> {
        use crate::{Activation, DEVICE, MlpConfig};
        // A sigmoid net: no textbook gain makes its pre-activations unit-variance, LSUV does.
        let net = MlpConfig::new(12, 16, 6, 3, Activation::Sigmoid, Init::Orthogonal { gain: 1.0 })
            .with_seed(1)
            .build(&DEVICE)?;
        let x = Init::Normal { std: 1.0 }.tensor(64, 12, &mut rng(2), &DEVICE)?;
        let steps = lsuv(&net, &x, 0.01, 10)?;
        assert_eq!(steps.len(), 7);
        for s in &steps {
            assert!((s.variance_after - 1.0).abs() < 0.01, "{s:?}");
            assert!(s.iterations <= 2, "{s:?}");
        }
        // The network now really has unit-variance pre-activations on that batch.
        let trace = net.forward_trace(&x, true)?;
        for z in &trace.pre {
            let (_, sd) = crate::probe::mean_std(z)?;
            assert!((sd - 1.0).abs() < 0.01, "{sd}");
        }
        // A sigmoid's outputs have mean ½, so without LSUV the variance after layer 1 is far from 1.
        assert!(steps[1..6].iter().all(|s| (s.variance_before - 1.0).abs() > 0.5), "{steps:?}");
        // Norm layers and bad tolerances are refused.
        let bn = MlpConfig::new(4, 4, 2, 2, Activation::Relu, Init::HE).with_norm(crate::Norm::Batch).build(&DEVICE)?;
        assert!(lsuv(&bn, &x.narrow(1, 0, 4)?, 0.1, 5).is_err());
        assert!(lsuv(&net, &x, 0.0, 5).is_err());
        Ok(())
    }
}

//! Small helpers the chapter's experiments share.

use anyhow::Result;
use candle_core::{DType, Tensor};
use lab::{DEVICE, Init, Mlp};
use rand_distr::{Distribution, Normal};

/// `n` procedurally drawn digits (lab's 28×28 stand-in for MNIST), inputs standardised to mean 0 and
/// variance 1 over all pixels of the set, so that E[x²] = 1 as the variance derivations assume.
pub fn standardized_digits(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let data = lab::data::digits(n, seed)?;
    let (mean, std) = lab::probe::mean_std(&data.x)?;
    Ok((data.x.affine(1.0 / std, -mean / std)?, data.y))
}

/// Standard-normal inputs, `(n, d)`, and labels cycling through `classes`.
pub fn gaussian_inputs(n: usize, d: usize, classes: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let x = Init::Normal { std: 1.0 }.tensor(n, d, &mut lab::init::rng(seed), &DEVICE)?;
    let y = Tensor::from_vec((0..n as u32).map(|i| i % classes as u32).collect(), n, &DEVICE)?;
    Ok((x, y))
}

/// Standard deviation of every entry of a tensor.
pub fn std_of(t: &Tensor) -> Result<f64> {
    Ok(lab::probe::mean_std(t)?.1)
}

/// Mean over rows of the squared row norms of a `(batch, width)` tensor: E‖v‖² per example.
pub fn mean_sq_norm(t: &Tensor) -> Result<f64> {
    let t = t.to_dtype(DType::F64)?;
    Ok(t.sqr()?.sum_all()?.to_scalar::<f64>()? / t.dim(0)? as f64)
}

/// Redraws every hidden bias of `net` from N(0, σ_b²) (mean-field theory's biases; lab's configs set
/// a constant bias).
pub fn randomize_hidden_biases(net: &Mlp, sigma_b2: f64, seed: u64) -> Result<()> {
    let mut rng = lab::init::rng(seed);
    let d = Normal::new(0.0, sigma_b2.sqrt()).map_err(|e| anyhow::anyhow!("bad σ_b²: {e}"))?;
    for layer in net.hidden() {
        let n = layer.bias.dims()[0];
        let b: Vec<f32> = (0..n).map(|_| d.sample(&mut rng) as f32).collect();
        layer.bias.set(&Tensor::from_vec(b, n, &DEVICE)?.to_dtype(layer.bias.dtype())?)?;
    }
    Ok(())
}

/// Trailing mean over `window` steps (shorter at the start), for noisy minibatch losses.
pub fn running_mean(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut out = Vec::with_capacity(values.len());
    let mut sum = 0.0;
    for (i, v) in values.iter().enumerate() {
        sum += v;
        if i >= window {
            sum -= values[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_mean_by_hand() {
        assert_eq!(running_mean(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
        assert_eq!(running_mean(&[2.0], 10), vec![2.0]);
    }

    #[test]
    fn random_biases_have_the_requested_spread() -> Result<()> {
        let net = lab::MlpConfig::new(4, 2000, 2, 2, lab::Activation::Tanh, Init::XAVIER).build(&DEVICE)?;
        randomize_hidden_biases(&net, 0.09, 1)?;
        for l in net.hidden() {
            let (m, s) = lab::probe::mean_std(l.bias.as_tensor())?;
            assert!(m.abs() < 0.02 && (s - 0.3).abs() < 0.02, "{m} {s}");
        }
        Ok(())
    }
}

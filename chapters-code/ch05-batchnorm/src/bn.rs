//! Listing 5-1's `BatchNorm1d`: BatchNorm written from candle ops, the chapter's teaching
//! implementation. The text between the anchors is shown verbatim in the chapter (a test checks that
//! the listing and this file agree), and the tests below check it against `candle_nn::BatchNorm`, against
//! lab's `Norm::Batch`, and its gradients against finite differences.

// ANCHOR: bn
use candle_core::{ModuleT, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

/// BatchNorm of a `(batch, features)` input (Ioffe & Szegedy 2015, Alg. 1).
pub struct BatchNorm1d {
    gamma: Tensor, // scale γ, trained
    beta: Tensor,  // shift β, trained
    running_mean: Var,
    running_var: Var,
    // PyTorch's convention:
    // running ← (1 − momentum)·running + momentum·batch
    momentum: f64,
    eps: f64,
}

impl BatchNorm1d {
    pub fn new(
        features: usize,
        momentum: f64,
        eps: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let gamma = vb.get_with_hints(features, "weight", Init::Const(1.0))?;
        let beta = vb.get_with_hints(features, "bias", Init::Const(0.0))?;
        // The running statistics are state, not parameters, but they live in
        // the VarMap too (as in candle_nn) so that `VarMap::save` keeps them:
        // a model reloaded without them cannot evaluate.
        let running_mean = Var::from_tensor(&vb.get_with_hints(
            features,
            "running_mean",
            Init::Const(0.0),
        )?)?;
        let running_var = Var::from_tensor(&vb.get_with_hints(
            features,
            "running_var",
            Init::Const(1.0),
        )?)?;
        Ok(Self { gamma, beta, running_mean, running_var, momentum, eps })
    }

    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }
}

impl ModuleT for BatchNorm1d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (mean, var) = if train {
            let batch = x.dim(0)? as f64;
            if batch < 2.0 {
                // One example has no spread: x − mean = 0 for every input,
                // and B/(B − 1) is infinite.
                candle_core::bail!(
                    "BatchNorm in training mode needs at least 2 examples \
                     per batch"
                );
            }
            let mean = x.mean_keepdim(0)?;
            // Normalise with the batch's own (biased, 1/B) variance ...
            let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
            // ... but let the running average estimate the population's:
            // unbiased, 1/(B − 1).
            let unbiased =
                (var.detach() * (batch / (batch - 1.0)))?.squeeze(0)?;
            let m = self.momentum;
            self.running_mean.set(
                &((self.running_mean.as_tensor() * (1.0 - m))?
                    + (mean.detach().squeeze(0)? * m)?)?,
            )?;
            self.running_var.set(
                &((self.running_var.as_tensor() * (1.0 - m))?
                    + (unbiased * m)?)?,
            )?;
            (mean, var)
        } else {
            // Evaluation: fixed statistics, so an example's output no longer
            // depends on its batch.
            (
                self.running_mean.as_detached_tensor().unsqueeze(0)?,
                self.running_var.as_detached_tensor().unsqueeze(0)?,
            )
        };
        let x_hat = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + self.eps)?.sqrt()?)?;
        x_hat.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)
    }
}
// ANCHOR_END: bn

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Result;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn gaussian(rows: usize, cols: usize, seed: u64, dtype: DType) -> Result<Tensor> {
        // Features with different means and scales, as real pre-activations have.
        let x = lab::Init::Normal { std: 1.0 }.tensor(rows, cols, &mut lab::init::rng(seed), &Device::Cpu)?;
        let scale = Tensor::from_vec((0..cols).map(|j| 0.5 + j as f32).collect(), cols, &Device::Cpu)?;
        let shift = Tensor::from_vec((0..cols).map(|j| 2.0 - j as f32).collect(), cols, &Device::Cpu)?;
        Ok(x.broadcast_mul(&scale)?.broadcast_add(&shift)?.to_dtype(dtype)?)
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
        Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }

    fn ours_and_candles(features: usize) -> Result<(BatchNorm1d, candle_nn::BatchNorm, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let ours = BatchNorm1d::new(features, 0.1, 1e-5, vb.pp("ours"))?;
        let theirs = candle_nn::batch_norm(features, candle_nn::BatchNormConfig::default(), vb.pp("candle"))?;
        Ok((ours, theirs, varmap))
    }

    #[test]
    fn agrees_with_candle_nn_in_training_and_evaluation_over_several_steps() -> Result<()> {
        let (ours, theirs, _varmap) = ours_and_candles(5)?;
        for step in 0..6 {
            let x = gaussian(16, 5, step, DType::F32)?;
            let d = max_abs_diff(&ours.forward_t(&x, true)?, &theirs.forward_t(&x, true)?)?;
            assert!(d < 1e-5, "step {step}: train outputs differ by {d}");
        }
        assert!(max_abs_diff(ours.running_mean(), theirs.running_mean())? < 1e-5);
        assert!(max_abs_diff(ours.running_var(), theirs.running_var())? < 1e-4);
        let x = gaussian(7, 5, 99, DType::F32)?;
        assert!(max_abs_diff(&ours.forward_t(&x, false)?, &theirs.forward_t(&x, false)?)? < 1e-5);
        Ok(())
    }

    #[test]
    fn running_statistics_are_saved_with_the_varmap() -> Result<()> {
        let (ours, _, varmap) = ours_and_candles(3)?;
        ours.forward_t(&gaussian(8, 3, 1, DType::F32)?, true)?;
        let data = varmap.data().lock().unwrap();
        let saved = data.get("ours.running_mean").expect("running mean in the VarMap");
        assert_eq!(saved.as_tensor().to_vec1::<f32>()?, ours.running_mean().to_vec1::<f32>()?);
        Ok(())
    }

    #[test]
    fn pitfall_biased_variance_normalises_unbiased_variance_runs() -> Result<()> {
        let (ours, _, _varmap) = ours_and_candles(4)?;
        let b = 6usize;
        let x = gaussian(b, 4, 3, DType::F32)?;
        let y = ours.forward_t(&x, true)?;
        // Unit *biased* variance (up to ε); normalising by the unbiased one would give (B−1)/B.
        for v in y.sqr()?.mean(0)?.to_vec1::<f32>()? {
            assert!((v - 1.0).abs() < 1e-3, "biased variance of the output {v}");
        }
        // One step from running_var = 1: 0.9 + 0.1 · (B/(B−1)) · biased variance of x.
        let biased = x.broadcast_sub(&x.mean_keepdim(0)?)?.sqr()?.mean(0)?.to_vec1::<f32>()?;
        for (r, v) in ours.running_var().to_vec1::<f32>()?.iter().zip(biased) {
            let want = 0.9 + 0.1 * v * b as f32 / (b as f32 - 1.0);
            assert!((r - want).abs() < 1e-4 * want, "running var {r}, want {want}");
        }
        Ok(())
    }

    #[test]
    fn pitfall_momentum_point_one_moves_the_average_a_tenth_of_the_way() -> Result<()> {
        let (ours, theirs, _varmap) = ours_and_candles(2)?;
        let x = gaussian(32, 2, 4, DType::F32)?;
        let mean = x.mean(0)?.to_vec1::<f32>()?;
        for k in 1..=3 {
            ours.forward_t(&x, true)?;
            theirs.forward_t(&x, true)?;
            // From 0, k steps on the same batch: μ(1 − 0.9ᵏ). Keras' reading of 0.1 would give μ(1 − 0.1ᵏ).
            for ((r, c), m) in
                ours.running_mean().to_vec1::<f32>()?.iter().zip(theirs.running_mean().to_vec1::<f32>()?).zip(&mean)
            {
                let want = m * (1.0 - 0.9f32.powi(k));
                assert!(
                    (r - want).abs() < 1e-5 && (c - want).abs() < 1e-5,
                    "step {k}: ours {r}, candle {c}, want {want}"
                );
            }
        }
        assert!((theirs.momentum() - 0.1).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn pitfall_training_mode_at_test_time_makes_predictions_depend_on_the_batch() -> Result<()> {
        let (ours, _, _varmap) = ours_and_candles(3)?;
        for step in 0..50 {
            ours.forward_t(&gaussian(32, 3, step, DType::F32)?, true)?;
        }
        let x = gaussian(4, 3, 1000, DType::F32)?;
        let one = x.narrow(0, 0, 1)?;
        // A batch of one in training mode: ours refuses. candle_nn maps every input to β and poisons its
        // running variance (0 · B/(B − 1) with B = 1 is 0 · ∞ = NaN).
        assert!(ours.forward_t(&one, true).is_err());
        let (_, theirs, _vm) = ours_and_candles(3)?;
        let alone = theirs.forward_t(&one, true)?;
        assert!(alone.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
        assert!(theirs.running_var().to_vec1::<f32>()?.iter().all(|v| !v.is_finite()));
        // In training mode the first example's output changes with its batchmates; in evaluation it does not.
        let in_batch = ours.forward_t(&x, true)?.narrow(0, 0, 1)?;
        let other = Tensor::cat(&[&one, &gaussian(3, 3, 2000, DType::F32)?], 0)?;
        let in_other = ours.forward_t(&other, true)?.narrow(0, 0, 1)?;
        assert!(max_abs_diff(&in_batch, &in_other)? > 0.1);
        let (e1, e2) = (ours.forward_t(&x, false)?.narrow(0, 0, 1)?, ours.forward_t(&other, false)?.narrow(0, 0, 1)?);
        assert!(max_abs_diff(&e1, &e2)? < 1e-7);
        assert!(max_abs_diff(&e1, &ours.forward_t(&one, false)?)? < 1e-7);
        Ok(())
    }

    #[test]
    fn agrees_with_labs_batch_norm_layer() -> Result<()> {
        // lab's Norm::Batch normalises z = xWᵀ + b of a hidden layer; feed ours the same z.
        use lab::{Activation, DEVICE, MlpConfig, Norm};
        let net = MlpConfig::new(4, 6, 1, 2, Activation::Linear, lab::Init::Normal { std: 2.0 })
            .with_norm(Norm::Batch)
            .with_bias_init(0.5)
            .build(&DEVICE)?;
        let (ours, _, _varmap) = ours_and_candles(6)?;
        for step in 0..4 {
            let x = gaussian(10, 4, 10 + step, DType::F32)?;
            let layer = &net.hidden()[0];
            let z = x.matmul(&layer.weight.as_tensor().t()?)?.broadcast_add(layer.bias.as_tensor())?;
            let d = max_abs_diff(&net.forward_trace(&x, true)?.pre[0], &ours.forward_t(&z, true)?)?;
            assert!(d < 1e-4, "step {step}: {d}");
        }
        let x = gaussian(5, 4, 50, DType::F32)?;
        let layer = &net.hidden()[0];
        let z = x.matmul(&layer.weight.as_tensor().t()?)?.broadcast_add(layer.bias.as_tensor())?;
        assert!(max_abs_diff(&net.forward_trace(&x, false)?.pre[0], &ours.forward_t(&z, false)?)? < 1e-4);
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        // f64 throughout; the loss couples every example through the batch statistics.
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
        let bn = BatchNorm1d::new(3, 0.1, 1e-5, vb)?;
        {
            let data = varmap.data().lock().unwrap();
            data["weight"].set(&Tensor::new(&[1.5f64, -0.7, 0.3], &Device::Cpu)?)?;
            data["bias"].set(&Tensor::new(&[0.2f64, 0.0, -1.0], &Device::Cpu)?)?;
        }
        let r = gaussian(5, 3, 7, DType::F64)?; // the loss Σ r ⊙ y³ is not invariant to anything BN removes
        let loss = |x: &Tensor| -> Result<Tensor> { Ok((bn.forward_t(x, true)?.powf(3.0)? * &r)?.sum_all()?) };
        let x = Var::from_tensor(&gaussian(5, 3, 8, DType::F64)?)?;
        let grads = loss(x.as_tensor())?.backward()?;
        let analytic = grads.get(&x).expect("∂L/∂x").flatten_all()?.to_vec1::<f64>()?;
        let x0 = x.as_tensor().flatten_all()?.to_vec1::<f64>()?;
        let h = 1e-6;
        for i in 0..x0.len() {
            let mut plus = x0.clone();
            plus[i] += h;
            let mut minus = x0.clone();
            minus[i] -= h;
            let lp = loss(&Tensor::from_vec(plus, (5, 3), &Device::Cpu)?)?.to_scalar::<f64>()?;
            let lm = loss(&Tensor::from_vec(minus, (5, 3), &Device::Cpu)?)?.to_scalar::<f64>()?;
            let fd = (lp - lm) / (2.0 * h);
            assert!((fd - analytic[i]).abs() < 1e-6 * (1.0 + fd.abs()), "x[{i}]: fd {fd}, autograd {}", analytic[i]);
        }
        // Every column of ∂L/∂x sums to zero: the batch mean is subtracted, so shifting a feature does nothing.
        for s in grads.get(&x).unwrap().sum(0)?.to_vec1::<f64>()? {
            assert!(s.abs() < 1e-9, "column sum {s}");
        }
        Ok(())
    }
}

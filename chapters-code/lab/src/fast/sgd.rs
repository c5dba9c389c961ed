//! w ← w − lr·g in place, in one pass.

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Tensor, bail};

struct SgdUpdate {
    lr: f64,
}

impl InplaceOp2 for SgdUpdate {
    fn name(&self) -> &'static str {
        "lab-sgd"
    }

    fn cpu_fwd(&self, w: &mut CpuStorage, wl: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (wl.contiguous_offsets(), gl.contiguous_offsets()) else {
            bail!("lab-sgd: contiguous tensors only");
        };
        match (w, g) {
            (CpuStorage::F32(w), CpuStorage::F32(g)) => {
                // The same arithmetic as candle-nn's SGD: w − g·(lr as f32).
                let lr = self.lr as f32;
                for (w, &g) in w[w0..w1].iter_mut().zip(&g[g0..g1]) {
                    *w -= g * lr;
                }
            }
            (CpuStorage::F64(w), CpuStorage::F64(g)) => {
                for (w, &g) in w[w0..w1].iter_mut().zip(&g[g0..g1]) {
                    *w -= g * self.lr;
                }
            }
            _ => bail!("lab-sgd: parameter and gradient must both be f32 or both f64"),
        }
        Ok(())
    }
}

/// w ← w − lr·g in place, in one pass (the same arithmetic as candle-nn's `SGD`).
pub fn sgd_update(var: &candle_core::Var, grad: &Tensor, lr: f64) -> Result<()> {
    let w = var.as_tensor();
    if w.dims() != grad.dims() {
        bail!("lab-sgd: parameter {:?} and gradient {:?} differ in shape", w.dims(), grad.dims());
    }
    if w.is_contiguous()
        && w.dtype() == grad.dtype()
        && matches!(w.dtype(), DType::F32 | DType::F64)
        && w.device().is_cpu()
    {
        w.inplace_op2(&grad.contiguous()?, &SgdUpdate { lr })
    } else {
        var.set(&w.sub(&(grad * lr)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::test_support::rand;
    use candle_core::Var;

    #[test]
    fn sgd_update_is_candle_nn_sgd_bit_for_bit() -> Result<()> {
        use candle_nn::Optimizer;
        let w0 = rand(17, 9, 1.0, 1)?;
        let g = rand(17, 9, 1.0, 2)?;
        let (a, b) = (Var::from_tensor(&w0)?, Var::from_tensor(&w0)?);
        sgd_update(&a, &g, 0.37)?;
        let mut grads = b.as_tensor().zeros_like()?.sum_all()?.backward()?;
        grads.insert(&b, g.clone());
        candle_nn::SGD::new(vec![b.clone()], 0.37)?.step(&grads)?;
        assert_eq!(a.as_tensor().to_vec2::<f32>()?, b.as_tensor().to_vec2::<f32>()?);
        Ok(())
    }
}

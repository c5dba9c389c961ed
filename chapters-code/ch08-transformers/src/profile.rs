//! The measurement behind Figures 8-1 to 8-4: per-block weight gradients, the error arriving on the
//! residual stream and the stream's second moment, of an untrained transformer.

use crate::model::{Arch, ModelOptions};
use anyhow::{Result, ensure};
use lab::data::SeqTask;
use lab::transformer::Transformer;
use serde::Serialize;

/// Per-block measurements of one architecture at one depth, averaged over seeds (root mean square
/// for norms, mean for second moments).
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub arch: Arch,
    pub name: String,
    pub depth: usize,
    /// ‖∂L/∂W‖ over all six weight matrices of block l.
    pub weight_grad: Vec<f64>,
    /// ‖∂L/∂W₂ˡ‖, the MLP's output projection (the weight Xiong et al.'s theorem is about).
    pub w2_grad: Vec<f64>,
    /// ‖∂L/∂xˡ‖ of the stream entering block l (a zero probe), then of the last block's output.
    pub input_grad: Vec<f64>,
    /// Mean of (xˡ)² over batch, positions and features: the stream's second moment entering block l,
    /// then after the last block.
    pub stream: Vec<f64>,
}

/// Measures `arch` at `depth` at initialisation: the mean loss over one batch of the task, for
/// `seeds` weight draws (seed s also draws batch s).
pub fn profile(model: &ModelOptions, arch: Arch, depth: usize, batch: usize, seeds: usize) -> Result<Profile> {
    ensure!(seeds >= 1 && batch >= 1 && depth >= 1, "need at least one seed, sequence and block");
    let mut sums = [vec![0.0; depth], vec![0.0; depth], vec![0.0; depth + 1], vec![0.0; depth + 1]];
    for seed in 0..seeds as u64 {
        let net = arch.apply(model.config(depth)).with_seed(seed).build()?;
        let (x, y) = SeqTask::Sort.batch(batch, model.seq_len, model.vocab, &mut lab::init::rng(1000 + seed))?;
        let trace = net.trace(&x, true)?;
        let grads = Transformer::loss_of(&trace.logits, &y)?.backward()?;
        for (l, g) in net.block_grads(&grads)?.iter().enumerate() {
            sums[0][l] += g.total * g.total;
            sums[1][l] += g.w2 * g.w2;
        }
        for (l, p) in trace.probes.iter().enumerate() {
            let g = grads.get(p).map(lab::probe::norm).transpose()?.unwrap_or(0.0);
            sums[2][l] += g * g;
        }
        // The error on the last block's output: through the head (and the final norm of Pre-LN).
        let last = trace.stream.last().expect("the stream has the last block's output");
        let var = candle_core::Var::from_tensor(last)?;
        let out = match &net.final_norm {
            Some(n) => candle_core::Module::forward(n, var.as_tensor())?,
            None => var.as_tensor().clone(),
        };
        let g_last = Transformer::loss_of(&candle_core::Module::forward(&net.head, &out)?, &y)?.backward()?;
        let g = lab::probe::norm(g_last.get(&var).expect("the last stream has a gradient"))?;
        sums[2][depth] += g * g;
        for (l, s) in trace.stream.iter().enumerate() {
            sums[3][l] += s.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let n = seeds as f64;
    let rms = |v: &[f64]| v.iter().map(|x| (x / n).sqrt()).collect::<Vec<_>>();
    Ok(Profile {
        arch,
        name: arch.name().to_string(),
        depth,
        weight_grad: rms(&sums[0]),
        w2_grad: rms(&sums[1]),
        input_grad: rms(&sums[2]),
        stream: sums[3].iter().map(|x| x / n).collect(),
    })
}

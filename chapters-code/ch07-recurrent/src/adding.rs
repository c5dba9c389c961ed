//! Figure 7-11: Hochreiter & Schmidhuber's adding problem, a tanh RNN against an LSTM at several
//! sequence lengths, several seeds each.
//!
//! The task, as their NIPS 1996 paper ("LSTM can solve hard long time lag problems", Experiment 1)
//! defines it: each step is a pair (value, marker), the value uniform in [−1, 1], the marker 1.0,
//! 0.0 or −1.0. Exactly two pairs are marked 1.0: one of the first ten (its value X₁), then one of
//! the first T/2 − 1 still unmarked pairs (X₂). The first and the last pair are marked −1.0 unless
//! marked 1.0, and X₁ is set to zero when the first pair is the one marked. The target, read at the
//! last step only, is 0.5 + (X₁ + X₂)/4; a sequence is processed correctly when the absolute error
//! there is below 0.04. We keep every sequence at length T (theirs vary between T and T + T/10).

use crate::median;
use anyhow::{Result, ensure};
use candle_core::{DType, Module, Tensor};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::DEVICE;
use lab::plot::{LineChart, SeriesStyle};
use lab::rnn::{Cell, RnnConfig, SeqModel};
use lab::train::{Optim, clip_global_norm};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

/// The absolute error under which a sequence counts as processed correctly (Hochreiter &
/// Schmidhuber's criterion).
pub const TOLERANCE: f64 = 0.04;

/// `batch` adding-problem sequences of length `steps`: inputs `(batch, steps, 2)` and targets
/// `(batch, 1)`.
pub fn adding_batch(batch: usize, steps: usize, rng: &mut StdRng) -> Result<(Tensor, Tensor)> {
    ensure!(steps >= 4, "the adding problem needs T ≥ 4, got {steps}");
    let mut x = vec![0f32; batch * steps * 2];
    let mut y = Vec::with_capacity(batch);
    for s in 0..batch {
        let row = |t: usize| (s * steps + t) * 2;
        for t in 0..steps {
            x[row(t)] = rng.random_range(-1.0f32..1.0);
        }
        let first = rng.random_range(0..10.min(steps));
        // One of the first T/2 − 1 pairs that are still unmarked.
        let mut second = rng.random_range(0..(steps / 2 - 1).max(1));
        if second >= first {
            second += 1;
        }
        x[row(0) + 1] = -1.0;
        x[row(steps - 1) + 1] = -1.0;
        x[row(first) + 1] = 1.0;
        x[row(second) + 1] = 1.0;
        if first == 0 {
            x[row(0)] = 0.0;
        }
        y.push(0.5 + (x[row(first)] + x[row(second)]) / 4.0);
    }
    Ok((Tensor::from_vec(x, (batch, steps, 2), &DEVICE)?, Tensor::from_vec(y, (batch, 1), &DEVICE)?))
}

/// The mean squared error of the best constant prediction, 0.5 (the target's mean): the target's
/// variance, (Var X₁ + Var X₂)/16, where X₂ ~ U(−1, 1) has variance 1/3 and X₁ is zeroed when the
/// first pair is the marked one (probability 1/min(10, T)).
pub fn constant_mse(steps: usize) -> f64 {
    let uniform = 1.0 / 3.0;
    let var_x1 = (1.0 - 1.0 / 10.min(steps) as f64) * uniform;
    (var_x1 + uniform) / 16.0
}

/// Settings of Figure 7-11.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct AddingOptions {
    /// Sequence lengths T, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 20, 40], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub lengths: Vec<usize>,
    /// Hidden units of both networks.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub hidden: usize,
    /// The LSTM's forget-gate bias.
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub forget_bias: f64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Clip the global gradient norm to this before each update (both networks).
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub clip: f64,
    /// Training steps, fresh sequences every step.
    #[arg(long, default_value_t = 250, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Held-out sequences each run is measured on.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub eval_batch: usize,
    /// Independent runs (weights and data) per network and length.
    #[arg(long, default_value_t = 5, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// A run solves the task when its held-out MSE is below this fraction of the constant
    /// predictor's; training stops early once a check set of 128 sequences (checked every 25
    /// steps) is below half of it.
    #[arg(long, default_value_t = 0.1, value_parser = cli::probability, allow_negative_numbers = true)]
    pub solved_ratio: f64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(AddingOptions);

/// One training run.
#[derive(Debug, Clone, Serialize)]
pub struct AddingRun {
    /// Held-out mean squared error and the fraction of sequences within 0.04.
    pub mse: f64,
    pub correct: f64,
    /// Held-out MSE below the solved ratio times the constant predictor's.
    pub solved: bool,
    /// Training steps taken (fewer than the budget when the check set was passed early).
    pub steps: usize,
}

/// One network at one length (quick runs: the first seed's run only, no summary).
#[derive(Debug, Clone, Serialize)]
pub struct AddingCell {
    pub length: usize,
    pub runs: Vec<AddingRun>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub summary: Option<CellSummary>,
}

/// The runs of one network at one length, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    /// Runs that solved the task, and their fraction.
    pub solved: usize,
    pub solved_fraction: f64,
    /// Median over runs of the held-out MSE, and of the MSE over the constant predictor's.
    pub median_mse: f64,
    pub median_mse_ratio: f64,
    /// Median over runs of the fraction of held-out sequences within 0.04.
    pub median_correct: f64,
}

/// One network at every length.
#[derive(Debug, Clone, Serialize)]
pub struct AddingNet {
    pub name: String,
    pub cell: Cell,
    pub lengths: Vec<AddingCell>,
}

/// The constant predictor at one length: the analytic MSE, and on the held-out set of the first
/// seed its MSE and the fraction of sequences it gets within 0.04.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub length: usize,
    pub mse: f64,
    pub held_out_mse: f64,
    pub held_out_correct: f64,
}

/// What Figure 7-11 measured (quick mode: the first length's first seed, no summaries).
#[derive(Debug, Clone, Serialize)]
pub struct AddingData {
    pub options: AddingOptions,
    pub baseline: Vec<Baseline>,
    pub nets: Vec<AddingNet>,
}

/// Held-out MSE and fraction within [`TOLERANCE`] of a prediction `(batch, 1)`.
fn score(prediction: &Tensor, y: &Tensor) -> Result<(f64, f64)> {
    let err = (prediction.to_dtype(DType::F64)? - y.to_dtype(DType::F64)?)?.flatten_all()?.to_vec1::<f64>()?;
    let n = err.len() as f64;
    let mse = err.iter().map(|e| e * e).sum::<f64>() / n;
    let correct = err.iter().filter(|e| e.abs() < TOLERANCE).count() as f64 / n;
    Ok((mse, correct))
}

/// Every how many steps training checks whether it can stop, and on how many sequences.
const CHECK_EVERY: usize = 25;
const CHECK_BATCH: usize = 128;

/// Trains `model` with Adam on the adding problem at length `steps`, clipping the global norm, and
/// stops once a check set's MSE is below half the solved threshold; returns the held-out (MSE, fraction correct) and
/// the steps taken.
pub fn train_adding(
    model: &SeqModel,
    opts: &AddingOptions,
    steps: usize,
    train_steps: usize,
    seed: u64,
) -> Result<(f64, f64, usize)> {
    let vars = model.vars();
    let mut opt = Optim::AdamW { lr: opts.lr, weight_decay: 0.0 }.optimizer(vars.clone())?;
    let mut rng = lab::init::rng(seed);
    let (check_x, check_y) = adding_batch(CHECK_BATCH, steps, &mut lab::init::rng(seed ^ 0xc4ec))?;
    let mut taken = train_steps;
    for step in 0..train_steps {
        let stop = 0.5 * opts.solved_ratio * constant_mse(steps);
        if step > 0 && step % CHECK_EVERY == 0 && score(&model.forward(&check_x)?, &check_y)?.0 < stop {
            taken = step;
            break;
        }
        let (x, y) = adding_batch(opts.batch, steps, &mut rng)?;
        let loss = candle_nn::loss::mse(&model.forward(&x)?, &y)?;
        let mut grads = loss.backward()?;
        let norm = clip_global_norm(&mut grads, &vars, opts.clip)?;
        if !norm.is_finite() {
            return Ok((f64::NAN, 0.0, step));
        }
        opt.step(&grads)?;
    }
    let (x, y) = adding_batch(opts.eval_batch, steps, &mut lab::init::rng(seed ^ 0x5eed))?;
    let (mse, correct) = score(&model.forward(&x)?, &y)?;
    Ok((mse, correct, taken))
}

/// The seed of a run's training data (its weights use `seed` itself), and of its held-out set.
fn data_seed(seed: u64) -> u64 {
    seed + 1000
}

fn held_out_seed(seed: u64) -> u64 {
    data_seed(seed) ^ 0x5eed
}

/// Figure 7-11: the adding problem.
pub struct Adding;

impl Experiment for Adding {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "adding";
    const ABOUT: &'static str = "Hochreiter & Schmidhuber's adding problem: a tanh RNN against an LSTM (Figure 7-11)";
    type Options = AddingOptions;
    type Data = AddingData;

    fn run(opts: &AddingOptions, run_mode: &GenOptions) -> Result<AddingData> {
        ensure!(!opts.lengths.is_empty(), "need at least one length");
        cli::ensure_ascending("lengths", &opts.lengths)?;
        ensure!(
            opts.lengths[0] >= 4,
            "--lengths must be at least 4 (the adding problem marks two pairs in the first half)"
        );
        let quick = run_mode.quick;
        let lengths = if quick { &opts.lengths[..1] } else { &opts.lengths[..] };
        let seeds = if quick { 1 } else { opts.seeds };
        let mut baseline = Vec::new();
        for &t in lengths {
            // The held-out set of the first seed's runs (see `train_adding`).
            let (_, y) = adding_batch(opts.eval_batch, t, &mut lab::init::rng(held_out_seed(opts.seed)))?;
            let (held_out_mse, held_out_correct) = score(&y.ones_like()?.affine(0.5, 0.0)?, &y)?;
            baseline.push(Baseline { length: t, mse: constant_mse(t), held_out_mse, held_out_correct });
        }
        let cells = [Cell::TanhDefault, Cell::Lstm { forget_bias: opts.forget_bias }];
        let progress =
            lab::train::progress_bar(run_mode.progress, (cells.len() * lengths.len() * seeds) as u64, "adding");
        let mut nets = Vec::new();
        for cell in cells {
            let mut per_length = Vec::new();
            for &t in lengths {
                let mut runs = Vec::new();
                for s in 0..seeds as u64 {
                    let seed = opts.seed + s;
                    let model = RnnConfig::new(cell, 2, opts.hidden, 1).with_seed(seed).build()?;
                    let (mse, correct, steps) = train_adding(&model, opts, t, opts.train_steps, data_seed(seed))?;
                    let solved = mse < opts.solved_ratio * constant_mse(t);
                    runs.push(AddingRun { mse, correct, solved, steps });
                    progress.inc(1);
                }
                let summary = (!quick).then(|| {
                    let solved = runs.iter().filter(|r| r.solved).count();
                    // A diverged run (NaN) counts as the worst.
                    let mses: Vec<f64> =
                        runs.iter().map(|r| if r.mse.is_finite() { r.mse } else { f64::MAX }).collect();
                    let median_mse = median(&mses);
                    CellSummary {
                        solved,
                        solved_fraction: solved as f64 / runs.len() as f64,
                        median_mse,
                        median_mse_ratio: median_mse / constant_mse(t),
                        median_correct: median(&runs.iter().map(|r| r.correct).collect::<Vec<_>>()),
                    }
                });
                per_length.push(AddingCell { length: t, runs, summary });
            }
            nets.push(AddingNet { name: cell.label(), cell, lengths: per_length });
        }
        progress.finish_and_clear();
        Ok(AddingData { options: opts.clone(), baseline, nets })
    }

    fn draw(data: &AddingData) -> Result<Vec<Drawing>> {
        let o = &data.options;
        let mut chart = LineChart::new(format!(
            "Adding problem: runs (of {}) whose MSE is below {} × the constant predictor's",
            o.seeds, o.solved_ratio
        ))
        .x_label("sequence length T")
        .y_label("fraction of runs solved")
        .y_range(0.0, 1.0)
        .markers();
        for (i, net) in data.nets.iter().enumerate() {
            let pts: Vec<(f64, f64)> = net
                .lengths
                .iter()
                .map(|c| (c.length as f64, c.runs.iter().filter(|r| r.solved).count() as f64 / c.runs.len() as f64))
                .collect();
            chart = chart.series_with(net.name.clone(), pts, SeriesStyle::solid().color(i));
        }
        let alt = "The fraction of training runs that solve the adding problem against the sequence length, for a tanh RNN and an LSTM trained alike.";
        Ok(vec![Drawing::new("adding", alt, chart.render(alt)?, data)?])
    }
}

impl std::fmt::Display for AddingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for b in &self.baseline {
            writeln!(
                f,
                "T = {:>4}: constant 0.5 has MSE {:.4} (held out {:.4}, {:.3} within 0.04)",
                b.length, b.mse, b.held_out_mse, b.held_out_correct
            )?;
        }
        for net in &self.nets {
            for c in &net.lengths {
                let correct: Vec<String> = c.runs.iter().map(|r| format!("{:.2}@{}", r.correct, r.steps)).collect();
                let (solved, ratio) = c.summary.as_ref().map_or((0, f64::NAN), |s| (s.solved, s.median_mse_ratio));
                writeln!(
                    f,
                    "{:<26} T = {:>4}: solved {solved}/{}, median MSE / constant {ratio:.3}, within 0.04: {}",
                    net.name,
                    c.length,
                    c.runs.len(),
                    correct.join(" ")
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
    fn two_pairs_are_marked_and_the_target_is_their_scaled_sum() -> Result<()> {
        let (x, y) = adding_batch(200, 30, &mut lab::init::rng(3))?;
        let (x, y) = (x.to_vec3::<f32>()?, y.flatten_all()?.to_vec1::<f32>()?);
        for (seq, target) in x.iter().zip(y) {
            let marked: Vec<usize> = (0..30).filter(|&t| seq[t][1] == 1.0).collect();
            assert_eq!(marked.len(), 2, "{seq:?}");
            assert!(marked[0] < 10 && marked[1] < 15, "{marked:?}");
            let sum: f32 = marked.iter().map(|&t| seq[t][0]).sum();
            assert!((target - (0.5 + sum / 4.0)).abs() < 1e-6);
            assert!(seq[29][1] == -1.0 || marked.contains(&29));
        }
        Ok(())
    }

    #[test]
    fn the_constant_predictor_scores_the_targets_variance() -> Result<()> {
        let (_, y) = adding_batch(20000, 40, &mut lab::init::rng(5))?;
        let (mse, _) = score(&y.ones_like()?.affine(0.5, 0.0)?, &y)?;
        // Standard error of a mean of 20 000 squared deviations: well under 2 %.
        assert!((mse / constant_mse(40) - 1.0).abs() < 0.03, "{mse} against {}", constant_mse(40));
        Ok(())
    }
}

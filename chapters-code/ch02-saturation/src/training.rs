//! Training Nielsen's networks: the speed of every layer across training (his protocol), and what
//! depth does to a fixed training budget — cost, accuracy, and how far each layer's weights move.

use crate::nielsen::{Cost, DataSource, NetSpec, Sgd, evaluate, snapshot, speed_of_learning, step, weight_change};
use anyhow::{Result, ensure};
use lab::data::Dataset;
use serde::Serialize;

/// Nielsen's speeds of learning of the four-hidden-layer network after 500 epochs (the last line of
/// `fig/norms_during_training_4_layers.json`, commit 24c21e4 of his repository).
pub const NIELSEN_FINAL_SPEEDS_4: [f64; 4] =
    [8.21211652552637e-06, 2.614381736985433e-05, 0.00018252897168458156, 0.0009247251418948941];

/// Nielsen's MNIST training runs of chapter 5 ("The vanishing gradient problem"), as his chapter
/// reports them (quoted from the text, not re-run): `net.SGD(training_data, 30, 10, 0.1, lmbda=5.0)` on
/// the 50,000 training images, and the classification accuracy on the validation images it reached for
/// one to four hidden layers of 30 units.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NielsenRuns {
    pub epochs: usize,
    pub train_images: usize,
    pub batch: usize,
    pub eta: f64,
    pub lambda: f64,
    /// Accuracy in percent for 1, 2, 3, 4 hidden layers.
    pub accuracy_percent: [f64; 4],
}

/// See [`NielsenRuns`].
pub const NIELSEN_MNIST_RUNS: NielsenRuns = NielsenRuns {
    epochs: 30,
    train_images: 50_000,
    batch: 10,
    eta: 0.1,
    lambda: 5.0,
    accuracy_percent: [96.48, 96.90, 96.57, 96.53],
};

/// Nielsen's protocol: gradient descent on one batch of `n` training images, recording every hidden
/// layer's speed ‖∂C/∂bˡ‖ before each step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedTrainingOptions {
    pub depth: usize,
    pub width: usize,
    pub n: usize,
    pub epochs: usize,
    pub eta: f64,
    pub lambda: f64,
    pub cost: Cost,
    pub data: DataSource,
    pub seed: u64,
}

impl Default for SpeedTrainingOptions {
    fn default() -> Self {
        SpeedTrainingOptions {
            depth: 4,
            width: 30,
            n: 1000,
            epochs: 500,
            eta: 0.1,
            lambda: 5.0,
            cost: Cost::SigmoidCrossEntropy,
            data: DataSource::Digits { seed: 0 },
            seed: 0,
        }
    }
}

/// What [`speed_training`] recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedTraining {
    /// `speeds[e][l]`: layer l+1's speed before epoch e's step.
    pub speeds: Vec<Vec<f64>>,
    /// The training cost before each step.
    pub costs: Vec<f64>,
    /// Accuracy on the n training images, before the first and after the last step.
    pub accuracy_start: f64,
    pub accuracy_end: f64,
    /// The cost of a network that ignores its input and outputs each class's frequency pₖ
    /// (−Σₖ pₖ ln pₖ + (1 − pₖ) ln(1 − pₖ) for the sigmoid cost, −Σₖ pₖ ln pₖ for softmax): the
    /// plateau a network reaches by learning only its output biases.
    pub prior_only_cost: f64,
}

/// Runs Nielsen's protocol for `epochs` epochs (a prefix of a longer run, for the same options).
pub fn speed_training(opts: &SpeedTrainingOptions, epochs: usize) -> Result<SpeedTraining> {
    ensure!(opts.depth > 0 && opts.width > 0 && opts.n > 0, "depth, width and n must be at least 1");
    let (train, _) = opts.data.load(opts.n, 0)?;
    let spec = NetSpec { d_in: train.dim(), width: opts.width, ..NetSpec::nielsen(opts.depth, opts.seed) };
    let net = spec.build()?;
    let sgd = Sgd { eta: opts.eta, lambda: opts.lambda, n: opts.n };
    let accuracy_start = evaluate(&net, &train, opts.cost)?.1;
    let (mut speeds, mut costs) = (Vec::with_capacity(epochs), Vec::with_capacity(epochs));
    for _ in 0..epochs {
        let (cost, s) = step(&net, &train.x, &train.y, opts.cost, &sgd, true)?;
        speeds.push(s);
        costs.push(cost);
    }
    let accuracy_end = evaluate(&net, &train, opts.cost)?.1;
    Ok(SpeedTraining {
        speeds,
        costs,
        accuracy_start,
        accuracy_end,
        prior_only_cost: prior_only_cost(&train, opts.cost)?,
    })
}

/// The cost of predicting every class's frequency whatever the input (see [`SpeedTraining::prior_only_cost`]).
pub fn prior_only_cost(data: &Dataset, cost: Cost) -> Result<f64> {
    let n = data.len() as f64;
    let entropy = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
    Ok(data
        .class_counts()?
        .iter()
        .map(|&c| c as f64 / n)
        .map(|p| match cost {
            Cost::SigmoidCrossEntropy => entropy(p) + entropy(1.0 - p),
            Cost::Softmax => entropy(p),
        })
        .sum())
}

/// Minibatch SGD of Nielsen's networks at several depths, on the same data and budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthTrainingOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    pub n_train: usize,
    pub n_test: usize,
    pub batch: usize,
    pub steps: usize,
    pub eta: f64,
    pub lambda: f64,
    /// Evaluate on the test set every this many steps.
    pub eval_every: usize,
    pub cost: Cost,
    pub data: DataSource,
    pub seed: u64,
}

impl Default for DepthTrainingOptions {
    fn default() -> Self {
        DepthTrainingOptions {
            depths: vec![1, 2, 3, 4, 5, 6, 8, 10],
            width: 30,
            n_train: 5000,
            n_test: 1000,
            batch: 10,
            steps: 5000,
            eta: 0.1,
            lambda: 0.0,
            eval_every: 250,
            cost: Cost::SigmoidCrossEntropy,
            data: DataSource::Digits { seed: 0 },
            seed: 0,
        }
    }
}

/// One depth's run.
#[derive(Debug, Clone, Serialize)]
pub struct DepthRun {
    pub depth: usize,
    /// Steps at which the test set was evaluated (0 = at initialisation).
    pub eval_steps: Vec<usize>,
    pub test_cost: Vec<f64>,
    pub test_accuracy: Vec<f64>,
    /// Speed of every hidden layer at initialisation, on the first 1000 training images.
    pub initial_speeds: Vec<f64>,
    /// ‖Wˡ − W₀ˡ‖/‖W₀ˡ‖ after the run, per hidden layer.
    pub weight_change: Vec<f64>,
}

/// Trains one network of depth `depth` for `steps` steps (a prefix of the full run).
pub fn depth_run(
    opts: &DepthTrainingOptions,
    train: &Dataset,
    test: &Dataset,
    depth: usize,
    steps: usize,
) -> Result<DepthRun> {
    ensure!(opts.batch > 0 && opts.eval_every > 0, "batch and eval interval must be at least 1");
    let spec = NetSpec { d_in: train.dim(), width: opts.width, ..NetSpec::nielsen(depth, opts.seed) };
    let net = spec.build()?;
    let w0 = snapshot(&net)?;
    let probe_n = train.len().min(1000);
    let initial_speeds =
        speed_of_learning(&net, &train.x.narrow(0, 0, probe_n)?, &train.y.narrow(0, 0, probe_n)?, opts.cost)?;
    let sgd = Sgd { eta: opts.eta, lambda: opts.lambda, n: train.len() };
    let mut rng = lab::init::rng(opts.seed.wrapping_add(1));
    let (mut eval_steps, mut test_cost, mut test_accuracy) = (vec![0], vec![], vec![]);
    let (c, a) = evaluate(&net, test, opts.cost)?;
    test_cost.push(c);
    test_accuracy.push(a);
    let mut done = 0;
    'training: loop {
        for batch in train.epoch(opts.batch, &mut rng).drop_last(true) {
            if done == steps {
                break 'training;
            }
            let (x, y) = batch?;
            step(&net, &x, &y, opts.cost, &sgd, false)?;
            done += 1;
            if done % opts.eval_every == 0 {
                let (c, a) = evaluate(&net, test, opts.cost)?;
                eval_steps.push(done);
                test_cost.push(c);
                test_accuracy.push(a);
            }
        }
        if done == steps {
            break;
        }
    }
    Ok(DepthRun {
        depth,
        eval_steps,
        test_cost,
        test_accuracy,
        initial_speeds,
        weight_change: weight_change(&net, &w0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_only_cost_of_balanced_classes() -> Result<()> {
        let (train, _) = DataSource::Digits { seed: 0 }.load(100, 0)?;
        // 100 digits are balanced exactly (10 per class): −ln 0.1 − 9 ln 0.9 and ln 10.
        let sig = prior_only_cost(&train, Cost::SigmoidCrossEntropy)?;
        assert!((sig - (-(0.1f64).ln() - 9.0 * 0.9f64.ln())).abs() < 1e-12, "{sig}");
        assert!((prior_only_cost(&train, Cost::Softmax)? - 10f64.ln()).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn a_shallow_net_learns_and_a_deep_nets_top_layers_move_most() -> Result<()> {
        let opts = DepthTrainingOptions { n_train: 300, n_test: 100, eval_every: 100, ..Default::default() };
        let (train, test) = opts.data.load(opts.n_train, opts.n_test)?;
        let shallow = depth_run(&opts, &train, &test, 1, 300)?;
        assert_eq!(shallow.eval_steps, vec![0, 100, 200, 300]);
        assert!(shallow.test_accuracy[3] > shallow.test_accuracy[0] + 0.2, "{:?}", shallow.test_accuracy);
        // In a deep sigmoid net the hidden layers' weights move less the further they are from the output.
        let deep = depth_run(&opts, &train, &test, 5, 200)?;
        let wc = &deep.weight_change;
        assert!(wc[4] > wc[3] && wc[3] > wc[2] && wc[2] > wc[1], "{wc:?}");
        Ok(())
    }
}

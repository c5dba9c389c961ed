//! Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
//! networks", §3.1: watch the mean activation of every hidden layer of a deep sigmoid network while
//! it trains by plain SGD from the "standard" initialisation U(±1/√n).
//!
//! The paper trains 1000-unit layers on its Shapeset-3×2 images with minibatches of 10; we train
//! narrower layers on lab's teacher task (Gaussian inputs labelled by a random tanh network), with
//! the same init, optimiser and minibatch size, and probe a fixed held-out batch as training runs.

use anyhow::{Result, ensure};
use candle_core::Tensor;
use lab::probe::{Histogram, probe};
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// How the teacher's Gaussian inputs are presented to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inputs {
    /// x ~ N(0, I), centred, as the teacher draws them.
    Gaussian,
    /// σ(x) ∈ (0, 1): positive, like pixel intensities (Shapeset's and MNIST's inputs are).
    Positive,
}

impl std::str::FromStr for Inputs {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gaussian" | "centred" | "centered" => Ok(Inputs::Gaussian),
            "positive" | "pixels" => Ok(Inputs::Positive),
            other => anyhow::bail!("unknown inputs `{other}` (expected gaussian or positive)"),
        }
    }
}

/// One training run of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlorotOptions {
    pub activation: Activation,
    pub depth: usize,
    pub width: usize,
    pub d_in: usize,
    pub classes: usize,
    pub init: Init,
    pub lr: f64,
    pub batch: usize,
    pub steps: usize,
    /// Probe the held-out batch every this many steps.
    pub probe_every: usize,
    pub inputs: Inputs,
    pub n_train: usize,
    pub n_eval: usize,
    pub seed: u64,
}

impl Default for GlorotOptions {
    fn default() -> Self {
        GlorotOptions {
            activation: Activation::Sigmoid,
            depth: 4,
            width: 256,
            d_in: 100,
            classes: 10,
            init: Init::Standard,
            lr: 0.1,
            batch: 10,
            steps: 6000,
            probe_every: 100,
            inputs: Inputs::Gaussian,
            n_train: 20_000,
            n_eval: 300,
            seed: 0,
        }
    }
}

/// The per-layer statistics at one probe.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub step: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Mean and standard deviation of each hidden layer's activations over the held-out batch.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Fraction of each layer's activations within 0.03 of an asymptote.
    pub saturated: Vec<f64>,
}

/// A run: snapshots every `probe_every` steps and the activation histograms at the start and end.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotRun {
    pub snapshots: Vec<Snapshot>,
    /// Per layer, histograms of the held-out activations over the activation's range ([`HISTOGRAM_BINS`] bins).
    pub histograms_start: Vec<Histogram>,
    pub histograms_end: Vec<Histogram>,
}

/// The teacher data as `opts` presents it: `(x_train, y_train, x_eval, y_eval)`.
pub fn data(opts: &GlorotOptions) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let n = opts.n_train + opts.n_eval;
    let d = lab::data::teacher(n, opts.d_in, opts.classes, opts.seed)?;
    let x = match opts.inputs {
        Inputs::Gaussian => d.x,
        Inputs::Positive => candle_nn::ops::sigmoid(&d.x)?,
    };
    Ok((
        x.narrow(0, 0, opts.n_train)?,
        d.y.narrow(0, 0, opts.n_train)?,
        x.narrow(0, opts.n_train, opts.n_eval)?,
        d.y.narrow(0, opts.n_train, opts.n_eval)?,
    ))
}

/// Bins of the activation histograms: 0.01 wide for sigmoid, 0.02 for tanh.
pub const HISTOGRAM_BINS: usize = 100;

fn histograms(net: &lab::Mlp, x: &Tensor, act: Activation) -> Result<Vec<Histogram>> {
    let (lo, hi) = if act == Activation::Sigmoid { (0.0, 1.0) } else { (-1.0, 1.0) };
    net.forward_trace(x, false)?.post.iter().map(|a| Histogram::of(a, lo, hi, HISTOGRAM_BINS)).collect()
}

/// Trains for `steps` steps (a prefix of the run `opts` describes: the same seed gives the same first
/// steps whatever `steps` is) and probes every `opts.probe_every` steps.
pub fn run(opts: &GlorotOptions, steps: usize, progress: bool) -> Result<GlorotRun> {
    ensure!(opts.probe_every > 0, "probe interval must be at least 1");
    ensure!(opts.batch <= opts.n_train, "batch {} is larger than the {} training examples", opts.batch, opts.n_train);
    let (x, y, xe, ye) = data(opts)?;
    let net = MlpConfig::new(opts.d_in, opts.width, opts.depth, opts.classes, opts.activation, opts.init)
        .with_seed(opts.seed)
        .build(&DEVICE)?;
    let histograms_start = histograms(&net, &xe, opts.activation)?;
    let mut snapshots = Vec::new();
    let bar = lab::train::progress_bar(progress && steps >= 1000, steps as u64, opts.activation.name());
    let mut done = 0;
    loop {
        let p = probe(&net, &xe, &ye)?;
        snapshots.push(Snapshot {
            step: done,
            loss: p.loss,
            accuracy: p.accuracy,
            mean: p.layers.iter().map(|l| l.act_mean).collect(),
            std: p.layers.iter().map(|l| l.act_std).collect(),
            saturated: p.layers.iter().map(|l| l.saturated).collect(),
        });
        if done >= steps {
            break;
        }
        let chunk = opts.probe_every.min(steps - done);
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: opts.lr }, chunk, opts.batch);
        cfg.progress = false;
        // Each chunk shuffles with its own seed, so a run is a deterministic function of `opts`.
        cfg.seed = opts.seed.wrapping_mul(1_000_003).wrapping_add((done / opts.probe_every) as u64);
        let h = train(&net, &x, &y, None, &cfg)?;
        ensure!(
            !h.diverged,
            "training diverged at step {} (learning rate {} too high?)",
            done + h.steps.len(),
            opts.lr
        );
        done += chunk;
        bar.inc(chunk as u64);
    }
    bar.finish_and_clear();
    Ok(GlorotRun { snapshots, histograms_start, histograms_end: histograms(&net, &xe, opts.activation)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_is_a_prefix_of_a_longer_one() -> Result<()> {
        let opts = GlorotOptions {
            depth: 2,
            width: 16,
            d_in: 8,
            n_train: 200,
            n_eval: 50,
            probe_every: 5,
            ..Default::default()
        };
        let short = run(&opts, 10, false)?;
        let long = run(&opts, 20, false)?;
        assert_eq!(short.snapshots.len(), 3);
        assert_eq!(long.snapshots.len(), 5);
        for (a, b) in short.snapshots.iter().zip(&long.snapshots) {
            assert_eq!(a.mean, b.mean);
        }
        // Sigmoid activations start near ½ and every histogram counts every activation.
        assert!(short.snapshots[0].mean.iter().all(|m| (m - 0.5).abs() < 0.1));
        assert!(short.histograms_end.iter().all(|h| h.counts.iter().sum::<u64>() == 50 * 16));
        Ok(())
    }
}

//! Figure 2-5: the speed of learning of every hidden layer across training, by Nielsen's protocol —
//! gradient descent on one batch of 1000 images, η = 0.1, L2 λ = 5, 500 epochs, recording each hidden
//! layer's speed ‖∂C/∂bˡ‖ before every step — and, beside Nielsen's measure, the book's gˡ (chapter 1:
//! the per-example RMS of δˡ) on the same batch at the same moment.

use crate::nielsen::{Cost, DataArgs, NIELSEN_INITIAL_SPEEDS, NetSpec, Sgd, evaluate, step};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::Dataset;
use lab::plot::{Legend, LineChart, SeriesStyle};
use serde::Serialize;

/// Nielsen's speeds of learning of the four-hidden-layer network after 500 epochs (the last line of
/// `fig/norms_during_training_4_layers.json`, commit 24c21e4 of his repository).
pub const NIELSEN_FINAL_SPEEDS_4: [f64; 4] =
    [8.21211652552637e-06, 2.614381736985433e-05, 0.00018252897168458156, 0.0009247251418948941];

/// Settings of Figure 2-5: Nielsen's protocol.
#[derive(Debug, Clone, PartialEq, Serialize, clap::Args)]
pub struct SpeedTrainingOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images (one batch).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n: usize,
    /// Epochs (= gradient steps).
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub eta: f64,
    /// L2 regularisation λ (weights shrink by 1 − ηλ/n per step).
    #[arg(long, default_value_t = 5.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub lambda: f64,
    /// Output layer and cost: sigmoid (Nielsen's cross-entropy) or softmax.
    #[arg(long, default_value_t = Cost::SigmoidCrossEntropy)]
    pub cost: Cost,
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed of the network's weights and biases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(SpeedTrainingOptions);

/// What [`speed_training`] recorded.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedTrainingRun {
    /// `speeds[e][l]`: layer l+1's speed before epoch e's step.
    pub speeds: Vec<Vec<f64>>,
    /// `g[e][l]`: layer l+1's gˡ before epoch e's step.
    pub g: Vec<Vec<f64>>,
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

/// Runs Nielsen's protocol on `train` for `epochs` epochs (a prefix of a longer run, for the same options).
pub fn speed_training(opts: &SpeedTrainingOptions, train: &Dataset, epochs: usize) -> Result<SpeedTrainingRun> {
    let spec = NetSpec { d_in: train.dim(), width: opts.width, ..NetSpec::nielsen(opts.depth, opts.seed) };
    let net = spec.build()?;
    let sgd = Sgd { eta: opts.eta, lambda: opts.lambda, n: opts.n };
    let accuracy_start = evaluate(&net, train, opts.cost)?.1;
    let (mut speeds, mut g, mut costs) =
        (Vec::with_capacity(epochs), Vec::with_capacity(epochs), Vec::with_capacity(epochs));
    for _ in 0..epochs {
        let (cost, measured) = step(&net, &train.x, &train.y, opts.cost, &sgd, true)?;
        speeds.push(measured.speed);
        g.push(measured.g);
        costs.push(cost);
    }
    let accuracy_end = evaluate(&net, train, opts.cost)?.1;
    Ok(SpeedTrainingRun {
        speeds,
        g,
        costs,
        accuracy_start,
        accuracy_end,
        prior_only_cost: prior_only_cost(train, opts.cost)?,
    })
}

/// The cost of predicting every class's frequency whatever the input (see
/// [`SpeedTrainingRun::prior_only_cost`]).
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

/// Nielsen's four-hidden-layer run, as his repository records it.
#[derive(Debug, Clone, Serialize)]
pub struct NielsenTraining {
    pub initial: &'static [f64],
    #[serde(rename = "final")]
    pub final_speeds: [f64; 4],
    pub initial_ratio_first_last: f64,
    pub final_ratio_first_last: f64,
    pub top_fall: f64,
}

impl NielsenTraining {
    /// His speeds before and after training.
    pub fn published() -> NielsenTraining {
        let (initial, last) = (NIELSEN_INITIAL_SPEEDS[2], NIELSEN_FINAL_SPEEDS_4);
        NielsenTraining {
            initial,
            final_speeds: last,
            initial_ratio_first_last: initial[0] / initial[3],
            final_ratio_first_last: last[0] / last[3],
            top_fall: initial[3] / last[3],
        }
    }
}

/// The end of a full run, against its start.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedTrainingEnd {
    /// The speeds before the last step.
    #[serde(rename = "final")]
    pub final_speeds: Vec<f64>,
    pub final_ratio_first_last: f64,
    /// How many times the last and the first layer's speeds fell.
    pub top_fall: f64,
    pub first_fall: f64,
    /// gˡ before the last step, its first-over-last ratio, and how many times the last and the first
    /// layer's gˡ fell.
    pub g_final: Vec<f64>,
    pub g_final_ratio_first_last: f64,
    pub g_top_fall: f64,
    pub g_first_fall: f64,
    pub accuracy_start: f64,
    pub accuracy_end: f64,
    pub final_cost: Option<f64>,
    pub prior_only_cost: f64,
    /// Nielsen's run (four hidden layers only).
    pub nielsen: Option<NielsenTraining>,
}

/// What Figure 2-5 measured (quick mode: the first 5 epochs, no end of run).
#[derive(Debug, Clone, Serialize)]
pub struct SpeedTrainingData {
    pub options: SpeedTrainingOptions,
    /// `speeds[l][e]`: hidden layer l+1's speed (Nielsen's ‖∂C/∂bˡ‖) before epoch e's step.
    pub speeds: Vec<Vec<f64>>,
    /// `g[l][e]`: hidden layer l+1's gˡ (the book's measure) before epoch e's step.
    pub g: Vec<Vec<f64>>,
    pub costs: Vec<f64>,
    pub initial: Vec<f64>,
    pub initial_ratio_first_last: f64,
    pub g_initial: Vec<f64>,
    pub g_initial_ratio_first_last: f64,
    #[serde(flatten)]
    pub end: Option<SpeedTrainingEnd>,
}

/// Figure 2-5: Nielsen's ‖∂C/∂bˡ‖ and the book's gˡ of each hidden layer of the four-hidden-layer
/// network during Nielsen's 500 epochs.
pub struct SpeedTraining;

/// Epochs of the quick run.
const QUICK_EPOCHS: usize = 5;

impl Experiment for SpeedTraining {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "speed-training";
    const ABOUT: &'static str =
        "Per-layer speed of learning during full-batch training, after Nielsen's NNDL chapter 5 (Figure 2-5)";
    type Options = SpeedTrainingOptions;
    type Data = SpeedTrainingData;

    fn run(opts: &SpeedTrainingOptions, run_mode: &GenOptions) -> Result<SpeedTrainingData> {
        ensure!(opts.depth > 0 && opts.width > 0 && opts.n > 0, "--depth, --width and --n must be at least 1");
        let (train, _) = opts.data.source()?.load(opts.n, 0)?;
        let epochs = if run_mode.quick { opts.epochs.min(QUICK_EPOCHS) } else { opts.epochs };
        let run = speed_training(opts, &train, epochs)?;
        let layers = opts.depth;
        let initial = run.speeds[0].clone();
        let g_initial = run.g[0].clone();
        let end = (!run_mode.quick).then(|| {
            let last = run.speeds.last().expect("at least one epoch").clone();
            let g_last = run.g.last().expect("at least one epoch").clone();
            SpeedTrainingEnd {
                g_final_ratio_first_last: g_last[0] / g_last[layers - 1],
                g_top_fall: g_initial[layers - 1] / g_last[layers - 1],
                g_first_fall: g_initial[0] / g_last[0],
                g_final: g_last,
                final_ratio_first_last: last[0] / last[layers - 1],
                top_fall: initial[layers - 1] / last[layers - 1],
                first_fall: initial[0] / last[0],
                final_speeds: last,
                accuracy_start: run.accuracy_start,
                accuracy_end: run.accuracy_end,
                final_cost: run.costs.last().copied(),
                prior_only_cost: run.prior_only_cost,
                nielsen: (layers == 4).then(NielsenTraining::published),
            }
        });
        Ok(SpeedTrainingData {
            options: opts.clone(),
            speeds: (0..layers).map(|l| run.speeds.iter().map(|s| s[l]).collect()).collect(),
            g: (0..layers).map(|l| run.g.iter().map(|s| s[l]).collect()).collect(),
            costs: run.costs,
            initial_ratio_first_last: initial[0] / initial[layers - 1],
            initial,
            g_initial_ratio_first_last: g_initial[0] / g_initial[layers - 1],
            g_initial,
            end,
        })
    }

    fn draw(data: &SpeedTrainingData) -> Result<Vec<Drawing>> {
        let opts = &data.options;
        let layers = data.speeds.len();
        let mut chart = LineChart::new(format!(
            "Speed of learning during training: {layers} hidden layers, {}",
            opts.data.describe()
        ))
        .x_label("epoch (one gradient step on the 1000 images)")
        .y_label("Nielsen's ‖∂C/∂bˡ‖ (solid), the book's gˡ (dashed)")
        .log_y();
        let pts = |v: &[f64]| v.iter().enumerate().map(|(e, &s)| (e as f64, s)).collect::<Vec<_>>();
        for (l, (speed, g)) in data.speeds.iter().zip(&data.g).enumerate() {
            chart = chart
                .series_with(format!("layer {}: ‖∂C/∂bˡ‖", l + 1), pts(speed), SeriesStyle::solid().color(l))
                .series_with(format!("layer {}: gˡ", l + 1), pts(g), SeriesStyle::dashed().color(l));
        }
        let alt = format!(
            "Log-scale gradients of the {layers} hidden layers over {} epochs of training, by two measures: Nielsen's bias-gradient norms (solid) all fall, the first layer's more than a hundred times below the last's throughout; the book's per-example measure gˡ (dashed) keeps the same order of the layers but falls less",
            opts.epochs
        );
        let svg = chart.legend(Legend::Outside).size(820, 440).render(&alt)?;
        Ok(vec![Drawing::new("speed-training", &alt, svg, data)?])
    }
}

impl std::fmt::Display for SpeedTrainingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<34} {:?}", "initial", self.initial)?;
        if let Some(end) = &self.end {
            writeln!(f, "{:<34} {:?}", "final", end.final_speeds)?;
        }
        writeln!(f, "{:<34} {:?}", "initial_ratio_first_last", self.initial_ratio_first_last)?;
        writeln!(f, "{:<34} {:?}", "g_initial", self.g_initial)?;
        writeln!(f, "{:<34} {:?}", "g_initial_ratio_first_last", self.g_initial_ratio_first_last)?;
        if let Some(end) = &self.end {
            writeln!(f, "{:<34} {:?}", "final_ratio_first_last", end.final_ratio_first_last)?;
            writeln!(f, "{:<34} {:?}", "g_final", end.g_final)?;
            writeln!(f, "{:<34} {:?}", "g_final_ratio_first_last", end.g_final_ratio_first_last)?;
            writeln!(f, "{:<34} {:?}", "accuracy_start", end.accuracy_start)?;
            writeln!(f, "{:<34} {:?}", "accuracy_end", end.accuracy_end)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nielsen::DataSource;

    #[test]
    fn prior_only_cost_of_balanced_classes() -> Result<()> {
        let (train, _) = DataSource::Digits { seed: 0 }.load(100, 0)?;
        // 100 digits are balanced exactly (10 per class): −ln 0.1 − 9 ln 0.9 and ln 10.
        let sig = prior_only_cost(&train, Cost::SigmoidCrossEntropy)?;
        assert!((sig - (-(0.1f64).ln() - 9.0 * 0.9f64.ln())).abs() < 1e-12, "{sig}");
        assert!((prior_only_cost(&train, Cost::Softmax)? - 10f64.ln()).abs() < 1e-12);
        Ok(())
    }
}

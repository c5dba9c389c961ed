//! Why not start at zero or at one constant? Symmetry: units that start equal get equal gradients
//! and stay equal, so a layer of any width computes what one unit computes.

use anyhow::{Result, ensure};
use candle_core::{DType, Tensor};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::HeldOutDigits;
use lab::plot::LineChart;
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-10.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SymmetryOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer (at least 2: a layer needs two units to compare).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// SGD steps per run.
    #[arg(long, default_value_t = 400, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lr: f64,
    /// Measure the units' spread and the held-out accuracy every this many steps.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub record_every: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub digits: cli::DigitSplit,
    /// Seed of the digits, the random start and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(SymmetryOptions);

/// Steps of the freshness test's quick run (a prefix of the full run).
const QUICK_STEPS: usize = 60;

/// How a network of Figure 4-10 starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Every weight and bias zero.
    Zeros,
    /// Every weight of a layer 1/fan_in (each unit starts as the mean of its inputs), biases zero.
    Constant,
    /// Xavier-uniform weights, biases zero.
    Random,
}

impl Start {
    pub const ALL: [Start; 3] = [Start::Zeros, Start::Constant, Start::Random];

    pub fn label(self) -> &'static str {
        match self {
            Start::Zeros => "all zeros",
            Start::Constant => "every weight 1/fan_in",
            Start::Random => "Xavier (random)",
        }
    }

    /// The name in the figure's legend.
    pub fn short(self) -> &'static str {
        match self {
            Start::Zeros => "zeros",
            Start::Constant => "1/fan_in",
            Start::Random => "Xavier",
        }
    }
}

/// A tanh MLP (`depth` hidden layers of `width`, 10 classes) started as `start` says.
pub fn network(d_in: usize, width: usize, depth: usize, start: Start, seed: u64) -> Result<Mlp> {
    let init = if start == Start::Random { Init::XAVIER } else { Init::Zeros };
    let net = MlpConfig::new(d_in, width, depth, 10, Activation::Tanh, init).with_seed(seed).build(&DEVICE)?;
    if start == Start::Constant {
        constant_start(&net)?;
    }
    Ok(net)
}

/// Sets every weight of every layer to 1/fan_in and every bias to zero.
pub fn constant_start(net: &Mlp) -> Result<()> {
    for (i, layer) in net.layers.iter().enumerate() {
        let (fan_out, fan_in) = layer.weight.dims2()?;
        let w = Tensor::full(1.0 / fan_in as f32, (fan_out, fan_in), &DEVICE)?;
        net.set_layer(i, &w, &Tensor::zeros(fan_out, DType::F32, &DEVICE)?)?;
    }
    Ok(())
}

/// How far apart a layer's units are: the largest difference between two units' weights on the
/// same input, max over j of (max_i W_ij − min_i W_ij), for a `(units, inputs)` weight matrix.
/// Zero exactly when every unit has the same incoming weights.
pub fn unit_spread(weight: &Tensor) -> Result<f64> {
    let w = weight.to_dtype(DType::F64)?;
    Ok(w.max(0)?.sub(&w.min(0)?)?.max(0)?.to_scalar::<f64>()?)
}

/// [`unit_spread`] of every hidden layer, first to last.
pub fn hidden_spreads(net: &Mlp) -> Result<Vec<f64>> {
    net.hidden().iter().map(|l| unit_spread(l.weight.as_tensor())).collect()
}

/// The digits of Figure 4-10: `opts.digits`, standardised, drawn with `opts.seed`.
pub fn digits(opts: &SymmetryOptions) -> Result<HeldOutDigits> {
    opts.digits.draw(opts.batch, opts.seed)
}

/// What one training run measured, every `record_every` steps.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The steps at which the spreads and accuracies were measured (0 = before training).
    pub steps: Vec<usize>,
    /// Per measurement, [`hidden_spreads`].
    pub spreads: Vec<Vec<f64>>,
    /// Per measurement, the held-out accuracy.
    pub test_accuracy: Vec<f64>,
    /// Per measurement, the held-out loss.
    pub test_loss: Vec<f64>,
}

/// Trains `net` for `steps` steps of plain SGD on `data`, measuring as it goes.
pub fn train_recording(net: &Mlp, data: &HeldOutDigits, opts: &SymmetryOptions, steps: usize) -> Result<Record> {
    ensure!(opts.record_every > 0 && steps > 0, "steps and record-every must be at least 1");
    let first = lab::train::evaluate(net, &data.test_x, &data.test_y, 0)?;
    let mut record = Record {
        steps: vec![0],
        spreads: vec![hidden_spreads(net)?],
        test_accuracy: vec![first.accuracy],
        test_loss: vec![first.loss],
    };
    let mut done = 0;
    while done < steps {
        let chunk = opts.record_every.min(steps - done);
        let mut cfg = TrainConfig::new(Optim::Sgd { lr: opts.lr }, chunk, opts.batch);
        cfg.seed = opts.seed + 1 + done as u64;
        cfg.progress = false;
        let history = train(net, &data.train_x, &data.train_y, Some((&data.test_x, &data.test_y)), &cfg)?;
        done += chunk;
        let eval = history.final_eval().expect("train evaluates at the end");
        record.steps.push(done);
        record.spreads.push(hidden_spreads(net)?);
        record.test_accuracy.push(eval.accuracy);
        record.test_loss.push(eval.loss);
    }
    Ok(record)
}

/// One start's training record.
#[derive(Debug, Clone, Serialize)]
pub struct SymmetryRun {
    pub start: Start,
    pub label: &'static str,
    #[serde(flatten)]
    pub record: Record,
}

/// Trains a network of each start with plain SGD on the same digits and the same batches.
pub fn symmetry_runs(opts: &SymmetryOptions, steps: usize) -> Result<Vec<SymmetryRun>> {
    ensure!(opts.depth >= 1 && opts.width >= 2, "need depth ≥ 1 and width ≥ 2 (a layer needs two units to compare)");
    let data = digits(opts)?;
    Start::ALL
        .iter()
        .map(|&start| {
            let net = network(data.train_x.dim(1)?, opts.width, opts.depth, start, opts.seed)?;
            Ok(SymmetryRun { start, label: start.label(), record: train_recording(&net, &data, opts, steps)? })
        })
        .collect()
}

/// The numbers the prose quotes from one run: the final accuracy, and the largest spread any hidden
/// layer reached during training.
#[derive(Debug, Clone, Serialize)]
pub struct SymmetrySummary {
    pub start: Start,
    pub final_accuracy: Option<f64>,
    pub max_spread: f64,
    pub final_spreads: Option<Vec<f64>>,
}

/// What Figure 4-10 shows (quick mode: the first steps of the same runs, without the summary).
#[derive(Debug, Clone, Serialize)]
pub struct SymmetryData {
    pub runs: Vec<SymmetryRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<SymmetrySummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<SymmetryOptions>,
}

/// The largest spread any hidden layer of `run` reached.
fn max_spread(run: &SymmetryRun) -> f64 {
    run.record.spreads.iter().flatten().fold(0.0f64, |a, &b| a.max(b))
}

/// Figure 4-10: held-out accuracy while training from zeros, from one constant and from a random
/// draw; the data also holds every hidden layer's unit spread at each measurement.
pub struct Symmetry;

impl Experiment for Symmetry {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "symmetry";
    const ABOUT: &'static str =
        "Zero, constant and random starts: do a layer's units ever differ, and what does the net learn? (Figure 4-10)";
    type Options = SymmetryOptions;
    type Data = SymmetryData;

    fn run(opts: &SymmetryOptions, run_mode: &GenOptions) -> Result<SymmetryData> {
        let steps = if run_mode.quick { opts.steps.min(QUICK_STEPS) } else { opts.steps };
        let runs = symmetry_runs(opts, steps)?;
        if run_mode.quick {
            return Ok(SymmetryData { runs, summary: None, options: None });
        }
        let summary = runs
            .iter()
            .map(|r| SymmetrySummary {
                start: r.start,
                final_accuracy: r.record.test_accuracy.last().copied(),
                max_spread: max_spread(r),
                final_spreads: r.record.spreads.last().cloned(),
            })
            .collect();
        Ok(SymmetryData { runs, summary: Some(summary), options: Some(opts.clone()) })
    }

    fn draw(data: &SymmetryData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("symmetry", data)?]);
        };
        let mut chart = LineChart::new(format!(
            "Training a {}-layer tanh MLP (width {}) from three starts",
            opts.depth, opts.width
        ))
        .x_label("SGD step")
        .y_label("held-out accuracy")
        .y_range(0.0, 1.0);
        for r in &data.runs {
            let points = r.record.steps.iter().zip(&r.record.test_accuracy).map(|(&s, &a)| (s as f64, a)).collect();
            chart = chart.series(format!("{}, spread {:.2}", r.start.short(), max_spread(r)), points);
        }
        chart = chart.hline(0.1, "chance");
        let alt = "Held-out accuracy against SGD step for a tanh MLP started from all zeros, from every weight equal to 1/fan_in, and from Xavier's random draw. Only the random start learns the task; the zero start stays at chance and the constant start, whose units stay identical, learns a little and stalls.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("symmetry", alt, svg, data)?])
    }
}

impl std::fmt::Display for SymmetryData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<24} {:>10} {:>28}", "start", "test acc", "unit spread per layer (end)")?;
        for r in &self.runs {
            let last = r.record.spreads.last().map(Vec::as_slice).unwrap_or_default();
            let spreads: Vec<String> = last.iter().map(|v| format!("{v:.2e}")).collect();
            let accuracy = r.record.test_accuracy.last().copied().unwrap_or(f64::NAN);
            writeln!(f, "{:<24} {accuracy:>10.3} {:>28}", r.label, spreads.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_zero_only_for_identical_rows() -> Result<()> {
        let same = Tensor::new(&[[1.0f32, -2.0, 3.0], [1.0, -2.0, 3.0]], &DEVICE)?;
        assert_eq!(unit_spread(&same)?, 0.0);
        let apart = Tensor::new(&[[1.0f32, -2.0, 3.0], [1.0, -2.5, 3.0], [1.0, -2.0, 2.0]], &DEVICE)?;
        assert_eq!(unit_spread(&apart)?, 1.0);
        Ok(())
    }

    #[test]
    fn constant_units_stay_identical_and_random_ones_learn() -> Result<()> {
        let opts = SymmetryOptions {
            steps: 60,
            digits: cli::DigitSplit { train_examples: 500, test_examples: 200 },
            ..Default::default()
        };
        let runs = symmetry_runs(&opts, opts.steps)?;
        for r in &runs[..2] {
            assert!(r.record.spreads.iter().flatten().all(|&s| s == 0.0), "{:?}: {:?}", r.start, r.record.spreads);
        }
        let random = &runs[2];
        assert!(random.record.spreads.iter().flatten().all(|&s| s > 0.1), "{:?}", random.record.spreads);
        assert!(*random.record.test_accuracy.last().unwrap() > runs[1].record.test_accuracy.last().unwrap() + 0.2);
        Ok(())
    }
}

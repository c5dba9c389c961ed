//! Figures 2-6 and 2-7: what depth does to a fixed training budget — Nielsen's sigmoid networks of 1
//! to 10 hidden layers trained by the same minibatch SGD, their test accuracy during training, and how
//! far each layer's weights moved.

use crate::nielsen::{
    Cost, DataArgs, NetSpec, Sgd, evaluate, gradient_at_layers, snapshot, speed_of_learning, step, weight_change,
};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::Dataset;
use lab::plot::{LayerProfile, Legend, LineChart};
use serde::{Serialize, Serializer};

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
    /// Accuracy in percent for 1, 2, 3, 4 hidden layers. The entries for two to four hidden layers
    /// (96.90, 96.57, 96.53) were checked against his chapter's text; the one-hidden-layer entry could
    /// not be, and the book does not quote it.
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

/// Settings of Figures 2-6 and 2-7: minibatch SGD of Nielsen's networks at several depths, on the same
/// data and budget.
#[derive(Debug, Clone, PartialEq, Serialize, clap::Args)]
pub struct DepthTrainingOptions {
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 3, 4, 5, 6, 8, 10], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_train: usize,
    /// Test images.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_test: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// SGD steps per network.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub eta: f64,
    /// L2 regularisation λ.
    #[arg(long, default_value_t = 0.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub lambda: f64,
    /// Evaluate on the test images every this many steps.
    #[arg(long, default_value_t = 250, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub eval_every: usize,
    /// Output layer and cost: sigmoid (Nielsen's cross-entropy) or softmax.
    #[arg(long, default_value_t = Cost::SigmoidCrossEntropy)]
    pub cost: Cost,
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed of the networks and of the minibatch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(DepthTrainingOptions);

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
    /// The book's gˡ of every hidden layer at initialisation, on the same images.
    pub initial_g: Vec<f64>,
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
    ensure!(opts.batch <= train.len(), "a batch of {} is more than the {} training images", opts.batch, train.len());
    let spec = NetSpec { d_in: train.dim(), width: opts.width, ..NetSpec::nielsen(depth, opts.seed) };
    let net = spec.build()?;
    let w0 = snapshot(&net)?;
    let probe_n = train.len().min(1000);
    let (probe_x, probe_y) = (train.x.narrow(0, 0, probe_n)?, train.y.narrow(0, 0, probe_n)?);
    let initial_speeds = speed_of_learning(&net, &probe_x, &probe_y, opts.cost)?;
    let initial_g = gradient_at_layers(&net, &probe_x, &probe_y, opts.cost)?;
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
        initial_g,
        weight_change: weight_change(&net, &w0)?,
    })
}

/// The first step at which a run's test accuracy reached a level, or never (saved as `"never"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    At(usize),
    Never,
}

impl Serialize for Reached {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reached::At(step) => s.serialize_u64(*step as u64),
            Reached::Never => s.serialize_str("never"),
        }
    }
}

/// The end of one depth's full run.
#[derive(Debug, Clone, Serialize)]
pub struct DepthRunEnd {
    pub weight_change: Vec<f64>,
    pub weight_change_first_over_last: f64,
    pub final_accuracy: Option<f64>,
    pub final_error: f64,
    pub final_cost: Option<f64>,
    /// Steps until the test accuracy first reached 20 % (off the plateau) and 80 %.
    pub left_plateau_at: Reached,
    pub steps_to_80: Reached,
}

/// One depth in Figure 2-6's data.
#[derive(Debug, Clone, Serialize)]
pub struct DepthRunData {
    pub depth: usize,
    pub eval_steps: Vec<usize>,
    pub test_cost: Vec<f64>,
    pub test_accuracy: Vec<f64>,
    pub initial_speeds: Vec<f64>,
    /// Nielsen's ‖∂C/∂b¹‖/‖∂C/∂bᴸ‖ at initialisation.
    pub initial_ratio_first_last: f64,
    /// The book's gˡ at initialisation, and g¹/gᴸ.
    pub initial_g: Vec<f64>,
    pub initial_g_ratio_first_last: f64,
    #[serde(flatten)]
    pub end: Option<DepthRunEnd>,
}

impl DepthRunData {
    fn of(r: &DepthRun, quick: bool) -> DepthRunData {
        let first_at = |level: f64| {
            r.eval_steps
                .iter()
                .zip(&r.test_accuracy)
                .find(|(_, a)| **a >= level)
                .map_or(Reached::Never, |(s, _)| Reached::At(*s))
        };
        let wc = &r.weight_change;
        let end = (!quick).then(|| DepthRunEnd {
            weight_change: wc.clone(),
            weight_change_first_over_last: wc[0] / wc[wc.len() - 1],
            final_accuracy: r.test_accuracy.last().copied(),
            final_error: 1.0 - r.test_accuracy.last().copied().unwrap_or(0.0),
            final_cost: r.test_cost.last().copied(),
            left_plateau_at: first_at(0.2),
            steps_to_80: first_at(0.8),
        });
        DepthRunData {
            depth: r.depth,
            eval_steps: r.eval_steps.clone(),
            test_cost: r.test_cost.clone(),
            test_accuracy: r.test_accuracy.clone(),
            initial_speeds: r.initial_speeds.clone(),
            initial_ratio_first_last: r.initial_speeds[0] / r.initial_speeds[r.initial_speeds.len() - 1],
            initial_g: r.initial_g.clone(),
            initial_g_ratio_first_last: r.initial_g[0] / r.initial_g[r.initial_g.len() - 1],
            end,
        }
    }
}

/// The best and the deepest network of a full run, and Nielsen's runs for comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DepthTrainingSummary {
    pub best_accuracy: f64,
    pub best_depth: Option<usize>,
    pub deepest_depth: usize,
    pub deepest_accuracy: Option<f64>,
    pub deepest_weight_change: Vec<f64>,
    pub nielsen: NielsenRuns,
}

/// Figure 2-6's data.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyData {
    pub options: DepthTrainingOptions,
    pub data_source: String,
    pub runs: Vec<DepthRunData>,
    #[serde(flatten)]
    pub summary: Option<DepthTrainingSummary>,
}

/// One depth in Figure 2-7's data.
#[derive(Debug, Clone, Serialize)]
pub struct LayerChange {
    pub depth: usize,
    pub weight_change: Vec<f64>,
}

/// Figure 2-7's data (quick mode: the options only).
#[derive(Debug, Clone, Serialize)]
pub struct LayerChangeData {
    pub options: DepthTrainingOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_change: Option<Vec<LayerChange>>,
}

/// What Figures 2-6 and 2-7 measured (quick mode: the first two depths, one evaluation interval).
#[derive(Debug, Clone, Serialize)]
pub struct DepthTrainingData {
    pub accuracy: AccuracyData,
    pub layer_change: LayerChangeData,
}

/// Figures 2-6 (test accuracy during training, per depth) and 2-7 (how far each layer's weights moved).
pub struct DepthTraining;

impl Experiment for DepthTraining {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "depth-training";
    const ABOUT: &'static str = "Test accuracy and per-layer weight change of sigmoid nets of increasing depth under one SGD budget (Figures 2-6, 2-7)";
    type Options = DepthTrainingOptions;
    type Data = DepthTrainingData;

    fn run(opts: &DepthTrainingOptions, run_mode: &GenOptions) -> Result<DepthTrainingData> {
        cli::ensure_nonempty("depths", &opts.depths, "depth")?;
        cli::ensure_at_most("batch", opts.batch, "n-train", opts.n_train)?;
        let (train, test) = opts.data.source()?.load(opts.n_train, opts.n_test)?;
        let (depths, steps) = if run_mode.quick {
            (&opts.depths[..opts.depths.len().min(2)], opts.eval_every)
        } else {
            (&opts.depths[..], opts.steps)
        };
        let runs = depths.iter().map(|&d| depth_run(opts, &train, &test, d, steps)).collect::<Result<Vec<_>>>()?;
        let summary = (!run_mode.quick).then(|| {
            let final_accuracy = |r: &DepthRun| *r.test_accuracy.last().unwrap_or(&0.0);
            let best = runs.iter().map(final_accuracy).fold(0.0, f64::max);
            let deepest = runs.last().expect("a run");
            DepthTrainingSummary {
                best_accuracy: best,
                best_depth: runs.iter().find(|r| final_accuracy(r) == best).map(|r| r.depth),
                deepest_depth: deepest.depth,
                deepest_accuracy: deepest.test_accuracy.last().copied(),
                deepest_weight_change: deepest.weight_change.clone(),
                nielsen: NIELSEN_MNIST_RUNS,
            }
        });
        let weight_change = (!run_mode.quick).then(|| {
            runs.iter().map(|r| LayerChange { depth: r.depth, weight_change: r.weight_change.clone() }).collect()
        });
        Ok(DepthTrainingData {
            accuracy: AccuracyData {
                options: opts.clone(),
                data_source: opts.data.describe(),
                runs: runs.iter().map(|r| DepthRunData::of(r, run_mode.quick)).collect(),
                summary,
            },
            layer_change: LayerChangeData { options: opts.clone(), weight_change },
        })
    }

    fn draw(data: &DepthTrainingData) -> Result<Vec<Drawing>> {
        let (acc, change) = (&data.accuracy, &data.layer_change);
        let opts = &acc.options;
        let mut chart = LineChart::new(format!(
            "Test accuracy during training, by depth ({}, width {})",
            acc.data_source, opts.width
        ))
        .x_label("SGD step (minibatch of 10)")
        .y_label("test accuracy")
        .y_range(0.0, 1.0);
        for r in &acc.runs {
            let pts = r.eval_steps.iter().zip(&r.test_accuracy).map(|(&s, &a)| (s as f64, a)).collect();
            chart = chart.series(format!("{} hidden", r.depth), pts);
        }
        let depths: Vec<usize> = acc.runs.iter().map(|r| r.depth).collect();
        let alt = format!(
            "Test accuracy against training step for sigmoid networks of {depths:?} hidden layers: the shallow ones climb quickly, each extra layer delays the climb, and from four layers on the networks stay at chance for all {} steps",
            opts.steps
        );
        let acc_svg = chart.legend(Legend::Outside).render(&alt)?;

        let alt2 = "Relative change of each hidden layer's weights after training, on a log scale, for each depth: in every network the layers near the output moved most and the first layers least, by orders of magnitude in the deepest";
        let change_svg = match &change.weight_change {
            Some(runs) => {
                let mut profile = LayerProfile::new("How far each layer's weights moved in training")
                    .y_label("‖Wˡ − W₀ˡ‖ / ‖W₀ˡ‖")
                    .x_label("hidden layer ℓ");
                for r in runs.iter().filter(|r| r.depth >= 2) {
                    profile = profile.series(format!("{} hidden", r.depth), r.weight_change.clone());
                }
                profile.legend(Legend::Outside).render(alt2)?
            }
            // A quick run's figure is never drawn.
            None => String::new(),
        };
        Ok(vec![
            Drawing::new("depth-training", &alt, acc_svg, acc)?,
            Drawing::new("layer-change", alt2, change_svg, change)?,
        ])
    }
}

impl std::fmt::Display for DepthTrainingData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.accuracy.runs {
            let acc = r.test_accuracy.last().copied().unwrap_or(f64::NAN);
            let change = r.end.as_ref().map_or("– (quick run)".to_string(), |e| format!("{:?}", e.weight_change));
            writeln!(f, "{:>2} hidden layers: test accuracy {acc:.3}, weight change per layer {change}", r.depth)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shallow_net_learns_and_a_deep_nets_top_layers_move_most() -> Result<()> {
        let opts = DepthTrainingOptions { n_train: 300, n_test: 100, eval_every: 100, ..Default::default() };
        let (train, test) = opts.data.source()?.load(opts.n_train, opts.n_test)?;
        let shallow = depth_run(&opts, &train, &test, 1, 300)?;
        assert_eq!(shallow.eval_steps, vec![0, 100, 200, 300]);
        assert!(shallow.test_accuracy[3] > shallow.test_accuracy[0] + 0.2, "{:?}", shallow.test_accuracy);
        // In a deep sigmoid net the hidden layers' weights move less the further they are from the output.
        let deep = depth_run(&opts, &train, &test, 5, 200)?;
        let wc = &deep.weight_change;
        assert!(wc[4] > wc[3] && wc[3] > wc[2] && wc[2] > wc[1], "{wc:?}");
        Ok(())
    }

    #[test]
    fn steps_never_reached_are_saved_as_never() {
        assert_eq!(serde_json::to_value(Reached::At(250)).unwrap(), serde_json::json!(250));
        assert_eq!(serde_json::to_value(Reached::Never).unwrap(), serde_json::json!("never"));
    }
}

//! Veit, Wilber & Belongie (2016): delete one block of a trained network at test time. A residual
//! network degrades gracefully; a plain one collapses (Figure 6-7).

use crate::common::{digits, tail_mean};
use crate::profile::architectures;
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::net::{accuracy, cross_entropy};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResMlp, train};
use lab::train::Optim;
use serde::Serialize;

/// Settings of Figure 6-7.
#[derive(Debug, Clone, Serialize)]
pub struct LesionOptions {
    pub blocks: usize,
    pub width: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub train_examples: usize,
    pub test_examples: usize,
    pub seed: u64,
}

impl Default for LesionOptions {
    fn default() -> Self {
        LesionOptions {
            blocks: 8,
            width: 64,
            steps: 400,
            batch: 64,
            lr: 0.01,
            momentum: 0.9,
            train_examples: 2000,
            test_examples: 500,
            seed: 0,
        }
    }
}

/// Test loss and accuracy of `net` with block `lesion` deleted (None: intact).
pub fn lesioned_eval(
    net: &ResMlp,
    x: &candle_core::Tensor,
    y: &candle_core::Tensor,
    lesion: Option<usize>,
) -> Result<(f64, f64)> {
    let logits = net.forward_lesioned(x, lesion)?;
    Ok((cross_entropy(&logits, y)?.to_scalar::<f32>()? as f64, accuracy(&logits, y)?))
}

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 3;

/// Figure 6-7: test accuracy of a trained plain and residual network with each block deleted in turn.
pub fn lesion_figure(opts: &LesionOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.blocks >= 2 && opts.width > 0 && opts.steps > 0, "need blocks ≥ 2, width ≥ 1, steps ≥ 1");
    ensure!(opts.batch <= opts.train_examples, "--batch cannot exceed --train-examples");
    ensure!(opts.test_examples > 0, "need at least one test example");
    let (x, y) = digits(opts.train_examples + opts.test_examples, opts.seed)?;
    let (train_x, test_x) =
        (x.narrow(0, 0, opts.train_examples)?, x.narrow(0, opts.train_examples, opts.test_examples)?);
    let (train_y, test_y) =
        (y.narrow(0, 0, opts.train_examples)?, y.narrow(0, opts.train_examples, opts.test_examples)?);
    let steps = if gen_opts.quick { opts.steps.min(QUICK_STEPS) } else { opts.steps };
    let optim = Optim::Momentum { lr: opts.lr, momentum: opts.momentum };
    let mut runs = Vec::new();
    for (name, cfg) in architectures(784, opts.width, opts.blocks) {
        let net = cfg.with_seed(opts.seed).build()?;
        let losses = train(&net, &train_x, &train_y, optim, steps, opts.batch, opts.seed + 1)?;
        let mut run = serde_json::json!({ "name": name, "losses": losses });
        if !gen_opts.quick {
            let (intact_loss, intact_accuracy) = lesioned_eval(&net, &test_x, &test_y, None)?;
            let (mut loss, mut acc) = (Vec::new(), Vec::new());
            for l in 0..opts.blocks {
                let (lo, a) = lesioned_eval(&net, &test_x, &test_y, Some(l))?;
                loss.push(lo);
                acc.push(a);
            }
            let mean_acc = acc.iter().sum::<f64>() / acc.len() as f64;
            let worst_acc = acc.iter().copied().fold(f64::INFINITY, f64::min);
            run["final_train_loss"] = serde_json::json!(tail_mean(&losses, 20));
            run["intact_loss"] = serde_json::json!(intact_loss);
            run["intact_accuracy"] = serde_json::json!(intact_accuracy);
            run["lesioned_loss"] = serde_json::json!(loss);
            run["lesioned_accuracy"] = serde_json::json!(acc);
            run["mean_lesioned_accuracy"] = serde_json::json!(mean_acc);
            run["worst_lesioned_accuracy"] = serde_json::json!(worst_acc);
        }
        runs.push(run);
    }
    if gen_opts.quick {
        return Figure::new("ch06", "lesion", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let mut chart = LineChart::new(format!(
        "Deleting one block of a trained {}-block MLP at test time ({} test digits)",
        opts.blocks, opts.test_examples
    ))
    .x_label("deleted block")
    .y_label("test accuracy")
    .y_range(0.0, 1.0)
    .integer_x()
    .markers();
    for (i, r) in runs.iter().enumerate() {
        let acc: Vec<(f64, f64)> = r["lesioned_accuracy"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(l, v)| Some(((l + 1) as f64, v.as_f64()?)))
            .collect();
        let name = r["name"].as_str().unwrap_or("?");
        chart = chart.series_with(format!("{name}, one block deleted"), acc, SeriesStyle::solid().color(i));
        let intact = r["intact_accuracy"].as_f64().unwrap_or(f64::NAN);
        let flat = vec![(1.0, intact), (opts.blocks as f64, intact)];
        chart = chart.series_with(format!("{name}, intact"), flat, SeriesStyle::dashed().color(i));
    }
    let chart = chart.hline(0.1, "chance");
    let alt = "Test accuracy of a trained plain and a trained residual MLP with each block deleted in turn, against the intact accuracy (dashed). The residual network loses a little for most blocks; the plain network falls to near chance whichever block is deleted.";
    let svg = chart.render(alt)?;
    let data = serde_json::json!({ "options": opts, "runs": runs });
    Figure::new("ch06", "lesion", alt, svg, &data)
}

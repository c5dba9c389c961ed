//! Figure 2-13: the sigmoid experiment of Figure 2-9 (see [`crate::glorot`]) under varied conditions —
//! learning rate, inputs, depth, init: when does the top hidden layer saturate?

use crate::glorot::{self, GlorotOptions, Inputs};
use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Init;
use lab::plot::{Legend, LineChart};
use serde::Serialize;

/// Settings of Figure 2-13 (the conditions themselves are [`ConditionsOptions::conditions`]).
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ConditionsOptions {
    /// SGD steps per condition.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Seed of every condition's teacher task, weights and minibatch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ConditionsOptions);

/// Probe interval of every condition.
const PROBE_EVERY: usize = 200;

/// One condition of the sensitivity study.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub label: String,
    pub options: GlorotOptions,
}

/// The conditions run, as saved in the figure's data.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionList {
    pub conditions: Vec<Condition>,
}

impl ConditionsOptions {
    /// The baseline (Figure 2-9's network with these steps, width and seed, probed every 200 steps) and
    /// its five variations.
    pub fn conditions(&self) -> Vec<Condition> {
        let base = GlorotOptions {
            steps: self.steps,
            probe_every: PROBE_EVERY,
            width: self.width,
            seed: self.seed,
            ..GlorotOptions::default()
        };
        let c = |label: &str, options: GlorotOptions| Condition { label: label.into(), options };
        vec![
            c("η = 0.1 (baseline)", base.clone()),
            c("η = 0.01", GlorotOptions { lr: 0.01, ..base.clone() }),
            c("η = 1", GlorotOptions { lr: 1.0, ..base.clone() }),
            c("positive inputs σ(x)", GlorotOptions { inputs: Inputs::Positive, ..base.clone() }),
            c("5 hidden layers", GlorotOptions { depth: 5, ..base.clone() }),
            c("Xavier init", GlorotOptions { init: Init::XAVIER, ..base }),
        ]
    }
}

/// The end of one condition's full run.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionEnd {
    pub final_top_mean: f64,
    pub final_top_saturated: f64,
    /// The layer below the top's final mean (NaN, saved as `null`, in a one-layer network).
    pub final_below_top_mean: f64,
    pub final_accuracy: f64,
    pub final_loss: f64,
    pub final_means: Vec<f64>,
}

/// One condition's run.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionRun {
    pub label: String,
    /// The top hidden layer's mean activation at every probe.
    pub top_mean: Vec<f64>,
    /// The steps of the probes.
    #[serde(skip)]
    pub steps: Vec<usize>,
    #[serde(flatten)]
    pub end: Option<ConditionEnd>,
}

/// What Figure 2-13 measured (quick mode: the baseline's first probe interval only).
#[derive(Debug, Clone, Serialize)]
pub struct ConditionsData {
    pub options: ConditionList,
    pub conditions: Vec<ConditionRun>,
}

/// Figure 2-13: the top hidden layer's mean activation during training under each condition.
pub struct GlorotConditions;

impl Experiment for GlorotConditions {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "glorot-conditions";
    const ABOUT: &'static str =
        "Top-layer saturation of a deep sigmoid net under varied learning rate, inputs, depth and init (Figure 2-13)";
    type Options = ConditionsOptions;
    type Data = ConditionsData;

    fn run(opts: &ConditionsOptions, run_mode: &GenOptions) -> Result<ConditionsData> {
        let all = opts.conditions();
        let conditions = if run_mode.quick { &all[..1] } else { &all[..] };
        let mut runs = Vec::new();
        for c in conditions {
            let o = &c.options;
            let steps = if run_mode.quick { o.probe_every.min(o.steps) } else { o.steps };
            let run = glorot::run(o, steps, run_mode.progress)?;
            let top = o.depth - 1;
            let end = (!run_mode.quick).then(|| {
                let last = run.snapshots.last().expect("snapshots");
                ConditionEnd {
                    final_top_mean: last.mean[top],
                    final_top_saturated: last.saturated[top],
                    final_below_top_mean: if top > 0 { last.mean[top - 1] } else { f64::NAN },
                    final_accuracy: last.accuracy,
                    final_loss: last.loss,
                    final_means: last.mean.clone(),
                }
            });
            runs.push(ConditionRun {
                label: c.label.clone(),
                top_mean: run.snapshots.iter().map(|s| s.mean[top]).collect(),
                steps: run.snapshots.iter().map(|s| s.step).collect(),
                end,
            });
        }
        Ok(ConditionsData { options: ConditionList { conditions: all }, conditions: runs })
    }

    fn draw(data: &ConditionsData) -> Result<Vec<Drawing>> {
        let mut chart = LineChart::new("Top hidden layer's mean sigmoid activation under varied conditions")
            .x_label("SGD step (minibatch of 10)")
            .y_label("mean activation of the top hidden layer")
            .log_y();
        for c in &data.conditions {
            let points = c.steps.iter().zip(&c.top_mean).map(|(&s, &m)| (s as f64, m)).collect();
            chart = chart.series(c.label.clone(), points);
        }
        let alt = "The top hidden layer's mean activation against training step on a log scale for six variants of the sigmoid experiment: it falls from one half towards zero in every variant with the standard initialisation, faster with a larger learning rate and barely at η = 0.01";
        let svg = chart.hline(0.03, "saturation threshold 0.03").legend(Legend::Outside).render(alt)?;
        Ok(vec![Drawing::new("glorot-conditions", alt, svg, data)?])
    }
}

impl std::fmt::Display for ConditionsData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for c in &self.conditions {
            match &c.end {
                Some(e) => writeln!(
                    f,
                    "{:<24} top-layer mean {:.4}, saturated {:.2}, held-out accuracy {:.3}",
                    c.label, e.final_top_mean, e.final_top_saturated, e.final_accuracy
                )?,
                None => writeln!(
                    f,
                    "{:<24} top-layer mean {:.4} at step {} (quick run)",
                    c.label,
                    c.top_mean.last().copied().unwrap_or(f64::NAN),
                    c.steps.last().copied().unwrap_or(0)
                )?,
            }
        }
        Ok(())
    }
}

//! Figure 2-13: the sigmoid experiment of Figure 2-9 (see [`crate::glorot`]) under varied conditions —
//! learning rate, inputs, depth, init, width: when does the top hidden layer saturate, and does the
//! level it falls to depend on how wide the layers are?

use crate::glorot::{self, GlorotOptions};
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
    /// Units per hidden layer (and input dimension) of the baseline.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
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
    /// its six variations; the width sweep keeps the baseline's inputs (and so its task).
    pub fn conditions(&self) -> Vec<Condition> {
        let base = GlorotOptions {
            steps: self.steps,
            table_steps: self.steps,
            probe_every: PROBE_EVERY,
            width: self.width,
            d_in: self.width,
            seed: self.seed,
            ..GlorotOptions::default()
        };
        let c = |label: &str, options: GlorotOptions| Condition { label: label.into(), options };
        vec![
            c("η = 0.1 (baseline)", base.clone()),
            c("η = 0.01", GlorotOptions { lr: 0.01, ..base.clone() }),
            c("η = 1", GlorotOptions { lr: 1.0, ..base.clone() }),
            c("4 hidden layers", GlorotOptions { depth: 4, ..base.clone() }),
            c("Xavier init", GlorotOptions { init: Init::XAVIER, ..base.clone() }),
            c(&format!("width {}", base.width / 2), GlorotOptions { width: base.width / 2, ..base.clone() }),
            c(&format!("width {}", base.width * 2), GlorotOptions { width: base.width * 2, ..base }),
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

/// One width of the sweep, read at the same η × width × step as the others.
#[derive(Debug, Clone, Serialize)]
pub struct WidthPoint {
    pub width: usize,
    pub step: usize,
    pub top_mean: f64,
}

/// The width sweep: the top layer's mean at equal width × step (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct WidthSweep {
    /// width × step, the same for every point.
    pub width_times_steps: usize,
    pub points: Vec<WidthPoint>,
    /// Largest over smallest top-layer mean across the widths.
    pub spread: f64,
    /// The same widths at the same step (the end of the run), for contrast.
    pub at_end: Vec<WidthPoint>,
    pub at_end_spread: f64,
}

/// What Figure 2-13 measured (quick mode: the baseline's first probe interval only).
#[derive(Debug, Clone, Serialize)]
pub struct ConditionsData {
    pub options: ConditionList,
    pub conditions: Vec<ConditionRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width_sweep: Option<WidthSweep>,
}

/// Reads the runs that differ from the baseline (`runs[0]`) only in width at equal width × step.
fn width_sweep(all: &[Condition], runs: &[ConditionRun]) -> Option<WidthSweep> {
    let base = &all[0].options;
    let same_but_width = |o: &GlorotOptions| GlorotOptions { width: base.width, ..o.clone() } == *base;
    let mut sweep: Vec<(usize, &ConditionRun)> =
        all.iter().zip(runs).filter(|(c, _)| same_but_width(&c.options)).map(|(c, r)| (c.options.width, r)).collect();
    sweep.sort_by_key(|(w, _)| *w);
    let (min_w, max_w) = (sweep.first()?.0, sweep.last()?.0);
    // The narrowest width's step: the largest multiple of the probe interval × max_w/min_w in the run.
    let unit = PROBE_EVERY * max_w / min_w;
    let narrow_step = base.steps / unit * unit;
    let product = narrow_step * min_w;
    let at = |w: usize, r: &ConditionRun, step: usize| {
        r.steps.iter().position(|&s| s == step).map(|i| WidthPoint { width: w, step, top_mean: r.top_mean[i] })
    };
    let points: Vec<WidthPoint> = sweep.iter().map(|&(w, r)| at(w, r, product / w)).collect::<Option<_>>()?;
    let at_end: Vec<WidthPoint> = sweep.iter().map(|&(w, r)| at(w, r, base.steps)).collect::<Option<_>>()?;
    let spread = |p: &[WidthPoint]| {
        let means = p.iter().map(|p| p.top_mean);
        means.clone().fold(0.0, f64::max) / means.fold(f64::INFINITY, f64::min)
    };
    Some(WidthSweep {
        width_times_steps: product,
        spread: spread(&points),
        at_end_spread: spread(&at_end),
        points,
        at_end,
    })
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
        anyhow::ensure!(opts.width >= 2, "--width must be at least 2 (the sweep halves it), got {}", opts.width);
        let all = opts.conditions();
        let conditions = if run_mode.quick { &all[..1] } else { &all[..] };
        let mut runs = Vec::new();
        // Conditions that draw the same teacher task share one draw.
        let mut task: Option<(GlorotOptions, (candle_core::Tensor, candle_core::Tensor))> = None;
        for c in conditions {
            let o = &c.options;
            let steps = if run_mode.quick { o.probe_every.min(o.steps) } else { o.steps };
            if !task.as_ref().is_some_and(|(drawn, _)| glorot::same_task(drawn, o)) {
                task = Some((o.clone(), glorot::all_data(o)?));
            }
            let data = &task.as_ref().expect("drawn above").1;
            let run = glorot::run_on(o, data, steps, run_mode.progress)?;
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
        let width_sweep = if run_mode.quick { None } else { width_sweep(&all, &runs) };
        Ok(ConditionsData { options: ConditionList { conditions: all }, conditions: runs, width_sweep })
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
        let alt = "The top hidden layer's mean activation against training step on a log scale for seven variants of the sigmoid experiment: it falls from one half towards zero in every variant, faster with a larger learning rate and barely at η = 0.01, and to the same level at every width";
        let svg = chart.hline(0.03, "saturation threshold 0.03").legend(Legend::Outside).render(alt)?;
        let conditions = Drawing::new("glorot-conditions", alt, svg, data)?;
        let Some(sweep) = &data.width_sweep else {
            // A quick run has no sweep: an empty object, a sub-document of the full run's.
            let empty = serde_json::Map::new();
            return Ok(vec![conditions, Drawing::new("glorot-widths", "", String::new(), &empty)?]);
        };
        // The width sweep against width × step: one curve.
        let base = &data.options.conditions[0].options;
        let mut widths = LineChart::new("Top hidden layer's mean activation against width × step, per width")
            .x_label("hidden width n × SGD step")
            .y_label("mean activation of the top hidden layer")
            .log_y();
        for (c, run) in data.options.conditions.iter().zip(&data.conditions) {
            if sweep.at_end.iter().any(|p| p.width == c.options.width)
                && c.options.lr == base.lr
                && c.options.depth == base.depth
                && c.options.init == base.init
            {
                let w = c.options.width as f64;
                let points = run.steps.iter().zip(&run.top_mean).map(|(&s, &m)| (w * s as f64, m)).collect();
                widths = widths.series(format!("width {}", c.options.width), points);
            }
        }
        let alt_w = "The top hidden layer's mean activation of the sigmoid networks of widths 64, 128 and 256 against width times training step: the three curves nearly coincide, the widest slightly ahead";
        let svg_w = widths.legend(Legend::Outside).render(alt_w)?;
        Ok(vec![conditions, Drawing::new("glorot-widths", alt_w, svg_w, sweep)?])
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

//! The report: window statistics per layer, tap and probe, the verdicts, and three ways to show them.

use crate::stats::Act;
use crate::{Options, Step};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What is wrong (or that nothing is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No threshold crossed.
    Healthy,
    /// NaN or infinite gradients: training has diverged.
    NonFinite,
    /// The first layer's gradient is a small fraction of the last one's.
    Vanishing,
    /// The first layer's gradient is many times the last one's.
    Exploding,
    /// Sigmoid or tanh units pinned at their asymptotes.
    Saturation,
    /// ReLU units that output zero for every example.
    DeadUnits,
    /// Outputs at evaluation depend on the other examples of the batch.
    BatchStatsAtEval,
    /// Updates are a large fraction of the weights.
    LearningRateTooHigh,
    /// Updates are a negligible fraction of the weights.
    LearningRateTooLow,
}

impl Verdict {
    /// The label in the table.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Healthy => "nothing wrong",
            Verdict::NonFinite => "non-finite gradients",
            Verdict::Vanishing => "vanishing gradients",
            Verdict::Exploding => "exploding gradients",
            Verdict::Saturation => "saturated units",
            Verdict::DeadUnits => "dead ReLU units",
            Verdict::BatchStatsAtEval => "batch statistics at evaluation",
            Verdict::LearningRateTooHigh => "learning rate too high",
            Verdict::LearningRateTooLow => "learning rate too low",
        }
    }

    /// The order findings are listed in: causes first.
    pub fn rank(&self) -> u8 {
        match self {
            Verdict::DeadUnits => 0,
            Verdict::BatchStatsAtEval => 1,
            Verdict::Saturation => 2,
            Verdict::Vanishing | Verdict::Exploding => 3,
            Verdict::NonFinite => 4,
            Verdict::LearningRateTooHigh => 5,
            Verdict::LearningRateTooLow => 6,
            Verdict::Healthy => 7,
        }
    }

    /// The book's remedy.
    pub fn remedy(&self) -> &'static str {
        match self {
            Verdict::Healthy => "keep training",
            Verdict::NonFinite => "lower the learning rate or the initial weight scale; clip the global gradient norm",
            Verdict::Vanishing => {
                "replace sigmoid by ReLU with He init, or add BatchNorm or residual connections; \
                 in a recurrent net, use a gated cell (LSTM, GRU)"
            }
            Verdict::Exploding => {
                "initialise at the variance-preserving scale (Xavier for tanh, He for ReLU); clip the global \
                 gradient norm"
            }
            Verdict::Saturation => "initialise with Xavier's scale, or use an activation that does not saturate (ReLU)",
            Verdict::DeadUnits => "lower the learning rate (or warm it up); leaky ReLU units recover",
            Verdict::BatchStatsAtEval => {
                "evaluate in evaluation mode (running statistics: forward_t(x, false)), or use LayerNorm"
            }
            Verdict::LearningRateTooHigh => "lower the learning rate until update:data is near 1e-3",
            Verdict::LearningRateTooLow => "raise the learning rate until update:data is near 1e-3",
        }
    }

    /// The book section whose measurement sets the threshold (path and anchor in the book).
    pub fn section(&self) -> &'static str {
        match self {
            Verdict::Healthy | Verdict::LearningRateTooHigh | Verdict::LearningRateTooLow => {
                "09-diagnosis.md#the-update-to-data-ratio"
            }
            Verdict::NonFinite => "07-recurrent.md#exploding-gradients-and-clipping",
            Verdict::Vanishing => "02-saturation.md#how-fast-it-vanishes-depth-against-theory",
            Verdict::Exploding => "04-initialization.md#he-et-al-rectifiers-thirty-layers-deep",
            Verdict::Saturation => "02-saturation.md#saturation-in-action-glorot--bengios-experiment",
            Verdict::DeadUnits => "03-relu.md#dying-relu-after-a-too-large-learning-rate",
            Verdict::BatchStatsAtEval => "05-batch-norm.md#forgetting-evaluation-mode-measured",
        }
    }
}

/// One verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub verdict: Verdict,
    /// The numbers that crossed the threshold, in words.
    pub evidence: String,
    pub remedy: String,
    /// The book section that measured the threshold.
    pub section: String,
}

impl Finding {
    fn new(verdict: Verdict, evidence: String) -> Finding {
        Finding { verdict, evidence, remedy: verdict.remedy().into(), section: verdict.section().into() }
    }
}

/// One layer's statistics over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    pub name: String,
    /// Geometric mean over the window of the layer's gradient size: the RMS entry of its bias (vector
    /// parameters') gradient when every layer has one — δ, the book's measure — else of all its
    /// gradients.
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_rms: f64,
    /// Mean over the window of log10(‖g‖/‖w‖).
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_data_log10: f64,
    /// Mean over the window of log10(lr·‖g‖/‖w‖), the plain-SGD update:data ratio.
    #[serde(deserialize_with = "nan_if_null")]
    pub update_data_log10: f64,
    /// NaN or infinite gradient entries, summed over the window.
    pub nonfinite: usize,
}

/// One activation tap over the window (means over the steps that tapped it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapSummary {
    pub name: String,
    pub act: Act,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub std: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub saturated: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub dead: f64,
}

/// One gradient probe over the window: geometric mean of the per-example ‖∂L/∂h‖.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub name: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_norm: f64,
}

/// One step, for the over-steps lines of the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub step: usize,
    /// log10 of the first-to-last gradient ratio (probes if any, else layers); None if not finite.
    pub first_to_last_log10: Option<f64>,
    /// The largest layer's log10 update:data ratio.
    pub max_update_data_log10: Option<f64>,
}

const FLOOR: f64 = 1e-30;

/// serde_json writes NaN (a statistic of a layer whose every step was non-finite) as `null`; read it
/// back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Three decimals, or scientific notation for large values.
fn num(x: f64) -> String {
    if x.abs() < 1e4 { format!("{x:.3}") } else { format!("{x:.2e}") }
}

fn log10(x: f64) -> f64 {
    x.max(FLOOR).log10()
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A layer's gradient size for the depth profile: the RMS entry of its vector parameters' gradients
/// (bias: δ summed over the batch, the book's measure) when every layer has some, else of all its
/// gradients, ‖g‖/√n.
fn layer_rms(step: &Step, counts: &[(usize, usize)], i: usize) -> f64 {
    let l = &step.layers[i];
    if counts.iter().all(|c| c.1 > 0) {
        (l.vec_sq / counts[i].1 as f64).sqrt()
    } else {
        (l.grad_sq / counts[i].0.max(1) as f64).sqrt()
    }
}

impl StepSummary {
    pub(crate) fn of(index: usize, step: &Step, counts: &[(usize, usize)]) -> StepSummary {
        let profile: Vec<f64> = if step.probes.is_empty() {
            (0..step.layers.len()).map(|i| layer_rms(step, counts, i)).collect()
        } else {
            step.probes.iter().map(|p| p.1).collect()
        };
        let ratio = match (profile.first(), profile.last()) {
            (Some(a), Some(b)) if profile.len() > 1 && *b > 0.0 => finite(log10(*a / *b)),
            _ => None,
        };
        let update = step
            .layers
            .iter()
            .filter(|l| l.data_sq > 0.0)
            .map(|l| log10(step.lr * (l.grad_sq / l.data_sq).sqrt()))
            .fold(f64::NEG_INFINITY, f64::max);
        StepSummary { step: index, first_to_last_log10: ratio, max_update_data_log10: finite(update) }
    }
}

/// Everything the doctor concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Steps observed, and how many of the last ones the statistics cover.
    pub steps: usize,
    pub window: usize,
    pub layers: Vec<LayerSummary>,
    pub taps: Vec<TapSummary>,
    pub probes: Vec<ProbeSummary>,
    /// First over last of the gradient profile (probes if the model has any, else layers' RMS gradient).
    pub first_to_last: Option<f64>,
    /// "probes" or "layers".
    pub profile: String,
    /// The largest relative change of an output between batch sizes, if [`crate::Doctor::check_eval`] ran.
    pub batch_dependence: Option<f64>,
    pub findings: Vec<Finding>,
    /// One entry per observed step.
    pub history: Vec<StepSummary>,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    if n == 0 { f64::NAN } else { s / n as f64 }
}

impl Report {
    pub(crate) fn build(
        names: &[String],
        counts: &[(usize, usize)],
        window: &[Step],
        history: &[StepSummary],
        steps: usize,
        batch_check: Option<f64>,
        options: &Options,
    ) -> Result<Report> {
        let t = &options.thresholds;
        let layers: Vec<LayerSummary> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let ok = || window.iter().filter(|s| s.layers[i].nonfinite == 0);
                LayerSummary {
                    name: name.clone(),
                    grad_rms: 10f64.powf(mean(ok().map(|s| log10(layer_rms(s, counts, i))))),
                    grad_data_log10: mean(
                        ok().map(|s| log10((s.layers[i].grad_sq / s.layers[i].data_sq.max(FLOOR)).sqrt())),
                    ),
                    update_data_log10: mean(
                        ok().map(|s| log10(s.lr * (s.layers[i].grad_sq / s.layers[i].data_sq.max(FLOOR)).sqrt())),
                    ),
                    nonfinite: window.iter().map(|s| s.layers[i].nonfinite).sum(),
                }
            })
            .collect();
        // Taps and probes, by name in first-seen order.
        let mut tap_names: Vec<String> = Vec::new();
        let mut probe_names: Vec<String> = Vec::new();
        for s in window {
            for (n, _) in &s.taps {
                if !tap_names.contains(n) {
                    tap_names.push(n.clone());
                }
            }
            for (n, _) in &s.probes {
                if !probe_names.contains(n) {
                    probe_names.push(n.clone());
                }
            }
        }
        let taps: Vec<TapSummary> = tap_names
            .iter()
            .map(|name| {
                let seen: Vec<_> = window.iter().flat_map(|s| s.taps.iter().filter(|t| &t.0 == name)).collect();
                TapSummary {
                    name: name.clone(),
                    act: seen.last().map_or(Act::Other, |t| t.1.act),
                    mean: mean(seen.iter().map(|t| t.1.mean)),
                    std: mean(seen.iter().map(|t| t.1.std)),
                    saturated: mean(seen.iter().map(|t| t.1.saturated)),
                    dead: mean(seen.iter().map(|t| t.1.dead)),
                }
            })
            .collect();
        let probes: Vec<ProbeSummary> = probe_names
            .iter()
            .map(|name| {
                let seen = window.iter().flat_map(|s| s.probes.iter().filter(|p| &p.0 == name));
                ProbeSummary { name: name.clone(), grad_norm: 10f64.powf(mean(seen.map(|p| log10(p.1)))) }
            })
            .collect();
        let (profile, values): (&str, Vec<f64>) = if probes.len() > 1 {
            ("probes", probes.iter().map(|p| p.grad_norm).collect())
        } else {
            ("layers", layers.iter().map(|l| l.grad_rms).collect())
        };
        let first_to_last = match (values.first(), values.last()) {
            (Some(a), Some(b)) if values.len() > 1 && *b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
            _ => None,
        };

        let mut findings = Vec::new();
        let diverged = layers.iter().any(|l| l.nonfinite > 0);
        if diverged {
            // After a divergence the wrecked weights say nothing about the cause: report it, and what
            // the steps before it show (the whole history, since the blow-up may take one step).
            let total: usize = layers.iter().map(|l| l.nonfinite).sum();
            let names: Vec<&str> = layers.iter().filter(|l| l.nonfinite > 0).map(|l| l.name.as_str()).collect();
            findings.push(Finding::new(
                Verdict::NonFinite,
                format!("{total} NaN or infinite gradient entries in the last {} steps, in {names:?}", window.len()),
            ));
            let peak = |f: fn(&StepSummary) -> Option<f64>| {
                history.iter().filter_map(|s| f(s).map(|v| (s.step, v))).max_by(|a, b| a.1.total_cmp(&b.1))
            };
            if let Some((step, r)) = peak(|s| s.first_to_last_log10)
                && r > t.exploding_ratio.log10()
            {
                findings.push(Finding::new(
                    Verdict::Exploding,
                    format!(
                        "before diverging, at step {step}, the first layer's gradient was 10^{r:.1} times the \
                         last one's (threshold {:.0e})",
                        t.exploding_ratio
                    ),
                ));
            }
            if let Some((step, u)) = peak(|s| s.max_update_data_log10)
                && u > t.update_high_log10
            {
                findings.push(Finding::new(
                    Verdict::LearningRateTooHigh,
                    format!(
                        "before diverging, at step {step}, an update changed a layer by 10^{u:.1} of its size \
                         (threshold 10^{:.0})",
                        t.update_high_log10
                    ),
                ));
            }
        } else {
            if let Some(r) = first_to_last {
                let (first, last) = match profile {
                    "probes" => (&probes[0].name, &probes[probes.len() - 1].name),
                    _ => (&layers[0].name, &layers[layers.len() - 1].name),
                };
                if r < t.vanishing_ratio {
                    findings.push(Finding::new(
                        Verdict::Vanishing,
                        format!(
                            "the gradient at `{first}` is {r:.1e} of the gradient at `{last}` (threshold {:.0e})",
                            t.vanishing_ratio
                        ),
                    ));
                } else if r > t.exploding_ratio {
                    findings.push(Finding::new(
                        Verdict::Exploding,
                        format!(
                            "the gradient at `{first}` is {r:.1e} times the gradient at `{last}` (threshold {:.0e})",
                            t.exploding_ratio
                        ),
                    ));
                }
            }
            // The tap where a fraction is worst, against its threshold: saturated values, dead units.
            // (verdict, the fraction, its threshold, what the fraction counts)
            type FractionCheck = (Verdict, fn(&TapSummary) -> f64, f64, String);
            let fractions: [FractionCheck; 2] = [
                (
                    Verdict::Saturation,
                    |x| x.saturated,
                    t.saturated_fraction,
                    format!("values are within {} of an asymptote", crate::stats::SATURATION_MARGIN),
                ),
                (Verdict::DeadUnits, |x| x.dead, t.dead_fraction, "units are zero on every example".to_string()),
            ];
            for (verdict, fraction, threshold, what) in fractions {
                let worst =
                    taps.iter().filter(|x| fraction(x).is_finite()).max_by(|a, b| fraction(a).total_cmp(&fraction(b)));
                if let Some(w) = worst
                    && fraction(w) > threshold
                {
                    let share = 100.0 * fraction(w);
                    let message =
                        format!("{share:.0} % of `{}`'s {what} (threshold {:.0} %)", w.name, 100.0 * threshold);
                    findings.push(Finding::new(verdict, message));
                }
            }
            if let Some(b) = batch_check
                && b > t.batch_dependence
            {
                findings.push(Finding::new(
                    Verdict::BatchStatsAtEval,
                    format!(
                        "outputs change by {b:.1e} of their size between one batch and batches of two (threshold {:.0e})",
                        t.batch_dependence
                    ),
                ));
            }
            if let Some(top) = layers
                .iter()
                .filter(|l| l.update_data_log10.is_finite())
                .max_by(|a, b| a.update_data_log10.total_cmp(&b.update_data_log10))
            {
                let u = top.update_data_log10;
                if u > t.update_high_log10 {
                    findings.push(Finding::new(
                        Verdict::LearningRateTooHigh,
                        format!(
                            "`{}` changes by 10^{u:.1} of its size a step (threshold 10^{:.0})",
                            top.name, t.update_high_log10
                        ),
                    ));
                } else if u < t.update_low_log10 && findings.is_empty() {
                    findings.push(Finding::new(
                        Verdict::LearningRateTooLow,
                        format!(
                            "no layer changes by more than 10^{u:.1} of its size a step (threshold 10^{:.0})",
                            t.update_low_log10
                        ),
                    ));
                }
            }
        }
        // Causes before consequences: dead or saturated units and batch statistics explain a gradient
        // profile; a diverged run is the end of an exploding one.
        findings.sort_by_key(|f| f.verdict.rank());
        if findings.is_empty() {
            let ratio = first_to_last.map_or("n/a".to_string(), |r| format!("{r:.2}"));
            findings.push(Finding::new(
                Verdict::Healthy,
                format!(
                    "first-to-last gradient ratio {ratio}; no threshold crossed in the last {} steps",
                    window.len()
                ),
            ));
        }
        Ok(Report {
            steps,
            window: window.len(),
            layers,
            taps,
            probes,
            first_to_last,
            profile: profile.into(),
            batch_dependence: batch_check,
            findings,
            history: history.to_vec(),
        })
    }

    /// The verdicts, in the order found.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.findings.iter().map(|f| f.verdict).collect()
    }

    /// True when nothing crossed a threshold.
    pub fn is_healthy(&self) -> bool {
        self.verdicts() == [Verdict::Healthy]
    }

    /// Whether `v` is among the verdicts.
    pub fn has(&self, v: Verdict) -> bool {
        self.findings.iter().any(|f| f.verdict == v)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The report as a plain-text table; `colour` adds ANSI colours to the verdicts.
    pub fn table(&self, colour: bool) -> String {
        let paint = |code: &str, s: &str| if colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
        let mut out = String::new();
        let w = self.layers.iter().map(|l| l.name.len()).chain(self.taps.iter().map(|t| t.name.len())).max();
        let w = w.unwrap_or(5).max(5);
        let _ =
            writeln!(out, "gradient doctor: {} steps observed, statistics over the last {}", self.steps, self.window);
        let _ = writeln!(out, "{:<w$}  {:>9}  {:>10}  {:>10}", "layer", "grad rms", "log10 g:w", "log10 u:w");
        for l in &self.layers {
            let bad = if l.nonfinite > 0 { format!("  {} non-finite", l.nonfinite) } else { String::new() };
            let _ = writeln!(
                out,
                "{:<w$}  {:>9.2e}  {:>10.2}  {:>10.2}{bad}",
                l.name, l.grad_rms, l.grad_data_log10, l.update_data_log10
            );
        }
        if !self.taps.is_empty() {
            let _ =
                writeln!(out, "{:<w$}  {:>7}  {:>8}  {:>8}  {:>6}  {:>6}", "tap", "act", "mean", "std", "sat", "dead");
            for t in &self.taps {
                let act =
                    serde_json::to_value(t.act).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<w$}  {act:>7}  {:>8}  {:>8}  {:>6.3}  {:>6.3}",
                    t.name,
                    num(t.mean),
                    num(t.std),
                    t.saturated,
                    t.dead
                );
            }
        }
        if let (Some(first), Some(last)) = (self.probes.first(), self.probes.last()) {
            let _ = writeln!(
                out,
                "probes: {} of them, ‖∂L/∂h‖ from {:.2e} at `{}` to {:.2e} at `{}`",
                self.probes.len(),
                first.grad_norm,
                first.name,
                last.grad_norm,
                last.name
            );
        }
        if let Some(r) = self.first_to_last {
            let _ = writeln!(out, "first-to-last gradient ratio ({}): {r:.2e}", self.profile);
        }
        if let Some(b) = self.batch_dependence {
            let _ = writeln!(out, "evaluation check: outputs change by {b:.1e} between batch sizes");
        }
        for f in &self.findings {
            let (mark, code) = if f.verdict == Verdict::Healthy { ("ok", "32") } else { ("!!", "31;1") };
            let _ = writeln!(out, "{} {}: {}", paint(code, mark), paint(code, f.verdict.label()), f.evidence);
            if f.verdict != Verdict::Healthy {
                let _ = writeln!(out, "   remedy: {} (book: {})", f.remedy, f.section);
            }
        }
        out
    }

    /// Prints the table to stdout, in colour only when stdout is a terminal.
    pub fn print(&self) {
        use std::io::IsTerminal;
        print!("{}", self.table(std::io::stdout().is_terminal()));
    }

    /// An SVG dashboard: per-layer log10 RMS gradient as bars (left), and over the steps the log10
    /// first-to-last ratio and the largest log10 update:data ratio (right), with the thresholds dashed.
    pub fn svg(&self, options: &Options) -> String {
        crate::dashboard::draw(self, &options.thresholds)
    }
}

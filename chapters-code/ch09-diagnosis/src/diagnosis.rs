//! The chapter's figure data: the doctor's verdict on each of the five broken networks and its fix
//! (`verdicts.json`, the table the chapter quotes), the dashboards of the deep sigmoid network
//! before and after the fix, and every network's two time series (`histories.json`, which the
//! chapter's interactive Figure 9-3 draws).

use crate::{Case, Variant, diagnose};
use anyhow::Result;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use gradient_doctor::{Options, Report, StepSummary, Thresholds};
use serde::Serialize;

/// Settings of the chapter's figures.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct DiagnosisOptions {
    /// Seed of every network's weights and data.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Print each report as JSON instead of as a table (the figures are the same).
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}
chapter_kit::defaults_from_flags!(DiagnosisOptions);

/// One network's diagnosis, as the chapter quotes it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub case: Case,
    pub variant: Variant,
    pub network: String,
    /// The verdicts, causes first (`healthy` when nothing crossed a threshold).
    pub verdicts: Vec<gradient_doctor::Verdict>,
    /// The first verdict's evidence.
    pub evidence: String,
    pub first_to_last: Option<f64>,
    /// The largest layer's log10 update:data ratio over the window.
    pub max_update_data_log10: Option<f64>,
    /// The largest dead and saturated fractions of a tapped layer.
    pub max_dead: f64,
    pub max_saturated: f64,
    pub batch_dependence: Option<f64>,
}

impl Row {
    fn of(case: Case, variant: Variant, r: &Report) -> Row {
        let finite = |x: f64| x.is_finite().then_some(x);
        Row {
            case,
            variant,
            network: case.describe(variant).into(),
            verdicts: r.verdicts(),
            evidence: r.findings[0].evidence.clone(),
            first_to_last: r.first_to_last,
            max_update_data_log10: r.layers.iter().filter_map(|l| finite(l.update_data_log10)).reduce(f64::max),
            max_dead: r.taps.iter().map(|t| t.dead).fold(0.0, f64::max),
            max_saturated: r.taps.iter().map(|t| t.saturated).fold(0.0, f64::max),
            batch_dependence: r.batch_dependence,
        }
    }
}

/// One network's whole report (a dashboard's data).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosed {
    #[serde(skip)]
    pub case: Case,
    #[serde(skip)]
    pub variant: Variant,
    pub report: Report,
}

/// What the doctor found: the verdict table of the ten networks (`verdicts.json`), and every report.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosisData {
    pub seed: u64,
    pub steps: usize,
    pub rows: Vec<Row>,
    /// The doctor's default thresholds the verdicts were judged by (the chapter quotes them from here).
    pub thresholds: gradient_doctor::Thresholds,
    /// The ten reports, in the order of the rows.
    #[serde(skip)]
    pub reports: Vec<Diagnosed>,
    /// Print the reports as JSON (`--json`).
    #[serde(skip)]
    pub print_json: bool,
}

impl DiagnosisData {
    /// The report of `case`'s `variant`.
    pub fn report(&self, case: Case, variant: Variant) -> Option<&Diagnosed> {
        self.reports.iter().find(|d| d.case == case && d.variant == variant)
    }
}

/// One network's time series in `histories.json`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRun<'a> {
    pub case: Case,
    pub variant: Variant,
    /// What is wrong with the broken network (the broken network's description, for both variants):
    /// what the interactive figure's select names.
    pub problem: &'static str,
    pub network: &'static str,
    /// Per step: log10 of the first-to-last gradient ratio and the largest log10 update:data ratio.
    pub history: &'a [StepSummary],
}

/// One of the doctor's thresholds on the time series, as a line across the steps.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdLine {
    pub name: &'static str,
    /// Which series it bounds: `gradient` (first-to-last) or `update` (update:data).
    pub kind: &'static str,
    pub steps: [f64; 2],
    pub log10: [f64; 2],
}

/// The data of `histories.json`: every network's two time series and the thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct Histories<'a> {
    pub steps: usize,
    pub runs: Vec<HistoryRun<'a>>,
    pub thresholds: Vec<ThresholdLine>,
}

impl DiagnosisData {
    /// Every network's history, in the order of the rows, and the default thresholds the doctor
    /// judged them by.
    pub fn histories(&self) -> Histories<'_> {
        let runs = self
            .reports
            .iter()
            .map(|d| HistoryRun {
                case: d.case,
                variant: d.variant,
                problem: d.case.describe(Variant::Broken),
                network: d.case.describe(d.variant),
                history: &d.report.history,
            })
            .collect();
        let t = Thresholds::default();
        let last = self.steps.saturating_sub(1) as f64;
        let line = |name, kind, log10: f64| ThresholdLine { name, kind, steps: [0.0, last], log10: [log10, log10] };
        let thresholds = vec![
            line("exploding: ratio above 10²", "gradient", t.exploding_ratio.log10()),
            line("vanishing: ratio below 10⁻²", "gradient", t.vanishing_ratio.log10()),
            line("learning rate too high: update:data above 10⁻¹", "update", t.update_high_log10),
            line("learning rate too low: update:data below 10⁻⁵", "update", t.update_low_log10),
        ];
        Histories { steps: self.steps, runs, thresholds }
    }
}

/// The doctor's verdicts on the five broken networks and their fixes, and the dashboards of the deep
/// sigmoid network. The runs are short already, so quick mode runs the same thing.
pub struct Diagnosis;

impl Experiment for Diagnosis {
    const CHAPTER: &'static str = "ch09";
    const NAME: &'static str = "diagnosis";
    const ABOUT: &'static str = "Diagnoses the five broken networks of chapter 9 and their fixes, and prints each report (the verdict table, Figures 9-1 and 9-2, the data of the interactive Figure 9-3)";
    type Options = DiagnosisOptions;
    type Data = DiagnosisData;

    fn run(opts: &DiagnosisOptions, _: &GenOptions) -> Result<DiagnosisData> {
        let mut rows = Vec::new();
        let mut reports = Vec::new();
        for case in Case::ALL {
            for variant in [Variant::Broken, Variant::Fixed] {
                let report = diagnose(case, variant, opts.seed)?;
                rows.push(Row::of(case, variant, &report));
                reports.push(Diagnosed { case, variant, report });
            }
        }
        Ok(DiagnosisData {
            seed: opts.seed,
            steps: crate::cases::STEPS,
            rows,
            thresholds: gradient_doctor::Thresholds::default(),
            reports,
            print_json: opts.json,
        })
    }

    fn draw(data: &DiagnosisData) -> Result<Vec<Drawing>> {
        let verdict_alt = "The doctor's verdict on the five broken networks and their five fixes";
        let mut drawings = vec![Drawing::new("verdicts", verdict_alt, String::new(), data)?];
        for (variant, name) in [(Variant::Broken, "dashboard-sigmoid"), (Variant::Fixed, "dashboard-relu")] {
            let diagnosed = data.report(Case::DeepSigmoid, variant).expect("every network is diagnosed");
            let report = &diagnosed.report;
            let alt = format!(
                "The gradient doctor's dashboard for the {}: per-layer gradient size, and the first-to-last \
                 gradient ratio and largest update:data ratio over {} steps; verdict: {}",
                Case::DeepSigmoid.describe(variant),
                report.steps,
                report.findings[0].verdict.label()
            );
            drawings.push(Drawing::new(name, &alt, report.svg(&Options::default()), diagnosed)?);
        }
        let histories_alt = "Every network's first-to-last gradient ratio and largest update:data ratio, step by step, with the doctor's thresholds (drawn by the interactive Figure 9-3)";
        drawings.push(Drawing::new("histories", histories_alt, String::new(), &data.histories())?);
        Ok(drawings)
    }
}

impl std::fmt::Display for DiagnosisData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        use std::io::IsTerminal;
        for d in &self.reports {
            writeln!(f, "== {:?} {:?}: {}", d.case, d.variant, d.case.describe(d.variant))?;
            if self.print_json {
                writeln!(f, "{}", d.report.to_json().map_err(|_| std::fmt::Error)?)?;
            } else {
                write!(f, "{}", d.report.table(std::io::stdout().is_terminal()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_data_is_the_same_on_a_second_run() -> Result<()> {
        // Quick mode runs the same thing: check it, and draw both runs.
        let quick = GenOptions { quick: true, progress: false };
        let defaults = DiagnosisOptions::default();
        let (a, b) = (Diagnosis::run(&defaults, &quick)?, Diagnosis::run(&defaults, &quick)?);
        let (x, y) = (Diagnosis::draw(&a)?, Diagnosis::draw(&b)?);
        assert_eq!(x.len(), 4);
        for (x, y) in x.iter().zip(&y) {
            assert_eq!(x.data, y.data, "{}", x.name);
            assert_eq!(x.svg, y.svg, "{}", x.name);
        }
        assert_eq!(a.rows.len(), 10);
        assert_eq!(a.rows[0].verdicts[0], gradient_doctor::Verdict::Vanishing);
        assert_eq!(a.rows[1].verdicts[0], gradient_doctor::Verdict::Healthy);
        // The histories: ten networks of up to `steps` steps; the diverging one stops early.
        let h = a.histories();
        assert_eq!(h.runs.len(), 10);
        assert!(h.runs.iter().all(|r| r.history.len() <= h.steps && !r.history.is_empty()));
        assert!(h.runs[4].history.len() < h.steps, "{}", h.runs[4].history.len());
        assert_eq!(h.thresholds[1].log10, [-2.0, -2.0]);
        Ok(())
    }
}

//! The chapter's figure data: the doctor's verdict on each of the five broken networks and its fix,
//! and the dashboards of the deep sigmoid network before and after the fix.

use crate::{Case, Variant, diagnose};
use anyhow::Result;
use chapter_kit::figure::{Figure, GenOptions};
use gradient_doctor::{Options, Report};
use serde::Serialize;

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

/// The verdict table of the ten networks, and the two dashboards of the deep sigmoid network.
/// The runs are short already, so quick mode runs the same thing.
pub fn diagnosis_figures(_: &GenOptions) -> Result<Vec<Figure>> {
    let seed = 0;
    let mut rows = Vec::new();
    let mut dashboards = Vec::new();
    for case in Case::ALL {
        for variant in [Variant::Broken, Variant::Fixed] {
            let report = diagnose(case, variant, seed)?;
            rows.push(Row::of(case, variant, &report));
            if case == Case::DeepSigmoid {
                dashboards.push((variant, report));
            }
        }
    }
    let data = serde_json::json!({ "seed": seed, "steps": crate::cases::STEPS, "rows": rows });
    let mut figures = Vec::new();
    for (variant, report) in &dashboards {
        let name = match variant {
            Variant::Broken => "dashboard-sigmoid",
            Variant::Fixed => "dashboard-relu",
        };
        let alt = format!(
            "The gradient doctor's dashboard for the {}: per-layer gradient size, and the first-to-last \
             gradient ratio and largest update:data ratio over {} steps; verdict: {}",
            Case::DeepSigmoid.describe(*variant),
            report.steps,
            report.findings[0].verdict.label()
        );
        let svg = report.svg(&Options::default());
        figures.push(Figure::new("ch09", name, &alt, svg, &serde_json::json!({ "report": report }))?);
    }
    let verdict_alt = "The doctor's verdict on the five broken networks and their five fixes";
    figures.insert(0, Figure::new("ch09", "verdicts", verdict_alt, String::new(), &data)?);
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_data_is_the_same_on_a_second_run() -> Result<()> {
        let opts = GenOptions { quick: true, progress: false };
        let (a, b) = (diagnosis_figures(&opts)?, diagnosis_figures(&opts)?);
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.data, y.data, "{}", x.name);
            assert_eq!(x.svg, y.svg, "{}", x.name);
        }
        let rows = a[0].data["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0]["verdicts"][0], "vanishing");
        assert_eq!(rows[1]["verdicts"][0], "healthy");
        Ok(())
    }
}

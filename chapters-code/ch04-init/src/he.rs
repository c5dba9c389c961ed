//! He, Zhang, Ren & Sun (2015), §2.2: the variance of a deep ReLU network's signal under Xavier and He
//! initialisation (Figure 4-3; what it does to training is [`crate::he_training`]).

use crate::inputs::gaussian_inputs;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LayerProfile, SeriesStyle};
use lab::stats::{mean_sq_norm, std_of};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-3.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct HeVarianceOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 30, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per layer (and input dimension).
    #[arg(long, default_value_t = 512, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Gaussian inputs the statistics are taken over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the weights (and, plus one, of the inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(HeVarianceOptions);

/// The schemes of Figure 4-3: Xavier as He et al. implement it for the comparison (N(0, 1/n)), He,
/// and the U(±1/√n) that PyTorch's `nn.Linear` uses by default.
pub fn he_variance_inits() -> [(&'static str, Init); 3] {
    [
        ("He: N(0, 2/n)", Init::HE),
        ("Xavier: N(0, 1/n)", Init::XavierNormal { gain: 1.0 }),
        ("U(±1/√n), PyTorch's default", Init::Standard),
    ]
}

/// Predicted std of zˡ in a ReLU net with inputs of unit second moment: Var z¹ = n Var(W), then each
/// layer multiplies the variance by ½ n Var(W) (He et al. 2015, §2.2).
pub fn relu_pre_activation_std(n_var_w: f64, layer: usize) -> f64 {
    (n_var_w * (0.5 * n_var_w).powi(layer as i32 - 1)).sqrt()
}

/// One initialisation scheme's profile in Figure 4-3.
#[derive(Serialize)]
pub struct VarianceRun {
    pub name: &'static str,
    pub init: Init,
    pub n_var_w: f64,
    pub pre_std: Vec<f64>,
    pub theory_std: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_rms: Option<Vec<f64>>,
}

/// The numbers the chapter quotes from Figure 4-3 (last hidden layer).
#[derive(Serialize)]
pub struct HeVarianceSummary {
    pub he_last_std: f64,
    pub xavier_last_std: f64,
    pub standard_last_std: f64,
    pub xavier_theory_last_std: f64,
    pub he_over_xavier_last: f64,
    pub he_delta_ratio: Option<f64>,
    pub xavier_delta_ratio: Option<f64>,
}

/// What Figure 4-3 measured (quick mode: the first 10 layers' forward statistics only).
#[derive(Serialize)]
pub struct HeVarianceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<HeVarianceOptions>,
    pub runs: Vec<VarianceRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<HeVarianceSummary>,
}

/// Figure 4-3: the std of the pre-activations of every layer of a deep ReLU MLP.
pub struct HeVariance;

impl Experiment for HeVariance {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "he-variance";
    const ABOUT: &'static str =
        "He et al. §2.2: per-layer std of a deep ReLU MLP's pre-activations under He, Xavier and U(±1/√n) (Figure 4-3)";
    type Options = HeVarianceOptions;
    type Data = HeVarianceData;

    fn run(opts: &HeVarianceOptions, run_mode: &GenOptions) -> Result<HeVarianceData> {
        ensure!(opts.depth >= 2, "need depth ≥ 2");
        // Quick mode builds only the first 10 layers: the same weights (drawn input side first), so the
        // per-layer forward statistics are a prefix of the full run's; the backward pass needs the whole net.
        let depth = if run_mode.quick { opts.depth.min(10) } else { opts.depth };
        let (x, y) = gaussian_inputs(opts.batch, opts.width, 10, opts.seed + 1)?;
        let mut runs = Vec::new();
        for (name, init) in he_variance_inits() {
            let net = MlpConfig::new(opts.width, opts.width, depth, 10, Activation::Relu, init)
                .with_seed(opts.seed)
                .build(&DEVICE)?;
            let trace = net.forward_trace(&x, true)?;
            let pre_std = trace.pre.iter().map(std_of).collect::<Result<Vec<_>>>()?;
            let n_var_w = opts.width as f64 * init.variance(opts.width, opts.width);
            let theory_std = (1..=depth).map(|l| relu_pre_activation_std(n_var_w, l)).collect();
            let delta_rms = if run_mode.quick {
                None
            } else {
                let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
                Some(deltas.iter().map(|d| mean_sq_norm(d).map(f64::sqrt)).collect::<Result<Vec<_>>>()?)
            };
            runs.push(VarianceRun { name, init, n_var_w, pre_std, theory_std, delta_rms });
        }
        if run_mode.quick {
            return Ok(HeVarianceData { options: None, runs, summary: None });
        }
        let last = depth - 1;
        let summary = HeVarianceSummary {
            he_last_std: runs[0].pre_std[last],
            xavier_last_std: runs[1].pre_std[last],
            standard_last_std: runs[2].pre_std[last],
            xavier_theory_last_std: runs[1].theory_std[last],
            he_over_xavier_last: runs[0].pre_std[last] / runs[1].pre_std[last],
            he_delta_ratio: runs[0].delta_rms.as_ref().map(|d| d[0] / d[last]),
            xavier_delta_ratio: runs[1].delta_rms.as_ref().map(|d| d[0] / d[last]),
        };
        Ok(HeVarianceData { options: Some(opts.clone()), runs, summary: Some(summary) })
    }

    fn draw(data: &HeVarianceData) -> Result<Vec<Drawing>> {
        let depth = data.runs[0].pre_std.len();
        let width = data.options.as_ref().map_or(0, |o| o.width);
        let mut chart = LayerProfile::new(format!("ReLU MLP, {depth} layers × {width}: std of the pre-activations zˡ"))
            .y_label("std of zˡ");
        for (slot, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(r.name, r.pre_std.clone(), SeriesStyle::solid().color(slot));
        }
        for (slot, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(
                format!("theory, {}", r.name.split(':').next().unwrap_or("")),
                r.theory_std.clone(),
                SeriesStyle::dashed().color(slot),
            );
        }
        let alt = format!(
            "Log-scale std of each layer's pre-activations in a {depth}-layer ReLU network of width {width}. Under He initialisation it stays flat at about 1.4; under Xavier it halves in variance every layer, reaching about {:.0e} at layer {depth}; U(±1/√n) falls faster still. Dashed theory lines lie on the measurements.",
            data.runs[1].pre_std[depth - 1]
        );
        let svg = chart.render(&alt)?;
        Ok(vec![Drawing::new("he-variance", &alt, svg, data)?])
    }
}

impl std::fmt::Display for HeVarianceData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let last = self.runs[0].pre_std.len();
        let head = format!("std z^{last}");
        writeln!(f, "{:<30} {:>10} {:>12} {:>12} {:>14}", "init", "n·Var(W)", "std z¹", head, "theory z^L")?;
        for r in &self.runs {
            let (first, end, theory) = (r.pre_std[0], r.pre_std[last - 1], r.theory_std[last - 1]);
            writeln!(f, "{:<30} {:>10.3} {first:>12.4} {end:>12.3e} {theory:>14.3e}", r.name, r.n_var_w)?;
        }
        if let Some(s) = &self.summary {
            let (he, xavier) = (s.he_delta_ratio.unwrap_or(f64::NAN), s.xavier_delta_ratio.unwrap_or(f64::NAN));
            writeln!(f, "rms δ¹ / rms δᴸ: He {he:.3}, Xavier {xavier:.3e}")?;
        }
        Ok(())
    }
}

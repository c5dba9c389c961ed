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
    /// Independent weight draws the per-layer std is averaged over (the first is the one whose
    /// backward pass is measured too).
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub draws: usize,
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

/// The seed of weight draw `k`: draw 0 is `--seed` itself (the network whose backward pass is
/// measured); later draws are spaced far from it and from the inputs' seed, `--seed` + 1.
pub fn draw_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_add(1000 * k as u64)
}

/// Mean, sample standard deviation, root mean square and range of a few measurements.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub rms: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ss = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        Spread {
            mean,
            sd: if values.len() > 1 { (ss / (n - 1.0)).sqrt() } else { 0.0 },
            rms: (values.iter().map(|v| v * v).sum::<f64>() / n).sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// One initialisation scheme's profiles in Figure 4-3.
#[derive(Serialize)]
pub struct VarianceRun {
    pub name: &'static str,
    pub init: Init,
    pub n_var_w: f64,
    /// Std of zˡ in draw 0, the network whose backward pass is measured.
    pub pre_std: Vec<f64>,
    pub theory_std: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_rms: Option<Vec<f64>>,
    /// Std of zˡ in every weight draw (draw 0 first; quick mode: draw 0 only).
    pub draws: Vec<Vec<f64>>,
    /// Over the draws, at each layer: the root mean square of the std (the square root of the
    /// mean variance, which is what the theory predicts), and the lowest and highest draw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rms_std: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_std: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_std: Option<Vec<f64>>,
}

impl VarianceRun {
    fn aggregate(&mut self) {
        let depth = self.theory_std.len();
        let at = |l: usize| self.draws.iter().map(|d| d[l]).collect::<Vec<_>>();
        let spreads: Vec<Spread> = (0..depth).map(|l| Spread::of(&at(l))).collect();
        self.rms_std = Some(spreads.iter().map(|s| s.rms).collect());
        self.min_std = Some(spreads.iter().map(|s| s.min).collect());
        self.max_std = Some(spreads.iter().map(|s| s.max).collect());
    }

    /// The last layer's std over the draws, and the same divided by its prediction.
    fn last(&self) -> (Spread, Spread) {
        let l = self.theory_std.len() - 1;
        let stds: Vec<f64> = self.draws.iter().map(|d| d[l]).collect();
        let ratios: Vec<f64> = stds.iter().map(|s| s / self.theory_std[l]).collect();
        (Spread::of(&stds), Spread::of(&ratios))
    }
}

/// The numbers the chapter quotes from Figure 4-3 (last hidden layer). The `*_last_std` and
/// `*_last_ratio` entries are over all weight draws; the rest are draw 0's.
#[derive(Serialize)]
pub struct HeVarianceSummary {
    pub draws: usize,
    pub he_last_std: Spread,
    pub xavier_last_std: Spread,
    pub standard_last_std: Spread,
    /// Std of the last layer divided by its prediction, over the draws.
    pub he_last_ratio: Spread,
    pub xavier_last_ratio: Spread,
    pub standard_last_ratio: Spread,
    pub he_theory_last_std: f64,
    pub xavier_theory_last_std: f64,
    pub standard_theory_last_std: f64,
    /// Draw 0: He's last-layer std over its prediction, and over Xavier's.
    pub draw0_he_last_ratio: f64,
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
        ensure!(opts.draws >= 1, "need at least one weight draw (--draws)");
        // Quick mode builds only the first 10 layers: the same weights (drawn input side first), so the
        // per-layer forward statistics are a prefix of the full run's; the backward pass needs the whole net.
        let depth = if run_mode.quick { opts.depth.min(10) } else { opts.depth };
        let (x, y) = gaussian_inputs(opts.batch, opts.width, 10, opts.seed + 1)?;
        let mut runs: Vec<VarianceRun> = Vec::new();
        for (name, init) in he_variance_inits() {
            let build = |seed: u64| {
                MlpConfig::new(opts.width, opts.width, depth, 10, Activation::Relu, init).with_seed(seed).build(&DEVICE)
            };
            let stds =
                |net: &lab::Mlp| -> Result<Vec<f64>> { net.forward_trace(&x, true)?.pre.iter().map(std_of).collect() };
            let net = build(opts.seed)?;
            let pre_std = stds(&net)?;
            let n_var_w = opts.width as f64 * init.variance(opts.width, opts.width);
            let theory_std = (1..=depth).map(|l| relu_pre_activation_std(n_var_w, l)).collect();
            let delta_rms = if run_mode.quick {
                None
            } else {
                let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
                Some(deltas.iter().map(|d| mean_sq_norm(d).map(f64::sqrt)).collect::<Result<Vec<_>>>()?)
            };
            // Quick mode: draw 0 only, a prefix of the full run's list of draws.
            let draws_run = if run_mode.quick { 1 } else { opts.draws };
            let mut draws = vec![pre_std.clone()];
            for k in 1..draws_run {
                draws.push(match runs.first() {
                    // Xavier's draw k is He's draw k with every weight scaled by c = √(1/2): the same
                    // seeded normals, and a zero-bias ReLU net scales layer l by exactly cˡ (draw 0
                    // above is measured, and `xavier_draws_are_he_draws_rescaled` checks the rest).
                    Some(he) if matches!(init, Init::XavierNormal { .. }) => {
                        let c = (n_var_w / he.n_var_w).sqrt();
                        he.draws[k].iter().zip(1..).map(|(s, l)| s * c.powi(l)).collect()
                    }
                    _ => stds(&build(draw_seed(opts.seed, k))?)?,
                });
            }
            let mut run = VarianceRun {
                name,
                init,
                n_var_w,
                pre_std,
                theory_std,
                delta_rms,
                draws,
                rms_std: None,
                min_std: None,
                max_std: None,
            };
            if !run_mode.quick {
                run.aggregate();
            }
            runs.push(run);
        }
        if run_mode.quick {
            return Ok(HeVarianceData { options: None, runs, summary: None });
        }
        let last = depth - 1;
        let ((he_last_std, he_last_ratio), (xavier_last_std, xavier_last_ratio)) = (runs[0].last(), runs[1].last());
        let (standard_last_std, standard_last_ratio) = runs[2].last();
        let summary = HeVarianceSummary {
            draws: opts.draws,
            he_last_std,
            xavier_last_std,
            standard_last_std,
            he_last_ratio,
            xavier_last_ratio,
            standard_last_ratio,
            he_theory_last_std: runs[0].theory_std[last],
            xavier_theory_last_std: runs[1].theory_std[last],
            standard_theory_last_std: runs[2].theory_std[last],
            draw0_he_last_ratio: runs[0].pre_std[last] / runs[0].theory_std[last],
            he_over_xavier_last: runs[0].pre_std[last] / runs[1].pre_std[last],
            he_delta_ratio: runs[0].delta_rms.as_ref().map(|d| d[0] / d[last]),
            xavier_delta_ratio: runs[1].delta_rms.as_ref().map(|d| d[0] / d[last]),
        };
        Ok(HeVarianceData { options: Some(opts.clone()), runs, summary: Some(summary) })
    }

    fn draw(data: &HeVarianceData) -> Result<Vec<Drawing>> {
        let depth = data.runs[0].pre_std.len();
        let (width, draws) = data.options.as_ref().map_or((0, 1), |o| (o.width, o.draws));
        let mut chart = LayerProfile::new(format!(
            "ReLU MLP, {depth} layers × {width}: std of the pre-activations zˡ, {draws} weight draws"
        ))
        .y_label("std of zˡ (rms over draws)");
        for (slot, r) in data.runs.iter().enumerate() {
            let measured = r.rms_std.clone().unwrap_or_else(|| r.pre_std.clone());
            chart = chart.series_with(r.name, measured, SeriesStyle::solid().color(slot));
        }
        for (slot, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(
                format!("theory, {}", r.name.split(':').next().unwrap_or("")),
                r.theory_std.clone(),
                SeriesStyle::dashed().color(slot),
            );
        }
        let he = &data.runs[0];
        if let (Some(lo), Some(hi)) = (&he.min_std, &he.max_std) {
            let range = SeriesStyle::dotted().color(0).width(1.2);
            chart = chart.series_with(format!("He: lowest of {draws} draws"), lo.clone(), range).series_with(
                format!("He: highest of {draws} draws"),
                hi.clone(),
                range,
            );
        }
        let ratio = data.summary.as_ref().map_or(f64::NAN, |s| s.he_last_ratio.rms);
        let alt = format!(
            "Log-scale std of each layer's pre-activations in a {depth}-layer ReLU network of width {width}, root mean square over {draws} weight draws. Under He initialisation it stays flat at about 1.4 ({ratio:.2} times the prediction at layer {depth}), with single draws spreading within the dotted band; under Xavier it halves in variance every layer, reaching about {:.0e} at layer {depth}; U(±1/√n) falls faster still. Dashed theory lines lie on the measurements.",
            data.runs[1].rms_std.as_ref().map_or(data.runs[1].pre_std[depth - 1], |v| v[depth - 1])
        );
        let svg = chart.render(&alt)?;
        Ok(vec![Drawing::new("he-variance", &alt, svg, data)?])
    }
}

impl std::fmt::Display for HeVarianceData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let last = self.runs[0].pre_std.len();
        let head = format!("std z^{last}");
        writeln!(f, "draw 0 (the network whose backward pass is measured):")?;
        writeln!(f, "{:<30} {:>10} {:>12} {:>12} {:>14}", "init", "n·Var(W)", "std z¹", head, "theory z^L")?;
        for r in &self.runs {
            let (first, end, theory) = (r.pre_std[0], r.pre_std[last - 1], r.theory_std[last - 1]);
            writeln!(f, "{:<30} {:>10.3} {first:>12.4} {end:>12.3e} {theory:>14.3e}", r.name, r.n_var_w)?;
        }
        if let Some(s) = &self.summary {
            let (he, xavier) = (s.he_delta_ratio.unwrap_or(f64::NAN), s.xavier_delta_ratio.unwrap_or(f64::NAN));
            writeln!(f, "rms δ¹ / rms δᴸ: He {he:.3}, Xavier {xavier:.3e}")?;
            writeln!(f, "std z^{last} ÷ theory over {} weight draws: mean ± sd [min, max], rms", s.draws)?;
            for (r, q) in self.runs.iter().zip([s.he_last_ratio, s.xavier_last_ratio, s.standard_last_ratio]) {
                writeln!(
                    f,
                    "{:<30} {:.3} ± {:.3} [{:.3}, {:.3}], rms {:.3}",
                    r.name, q.mean, q.sd, q.min, q.max, q.rms
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xavier_draws_are_he_draws_rescaled() -> Result<()> {
        // The shortcut the full run takes for Xavier's later draws, against real Xavier networks.
        let (width, depth, seed) = (64, 12, draw_seed(0, 3));
        let (x, _) = gaussian_inputs(32, width, 10, 1)?;
        let profile = |init: Init| -> Result<Vec<f64>> {
            let net = MlpConfig::new(width, width, depth, 10, Activation::Relu, init).with_seed(seed).build(&DEVICE)?;
            net.forward_trace(&x, true)?.pre.iter().map(std_of).collect()
        };
        let (he, xavier) = (profile(Init::HE)?, profile(Init::XavierNormal { gain: 1.0 })?);
        for (l, (h, x)) in he.iter().zip(&xavier).enumerate() {
            let scaled = h * 0.5f64.sqrt().powi(l as i32 + 1);
            assert!((scaled / x - 1.0).abs() < 1e-4, "layer {}: {scaled} vs {x}", l + 1);
        }
        Ok(())
    }

    #[test]
    fn the_seed_average_sits_on_the_theory() -> Result<()> {
        // Averaged over draws, the last layer's variance matches He's prediction (one draw need not).
        let opts = HeVarianceOptions { depth: 12, width: 128, batch: 64, draws: 24, ..Default::default() };
        let data = HeVariance::run(&opts, &GenOptions::default())?;
        let s = data.summary.expect("a full run has a summary");
        assert!((s.he_last_ratio.mean / s.xavier_last_ratio.mean - 1.0).abs() < 1e-5);
        // 12 layers of width 128: log-variance spread ≈ √(5·12/128) ≈ 0.7 a draw, ≈ 0.14 over 24.
        assert!((s.he_last_ratio.rms - 1.0).abs() < 0.2, "{:?}", s.he_last_ratio);
        assert!((s.standard_last_ratio.rms - 1.0).abs() < 0.2, "{:?}", s.standard_last_ratio);
        assert!(s.he_last_ratio.sd > 0.05, "draws must differ: {:?}", s.he_last_ratio);
        assert_eq!(data.runs[0].draws.len(), 24);
        Ok(())
    }

    #[test]
    fn spread_of_a_few_values() {
        let s = Spread::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd, s.min, s.max), (2.0, 1.0, 1.0, 3.0));
        assert!((s.rms - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}

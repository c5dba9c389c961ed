//! How far one SGD step moves the network's function, against depth, with and without Fixup /
//! SkipInit-style initialisation (Figure 6-4).

use anyhow::{Result, ensure};
use candle_core::Module;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::ResMlpConfig;
use lab::stats::rms_row_norm;
use serde::Serialize;

/// Settings of Figure 6-4.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct OneStepOptions {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 4, 8, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Digits in the batch of the step (and of the measurement).
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate η of the step.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// Independently drawn networks averaged per point.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub networks: usize,
    /// Seed of the weights (network k uses seed + 100k) and, plus one, of the digits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(OneStepOptions);

/// The initialisations of Figure 6-4 for `blocks` blocks.
pub fn one_step_configs(d_in: usize, width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let base = ResMlpConfig::new(d_in, width, blocks, 10);
    vec![
        ("residual, α = 1", base.clone()),
        ("plain", base.clone().plain()),
        ("residual, α = 1/√L", base.clone().with_alpha(1.0 / (blocks as f64).sqrt())),
        ("SkipInit: α = 0, trainable", base.clone().with_alpha(0.0)),
        ("zero-init W₂ only", base.clone().with_zero_init_last(true)),
        ("Fixup: W₂ = 0, W₁ × L^(−1/2)", base.fixup()),
    ]
}

/// ‖f_{θ−η∇L}(x) − f_θ(x)‖, root-mean-square over the batch, after one SGD step on that batch that
/// moves only the branches' weights W₁, W₂ and α (stem, head and biases held fixed).
pub fn one_step_change(cfg: &ResMlpConfig, x: &candle_core::Tensor, y: &candle_core::Tensor, lr: f64) -> Result<f64> {
    let net = cfg.build()?;
    let before = net.forward(x)?;
    let grads = net.loss(x, y)?.backward()?;
    net.sgd_step(&net.branch_weights(), &grads, lr)?;
    rms_row_norm(&(net.forward(x)? - before)?)
}

/// One initialisation's curve in Figure 6-4.
#[derive(Debug, Clone, Serialize)]
pub struct OneStepRun {
    pub name: &'static str,
    /// Root-mean-square over the networks of the change, per depth; None (null) when a network
    /// exploded to a non-finite change.
    pub change: Vec<Option<f64>>,
}

/// The numbers the chapter quotes from Figure 6-4: growth is the change at the largest depth over
/// that at the smallest.
#[derive(Debug, Clone, Serialize)]
pub struct OneStepSummary {
    /// Largest depth over smallest (integer division).
    pub depth_ratio: usize,
    pub alpha_one_last: Option<f64>,
    pub plain_growth: Option<f64>,
    pub scaled_growth: Option<f64>,
    pub skipinit_growth: Option<f64>,
    pub zero_init_growth: Option<f64>,
    pub fixup_growth: Option<f64>,
}

/// What Figure 6-4 measured (quick mode: the three smallest depths, runs only).
#[derive(Debug, Clone, Serialize)]
pub struct OneStepData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<OneStepOptions>,
    pub runs: Vec<OneStepRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<OneStepSummary>,
    /// The depths measured (those of the options, or their quick prefix).
    #[serde(skip)]
    pub depths: Vec<usize>,
}

/// Figure 6-4: the size of the function change after one SGD step against depth.
pub struct ResOneStep;

impl Experiment for ResOneStep {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-one-step";
    const ABOUT: &'static str =
        "Size of the function change after one SGD step against depth, with and without Fixup (Figure 6-4)";
    type Options = OneStepOptions;
    type Data = OneStepData;

    fn run(opts: &OneStepOptions, run_mode: &GenOptions) -> Result<OneStepData> {
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 1), "every depth must be at least 1");
        ensure!(opts.lr.is_finite() && opts.lr > 0.0, "the learning rate must be a finite positive number");
        ensure!(opts.networks > 0, "networks must be at least 1");
        let (x, y) = standardized_digits(opts.batch, opts.seed + 1)?;
        let depths = if run_mode.quick { &opts.depths[..opts.depths.len().min(3)] } else { &opts.depths[..] };
        let names: Vec<&'static str> = one_step_configs(784, opts.width, 1).iter().map(|c| c.0).collect();
        let mut change = vec![Vec::new(); names.len()];
        for &depth in depths {
            for (i, (_, cfg)) in one_step_configs(784, opts.width, depth).into_iter().enumerate() {
                let mut sq = 0.0;
                for k in 0..opts.networks {
                    let c = one_step_change(&cfg.clone().with_seed(opts.seed + 100 * k as u64), &x, &y, opts.lr)?;
                    sq += c * c / opts.networks as f64;
                }
                // Root-mean-square over the networks; a non-finite change (an exploded network) is null.
                change[i].push(sq.is_finite().then_some(sq.sqrt()));
            }
        }
        let runs: Vec<OneStepRun> =
            names.into_iter().zip(change).map(|(name, change)| OneStepRun { name, change }).collect();
        let summary = (!run_mode.quick).then(|| {
            let ratio = |i: usize| -> Option<f64> { Some(runs[i].change.last().copied()?? / runs[i].change[0]?) };
            OneStepSummary {
                depth_ratio: opts.depths[opts.depths.len() - 1] / opts.depths[0],
                alpha_one_last: runs[0].change.last().copied().flatten(),
                plain_growth: ratio(1),
                scaled_growth: ratio(2),
                skipinit_growth: ratio(3),
                zero_init_growth: ratio(4),
                fixup_growth: ratio(5),
            }
        });
        let options = (!run_mode.quick).then(|| opts.clone());
        Ok(OneStepData { options, runs, summary, depths: depths.to_vec() })
    }

    fn draw(data: &OneStepData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("res-one-step", data)?]);
        };
        let mut chart =
            LineChart::new(format!("Function change after one SGD step (η = {}, width {})", opts.lr, opts.width))
                .x_label("blocks L")
                .y_label("rms ‖f(x; θ − η∇L) − f(x; θ)‖")
                .log_x()
                .log_y()
                .markers();
        for (i, r) in data.runs.iter().enumerate() {
            let points = data.depths.iter().zip(&r.change).filter_map(|(&d, c)| Some((d as f64, (*c)?))).collect();
            chart = chart.series_with(r.name, points, SeriesStyle::solid().color(i));
        }
        let alt = "Log-log plot of the size of the change in the logits after one SGD step against the number of blocks, for six initialisations. With α = 1 it explodes with depth; zero-initialising only the last layer of each branch, or SkipInit's α = 0, gives a change that grows in proportion to depth; Fixup's depth-scaled init keeps it nearly flat.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("res-one-step", alt, svg, data)?])
    }
}

impl std::fmt::Display for OneStepData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let rows = self
            .runs
            .iter()
            .map(|r| (r.name, r.change.iter().map(|c| format!("{:.3e}", c.unwrap_or(f64::NAN))).collect()));
        crate::write_depth_table(f, "initialisation", &self.depths, 9, rows)?;
        Ok(())
    }
}

/// Settings of Figure 6-4b.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct FixupDepthOptions {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [4usize, 16, 64, 256], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Width of the check: Fixup alone, at the smallest and largest depth.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub check_width: usize,
    /// Digits in the batch of the step (and of the measurement).
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Learning rate η of the step.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// Independently drawn networks (seeds) per depth.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub networks: usize,
    /// Seed of the weights (network k uses seed + 100k) and, plus one, of the digits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(FixupDepthOptions);

/// The three initialisations of Figure 6-4b, for `blocks` blocks (those of Figure 6-4 by name).
pub fn fixup_depth_configs(d_in: usize, width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let keep = ["plain", "zero-init W₂ only", "Fixup: W₂ = 0, W₁ × L^(−1/2)"];
    one_step_configs(d_in, width, blocks).into_iter().filter(|(name, _)| keep.contains(name)).collect()
}

/// One initialisation's measurements in Figure 6-4b.
#[derive(Debug, Clone, Serialize)]
pub struct FixupDepthRun {
    pub name: &'static str,
    /// ‖Δf‖/η per depth, one value per network (root-mean-square over the batch of the change of
    /// the logits after one SGD step on the branches, divided by the learning rate).
    pub change_over_lr: Vec<Vec<f64>>,
    /// Mean, smallest and largest over the networks, per depth.
    pub mean: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

/// The numbers the chapter quotes from Figure 6-4b.
#[derive(Debug, Clone, Serialize)]
pub struct FixupDepthSummary {
    /// Largest depth over smallest (integer division).
    pub depth_ratio: usize,
    /// Mean at the largest depth over mean at the smallest, per run (plain, zero-init, Fixup).
    pub plain_growth: f64,
    pub zero_init_growth: f64,
    pub fixup_growth: f64,
    /// Fixup's smallest and largest ‖Δf‖/η over every depth and network.
    pub fixup_min: f64,
    pub fixup_max: f64,
    /// Zero-init's slope on the log-log plot (least squares over the means): 1 is ∝ L.
    pub zero_init_slope: f64,
    /// Fixup's slope: 0 is flat, Θ(η) whatever the depth.
    pub fixup_slope: f64,
    /// Fixup at the check width: mean ‖Δf‖/η at the smallest and largest depth, and their ratio.
    pub check_first: f64,
    pub check_last: f64,
    pub check_growth: f64,
}

/// What Figure 6-4b measured (quick mode: the two smallest depths, runs only).
#[derive(Debug, Clone, Serialize)]
pub struct FixupDepthData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<FixupDepthOptions>,
    pub runs: Vec<FixupDepthRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<FixupDepthSummary>,
    #[serde(skip)]
    pub depths: Vec<usize>,
}

/// Least-squares slope of ln y against ln x.
pub fn log_log_slope(x: &[f64], y: &[f64]) -> f64 {
    let (lx, ly): (Vec<f64>, Vec<f64>) = x.iter().zip(y).map(|(a, b)| (a.ln(), b.ln())).unzip();
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    sxy / sxx
}

/// Figure 6-4b: ‖Δf‖/η against depth for plain, zero-init-W₂ and Fixup nets, over several seeds.
pub struct FixupDepth;

impl Experiment for FixupDepth {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-fixup-depth";
    const ABOUT: &'static str = "One SGD step's function change over η at 4 to 256 blocks, plain vs zero-init W2 vs Fixup, over seeds (Figure 6-4b)";
    type Options = FixupDepthOptions;
    type Data = FixupDepthData;

    fn run(opts: &FixupDepthOptions, run_mode: &GenOptions) -> Result<FixupDepthData> {
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(opts.depths.len() >= 2, "need at least two depths");
        let (x, y) = standardized_digits(opts.batch, opts.seed + 1)?;
        let depths = if run_mode.quick { &opts.depths[..2] } else { &opts.depths[..] };
        let mut runs: Vec<FixupDepthRun> = fixup_depth_configs(784, opts.width, 1)
            .into_iter()
            .map(|(name, _)| FixupDepthRun {
                name,
                change_over_lr: Vec::new(),
                mean: Vec::new(),
                min: Vec::new(),
                max: Vec::new(),
            })
            .collect();
        // ‖Δf‖/η of `cfg` for every network.
        let measure = |cfg: &ResMlpConfig| -> Result<Vec<f64>> {
            let values = (0..opts.networks)
                .map(|k| {
                    Ok(one_step_change(&cfg.clone().with_seed(opts.seed + 100 * k as u64), &x, &y, opts.lr)? / opts.lr)
                })
                .collect::<Result<Vec<f64>>>()?;
            ensure!(values.iter().all(|v| v.is_finite()), "{} blocks: a non-finite change", cfg.blocks);
            Ok(values)
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        for &depth in depths {
            for (run, (_, cfg)) in runs.iter_mut().zip(fixup_depth_configs(784, opts.width, depth)) {
                let values = measure(&cfg)?;
                run.mean.push(mean(&values));
                run.min.push(values.iter().copied().fold(f64::INFINITY, f64::min));
                run.max.push(values.iter().copied().fold(0.0, f64::max));
                run.change_over_lr.push(values);
            }
        }
        let summary = if run_mode.quick {
            None
        } else {
            let ls: Vec<f64> = depths.iter().map(|&d| d as f64).collect();
            let growth = |r: &FixupDepthRun| r.mean[r.mean.len() - 1] / r.mean[0];
            let check =
                |d: usize| -> Result<f64> { Ok(mean(&measure(&fixup_depth_configs(784, opts.check_width, d)[2].1)?)) };
            let (check_first, check_last) = (check(depths[0])?, check(depths[depths.len() - 1])?);
            Some(FixupDepthSummary {
                depth_ratio: depths[depths.len() - 1] / depths[0],
                plain_growth: growth(&runs[0]),
                zero_init_growth: growth(&runs[1]),
                fixup_growth: growth(&runs[2]),
                fixup_min: runs[2].min.iter().copied().fold(f64::INFINITY, f64::min),
                fixup_max: runs[2].max.iter().copied().fold(0.0, f64::max),
                zero_init_slope: log_log_slope(&ls, &runs[1].mean),
                fixup_slope: log_log_slope(&ls, &runs[2].mean),
                check_first,
                check_last,
                check_growth: check_last / check_first,
            })
        };
        let options = (!run_mode.quick).then(|| opts.clone());
        Ok(FixupDepthData { options, runs, summary, depths: depths.to_vec() })
    }

    fn draw(data: &FixupDepthData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("res-fixup-depth", data)?]);
        };
        let mut chart = LineChart::new(format!(
            "One SGD step: ‖Δf‖/η against depth, mean and min–max over {} networks (width {})",
            opts.networks, opts.width
        ))
        .x_label("blocks L")
        .y_label("rms ‖f(x; θ − η∇L) − f(x; θ)‖ / η")
        .log_x()
        .log_y()
        .markers();
        let at = |v: &[f64]| data.depths.iter().zip(v).map(|(&d, &c)| (d as f64, c)).collect::<Vec<_>>();
        for (i, r) in data.runs.iter().enumerate() {
            let short = r.name.split(':').next().unwrap_or(r.name).trim_end_matches(" only");
            chart = chart.series_with(format!("{short}, mean"), at(&r.mean), SeriesStyle::solid().color(i));
            chart = chart.series_with(format!("{short}, min and max"), at(&r.min), SeriesStyle::dotted().color(i));
            chart = chart.series_with("", at(&r.max), SeriesStyle::dotted().color(i));
        }
        let alt = "Log-log plot of the change of the logits after one SGD step, divided by the learning rate, against the number of blocks from 4 to 256, with the smallest and largest network dotted. Zero-initialising only the last layer of each branch gives a change that grows in proportion to depth; the plain network's drifts; Fixup's stays flat, its min–max band narrow at every depth.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("res-fixup-depth", alt, svg, data)?])
    }
}

impl std::fmt::Display for FixupDepthData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let cells = |r: &FixupDepthRun| -> Vec<String> {
            let stats = r.mean.iter().zip(&r.min).zip(&r.max);
            stats.map(|((m, lo), hi)| format!("{m:.3} [{lo:.3}, {hi:.3}]")).collect()
        };
        let rows = self.runs.iter().map(|r| (r.name, cells(r)));
        crate::write_depth_table(f, "‖Δf‖/η: mean [min, max]", &self.depths, 24, rows)?;
        if let Some(s) = &self.summary {
            writeln!(f, "slopes: zero-init {:.3}, Fixup {:.3}", s.zero_init_slope, s.fixup_slope)?;
            writeln!(
                f,
                "Fixup at the check width: {:.3} → {:.3} (×{:.2})",
                s.check_first, s.check_last, s.check_growth
            )?;
        }
        Ok(())
    }
}

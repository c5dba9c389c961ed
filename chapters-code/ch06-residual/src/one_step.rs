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
            return Ok(vec![Drawing::new("res-one-step", "", String::new(), data)?]);
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
        write!(f, "{:<32}", "initialisation")?;
        for d in &self.depths {
            write!(f, " {:>9}", format!("L={d}"))?;
        }
        writeln!(f)?;
        for r in &self.runs {
            write!(f, "{:<32}", r.name)?;
            for c in &r.change {
                write!(f, " {:>9.3e}", c.unwrap_or(f64::NAN))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

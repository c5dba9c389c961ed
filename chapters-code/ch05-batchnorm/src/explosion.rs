//! Figures 5-6 and 5-7: Yang et al.'s (2019) gradient explosion of batch-normalised networks at
//! initialisation, measured — the per-layer growth of ‖∂L/∂Wˡ‖² towards the input against the batch
//! size, for ReLU and linear networks with BatchNorm and for ReLU with LayerNorm.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::norm::{backward_growth, linear_bn_growth, linear_loss_weight_grads, relu_bn_growth_limit};
use lab::plot::{LayerProfile, LineChart, SeriesStyle};
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
use serde::Serialize;

/// Settings of Figures 5-6 and 5-7.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ExplosionOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per layer (and input dimension).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Batch sizes, ascending and comma-separated, each at least 4.
    #[arg(long, value_delimiter = ',', default_values_t = [4, 8, 16, 32, 64, 128, 256], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batches: Vec<usize>,
    /// Networks (weight draws) per batch size.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Layers dropped at each end before fitting the geometric growth.
    #[arg(long, default_value_t = 5)]
    pub skip: usize,
    /// Seed of the first network (network s uses seed + s).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ExplosionOptions);

/// The networks of Figure 5-6: (name, activation, init, norm).
pub fn explosion_configs() -> [(&'static str, Activation, Init, Norm); 3] {
    [
        ("ReLU + BatchNorm", Activation::Relu, Init::HE, Norm::Batch),
        ("linear + BatchNorm", Activation::Linear, Init::XavierNormal { gain: 1.0 }, Norm::Batch),
        ("ReLU + LayerNorm", Activation::Relu, Init::HE, Norm::Layer),
    ]
}

/// Batch sizes the quick run measures (a prefix of the defaults).
const QUICK_BATCHES: usize = 3;

/// One network family at one batch size.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRun {
    pub batch: usize,
    /// Fitted per-layer growth of ‖∂L/∂Wˡ‖² towards the input, one per seed.
    pub growth_per_seed: Vec<f64>,
    /// ‖∂L/∂Wˡ‖² per layer (input side first) of the first seed's network.
    pub profile: Vec<f64>,
    /// The geometric mean over the seeds (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth: Option<f64>,
    /// The chapter's prediction (B − 2)/(B − 3) for linear networks with BatchNorm (Yang et al.'s rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
}

/// One network family of Figure 5-6 at every batch size.
#[derive(Debug, Clone, Serialize)]
pub struct ExplosionConfig {
    pub name: &'static str,
    pub activation: Activation,
    pub init: Init,
    pub norm: Norm,
    pub runs: Vec<BatchRun>,
}

/// The numbers the chapter quotes from Figure 5-6.
#[derive(Debug, Clone, Serialize)]
pub struct ExplosionSummary {
    pub relu_limit: f64,
    pub relu_growth_largest_batch: f64,
    pub relu_growth_smallest_batch: f64,
    pub relu_percent_below_limit_largest_batch: f64,
    pub linear_growth_smallest_batch: f64,
    pub linear_predicted_smallest_batch: Option<f64>,
    pub linear_max_rel_error: f64,
    pub ln_growth_min: f64,
    pub ln_growth_max: f64,
    pub relu_total_growth_smallest_batch: f64,
    pub relu_total_growth_largest_batch: f64,
    pub smallest_batch: usize,
    pub largest_batch: usize,
}

/// What Figures 5-6 and 5-7 measured (Figure 5-6's JSON holds all of it). Quick mode: the first
/// batch sizes with one seed, no summary.
#[derive(Debug, Clone, Serialize)]
pub struct ExplosionData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ExplosionOptions>,
    pub configs: Vec<ExplosionConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<ExplosionSummary>,
}

impl ExplosionData {
    /// The mean growth of family `c` at its `i`-th batch size (NaN in quick runs).
    fn growth(&self, c: usize, i: usize) -> f64 {
        self.configs[c].runs[i].growth.unwrap_or(f64::NAN)
    }
}

/// Figure 5-7's data: which profiles it draws, and where the numbers are.
#[derive(Serialize)]
struct ProfileData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a ExplosionOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batches_shown: Option<Vec<usize>>,
    source: &'static str,
}

/// The per-layer growth factor of one network's weight gradients, with the profile it was fitted to.
pub fn measure_growth(config: &MlpConfig, batch: usize, skip: usize, seed: u64) -> Result<(f64, Vec<f64>)> {
    let net = config.build(&DEVICE)?;
    let x = Init::Normal { std: 1.0 }.tensor(batch, config.d_in, &mut lab::init::rng(seed + 1000), &DEVICE)?;
    let profile = linear_loss_weight_grads(&net, &x, seed + 2000)?;
    Ok((backward_growth(&profile, skip)?.ratio, profile))
}

/// Figures 5-6 (growth against batch size) and 5-7 (the per-layer profiles behind it).
pub struct Explosion;

impl Experiment for Explosion {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "bn-explosion";
    const ABOUT: &'static str = "Yang et al.: per-layer gradient growth of deep BatchNorm/LayerNorm networks against batch size (Figures 5-6, 5-7)";
    type Options = ExplosionOptions;
    type Data = ExplosionData;

    fn run(opts: &ExplosionOptions, run_mode: &GenOptions) -> Result<ExplosionData> {
        ensure!(
            opts.depth >= 2 * opts.skip + 4,
            "depth {} is too shallow to fit after skipping {} layers at each end",
            opts.depth,
            opts.skip
        );
        ensure!(opts.width > 0 && opts.seeds > 0, "need width ≥ 1 and seeds ≥ 1");
        ensure!(
            !opts.batches.is_empty() && opts.batches.iter().all(|&b| b >= 4),
            "every batch size must be at least 4"
        );
        cli::ensure_ascending("batches", &opts.batches)?;
        let (batches, seeds) = if run_mode.quick {
            (&opts.batches[..opts.batches.len().min(QUICK_BATCHES)], 1)
        } else {
            (&opts.batches[..], opts.seeds)
        };
        let bar = lab::train::progress_bar(run_mode.progress, (3 * batches.len() * seeds) as u64, "networks");
        let mut configs = Vec::new();
        for (name, activation, init, norm) in explosion_configs() {
            let mut runs = Vec::new();
            for &batch in batches {
                let (mut growth_per_seed, mut profile) = (Vec::new(), Vec::new());
                for s in 0..seeds as u64 {
                    let config = MlpConfig::new(opts.width, opts.width, opts.depth, 10, activation, init)
                        .with_norm(norm)
                        .with_seed(opts.seed + s);
                    let (g, p) = measure_growth(&config, batch, opts.skip, opts.seed + s)?;
                    growth_per_seed.push(g);
                    if s == 0 {
                        profile = p;
                    }
                    bar.inc(1);
                }
                let predicted = match (activation, norm) {
                    (Activation::Linear, Norm::Batch) => linear_bn_growth(batch),
                    _ => None,
                };
                let growth = (!run_mode.quick).then(|| lab::experiments::geo_mean(growth_per_seed.iter().copied()));
                runs.push(BatchRun { batch, growth_per_seed, profile, growth, predicted });
            }
            configs.push(ExplosionConfig { name, activation, init, norm, runs });
        }
        bar.finish_and_clear();
        let mut data = ExplosionData { options: None, configs, summary: None };
        if run_mode.quick {
            return Ok(data);
        }
        let growth = |c: usize, i: usize| data.growth(c, i);
        let relu_limit = relu_bn_growth_limit();
        let last = batches.len() - 1;
        let summary = ExplosionSummary {
            relu_limit,
            relu_growth_largest_batch: growth(0, last),
            relu_growth_smallest_batch: growth(0, 0),
            relu_percent_below_limit_largest_batch: 100.0 * (1.0 - growth(0, last) / relu_limit),
            linear_growth_smallest_batch: growth(1, 0),
            linear_predicted_smallest_batch: linear_bn_growth(batches[0]),
            linear_max_rel_error: (0..batches.len())
                .map(|i| (growth(1, i) / linear_bn_growth(batches[i]).unwrap_or(f64::NAN) - 1.0).abs())
                .fold(0.0, f64::max),
            ln_growth_min: (0..batches.len()).map(|i| growth(2, i)).fold(f64::INFINITY, f64::min),
            ln_growth_max: (0..batches.len()).map(|i| growth(2, i)).fold(0.0, f64::max),
            relu_total_growth_smallest_batch: growth(0, 0).powi(opts.depth as i32 - 1),
            relu_total_growth_largest_batch: growth(0, last).powi(opts.depth as i32 - 1),
            smallest_batch: batches[0],
            largest_batch: batches[last],
        };
        data.summary = Some(summary);
        data.options = Some(opts.clone());
        Ok(data)
    }

    fn draw(data: &ExplosionData) -> Result<Vec<Drawing>> {
        let source = "bn-explosion.json";
        let Some(opts) = &data.options else {
            let profile = ProfileData { options: None, batches_shown: None, source };
            return Ok(vec![
                Drawing::data_only("bn-explosion", data)?,
                Drawing::new("bn-explosion-profile", "", String::new(), &profile)?,
            ]);
        };
        let batches: Vec<usize> = data.configs[0].runs.iter().map(|r| r.batch).collect();
        let last = batches.len() - 1;
        let growth = |c: usize, i: usize| data.growth(c, i);
        let mut chart = LineChart::new(format!(
            "Growth of ‖∂L/∂Wˡ‖² per layer towards the input, {} layers × {} at initialisation",
            opts.depth, opts.width
        ))
        .x_label("batch size B")
        .y_label("growth factor per layer")
        .log_x()
        .markers();
        for (c, cfg) in data.configs.iter().enumerate() {
            let points = (0..batches.len()).map(|i| (batches[i] as f64, growth(c, i))).collect();
            chart = chart.series_with(cfg.name, points, SeriesStyle::solid().color(c));
        }
        let theory: Vec<(f64, f64)> =
            batches.iter().map(|&b| (b as f64, linear_bn_growth(b).unwrap_or(f64::NAN))).collect();
        chart = chart.series_with("predicted: (B − 2)/(B − 3), linear", theory, SeriesStyle::dashed().color(1));
        chart = chart.hline(relu_bn_growth_limit(), "predicted: π/(π − 1), ReLU, B → ∞");
        chart = chart.hline(1.0, "no growth");
        let alt = format!(
            "Per-layer growth factor of the squared weight-gradient norm against batch size on a log axis. ReLU with BatchNorm grows by {:.2} per layer at B = {} and falls towards π/(π−1) ≈ 1.47 as the batch grows, reaching {:.3} at B = {}. Linear with BatchNorm lies on the dashed predicted (B−2)/(B−3) curve, from 2 at B = 4 towards 1. ReLU with LayerNorm stays at about 1 for every batch size.",
            growth(0, 0),
            batches[0],
            growth(0, last),
            batches[last]
        );
        let svg = chart.render(&alt)?;

        // Figure 5-7: the profiles the growth factors were fitted to.
        let pick = [0, batches.len() / 2, last];
        let mut prof =
            LayerProfile::new(format!("‖∂L/∂Wˡ‖² per layer at initialisation, {} layers × {}", opts.depth, opts.width))
                .y_label("‖∂L/∂Wˡ‖² (random linear loss)");
        for (slot, &i) in pick.iter().enumerate() {
            prof = prof.series_with(
                format!("ReLU + BatchNorm, B = {}", batches[i]),
                data.configs[0].runs[i].profile.clone(),
                SeriesStyle::solid().color(slot),
            );
        }
        prof = prof.series_with(
            format!("ReLU + LayerNorm, B = {}", batches[last]),
            data.configs[2].runs[last].profile.clone(),
            SeriesStyle::dashed().color(3),
        );
        let alt_p = format!(
            "Squared weight-gradient norm per layer on a log axis for ReLU networks of {} layers at initialisation. With BatchNorm each profile is a straight line rising towards the input, steepest for the smallest batch: the first layer's gradient is many orders of magnitude larger than the last's. With LayerNorm the profile is flat.",
            opts.depth
        );
        let svg_p = prof.render(&alt_p)?;
        let profile = ProfileData {
            options: Some(opts),
            batches_shown: Some(pick.iter().map(|&i| batches[i]).collect()),
            source,
        };
        Ok(vec![
            Drawing::new("bn-explosion", &alt, svg, data)?,
            Drawing::new("bn-explosion-profile", &alt_p, svg_p, &profile)?,
        ])
    }
}

impl std::fmt::Display for ExplosionData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<20} {:>6} {:>12} {:>12}", "network", "B", "growth", "predicted")?;
        for cfg in &self.configs {
            for run in &cfg.runs {
                let growth =
                    run.growth.unwrap_or_else(|| lab::experiments::geo_mean(run.growth_per_seed.iter().copied()));
                let predicted = run.predicted.map_or(String::new(), |p| format!("{p:.4}"));
                writeln!(f, "{:<20} {:>6} {growth:>12.4} {predicted:>12}", cfg.name, run.batch)?;
            }
        }
        writeln!(f, "π/(π − 1) = {:.4}", relu_bn_growth_limit())
    }
}

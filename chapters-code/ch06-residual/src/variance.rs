//! The residual stream's second moment along depth, measured and predicted (Figure 6-3).

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::ResMlpConfig;
use lab::stats::second_moment;
use serde::Serialize;

/// The predicted second moment q_l of the stream after block l, from q₀ after the stem. A
/// He-initialised branch returns a signal with the second moment of its input, so without a norm
/// each block multiplies q by 1 + α²; with a LayerNorm in front the branch sees unit second moment
/// and each block adds α².
pub fn stream_second_moment(q0: f64, alpha: f64, layer_norm: bool, l: usize) -> f64 {
    if layer_norm { q0 + l as f64 * alpha * alpha } else { q0 * (1.0 + alpha * alpha).powi(l as i32) }
}

/// Settings of Figure 6-3.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct VarianceOptions {
    /// Number of blocks L.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub blocks: usize,
    /// Width of the stream (and of the Gaussian input).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Inputs the second moment is averaged over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the weights (and, plus one, of the inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(VarianceOptions);

/// The networks of Figure 6-3, with the α and norm of their prediction.
pub fn variance_configs(width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let base = ResMlpConfig::new(width, width, blocks, 10);
    let scaled = 1.0 / (blocks as f64).sqrt();
    vec![
        ("α = 1", base.clone()),
        ("α = 1/√L", base.clone().with_alpha(scaled)),
        ("α = 1, pre-LN", base.clone().with_layer_norm(true)),
        ("α = 1/√L, pre-LN", base.clone().with_alpha(scaled).with_layer_norm(true)),
        ("zero-init W₂", base.clone().with_zero_init_last(true)),
        ("plain", base.plain()),
    ]
}

/// One network's stream in Figure 6-3.
#[derive(Debug, Clone, Serialize)]
pub struct VarianceRun {
    pub name: &'static str,
    pub alpha: f64,
    pub layer_norm: bool,
    /// Second moment of the stream after the stem (index 0) and after every block.
    pub measured: Vec<f64>,
    /// Its prediction from the measured q₀.
    pub theory: Vec<f64>,
    /// The last block's measured second moment, and its ratio to the prediction.
    pub last: f64,
    pub last_over_theory: f64,
}

/// What Figure 6-3 measured (quick mode: the first three networks, no options).
#[derive(Debug, Clone, Serialize)]
pub struct VarianceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<VarianceOptions>,
    pub runs: Vec<VarianceRun>,
}

/// Figure 6-3: the second moment of the stream after every block, measured and predicted.
pub struct ResVariance;

impl Experiment for ResVariance {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-variance";
    const ABOUT: &'static str =
        "Second moment of the residual stream after every block, measured and predicted (Figure 6-3)";
    type Options = VarianceOptions;
    type Data = VarianceData;

    fn run(opts: &VarianceOptions, run_mode: &GenOptions) -> Result<VarianceData> {
        ensure!(opts.blocks >= 1 && opts.width > 0 && opts.batch > 0, "blocks, width and batch must be at least 1");
        let x = lab::Init::Normal { std: 1.0 }.tensor(
            opts.batch,
            opts.width,
            &mut lab::init::rng(opts.seed + 1),
            &lab::DEVICE,
        )?;
        let configs = variance_configs(opts.width, opts.blocks);
        // Quick mode: the first three networks (the same ones).
        let count = if run_mode.quick { 3 } else { configs.len() };
        let mut runs = Vec::new();
        for (name, cfg) in configs.into_iter().take(count) {
            let net = cfg.clone().with_seed(opts.seed).build()?;
            let measured = net.stream(&x, None)?.iter().map(second_moment).collect::<Result<Vec<_>>>()?;
            let q0 = measured[0];
            let theory: Vec<f64> = (0..=opts.blocks)
                .map(|l| match (cfg.skip, cfg.zero_init_last) {
                    (false, _) | (true, true) => q0,
                    (true, false) => stream_second_moment(q0, cfg.alpha, cfg.layer_norm, l),
                })
                .collect();
            let (last, last_over_theory) = (measured[opts.blocks], measured[opts.blocks] / theory[opts.blocks]);
            runs.push(VarianceRun {
                name,
                alpha: cfg.alpha,
                layer_norm: cfg.layer_norm,
                measured,
                theory,
                last,
                last_over_theory,
            });
        }
        Ok(VarianceData { options: (!run_mode.quick).then(|| opts.clone()), runs })
    }

    fn draw(data: &VarianceData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("res-variance", data)?]);
        };
        let mut chart = LineChart::new(format!(
            "Second moment of the residual stream, {} blocks of width {}",
            opts.blocks, opts.width
        ))
        .x_label("block l")
        .y_label("E[(xˡ)²] per coordinate")
        .log_y();
        // Non-finite values (an exploded stream) are left out, as the JSON has them as null.
        let series = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter().enumerate().filter(|(_, q)| q.is_finite()).map(|(l, &q)| (l as f64, q)).collect()
        };
        for (i, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(r.name, series(&r.measured), SeriesStyle::solid().color(i));
        }
        for (i, r) in data.runs.iter().enumerate().take(4) {
            chart =
                chart.series_with(format!("predicted, {}", r.name), series(&r.theory), SeriesStyle::dashed().color(i));
        }
        let alt = "Log-scale second moment of the residual stream against block index for six 64-block networks. With α = 1 and no norm it doubles every block; α = 1/√L keeps it below e; with a LayerNorm in front of each branch it grows linearly, by α² per block; zero-initialised branches and the plain network keep it flat. Dashed predictions lie on the measurements.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("res-variance", alt, svg, data)?])
    }
}

impl std::fmt::Display for VarianceData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let blocks = self.runs.first().map_or(0, |r| r.measured.len() - 1);
        writeln!(f, "{:<26} {:>14} {:>18}", "network", format!("E[(x^{blocks})²]"), "measured/predicted")?;
        for r in &self.runs {
            writeln!(f, "{:<26} {:>14.4e} {:>18.3}", r.name, r.last, r.last_over_theory)?;
        }
        Ok(())
    }
}

//! LSUV (Mishkin & Matas 2016) on several activations: the forward variance it fixes, and the
//! backward signal it does not (Figure 4-9).

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::init::LsuvStep;
use lab::plot::{LayerProfile, SeriesStyle};
use lab::stats::{mean_sq_norm, std_of};
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figure 4-9.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct LsuvOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Digit images in the LSUV minibatch (and the statistics), at least 2.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the orthogonal draw and the digits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(LsuvOptions);

/// The activations of Figure 4-9.
pub const LSUV_ACTIVATIONS: [Activation; 4] =
    [Activation::Relu, Activation::Tanh, Activation::Gelu, Activation::Sigmoid];

/// One activation's network before and after LSUV.
#[derive(Debug, Clone, Serialize)]
pub struct LsuvRun {
    pub activation: Activation,
    /// std of every hidden layer's pre-activations from the orthogonal draw.
    pub pre_std_before: Vec<f64>,
    /// The same after LSUV.
    pub pre_std_after: Vec<f64>,
    /// What LSUV did to each layer (the head last).
    pub steps: Vec<LsuvStep>,
    /// rms ‖δˡ‖ relative to the last hidden layer's.
    pub delta_ratio: Vec<f64>,
    pub delta_first_over_last: f64,
    /// The effective gain of the settled layers (all but the first, whose input is the data).
    pub mean_gain: f64,
    pub max_std_error_after: f64,
}

/// What Figure 4-9 shows (quick mode: the first two activations).
#[derive(Debug, Clone, Serialize)]
pub struct LsuvData {
    pub options: LsuvOptions,
    pub runs: Vec<LsuvRun>,
    #[serde(skip)]
    pub quick: bool,
}

/// Figure 4-9: per-layer δ after LSUV, for several activations.
pub struct Lsuv;

impl Experiment for Lsuv {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "lsuv";
    const ABOUT: &'static str =
        "LSUV on several activations: forward std per layer before and after, and the backward signal (Figure 4-9)";
    type Options = LsuvOptions;
    type Data = LsuvData;

    fn run(opts: &LsuvOptions, run_mode: &GenOptions) -> Result<LsuvData> {
        ensure!(opts.depth >= 2 && opts.width > 0 && opts.batch > 1, "need depth ≥ 2, width ≥ 1, batch ≥ 2");
        let (x, y) = standardized_digits(opts.batch, opts.seed)?;
        // Quick mode: the first two activations.
        let acts = if run_mode.quick { &LSUV_ACTIVATIONS[..2] } else { &LSUV_ACTIVATIONS[..] };
        let mut runs = Vec::new();
        // One orthogonal draw shared by every activation (orthogonalisation is the slow part).
        let base =
            MlpConfig::new(x.dim(1)?, opts.width, opts.depth, 10, Activation::Linear, Init::Orthogonal { gain: 1.0 })
                .with_seed(opts.seed)
                .build(&DEVICE)?;
        for &activation in acts {
            let net = MlpConfig::new(x.dim(1)?, opts.width, opts.depth, 10, activation, Init::Zeros).build(&DEVICE)?;
            for (i, layer) in base.layers.iter().enumerate() {
                net.set_layer(i, layer.weight.as_tensor(), layer.bias.as_tensor())?;
            }
            let before: Vec<f64> = net.forward_trace(&x, true)?.pre.iter().map(std_of).collect::<Result<_>>()?;
            let steps = lab::init::lsuv(&net, &x, 0.01, 10)?;
            let after: Vec<f64> = net.forward_trace(&x, true)?.pre.iter().map(std_of).collect::<Result<_>>()?;
            let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
            let sq: Vec<f64> = deltas.iter().map(mean_sq_norm).collect::<Result<_>>()?;
            let top = *sq.last().expect("depth ≥ 2");
            let delta_ratio: Vec<f64> = sq.iter().map(|v| (v / top).sqrt()).collect();
            let hidden_scales: Vec<f64> = steps[..opts.depth].iter().map(|s| s.scale).collect();
            let settled = &hidden_scales[1..];
            runs.push(LsuvRun {
                activation,
                max_std_error_after: after.iter().map(|s| (s - 1.0).abs()).fold(0.0, f64::max),
                pre_std_before: before,
                pre_std_after: after,
                steps,
                delta_first_over_last: delta_ratio[0],
                delta_ratio,
                mean_gain: settled.iter().sum::<f64>() / settled.len() as f64,
            });
        }
        Ok(LsuvData { options: opts.clone(), runs, quick: run_mode.quick })
    }

    fn draw(data: &LsuvData) -> Result<Vec<Drawing>> {
        if data.quick {
            return Ok(vec![Drawing::data_only("lsuv", data)?]);
        }
        let opts = &data.options;
        let mut chart = LayerProfile::new(format!(
            "Back-propagated error per layer after LSUV ({} layers × {})",
            opts.depth, opts.width
        ))
        .y_label(format!("rms ‖δˡ‖ relative to layer {}", opts.depth));
        for (slot, r) in data.runs.iter().enumerate() {
            chart = chart.series_with(
                format!("{} (LSUV gain ≈ {:.2})", r.activation, r.mean_gain),
                r.delta_ratio.clone(),
                SeriesStyle::solid().color(slot),
            );
        }
        let alt = "Per-layer root-mean-square back-propagated error relative to the top layer after LSUV, log scale. ReLU stays flat, tanh and GELU grow towards the input, and sigmoid collapses by many orders of magnitude.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("lsuv", alt, svg, data)?])
    }
}

impl std::fmt::Display for LsuvData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<9} {:>22} {:>20} {:>12} {:>16}",
            "act", "std z (ℓ=2) before", "max |std − 1| after", "mean gain", "rms δ¹ / rms δᴸ"
        )?;
        for r in &self.runs {
            writeln!(
                f,
                "{:<9} {:>22.4} {:>20.2e} {:>12.4} {:>16.3e}",
                r.activation.to_string(),
                r.pre_std_before[1],
                r.max_std_error_after,
                r.mean_gain,
                r.delta_first_over_last
            )?;
        }
        Ok(())
    }
}

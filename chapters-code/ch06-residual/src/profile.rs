//! Plain against residual MLPs at depths 8 to 64: the per-block gradient at initialisation
//! (Figure 6-1), measured as the book's gˡ ([`crate::gradient::stream_error_rms`]), with the weight
//! gradient ‖∂L/∂W₁ˡ‖ beside it.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::ResMlpConfig;
use serde::Serialize;

/// The two architectures Figures 6-1, 6-2 and 6-7 compare, for `blocks` blocks.
pub fn architectures(d_in: usize, width: usize, blocks: usize) -> [(&'static str, ResMlpConfig); 2] {
    let residual = ResMlpConfig::new(d_in, width, blocks, 10).with_alpha(1.0 / (blocks as f64).sqrt());
    [("plain", residual.clone().plain()), ("residual, α = 1/√L", residual)]
}

/// Settings of Figure 6-1.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ProfileOptions {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Digits in the batch the loss is taken over.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Independently drawn networks averaged per depth.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub networks: usize,
    /// Seed of the weights (network k uses seed + 100k) and, plus one, of the digits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ProfileOptions);

/// One network's gradient profile in Figure 6-1.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileRun {
    pub depth: usize,
    pub name: &'static str,
    /// Root-mean-square over networks of the book's gˡ, the per-example RMS of the stream's error
    /// ∂ℓᵢ/∂xˡ after block l, block 1 first ([`crate::gradient::stream_error_rms`]).
    pub g: Vec<f64>,
    /// g¹/gᴸ: the first block's gradient over the last's.
    pub g_first_over_last: f64,
    /// Root-mean-square over networks of the weight gradient ‖∂L/∂W₁ˡ‖, block 1 first.
    pub grad_w1: Vec<f64>,
    /// The same for ‖∂L/∂b₂ˡ‖, the batch-summed error on the stream after block l (times α in a
    /// residual block, where b₂ sits inside the branch scale).
    pub grad_stream: Vec<f64>,
    /// grad_w1 of the first block over that of the last.
    pub first_over_last: f64,
    /// grad_stream of the first block over that of the last.
    pub stream_first_over_last: f64,
    /// The prediction for g¹/gᴸ (and for stream_first_over_last), (1 + α²)^((L−1)/2), for the
    /// residual network (None for the plain one).
    pub stream_theory: Option<f64>,
}

/// What Figure 6-1 measured (quick mode: the two shallowest depths, no options).
#[derive(Debug, Clone, Serialize)]
pub struct ProfileData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ProfileOptions>,
    /// Plain then residual at each depth.
    pub runs: Vec<ProfileRun>,
}

/// Figure 6-1: the gradient gˡ at every block at initialisation, plain against residual, at each depth.
pub struct ResProfile;

impl Experiment for ResProfile {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-profile";
    const ABOUT: &'static str =
        "Per-block gradient norms at initialisation, plain vs residual MLPs at several depths (Figure 6-1)";
    type Options = ProfileOptions;
    type Data = ProfileData;

    fn run(opts: &ProfileOptions, run_mode: &GenOptions) -> Result<ProfileData> {
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 2), "every depth must be at least 2");
        ensure!(opts.width > 0 && opts.batch > 0 && opts.networks > 0, "width, batch and networks must be at least 1");
        let (x, y) = standardized_digits(opts.batch, opts.seed + 1)?;
        // Quick mode: the two shallowest depths, the same networks.
        let depths = if run_mode.quick { &opts.depths[..opts.depths.len().min(2)] } else { &opts.depths[..] };
        let mut runs = Vec::new();
        for &depth in depths {
            for slot in 0..2 {
                let (mut gs, mut w1, mut stream) = (vec![0.0; depth], vec![0.0; depth], vec![0.0; depth]);
                for k in 0..opts.networks {
                    let (_, cfg) = &architectures(784, opts.width, depth)[slot];
                    let net = cfg.clone().with_seed(opts.seed + 100 * k as u64).build()?;
                    for (l, g) in crate::gradient::stream_error_rms(&net, &x, &y)?.iter().enumerate() {
                        gs[l] += g * g / opts.networks as f64;
                    }
                    let grads = net.block_grads(&net.loss(&x, &y)?.backward()?)?;
                    for (l, g) in grads.iter().enumerate() {
                        w1[l] += g.w1 * g.w1 / opts.networks as f64;
                        stream[l] += g.stream * g.stream / opts.networks as f64;
                    }
                }
                let (grad_w1, grad_stream): (Vec<f64>, Vec<f64>) =
                    (w1.iter().map(|v| v.sqrt()).collect(), stream.iter().map(|v| v.sqrt()).collect());
                let g: Vec<f64> = gs.iter().map(|v| v.sqrt()).collect();
                let g_first_over_last = g[0] / g[depth - 1];
                let first_over_last = grad_w1[0] / grad_w1[depth - 1];
                let stream_first_over_last = grad_stream[0] / grad_stream[depth - 1];
                let (name, cfg) = &architectures(784, opts.width, depth)[slot];
                let stream_theory = cfg.skip.then(|| (1.0 + cfg.alpha * cfg.alpha).powf((depth - 1) as f64 / 2.0));
                runs.push(ProfileRun {
                    depth,
                    name,
                    g,
                    g_first_over_last,
                    grad_w1,
                    grad_stream,
                    first_over_last,
                    stream_first_over_last,
                    stream_theory,
                });
            }
        }
        let options = (!run_mode.quick).then(|| opts.clone());
        Ok(ProfileData { options, runs })
    }

    fn draw(data: &ProfileData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("res-profile", data)?]);
        };
        let runs = &data.runs;
        let mut chart = LineChart::new(format!(
            "The gradient gˡ after every block at initialisation (width {}, RMS over {} networks)",
            opts.width, opts.networks
        ))
        .x_label("block l")
        .y_label("gˡ (per-example RMS of ∂ℓ/∂xˡ)")
        .log_y();
        for (i, r) in runs.iter().enumerate() {
            let style = if r.name == "plain" { SeriesStyle::dashed() } else { SeriesStyle::solid() };
            let points = r.g.iter().enumerate().map(|(l, &g)| ((l + 1) as f64, g)).collect();
            chart = chart.series_with(format!("L = {}, {}", r.depth, r.name), points, style.color(i / 2));
        }
        let last = runs.len() - 2;
        let alt = format!(
            "The gradient gˡ, the per-example RMS of the error on the stream after block l, at initialisation for plain (dashed) and residual (solid) MLPs of {:?} blocks. Neither vanishes towards the input; at {} blocks the plain network's g¹ is {:.2} times its gᴸ, the residual one's {:.2} times, against a predicted {:.2}.",
            opts.depths,
            runs[last].depth,
            runs[last].g_first_over_last,
            runs[last + 1].g_first_over_last,
            runs[last + 1].stream_theory.unwrap_or(f64::NAN)
        );
        let svg = chart.render(&alt)?;
        Ok(vec![Drawing::new("res-profile", &alt, svg, data)?])
    }
}

impl std::fmt::Display for ProfileData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:>6} {:<22} {:>10} {:>10} {:>8} {:>10} {:>16}",
            "blocks", "network", "g¹", "gᴸ", "g¹/gᴸ", "predicted", "‖∂L/∂W₁‖ f/l"
        )?;
        for r in &self.runs {
            let (first, last) = (r.g[0], r.g[r.g.len() - 1]);
            let theory = r.stream_theory.map_or("—".to_string(), |t| format!("{t:.2}"));
            writeln!(
                f,
                "{:>6} {:<22} {first:>10.4} {last:>10.4} {:>8.2} {theory:>10} {:>16.2}",
                r.depth, r.name, r.g_first_over_last, r.first_over_last
            )?;
        }
        Ok(())
    }
}

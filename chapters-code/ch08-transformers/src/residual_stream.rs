//! Figures 8-3 and 8-4: the residual stream's size and the error arriving on it, block by block, for
//! Post-LN, Pre-LN, Pre-LN with GPT-2's 1/√(2N) scaling and DeepNorm.

use crate::model::{Arch, ModelOptions};
use crate::profile::{Profile, profile};
use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use serde::Serialize;

/// Settings of Figures 8-3 and 8-4.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct StreamOptions {
    #[command(flatten)]
    pub model: ModelOptions,
    /// Number of blocks N.
    #[arg(long, default_value_t = 24, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Architectures compared, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [Arch::PostLn, Arch::PreLn, Arch::PreLnScaled, Arch::DeepNorm]
    )]
    pub archs: Vec<Arch>,
    /// Sequences per measurement.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Weight draws averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
}
chapter_kit::defaults_from_flags!(StreamOptions);

/// One architecture's numbers in the chapter's table: the stream's second moment and the error on
/// it, entering the first block and after the last.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub name: String,
    pub stream_first: f64,
    pub stream_last: f64,
    pub grad_first: f64,
    pub grad_last: f64,
    pub grad_first_over_last: f64,
}

/// The predictions the chapter compares the stream with, for N blocks.
#[derive(Debug, Clone, Serialize)]
pub struct StreamTheory {
    /// Pre-LN: one unit of variance per sub-layer, 1 + 2N after the last block.
    pub pre_ln_last: f64,
    /// GPT-2's scaling: 2N branches of variance 1/(2N) each.
    pub scaled_last: f64,
    pub deepnorm_alpha: f64,
    pub deepnorm_beta: f64,
}

/// What Figures 8-3 and 8-4 measured (both figures show all of it; quick mode: the first
/// architecture only).
#[derive(Debug, Clone, Serialize)]
pub struct StreamData {
    pub options: StreamOptions,
    pub runs: Vec<Profile>,
    pub summary: Vec<StreamSummary>,
    pub theory: StreamTheory,
}

/// Figures 8-3 (the stream's second moment by block) and 8-4 (the error on the stream by block).
pub struct ResidualStream;

impl Experiment for ResidualStream {
    const CHAPTER: &'static str = "ch08";
    const NAME: &'static str = "residual-stream";
    const ABOUT: &'static str = "The residual stream by block: second moment and gradient (Figures 8-3, 8-4)";
    // Width 32: ops too small to split (see `Warmup::THREADS`).
    const THREADS: Option<usize> = Some(1);
    type Options = StreamOptions;
    type Data = StreamData;

    fn run(opts: &StreamOptions, go: &GenOptions) -> Result<StreamData> {
        anyhow::ensure!(opts.depth >= 2, "--depth must be at least 2, got {}", opts.depth);
        anyhow::ensure!(!opts.archs.is_empty(), "--archs needs at least one architecture");
        opts.model.ensure_valid()?;
        let archs = if go.quick { &opts.archs[..1] } else { &opts.archs[..] };
        let runs = archs
            .iter()
            .map(|&a| profile(&opts.model, a, opts.depth, opts.batch, opts.seeds))
            .collect::<Result<Vec<_>>>()?;
        let summary = runs
            .iter()
            .map(|r| StreamSummary {
                name: r.name.clone(),
                stream_first: r.stream[0],
                stream_last: r.stream[r.depth],
                grad_first: r.input_grad[0],
                grad_last: r.input_grad[r.depth],
                grad_first_over_last: r.input_grad[0] / r.input_grad[r.depth],
            })
            .collect();
        let n = opts.depth as f64;
        let theory = StreamTheory {
            pre_ln_last: 1.0 + 2.0 * n,
            scaled_last: 2.0,
            deepnorm_alpha: (2.0 * n).powf(0.25),
            deepnorm_beta: (8.0 * n).powf(-0.25),
        };
        Ok(StreamData { options: opts.clone(), runs, summary, theory })
    }

    fn draw(data: &StreamData) -> Result<Vec<Drawing>> {
        let depth = data.options.depth;
        let pts = |v: &[f64]| v.iter().enumerate().map(|(l, &y)| (l as f64, y)).collect::<Vec<_>>();
        let mut var = LineChart::new(format!("The residual stream's size, N = {depth} blocks"))
            .x_label("stream entering block l (N = after the last)")
            .y_label("mean (xˡ)²")
            .log_y();
        let mut grad = LineChart::new(format!("The error on the stream, N = {depth} blocks"))
            .x_label("stream entering block l (N = after the last)")
            .y_label("‖∂L/∂xˡ‖")
            .log_y();
        for (i, r) in data.runs.iter().enumerate() {
            var = var.series_with(r.name.clone(), pts(&r.stream), SeriesStyle::solid().color(i));
            grad = grad.series_with(r.name.clone(), pts(&r.input_grad), SeriesStyle::solid().color(i));
        }
        let line: Vec<(f64, f64)> = (0..=depth).map(|l| (l as f64, 1.0 + 2.0 * l as f64)).collect();
        var = var.series_with("1 + 2l (one unit per sub-layer)", line, SeriesStyle::dashed().color(1));
        let alt_var = "The mean square of the residual stream entering each block: 1 throughout for Post-LN and DeepNorm (normalised after every add), growing linearly for Pre-LN, by about one unit per sub-layer, and staying near 1 to 2 with GPT-2's scaling.";
        let alt_grad = "The norm of the loss gradient on the stream entering each block. Post-LN's shrinks towards the input block; Pre-LN's is nearly flat; DeepNorm's shrinks much less than Post-LN's.";
        Ok(vec![
            Drawing::new("stream-variance", alt_var, var.render(alt_var)?, data)?,
            Drawing::new("stream-gradient", alt_grad, grad.render(alt_grad)?, data)?,
        ])
    }
}

impl std::fmt::Display for StreamData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<18} {:>12} {:>12} {:>14} {:>14}", "", "E[x²] in", "E[x²] out", "‖∂L/∂x⁰‖", "‖∂L/∂xᴺ‖")?;
        for s in &self.summary {
            writeln!(
                f,
                "{:<18} {:>12.3} {:>12.3} {:>14.3e} {:>14.3e}",
                s.name, s.stream_first, s.stream_last, s.grad_first, s.grad_last
            )?;
        }
        Ok(())
    }
}

//! Figures 8-1 and 8-2: per-block weight gradients of untrained Post-LN and Pre-LN transformers at
//! several depths, and the last block's W₂ gradient against depth (Xiong et al. 2020).

use crate::model::{Arch, ModelOptions};
use crate::profile::{Profile, profile};
use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use serde::Serialize;

/// Settings of Figures 8-1 and 8-2.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct LnOptions {
    #[command(flatten)]
    pub model: ModelOptions,
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [6, 12, 24], value_parser = cli::positive_usize)]
    pub depths: Vec<usize>,
    /// Sequences per measurement.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Weight draws averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
}
chapter_kit::defaults_from_flags!(LnOptions);

/// One run's numbers in the chapter's table: the last block over the first (all weights), and the
/// first and last blocks' W₂ gradients.
#[derive(Debug, Clone, Serialize)]
pub struct LnSummary {
    pub name: String,
    pub depth: usize,
    pub last_over_first: f64,
    pub last_w2: f64,
    pub first_w2: f64,
    pub w2_last_over_first: f64,
}

/// How the last block's W₂ gradient scales from the shallowest model to the deepest.
#[derive(Debug, Clone, Serialize)]
pub struct DeepOverShallow {
    pub post_ln: f64,
    pub pre_ln: f64,
}

/// Figure 8-1's data (quick mode: the shallowest depth, and no depth ratios).
#[derive(Debug, Clone, Serialize)]
pub struct LnGrads {
    pub options: LnOptions,
    pub runs: Vec<Profile>,
    pub summary: Vec<LnSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_w2_deep_over_shallow: Option<DeepOverShallow>,
    /// √(N₀/N) from the shallowest to the deepest model: Pre-LN's predicted ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_sqrt_depth_ratio: Option<f64>,
}

/// Figure 8-2's data: (blocks, the last block's ‖∂L/∂W₂‖) per depth.
#[derive(Debug, Clone, Serialize)]
pub struct LnLastLayer {
    pub options: LnOptions,
    pub post_ln: Vec<(f64, f64)>,
    pub pre_ln: Vec<(f64, f64)>,
}

/// What Figures 8-1 and 8-2 measured.
#[derive(Debug, Clone, Serialize)]
pub struct LnGradientsData {
    pub grads: LnGrads,
    pub last_layer: LnLastLayer,
}

/// Figures 8-1 (per-layer weight gradients, Post-LN and Pre-LN at each depth) and 8-2 (the last
/// block's W₂ gradient against depth).
pub struct LnGradients;

impl Experiment for LnGradients {
    const CHAPTER: &'static str = "ch08";
    const NAME: &'static str = "ln-gradients";
    const ABOUT: &'static str = "Post-LN vs Pre-LN: weight gradients per block at initialisation (Figures 8-1, 8-2)";
    // Width 32: ops too small to split (see `Warmup::THREADS`).
    const THREADS: Option<usize> = Some(1);
    type Options = LnOptions;
    type Data = LnGradientsData;

    fn run(opts: &LnOptions, go: &GenOptions) -> Result<LnGradientsData> {
        anyhow::ensure!(!opts.depths.is_empty(), "--depths needs at least one depth");
        cli::ensure_ascending("depths", &opts.depths)?;
        opts.model.ensure_valid()?;
        let depths = if go.quick { &opts.depths[..1] } else { &opts.depths[..] };
        let mut runs = Vec::new();
        for &depth in depths {
            for arch in [Arch::PostLn, Arch::PreLn] {
                runs.push(profile(&opts.model, arch, depth, opts.batch, opts.seeds)?);
            }
        }
        // Per depth: the last block over the first (weights), and the last block's W₂ gradient.
        let summary = runs
            .iter()
            .map(|r| LnSummary {
                name: r.name.clone(),
                depth: r.depth,
                last_over_first: r.weight_grad[r.depth - 1] / r.weight_grad[0],
                last_w2: r.w2_grad[r.depth - 1],
                first_w2: r.w2_grad[0],
                w2_last_over_first: r.w2_grad[r.depth - 1] / r.w2_grad[0],
            })
            .collect();
        let last = |arch: Arch| -> Vec<(f64, f64)> {
            runs.iter().filter(|r| r.arch == arch).map(|r| (r.depth as f64, r.w2_grad[r.depth - 1])).collect()
        };
        let (post, pre) = (last(Arch::PostLn), last(Arch::PreLn));
        let (mut deep_over_shallow, mut pre_sqrt_depth_ratio) = (None, None);
        if !go.quick {
            // How the last W₂ gradient scales from the shallowest to the deepest model.
            let ratio = |v: &[(f64, f64)]| v.last().unwrap().1 / v[0].1;
            deep_over_shallow = Some(DeepOverShallow { post_ln: ratio(&post), pre_ln: ratio(&pre) });
            pre_sqrt_depth_ratio = Some((opts.depths[0] as f64 / *opts.depths.last().unwrap() as f64).sqrt());
        }
        Ok(LnGradientsData {
            grads: LnGrads {
                options: opts.clone(),
                runs,
                summary,
                last_w2_deep_over_shallow: deep_over_shallow,
                pre_sqrt_depth_ratio,
            },
            last_layer: LnLastLayer { options: opts.clone(), post_ln: post, pre_ln: pre },
        })
    }

    fn draw(data: &LnGradientsData) -> Result<Vec<Drawing>> {
        let LnGradientsData { grads, last_layer } = data;
        let mut chart = LineChart::new("Weight gradient per block at initialisation")
            .x_label("block l (1 = next to the input)")
            .y_label("‖∂L/∂W‖ of the block")
            .log_y();
        for r in &grads.runs {
            let k = grads.options.depths.iter().position(|&d| d == r.depth).unwrap_or(0);
            let style = match k {
                0 => SeriesStyle::dotted(),
                1 => SeriesStyle::dashed(),
                _ => SeriesStyle::solid(),
            }
            .color(if r.arch == Arch::PostLn { 1 } else { 0 });
            let pts = r.weight_grad.iter().enumerate().map(|(l, &g)| ((l + 1) as f64, g)).collect();
            chart = chart.series_with(format!("{}, N = {}", r.name, r.depth), pts, style);
        }
        let alt = "Per-block weight gradient norms of untrained Post-LN and Pre-LN transformers with 6, 12 and 24 blocks. Post-LN's gradients grow towards the output block; Pre-LN's are flat across blocks and smaller in deeper models.";
        let (post, pre) = (&last_layer.post_ln, &last_layer.pre_ln);
        let mut last_chart = LineChart::new("The last block's ‖∂L/∂W₂‖ against depth")
            .x_label("blocks N")
            .y_label("‖∂L/∂W₂ᴺ‖")
            .log_x()
            .log_y()
            .markers();
        last_chart = last_chart.series_with("Post-LN", post.clone(), SeriesStyle::solid().color(1));
        last_chart = last_chart.series_with("Pre-LN", pre.clone(), SeriesStyle::solid().color(0));
        let theory: Vec<(f64, f64)> = pre.iter().map(|&(d, _)| (d, pre[0].1 * (pre[0].0 / d).sqrt())).collect();
        last_chart = last_chart.series_with("Pre-LN's first point × √(N₀/N)", theory, SeriesStyle::dashed().color(0));
        let alt_last = "The gradient of the last block's MLP output weights against the number of blocks: roughly constant for Post-LN, falling for Pre-LN, close to one over the square root of depth.";
        Ok(vec![
            Drawing::new("ln-grads", alt, chart.render(alt)?, grads)?,
            Drawing::new("ln-last-layer", alt_last, last_chart.render(alt_last)?, last_layer)?,
        ])
    }
}

impl std::fmt::Display for LnGradientsData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<10} {:>6} {:>14} {:>14} {:>16}", "", "blocks", "‖∂L/∂W₂¹‖", "‖∂L/∂W₂ᴺ‖", "last/first (all W)")?;
        for s in &self.grads.summary {
            writeln!(
                f,
                "{:<10} {:>6} {:>14.3e} {:>14.3e} {:>16.2}",
                s.name, s.depth, s.first_w2, s.last_w2, s.last_over_first
            )?;
        }
        Ok(())
    }
}

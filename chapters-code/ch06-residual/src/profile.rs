//! Plain against residual MLPs at depths 8 to 64: the per-block gradient at initialisation
//! (Figure 6-1) and the training loss (Figure 6-2).

use crate::common::{digits, smooth, tail_mean};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResMlpConfig, train};
use lab::train::Optim;
use serde::Serialize;

/// The two architectures every figure of this module compares, for `blocks` blocks.
pub fn architectures(d_in: usize, width: usize, blocks: usize) -> [(&'static str, ResMlpConfig); 2] {
    let residual = ResMlpConfig::new(d_in, width, blocks, 10).with_alpha(1.0 / (blocks as f64).sqrt());
    [("plain", residual.clone().plain()), ("residual, α = 1/√L", residual)]
}

/// Settings of Figure 6-1.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    pub batch: usize,
    /// Independently drawn networks averaged per point.
    pub networks: usize,
    pub seed: u64,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions { depths: vec![8, 16, 32, 64], width: 128, batch: 128, networks: 4, seed: 0 }
    }
}

#[derive(Serialize)]
struct ProfileRun {
    depth: usize,
    name: &'static str,
    /// Root-mean-square over networks of ‖∂L/∂W₁ˡ‖, block 1 first.
    grad_w1: Vec<f64>,
    /// The same for ‖∂L/∂b₂ˡ‖, the batch-summed error on the stream after block l.
    grad_stream: Vec<f64>,
    /// grad_w1 of the first block over that of the last.
    first_over_last: f64,
    /// grad_stream of the first block over that of the last.
    stream_first_over_last: f64,
    /// The prediction for it, (1 + α²)^((L−1)/2) for the residual network (None for the plain one).
    stream_theory: Option<f64>,
}

/// Figure 6-1: ‖∂L/∂W₁ˡ‖ of every block at initialisation, plain against residual, at each depth.
pub fn profile_figure(opts: &ProfileOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 2), "every depth must be at least 2");
    ensure!(opts.width > 0 && opts.batch > 0 && opts.networks > 0, "width, batch and networks must be at least 1");
    let (x, y) = digits(opts.batch, opts.seed + 1)?;
    // Quick mode: the two shallowest depths, the same networks.
    let depths = if gen_opts.quick { &opts.depths[..opts.depths.len().min(2)] } else { &opts.depths[..] };
    let mut runs = Vec::new();
    for &depth in depths {
        for slot in 0..2 {
            let (mut w1, mut stream) = (vec![0.0; depth], vec![0.0; depth]);
            for k in 0..opts.networks {
                let (_, cfg) = &architectures(784, opts.width, depth)[slot];
                let net = cfg.clone().with_seed(opts.seed + 100 * k as u64).build()?;
                let grads = net.block_grads(&net.loss(&x, &y)?.backward()?)?;
                for (l, g) in grads.iter().enumerate() {
                    w1[l] += g.w1 * g.w1 / opts.networks as f64;
                    stream[l] += g.stream * g.stream / opts.networks as f64;
                }
            }
            let (grad_w1, grad_stream): (Vec<f64>, Vec<f64>) =
                (w1.iter().map(|v| v.sqrt()).collect(), stream.iter().map(|v| v.sqrt()).collect());
            let first_over_last = grad_w1[0] / grad_w1[depth - 1];
            let stream_first_over_last = grad_stream[0] / grad_stream[depth - 1];
            let (name, cfg) = &architectures(784, opts.width, depth)[slot];
            let stream_theory = cfg.skip.then(|| (1.0 + cfg.alpha * cfg.alpha).powf((depth - 1) as f64 / 2.0));
            runs.push(ProfileRun {
                depth,
                name,
                grad_w1,
                grad_stream,
                first_over_last,
                stream_first_over_last,
                stream_theory,
            });
        }
    }
    if gen_opts.quick {
        return Figure::new("ch06", "res-profile", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let mut chart = LineChart::new(format!(
        "‖∂L/∂W₁ˡ‖ per block at initialisation (width {}, mean of {} networks)",
        opts.width, opts.networks
    ))
    .x_label("block l")
    .y_label("‖∂L/∂W₁ˡ‖")
    .log_y();
    for (i, r) in runs.iter().enumerate() {
        let style = if r.name == "plain" { SeriesStyle::dashed() } else { SeriesStyle::solid() };
        let points = r.grad_w1.iter().enumerate().map(|(l, &g)| ((l + 1) as f64, g)).collect();
        chart = chart.series_with(format!("L = {}, {}", r.depth, r.name), points, style.color(i / 2));
    }
    let last = runs.len() - 2;
    let alt = format!(
        "Per-block weight-gradient norms at initialisation for plain (dashed) and residual (solid) MLPs of {:?} blocks. Both stay within a small factor across the blocks; at {} blocks the plain network's first block gets {:.1} times the gradient of its last, the residual one {:.1} times.",
        opts.depths,
        runs[last].depth,
        runs[last].first_over_last,
        runs[last + 1].first_over_last
    );
    let svg = chart.render(&alt)?;
    let data = serde_json::json!({ "options": opts, "runs": runs });
    Figure::new("ch06", "res-profile", &alt, svg, &data)
}

/// Settings of Figure 6-2.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingOptions {
    pub depths: Vec<usize>,
    pub width: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub train_examples: usize,
    pub seed: u64,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            depths: vec![8, 16, 32, 64],
            width: 64,
            steps: 100,
            batch: 64,
            lr: 0.02,
            momentum: 0.9,
            train_examples: 1500,
            seed: 0,
        }
    }
}

/// Steps the quick run trains for.
const QUICK_STEPS: usize = 4;
/// Smoothing window of the plotted losses, and the tail the final loss averages over.
const SMOOTH: usize = 20;
/// Plotted losses are cut here, so that a diverging run does not flatten the others.
const CLIP: f64 = 4.0;

/// The networks of Figure 6-2 for `blocks` blocks: [`architectures`] plus a plain network with a
/// LayerNorm before every block, the book's stand-in for He et al.'s batch-normalised plain nets.
pub fn training_architectures(d_in: usize, width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let [plain, residual] = architectures(d_in, width, blocks);
    let plain_ln = ("plain + LayerNorm", plain.1.clone().with_layer_norm(true));
    vec![plain, plain_ln, residual]
}

/// Figure 6-2: training loss of plain and residual MLPs at each depth on the digits.
pub fn training_figure(opts: &TrainingOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 1), "every depth must be at least 1");
    ensure!(opts.width > 0 && opts.steps > 0, "width and steps must be at least 1");
    ensure!(opts.batch <= opts.train_examples, "--batch cannot exceed --train-examples");
    ensure!((0.0..1.0).contains(&opts.momentum), "--momentum must be in [0, 1)");
    let (x, y) = digits(opts.train_examples, opts.seed)?;
    let optim = Optim::Momentum { lr: opts.lr, momentum: opts.momentum };
    let (depths, steps) =
        if gen_opts.quick { (&opts.depths[..1], opts.steps.min(QUICK_STEPS)) } else { (&opts.depths[..], opts.steps) };
    let mut runs = Vec::new();
    for &depth in depths {
        for (name, cfg) in training_architectures(784, opts.width, depth) {
            let net = cfg.with_seed(opts.seed).build()?;
            let losses = train(&net, &x, &y, optim, steps, opts.batch, opts.seed + 1)?;
            let mut run = serde_json::json!({ "depth": depth, "name": name, "losses": losses });
            if !gen_opts.quick {
                // `train` stops at the first non-finite loss, which it records last.
                let diverged = losses.last().is_some_and(|l| !l.is_finite());
                run["diverged_at_step"] = serde_json::json!(diverged.then(|| losses.len() - 1));
                run["final_loss"] = serde_json::json!((!diverged).then(|| tail_mean(&losses, SMOOTH)));
            }
            runs.push(run);
        }
    }
    if gen_opts.quick {
        return Figure::new("ch06", "res-training", "", String::new(), &serde_json::json!({ "runs": runs }));
    }
    let mut chart = LineChart::new(format!("Training MLPs of 8 to 64 blocks (width {}) on digits", opts.width))
        .x_label("step")
        .y_label(format!("training loss (mean of {SMOOTH} steps, cut at {CLIP})"))
        .y_range(0.0, CLIP);
    for (i, r) in runs.iter().enumerate() {
        let losses: Vec<f64> =
            r["losses"].as_array().into_iter().flatten().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
        let points = smooth(&losses, SMOOTH)
            .into_iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(s, l)| (s as f64, l.min(CLIP)))
            .collect();
        let style = match i % 3 {
            0 => SeriesStyle::dashed(),
            1 => SeriesStyle::dotted(),
            _ => SeriesStyle::solid(),
        };
        let name = format!("L = {}, {}", r["depth"], r["name"].as_str().unwrap_or("?"));
        chart = chart.series_with(name, points, style.color(i / 3));
    }
    let chart = chart.hline(10f64.ln(), "chance: ln 10");
    let alt = "Training loss against step for plain (dashed), plain with LayerNorm (dotted) and residual (solid) MLPs of 8, 16, 32 and 64 blocks. The residual networks all fall to a low loss; the plain ones make progress only at 8 blocks and stay near ln 10 from 16 blocks on, with or without the norm; the 64-block plain network without a norm diverges.";
    let svg = chart.render(alt)?;
    let data = serde_json::json!({ "options": opts, "smooth": SMOOTH, "chance_loss": 10f64.ln(), "runs": runs });
    Figure::new("ch06", "res-training", alt, svg, &data)
}

//! Figures 8-1 to 8-4: gradients and the residual stream of an untrained transformer, by layer and
//! depth. Post-LN against Pre-LN (Xiong et al. 2020) at several depths, and the stream's size and
//! the error arriving on it for Post-LN, Pre-LN, Pre-LN with GPT-2's 1/√(2N) scaling and DeepNorm.

use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::data::SeqTask;
use lab::plot::{LineChart, SeriesStyle};
use lab::transformer::{Transformer, TransformerConfig};
use serde::Serialize;

/// The chapter's default model: small enough for 2 cores.
#[derive(Debug, Clone, Serialize)]
pub struct ModelOptions {
    pub vocab: usize,
    pub seq_len: usize,
    pub d_model: usize,
    pub heads: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { vocab: 16, seq_len: 16, d_model: 32, heads: 4 }
    }
}

impl ModelOptions {
    /// A Post-LN config of `blocks` blocks (d_ff = 4·d_model).
    pub fn config(&self, blocks: usize) -> TransformerConfig {
        TransformerConfig::new(self.vocab, self.seq_len, self.d_model, self.heads, blocks)
    }
}

/// One architecture the chapter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    PostLn,
    PreLn,
    /// Pre-LN with W_O and W₂ drawn ×1/√(2N).
    PreLnScaled,
    /// Post-LN with DeepNorm's α and β.
    DeepNorm,
}

impl Arch {
    pub fn name(&self) -> &'static str {
        match self {
            Arch::PostLn => "Post-LN",
            Arch::PreLn => "Pre-LN",
            Arch::PreLnScaled => "Pre-LN, 1/√(2N)",
            Arch::DeepNorm => "DeepNorm",
        }
    }

    pub fn apply(&self, c: TransformerConfig) -> TransformerConfig {
        match self {
            Arch::PostLn => c.post_ln(),
            Arch::PreLn => c.pre_ln(),
            Arch::PreLnScaled => c.pre_ln().gpt2_scaled(),
            Arch::DeepNorm => c.deepnorm(),
        }
    }
}

/// Per-block measurements of one architecture at one depth, averaged over seeds (root mean square
/// for norms, mean for second moments).
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub arch: Arch,
    pub name: String,
    pub depth: usize,
    /// ‖∂L/∂W‖ over all six weight matrices of block l.
    pub weight_grad: Vec<f64>,
    /// ‖∂L/∂W₂ˡ‖, the MLP's output projection (the weight Xiong et al.'s theorem is about).
    pub w2_grad: Vec<f64>,
    /// ‖∂L/∂xˡ‖ of the stream entering block l (a zero probe), then of the last block's output.
    pub input_grad: Vec<f64>,
    /// Mean of (xˡ)² over batch, positions and features: the stream's second moment entering block l,
    /// then after the last block.
    pub stream: Vec<f64>,
}

/// Measures `arch` at `depth` at initialisation: the mean loss over one batch of the task, for
/// `seeds` weight draws (seed s also draws batch s).
pub fn profile(model: &ModelOptions, arch: Arch, depth: usize, batch: usize, seeds: usize) -> Result<Profile> {
    ensure!(seeds >= 1 && batch >= 1 && depth >= 1, "need at least one seed, sequence and block");
    let mut sums = [vec![0.0; depth], vec![0.0; depth], vec![0.0; depth + 1], vec![0.0; depth + 1]];
    for seed in 0..seeds as u64 {
        let net = arch.apply(model.config(depth)).with_seed(seed).build()?;
        let (x, y) = SeqTask::Sort.batch(batch, model.seq_len, model.vocab, &mut lab::init::rng(1000 + seed))?;
        let trace = net.trace(&x, true)?;
        let grads = Transformer::loss_of(&trace.logits, &y)?.backward()?;
        for (l, g) in net.block_grads(&grads)?.iter().enumerate() {
            sums[0][l] += g.total * g.total;
            sums[1][l] += g.w2 * g.w2;
        }
        for (l, p) in trace.probes.iter().enumerate() {
            let g = grads.get(p).map(lab::probe::norm).transpose()?.unwrap_or(0.0);
            sums[2][l] += g * g;
        }
        // The error on the last block's output: through the head (and the final norm of Pre-LN).
        let last = trace.stream.last().expect("the stream has the last block's output");
        let var = candle_core::Var::from_tensor(last)?;
        let out = match &net.final_norm {
            Some(n) => candle_core::Module::forward(n, var.as_tensor())?,
            None => var.as_tensor().clone(),
        };
        let g_last = Transformer::loss_of(&candle_core::Module::forward(&net.head, &out)?, &y)?.backward()?;
        let g = lab::probe::norm(g_last.get(&var).expect("the last stream has a gradient"))?;
        sums[2][depth] += g * g;
        for (l, s) in trace.stream.iter().enumerate() {
            sums[3][l] += s.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let n = seeds as f64;
    let rms = |v: &[f64]| v.iter().map(|x| (x / n).sqrt()).collect::<Vec<_>>();
    Ok(Profile {
        arch,
        name: arch.name().to_string(),
        depth,
        weight_grad: rms(&sums[0]),
        w2_grad: rms(&sums[1]),
        input_grad: rms(&sums[2]),
        stream: sums[3].iter().map(|x| x / n).collect(),
    })
}

/// Settings of Figures 8-1 and 8-2.
#[derive(Debug, Clone, Serialize)]
pub struct LnOptions {
    pub model: ModelOptions,
    pub depths: Vec<usize>,
    pub batch: usize,
    pub seeds: usize,
}

impl Default for LnOptions {
    fn default() -> Self {
        LnOptions { model: ModelOptions::default(), depths: vec![6, 12, 24], batch: 16, seeds: 4 }
    }
}

/// Figures 8-1 (per-layer weight gradients, Post-LN and Pre-LN at each depth) and 8-2 (the last
/// block's W₂ gradient against depth).
pub fn ln_figures(opts: &LnOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    ensure!(!opts.depths.is_empty() && opts.depths.windows(2).all(|w| w[0] < w[1]), "depths must ascend");
    let depths = if go.quick { &opts.depths[..1] } else { &opts.depths[..] };
    let mut runs = Vec::new();
    for &depth in depths {
        for arch in [Arch::PostLn, Arch::PreLn] {
            runs.push(profile(&opts.model, arch, depth, opts.batch, opts.seeds)?);
        }
    }
    // Per depth: the last block over the first (weights), and the last block's W₂ gradient.
    let summary: Vec<_> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name, "depth": r.depth,
                "last_over_first": r.weight_grad[r.depth - 1] / r.weight_grad[0],
                "last_w2": r.w2_grad[r.depth - 1],
                "first_w2": r.w2_grad[0],
                "w2_last_over_first": r.w2_grad[r.depth - 1] / r.w2_grad[0],
            })
        })
        .collect();
    let mut data = serde_json::json!({ "options": opts, "runs": runs, "summary": summary });
    let last = |arch: Arch| -> Vec<(f64, f64)> {
        runs.iter().filter(|r| r.arch == arch).map(|r| (r.depth as f64, r.w2_grad[r.depth - 1])).collect()
    };
    let (post, pre) = (last(Arch::PostLn), last(Arch::PreLn));
    if !go.quick {
        // How the last W₂ gradient scales from the shallowest to the deepest model.
        let ratio = |v: &[(f64, f64)]| v.last().unwrap().1 / v[0].1;
        data["last_w2_deep_over_shallow"] = serde_json::json!({ "post_ln": ratio(&post), "pre_ln": ratio(&pre) });
        data["pre_sqrt_depth_ratio"] =
            serde_json::json!((opts.depths[0] as f64 / *opts.depths.last().unwrap() as f64).sqrt());
    }
    let data_last = serde_json::json!({ "options": opts, "post_ln": post, "pre_ln": pre });
    if go.quick {
        return Ok(vec![
            Figure::new("ch08", "ln-grads", "", String::new(), &data)?,
            Figure::new("ch08", "ln-last-layer", "", String::new(), &data_last)?,
        ]);
    }
    let mut chart = LineChart::new("Weight gradient per block at initialisation")
        .x_label("block l (1 = next to the input)")
        .y_label("‖∂L/∂W‖ of the block")
        .log_y();
    for r in &runs {
        let k = opts.depths.iter().position(|&d| d == r.depth).unwrap_or(0);
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
        Figure::new("ch08", "ln-grads", alt, chart.render(alt)?, &data)?,
        Figure::new("ch08", "ln-last-layer", alt_last, last_chart.render(alt_last)?, &data_last)?,
    ])
}

/// Settings of Figures 8-3 and 8-4.
#[derive(Debug, Clone, Serialize)]
pub struct StreamOptions {
    pub model: ModelOptions,
    pub depth: usize,
    pub archs: Vec<Arch>,
    pub batch: usize,
    pub seeds: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            model: ModelOptions::default(),
            depth: 24,
            archs: vec![Arch::PostLn, Arch::PreLn, Arch::PreLnScaled, Arch::DeepNorm],
            batch: 16,
            seeds: 4,
        }
    }
}

/// Figures 8-3 (the stream's second moment by block) and 8-4 (the error on the stream by block).
pub fn stream_figures(opts: &StreamOptions, go: &GenOptions) -> Result<Vec<Figure>> {
    ensure!(opts.depth >= 2, "the stream needs at least 2 blocks");
    let archs = if go.quick { &opts.archs[..1.min(opts.archs.len())] } else { &opts.archs[..] };
    let runs = archs
        .iter()
        .map(|&a| profile(&opts.model, a, opts.depth, opts.batch, opts.seeds))
        .collect::<Result<Vec<_>>>()?;
    let summary: Vec<_> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "stream_first": r.stream[0],
                "stream_last": r.stream[r.depth],
                "grad_first": r.input_grad[0],
                "grad_last": r.input_grad[r.depth],
                "grad_first_over_last": r.input_grad[0] / r.input_grad[r.depth],
            })
        })
        .collect();
    let n = opts.depth as f64;
    let theory = serde_json::json!({
        "pre_ln_last": 1.0 + 2.0 * n,
        // 2N branches of variance 1/(2N) each.
        "scaled_last": 2.0,
        "deepnorm_alpha": (2.0 * n).powf(0.25),
        "deepnorm_beta": (8.0 * n).powf(-0.25),
    });
    let data = serde_json::json!({ "options": opts, "runs": runs, "summary": summary, "theory": theory });
    if go.quick {
        return Ok(vec![
            Figure::new("ch08", "stream-variance", "", String::new(), &data)?,
            Figure::new("ch08", "stream-gradient", "", String::new(), &data)?,
        ]);
    }
    let pts = |v: &[f64]| v.iter().enumerate().map(|(l, &y)| (l as f64, y)).collect::<Vec<_>>();
    let mut var = LineChart::new(format!("The residual stream's size, N = {} blocks", opts.depth))
        .x_label("stream entering block l (N = after the last)")
        .y_label("mean (xˡ)²")
        .log_y();
    let mut grad = LineChart::new(format!("The error on the stream, N = {} blocks", opts.depth))
        .x_label("stream entering block l (N = after the last)")
        .y_label("‖∂L/∂xˡ‖")
        .log_y();
    for (i, r) in runs.iter().enumerate() {
        var = var.series_with(r.name.clone(), pts(&r.stream), SeriesStyle::solid().color(i));
        grad = grad.series_with(r.name.clone(), pts(&r.input_grad), SeriesStyle::solid().color(i));
    }
    let line: Vec<(f64, f64)> = (0..=opts.depth).map(|l| (l as f64, 1.0 + 2.0 * l as f64)).collect();
    var = var.series_with("1 + 2l (one unit per sub-layer)", line, SeriesStyle::dashed().color(1));
    let alt_var = "The mean square of the residual stream entering each block: 1 throughout for Post-LN and DeepNorm (normalised after every add), growing linearly for Pre-LN, by about one unit per sub-layer, and staying near 1 to 2 with GPT-2's scaling.";
    let alt_grad = "The norm of the loss gradient on the stream entering each block. Post-LN's shrinks towards the input block; Pre-LN's is nearly flat; DeepNorm's shrinks much less than Post-LN's.";
    Ok(vec![
        Figure::new("ch08", "stream-variance", alt_var, var.render(alt_var)?, &data)?,
        Figure::new("ch08", "stream-gradient", alt_grad, grad.render(alt_grad)?, &data)?,
    ])
}

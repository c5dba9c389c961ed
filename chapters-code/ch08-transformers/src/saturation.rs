//! Figure 8-7: attention saturation. The softmax over attention logits is chapter 2's sigmoid again:
//! as the logits grow (here by a gain g on W_Q and W_K, with and without Vaswani et al.'s 1/√d_k),
//! the attention rows collapse onto one key, their entropy falls towards 0, and the gradient that
//! gets through the softmax to the logits — and on to W_Q and W_K — vanishes.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::SeqTask;
use lab::plot::{LineChart, SeriesStyle};
use lab::transformer::{Transformer, TransformerConfig, attention_entropy};
use serde::Serialize;

/// Settings of Figure 8-7.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SaturationOptions {
    /// Vocabulary size V of the sorting task.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub vocab: usize,
    /// Positions T per sequence.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seq_len: usize,
    /// Width of the single head (d_k = d_model).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_model: usize,
    /// Number of blocks (the first one is measured).
    #[arg(long, default_value_t = 2, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub blocks: usize,
    /// Gains on W_Q and W_K, comma-separated, ascending.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
        value_parser = cli::finite_positive_f64
    )]
    pub gains: Vec<f64>,
    /// Sequences per measurement.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Weight draws averaged over.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
}
chapter_kit::defaults_from_flags!(SaturationOptions);

/// One point of the sweep, measured on the first block, averaged over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationPoint {
    pub gain: f64,
    /// Standard deviation of the logits entering the softmax.
    pub logit_std: f64,
    /// Mean attention entropy over ln T (1: uniform; 0: one key per query).
    pub entropy: f64,
    /// Mean of the largest attention weight of each row.
    pub max_weight: f64,
    /// Mean over rows of ‖diag(p) − p pᵀ‖_F, the softmax's Jacobian: chapter 2's σ′ for attention
    /// (uniform over T keys: √(1/T − 1/T²); one-hot: 0).
    pub jacobian: f64,
    /// ‖∂L/∂logits‖ (RMS over seeds): what gets through the softmax.
    pub logit_grad: f64,
    /// ‖∂L/∂W_Q‖ (RMS over seeds).
    pub wq_grad: f64,
    /// ‖∂L/∂W_V‖ (RMS over seeds), a weight whose gradient does not pass through the softmax.
    pub wv_grad: f64,
}

/// Mean over the rows p of `(…, T)` attention weights of ‖diag(p) − p pᵀ‖_F, from
/// ‖J‖²_F = Σp² − 2Σp³ + (Σp²)².
pub fn softmax_jacobian_norm(weights: &candle_core::Tensor) -> Result<f64> {
    let p = weights.to_dtype(candle_core::DType::F64)?;
    let s2 = p.sqr()?.sum(candle_core::D::Minus1)?;
    let s3 = p.powf(3.0)?.sum(candle_core::D::Minus1)?;
    let f2 = ((&s2 - (s3 * 2.0)?)? + s2.sqr()?)?;
    Ok(f2.relu()?.sqrt()?.mean_all()?.to_scalar::<f64>()?)
}

/// The sweep with the 1/√d_k scale (`scaled`) or without it.
pub fn sweep(opts: &SaturationOptions, scaled: bool, gains: &[f64]) -> Result<Vec<SaturationPoint>> {
    ensure!(opts.seeds >= 1 && opts.blocks >= 1, "need at least one seed and one block");
    let ln_t = (opts.seq_len as f64).ln();
    gains
        .iter()
        .map(|&gain| {
            let mut acc = [0.0; 7];
            for seed in 0..opts.seeds as u64 {
                let net = TransformerConfig::new(opts.vocab, opts.seq_len, opts.d_model, 1, opts.blocks)
                    .pre_ln()
                    .with_qk_gain(gain)
                    .with_attn_scale(scaled)
                    .with_seed(seed)
                    .build()?;
                let (x, y) =
                    SeqTask::Sort.batch(opts.batch, opts.seq_len, opts.vocab, &mut lab::init::rng(500 + seed))?;
                let trace = net.trace(&x, true)?;
                let grads = Transformer::loss_of(&trace.logits, &y)?.backward()?;
                let w = &trace.attention[0];
                let logits = trace.attention_logits[0].to_dtype(candle_core::DType::F64)?;
                // The spread of each row (a softmax ignores a row's mean).
                let centred = logits.broadcast_sub(&logits.mean_keepdim(candle_core::D::Minus1)?)?;
                acc[0] += centred.sqr()?.mean_all()?.to_scalar::<f64>()?;
                acc[1] += attention_entropy(w)? / ln_t;
                acc[2] += w.max(candle_core::D::Minus1)?.mean_all()?.to_scalar::<f32>()? as f64;
                let g = |t: &candle_core::Tensor| -> Result<f64> {
                    Ok(grads.get(t).map(lab::probe::norm).transpose()?.unwrap_or(0.0).powi(2))
                };
                acc[3] += g(trace.logit_probes[0].as_tensor())?;
                acc[4] += g(net.blocks[0].attn.q.weight())?;
                acc[5] += g(net.blocks[0].attn.v.weight())?;
                acc[6] += softmax_jacobian_norm(w)?;
            }
            let n = opts.seeds as f64;
            Ok(SaturationPoint {
                gain,
                logit_std: (acc[0] / n).sqrt(),
                entropy: acc[1] / n,
                max_weight: acc[2] / n,
                logit_grad: (acc[3] / n).sqrt(),
                wq_grad: (acc[4] / n).sqrt(),
                wv_grad: (acc[5] / n).sqrt(),
                jacobian: acc[6] / n,
            })
        })
        .collect()
}

/// One curve of Figure 8-7: the sweep with or without the 1/√d_k scale.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationRun {
    pub name: &'static str,
    pub points: Vec<SaturationPoint>,
}

/// What Figure 8-7 measured (quick mode: the first two gains).
#[derive(Debug, Clone, Serialize)]
pub struct SaturationData {
    pub options: SaturationOptions,
    /// √d_k: the scale's factor.
    pub sqrt_d: f64,
    /// With the 1/√d_k scale, then without.
    pub runs: [SaturationRun; 2],
}

/// Figure 8-7: entropy and gradient against the gain, with and without 1/√d_k.
pub struct AttentionSaturation;

impl Experiment for AttentionSaturation {
    const CHAPTER: &'static str = "ch08";
    const NAME: &'static str = "attention-saturation";
    const ABOUT: &'static str = "Attention saturation: entropy and gradient against the logits' scale (Figure 8-7)";
    // Width 32: ops too small to split (see `Warmup::THREADS`).
    const THREADS: Option<usize> = Some(1);
    type Options = SaturationOptions;
    type Data = SaturationData;

    fn run(opts: &SaturationOptions, go: &GenOptions) -> Result<SaturationData> {
        ensure!(!opts.gains.is_empty(), "--gains needs at least one gain");
        cli::ensure_ascending("gains", &opts.gains)?;
        let gains = if go.quick { &opts.gains[..2.min(opts.gains.len())] } else { &opts.gains[..] };
        let scaled = sweep(opts, true, gains)?;
        let unscaled = sweep(opts, false, gains)?;
        Ok(SaturationData {
            options: opts.clone(),
            sqrt_d: (opts.d_model as f64).sqrt(),
            runs: [
                SaturationRun { name: "q·k/√d_k", points: scaled },
                SaturationRun { name: "q·k (no scale)", points: unscaled },
            ],
        })
    }

    fn draw(data: &SaturationData) -> Result<Vec<Drawing>> {
        let mut chart = LineChart::new(format!("Attention saturation, one head, d_k = {}", data.options.d_model))
            .x_label("gain g on W_Q and W_K")
            .y_label("value at initialisation")
            .log_x()
            .log_y()
            .markers();
        let [scaled, unscaled] = &data.runs;
        for (i, (name, pts)) in [("q·k/√d_k", &scaled.points), ("q·k", &unscaled.points)].into_iter().enumerate() {
            let line = |f: fn(&SaturationPoint) -> f64| pts.iter().map(|p| (p.gain, f(p))).collect::<Vec<_>>();
            chart = chart.series_with(
                format!("{name}: entropy / ln T"),
                line(|p| p.entropy),
                SeriesStyle::solid().color(i),
            );
            chart = chart.series_with(
                format!("{name}: softmax Jacobian"),
                line(|p| p.jacobian),
                SeriesStyle::dashed().color(i),
            );
        }
        let alt = "Attention entropy (as a fraction of the uniform distribution's) and the mean norm of the softmax's Jacobian against the gain on W_Q and W_K, with and without the 1/√d_k scale: the Jacobian first grows as attention sharpens, then collapses with the entropy; without the scale both happen at gains about d_k^(1/4) times smaller.";
        Ok(vec![Drawing::new("attention-saturation", alt, chart.render(alt)?, data)?])
    }
}

impl std::fmt::Display for SaturationData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<18} {:>6} {:>10} {:>10} {:>12} {:>12}",
            "", "gain", "logit std", "H / ln T", "‖J_softmax‖", "‖∂L/∂W_Q‖"
        )?;
        for run in &self.runs {
            for p in &run.points {
                writeln!(
                    f,
                    "{:<18} {:>6?} {:>10.3} {:>10.3} {:>12.3e} {:>12.3e}",
                    run.name, p.gain, p.logit_std, p.entropy, p.jacobian, p.wq_grad
                )?;
            }
        }
        Ok(())
    }
}

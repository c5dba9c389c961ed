//! Veit, Wilber & Belongie (2016), §6: the lengths of the 2ⁿ paths through an n-block residual
//! network (Binomial(n, ½), computed exactly in f64), and the gradient each path length carries,
//! measured as the paper measures it — backpropagate through k sampled branches and the skips of
//! the other n − k blocks, and take the norm of what arrives at the bottom of the stream (Figure 6-8).

use crate::profile::architectures;
use anyhow::{Result, ensure};
use candle_core::{DType, Module, Tensor};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResMlp, train};
use lab::train::Optim;
use rand::seq::SliceRandom;
use serde::Serialize;

/// Settings of Figure 6-8.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct PathsOptions {
    /// Blocks n (Veit et al.'s network has 54).
    #[arg(long, default_value_t = 54, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub blocks: usize,
    /// Veit et al.'s range of path lengths holding more than 95% of the paths (first,last).
    #[arg(long, value_delimiter = ',', default_values_t = [19usize, 35], allow_negative_numbers = true)]
    pub paper_range: Vec<usize>,
    /// The path lengths, in blocks, of the abstract's "10-34 layers" (two layers a block).
    #[arg(long, value_delimiter = ',', default_values_t = [5usize, 17], allow_negative_numbers = true)]
    pub effective_range: Vec<usize>,
    /// Width of the measured network's stream and branches.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training steps before the measurement (SGD with momentum 0.9, minibatch 64, 2000 digits).
    #[arg(long, default_value_t = 200, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Learning rate of the training.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    pub lr: f64,
    /// Longest path length measured (longer paths carry a negligible share of the gradient).
    #[arg(long, default_value_t = 24, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub max_length: usize,
    /// Paths sampled per length k.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub samples: usize,
    /// Digits the path gradients are measured on (held out from training).
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Seed of the digits and the weights (plus one: of the minibatches; plus two: of the paths).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(PathsOptions);

/// Binomial(n, ½): the share of the 2ⁿ paths that go through exactly k of the n branches, k = 0..=n
/// (each entry a dyadic fraction, exact in f64 up to n = 53 and within an ulp or two beyond).
pub fn path_length_shares(n: usize) -> Vec<f64> {
    binomial(n, 0.5)
}

/// The Binomial(n, p) probabilities of k = 0..=n, by Pascal's rule.
pub fn binomial(n: usize, p: f64) -> Vec<f64> {
    let mut probs = vec![1.0];
    for _ in 0..n {
        let mut next = vec![0.0; probs.len() + 1];
        for (k, v) in probs.iter().enumerate() {
            next[k] += v * (1.0 - p);
            next[k + 1] += v * p;
        }
        probs = next;
    }
    probs
}

/// Σ of `weights[k]` for k in `first..=last` (clamped to the vector).
pub fn share_between(weights: &[f64], first: usize, last: usize) -> f64 {
    weights.iter().enumerate().filter(|(k, _)| (first..=last).contains(k)).map(|(_, w)| w).sum()
}

/// The narrowest range `first..=last` of lengths holding at least `mass` of `weights` (which sum to
/// 1), grown greedily from the largest entry.
pub fn central_range(weights: &[f64], mass: f64) -> (usize, usize) {
    let peak = weights.iter().enumerate().fold(0, |best, (k, &w)| if w > weights[best] { k } else { best });
    let (mut first, mut last, mut got) = (peak, peak, weights[peak]);
    while got < mass && (first > 0 || last + 1 < weights.len()) {
        let below = if first > 0 { weights[first - 1] } else { -1.0 };
        let above = if last + 1 < weights.len() { weights[last + 1] } else { -1.0 };
        if below >= above {
            first -= 1;
            got += below;
        } else {
            last += 1;
            got += above;
        }
    }
    (first, last)
}

/// The share of the gradient per path length predicted at initialisation for α = 1/√n:
/// Binomial(n, α/(1 + α)).
pub fn predicted_share(n: usize) -> Vec<f64> {
    let alpha = 1.0 / (n as f64).sqrt();
    binomial(n, alpha / (1.0 + alpha))
}

/// Per example, ∂ℓᵢ/∂x^L, the error on the top of the stream of `net` for softmax cross-entropy.
fn top_error(net: &ResMlp, top: &Tensor, y: &Tensor) -> Result<Tensor> {
    let logits = net.head.forward(top)?;
    let probs = candle_nn::ops::softmax(&logits, 1)?;
    let onehot = candle_nn::encoding::one_hot(y.clone(), logits.dim(1)?, 1f32, 0f32)?.to_dtype(logits.dtype())?;
    Ok((probs - onehot)?.matmul(net.head.weight())?)
}

/// The per-example error ∂ℓᵢ/∂x⁰ carried by the one path through the branches of `through` (block
/// indices) and the skips of every other block: top-down, vᵀ ← vᵀ αˡ W₂ˡ Dˡ W₁ˡ at a chosen block,
/// vᵀ unchanged at a skipped one. Summed over all 2ⁿ subsets this is the whole gradient (tested).
/// The network must be residual, without a LayerNorm.
pub fn path_error(net: &ResMlp, x: &Tensor, y: &Tensor, through: &[usize]) -> Result<Tensor> {
    Ok(path_errors(net, x, y, &[through.to_vec()])?.remove(0))
}

/// [`path_error`] for several paths, sharing one forward pass (in f64).
pub fn path_errors(net: &ResMlp, x: &Tensor, y: &Tensor, paths: &[Vec<usize>]) -> Result<Vec<Tensor>> {
    ensure!(
        net.config.skip && !net.config.layer_norm && !net.config.batch_norm,
        "paths are defined here for residual nets without a norm"
    );
    let stream = net.stream(x, None)?;
    // Dˡ: where block l's ReLU is on.
    let on: Vec<Tensor> = net
        .blocks
        .iter()
        .zip(&stream)
        .map(|(b, s)| Ok(b.w1.forward(s)?.gt(0.0)?.to_dtype(s.dtype())?))
        .collect::<Result<_>>()?;
    // In f64: a long path's gradient underflows f32 (α⁵⁴ ≈ 10⁻⁴⁷ for α = 1/√54).
    let f64 = |t: &Tensor| t.to_dtype(DType::F64);
    let top = f64(&top_error(net, stream.last().expect("the stream has x⁰"), y)?)?;
    let weights: Vec<(Tensor, Tensor, Tensor, Tensor)> = net
        .blocks
        .iter()
        .zip(&on)
        .map(|(b, d)| Ok((f64(b.w1.weight())?, f64(b.w2.weight())?, f64(&b.alpha)?, f64(d)?)))
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let mut v = top.clone();
        for l in (0..net.blocks.len()).rev() {
            if path.contains(&l) {
                let (w1, w2, alpha, d) = &weights[l];
                v = (v.matmul(w2)? * d)?.matmul(w1)?.broadcast_mul(alpha)?;
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// Mean over the batch of the per-example norm ‖∂ℓᵢ/∂x⁰‖ along one path.
fn mean_row_norm(v: &Tensor) -> Result<f64> {
    Ok(v.sqr()?.sum(1)?.sqrt()?.mean_all()?.to_scalar::<f64>()?)
}

/// One network's gradient per path length.
#[derive(Debug, Clone, Serialize)]
pub struct PathGradients {
    pub name: &'static str,
    /// Mean over sampled paths of the mean per-example ‖∂ℓᵢ/∂x⁰‖ along one path of length k,
    /// k = 0..=max_length.
    pub magnitude: Vec<f64>,
    /// (magnitude(k)/magnitude(0))^(1/k), fitted over k = 1..=max_length by least squares on the
    /// log: the factor one more branch multiplies a path's gradient by.
    pub factor_per_block: f64,
    /// Share of the total gradient magnitude carried by length k: C(n,k)·magnitude(k), normalised
    /// over k = 0..=max_length.
    pub gradient_share: Vec<f64>,
    /// The length carrying the most gradient.
    pub peak_length: usize,
    /// The narrowest range of lengths carrying 95% of the gradient (first, last).
    pub gradient_range_95: (usize, usize),
    /// The share of the gradient carried by the effective range of the options.
    pub share_in_effective_range: f64,
    /// Mean training loss over the last 20 steps (None at initialisation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
}

/// Shares of the paths, in percent.
#[derive(Debug, Clone, Serialize)]
pub struct PathPercents {
    pub paper_range: f64,
    pub range_95: f64,
    pub effective_range: f64,
}

/// What Figure 6-8 computed (quick mode: the exact counts only, no options).
#[derive(Debug, Clone, Serialize)]
pub struct PathsData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<PathsOptions>,
    /// 2ⁿ.
    pub paths: f64,
    /// Share of the paths of length k, k = 0..=n: Binomial(n, ½).
    pub length_share: Vec<f64>,
    /// Mean and standard deviation of the length: n/2, √n/2.
    pub mean_length: f64,
    pub sd_length: f64,
    /// Share of the paths whose length lies in the paper's range.
    pub share_in_paper_range: f64,
    /// The narrowest range of lengths holding at least 95% of the paths, and its share.
    pub range_95: (usize, usize),
    pub share_in_range_95: f64,
    /// Share of the paths whose length lies in the effective range.
    pub share_in_effective_range: f64,
    /// The three shares above in percent, as the chapter quotes them.
    pub percent: PathPercents,
    /// The measured network's branch scale α = 1/√n: at initialisation each branch on a path scales
    /// its gradient by about α (see "The identity path").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// The prediction at initialisation: if every branch scales a path's gradient by α, length k
    /// carries C(n,k)·αᵏ, a Binomial(n, α/(1 + α)); its most likely length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_peak_length: Option<usize>,
    /// The α = 1/√n residual network's gradient per path length, at initialisation and trained.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measured: Vec<PathGradients>,
}

/// Measures `net`'s gradient per path length on `(x, y)` (see [`PathGradients`]).
fn measure(
    name: &'static str,
    net: &ResMlp,
    x: &Tensor,
    y: &Tensor,
    opts: &PathsOptions,
    length_share: &[f64],
) -> Result<PathGradients> {
    let (n, longest) = (opts.blocks, opts.max_length.min(opts.blocks));
    let mut rng = lab::init::rng(opts.seed + 2);
    let mut order: Vec<usize> = (0..n).collect();
    let mut paths = Vec::new();
    for k in 0..=longest {
        for _ in 0..opts.samples {
            order.shuffle(&mut rng);
            paths.push(order[..k].to_vec());
        }
    }
    let errors = path_errors(net, x, y, &paths)?;
    let mut magnitude = vec![0.0; longest + 1];
    for (i, v) in errors.iter().enumerate() {
        magnitude[i / opts.samples] += mean_row_norm(v)? / opts.samples as f64;
    }
    // Least squares of ln(m_k / m_0) = k ln f through the origin.
    let (num, den) = (1..=longest).fold((0.0, 0.0), |(a, b), k| {
        let kf = k as f64;
        (a + kf * (magnitude[k] / magnitude[0]).ln(), b + kf * kf)
    });
    let factor_per_block = (num / den).exp();
    let total: Vec<f64> = length_share.iter().zip(&magnitude).map(|(s, m)| s * m).collect();
    let sum: f64 = total.iter().sum();
    let gradient_share: Vec<f64> = total.iter().map(|t| t / sum).collect();
    let peak_length = central_range(&gradient_share, 0.0).0;
    let (e0, e1) = (opts.effective_range[0], opts.effective_range[1]);
    Ok(PathGradients {
        name,
        factor_per_block,
        peak_length,
        gradient_range_95: central_range(&gradient_share, 0.95),
        share_in_effective_range: share_between(&gradient_share, e0, e1),
        gradient_share,
        magnitude,
        final_train_loss: None,
    })
}

/// Figure 6-8: how many paths of each length, and how much gradient each length carries.
pub struct Paths;

impl Experiment for Paths {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "res-paths";
    const ABOUT: &'static str =
        "Path lengths of an n-block residual net, Binomial(n, 1/2), and the gradient per path length (Figure 6-8)";
    type Options = PathsOptions;
    type Data = PathsData;

    fn run(opts: &PathsOptions, run_mode: &GenOptions) -> Result<PathsData> {
        let n = opts.blocks;
        ensure!(n >= 2, "need at least 2 blocks");
        for (flag, r) in [("--paper-range", &opts.paper_range), ("--effective-range", &opts.effective_range)] {
            ensure!(
                r.len() == 2 && r[0] <= r[1] && r[1] <= n,
                "{flag} must be two lengths first,last within 0..=blocks"
            );
        }
        ensure!(opts.batch >= 1 && opts.width >= 1 && opts.samples >= 1, "need batch, width and samples ≥ 1");
        let length_share = path_length_shares(n);
        let (p0, p1) = (opts.paper_range[0], opts.paper_range[1]);
        let (e0, e1) = (opts.effective_range[0], opts.effective_range[1]);
        let range_95 = central_range(&length_share, 0.95);
        let mut measured = Vec::new();
        if !run_mode.quick {
            let train_examples = 2000;
            let (x, y) = standardized_digits(train_examples + opts.batch, opts.seed)?;
            let (train_x, train_y) = (x.narrow(0, 0, train_examples)?, y.narrow(0, 0, train_examples)?);
            let (test_x, test_y) = (x.narrow(0, train_examples, opts.batch)?, y.narrow(0, train_examples, opts.batch)?);
            let [_, (_, cfg)] = architectures(784, opts.width, n);
            let net = cfg.with_seed(opts.seed).build()?;
            measured.push(measure("initialisation", &net, &test_x, &test_y, opts, &length_share)?);
            let optim = Optim::Momentum { lr: opts.lr, momentum: 0.9 };
            let losses = train(&net, &train_x, &train_y, optim, opts.steps, 64, opts.seed + 1)?;
            ensure!(losses.iter().all(|l| l.is_finite()), "training diverged; try a smaller --lr");
            let mut trained = measure("trained", &net, &test_x, &test_y, opts, &length_share)?;
            trained.final_train_loss = Some(lab::stats::tail_mean(&losses, 20));
            measured.push(trained);
        }
        Ok(PathsData {
            options: (!run_mode.quick).then(|| opts.clone()),
            paths: 2f64.powi(n as i32),
            mean_length: n as f64 / 2.0,
            sd_length: (n as f64).sqrt() / 2.0,
            share_in_paper_range: share_between(&length_share, p0, p1),
            range_95,
            share_in_range_95: share_between(&length_share, range_95.0, range_95.1),
            share_in_effective_range: share_between(&length_share, e0, e1),
            percent: PathPercents {
                paper_range: 100.0 * share_between(&length_share, p0, p1),
                range_95: 100.0 * share_between(&length_share, range_95.0, range_95.1),
                effective_range: 100.0 * share_between(&length_share, e0, e1),
            },
            length_share,
            alpha: (!run_mode.quick).then(|| 1.0 / (n as f64).sqrt()),
            predicted_peak_length: (!run_mode.quick).then(|| central_range(&predicted_share(n), 0.0).0),
            measured,
        })
    }

    fn draw(data: &PathsData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("res-paths", data)?]);
        };
        let points = |v: &[f64]| v.iter().enumerate().map(|(k, &s)| (k as f64, s)).collect::<Vec<_>>();
        let mut chart = LineChart::new(format!(
            "Paths through a {}-block residual MLP: how many of each length, and how much gradient they carry",
            opts.blocks
        ))
        .x_label("path length k (branches on the path)")
        .y_label("share of the paths or of the gradient")
        .series_with("paths (Binomial(n, ½))", points(&data.length_share), SeriesStyle::dashed().color(0));
        for (i, m) in data.measured.iter().enumerate() {
            let label = format!("gradient, {}", m.name);
            chart = chart.series_with(label, points(&m.gradient_share), SeriesStyle::solid().color(i + 1));
        }
        let predicted = predicted_share(opts.blocks);
        let label = "gradient predicted at initialisation, C(n,k)·αᵏ";
        chart = chart.series_with(label, points(&predicted), SeriesStyle::dashed().color(1));
        let alt = "The share of paths of each length is a binomial bell centred on half the blocks. The share of the input gradient carried by each length, in the α = 1/√n residual network, peaks at far shorter paths, as predicted at initialisation (dashed), and after training.";
        let svg = chart.render(alt)?;
        Ok(vec![Drawing::new("res-paths", alt, svg, data)?])
    }
}

impl std::fmt::Display for PathsData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let n = self.length_share.len() - 1;
        writeln!(
            f,
            "{n} blocks: 2^{n} = {:.3e} paths, length {} ± {:.2}; 95% of them in {}..={} ({:.4}); \
             share in the effective range {:.5}",
            self.paths,
            self.mean_length,
            self.sd_length,
            self.range_95.0,
            self.range_95.1,
            self.share_in_range_95,
            self.share_in_effective_range
        )?;
        for m in &self.measured {
            writeln!(
                f,
                "{:<15} loss {:.3}; factor per branch {:.3}; gradient peaks at length {}, 95% in {}..={}, {:.3} in the effective range",
                m.name,
                m.final_train_loss.unwrap_or(f64::NAN),
                m.factor_per_block,
                m.peak_length,
                m.gradient_range_95.0,
                m.gradient_range_95.1,
                m.share_in_effective_range
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lab::resnet::ResMlpConfig;

    #[test]
    fn path_counts_are_binomial() {
        let p = path_length_shares(54);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // C(54, 27) = 1 946 939 425 648 112.
        assert!((p[27] * 2f64.powi(54) - 1_946_939_425_648_112.0).abs() < 1.0);
        assert_eq!(p[0], 2f64.powi(-54));
        let (a, b) = central_range(&p, 0.95);
        assert_eq!(a + b, 54, "a symmetric bell gives a symmetric range");
        assert!(share_between(&p, a, b) >= 0.95 && share_between(&p, a + 1, b - 1) < 0.95);
    }

    #[test]
    fn the_paths_sum_to_the_whole_gradient() -> Result<()> {
        // Three blocks: the 8 paths' errors at x⁰ add up to ∂ℓᵢ/∂x⁰ from autograd (per example).
        let net = ResMlpConfig::new(5, 6, 3, 3).with_alpha(0.7).with_seed(4).build_f64()?;
        let x =
            lab::Init::Normal { std: 1.0 }.tensor(4, 5, &mut lab::init::rng(1), &lab::DEVICE)?.to_dtype(DType::F64)?;
        let y = Tensor::new(&[0u32, 1, 2, 1], &lab::DEVICE)?;
        let subsets: Vec<Vec<usize>> = (0..8usize).map(|m| (0..3).filter(|b| m & (1 << b) != 0).collect()).collect();
        let sum = path_errors(&net, &x, &y, &subsets)?.into_iter().try_fold(None::<Tensor>, |acc, v| {
            Ok::<_, anyhow::Error>(Some(match acc {
                None => v,
                Some(a) => (a + v)?,
            }))
        })?;
        let x0 = candle_core::Var::from_tensor(&net.stem.forward(&x)?)?;
        let top = net.blocks.iter().try_fold(x0.as_tensor().clone(), |h, b| b.forward(&h))?;
        // The batch-mean loss times the batch: Σᵢ ℓᵢ, whose gradient at row i is ∂ℓᵢ/∂x⁰.
        let loss = (lab::net::cross_entropy(&net.head.forward(&top)?, &y)? * 4.0)?;
        let g = loss.backward()?.get(x0.as_tensor()).expect("x⁰ has a gradient").clone();
        let diff = (sum.expect("8 paths") - &g)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "paths sum to the gradient within {diff}");
        Ok(())
    }
}

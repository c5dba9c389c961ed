//! Balduzzi et al. (2017), shattered gradients: dy/dx of a network with a 1-D input, sampled on a
//! grid, decorrelates with depth like white noise in a plain network, far more slowly in a residual
//! one (Figures 6-5 and 6-6).

use anyhow::{Result, ensure};
use candle_core::{DType, Module, Tensor, Var};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::{LineChart, SeriesStyle};
use lab::resnet::{ResBlock, ResMlp, ResMlpConfig};
use serde::Serialize;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Settings of Figures 6-5 and 6-6.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ShatteredOptions {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Width of every layer.
    #[arg(long, default_value_t = 200, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Grid points in [−2, 2].
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub points: usize,
    /// Independently drawn networks averaged per depth.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub networks: usize,
    /// Largest lag of the autocorrelation function.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub max_lag: usize,
    /// Depth of the networks whose gradients Figure 6-6 draws (one of --depths).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub curve_depth: usize,
    /// Seed of the weights (network k uses seed + 1000k).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(ShatteredOptions);

/// The networks compared, for `blocks` blocks, all with a 1-D input and output: without a norm,
/// and with a BatchNorm over the grid (the batch) on every branch's input.
pub fn shattered_configs(width: usize, blocks: usize) -> Vec<(&'static str, ResMlpConfig)> {
    let base = ResMlpConfig::new(1, width, blocks, 1).with_stem_bias_std(1.0);
    vec![
        ("plain", base.clone().plain()),
        ("residual, α = 1", base.clone()),
        ("residual, α = 1/√L", base.clone().with_alpha(1.0 / (blocks as f64).sqrt())),
        ("plain + BN", base.clone().plain().with_batch_norm(true)),
        ("residual, α = 1, + BN", base.with_batch_norm(true)),
    ]
}

/// The network `config.build()` would draw, made from `base`'s weights instead of a fresh draw.
/// `config` may differ from `base.config` only in the skip connections, α and the norm, none of
/// which takes anything from the generator, so every weight is the same (the five networks of
/// [`shattered_configs`] share one draw). The copy is detached: no `Var`s, no `VarMap`; α, γ and β
/// are made as the `VarBuilder` makes them.
pub fn variant_of(base: &ResMlp, config: ResMlpConfig) -> Result<ResMlp> {
    config.validate()?;
    let draw =
        |c: &ResMlpConfig| ResMlpConfig { skip: true, alpha: 1.0, layer_norm: false, batch_norm: false, ..c.clone() };
    ensure!(draw(&config) == draw(&base.config), "{config:?} does not draw the same weights as {:?}", base.config);
    let w = base.stem.weight();
    let (dtype, device, n) = (w.dtype(), w.device(), config.width);
    let detach = |l: &candle_nn::Linear| candle_nn::Linear::new(l.weight().detach(), l.bias().map(Tensor::detach));
    let konst = |v: f64, len: usize| -> Result<Tensor> {
        Ok(candle_nn::Init::Const(v).var(len, dtype, device)?.as_detached_tensor())
    };
    let blocks = base
        .blocks
        .iter()
        .map(|b| {
            let norm =
                if config.layer_norm || config.batch_norm { Some((konst(1.0, n)?, konst(0.0, n)?)) } else { None };
            let alpha = if config.skip { konst(config.alpha, 1)? } else { Tensor::ones(1, dtype, device)? };
            Ok(ResBlock {
                w1: detach(&b.w1),
                w2: detach(&b.w2),
                alpha,
                norm,
                batch_norm: config.batch_norm,
                activation: config.activation,
                skip: config.skip,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (stem, head) = (detach(&base.stem), detach(&base.head));
    Ok(ResMlp { config, varmap: candle_nn::VarMap::new(), stem, blocks, head })
}

/// dy/dx at `points` evenly spaced inputs in [−2, 2]: one backward pass through a `Var` input (each
/// row's output depends only on its own input, so the gradient of the sum is the per-point slope).
pub fn input_gradient(net: &ResMlp, points: usize) -> Result<Vec<f64>> {
    let cfg = &net.config;
    ensure!(cfg.d_in == 1 && cfg.d_out == 1 && points >= 2, "need a 1-D input and output and at least 2 points");
    let grid: Vec<f64> = (0..points).map(|i| -2.0 + 4.0 * i as f64 / (points - 1) as f64).collect();
    let dtype = net.stem.weight().dtype();
    let x = Var::from_tensor(&Tensor::from_vec(grid, (points, 1), &lab::DEVICE)?.to_dtype(dtype)?)?;
    let grads = net.forward(x.as_tensor())?.sum_all()?.backward()?;
    let g = grads.get(x.as_tensor()).ok_or_else(|| anyhow::anyhow!("the input got no gradient"))?;
    Ok(g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

/// The normalised autocorrelation ρ(k) = Σᵢ (gᵢ − ḡ)(gᵢ₊ₖ − ḡ) / Σᵢ (gᵢ − ḡ)², k = 0..=max_lag.
pub fn autocorrelation(g: &[f64], max_lag: usize) -> Vec<f64> {
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    let c: Vec<f64> = g.iter().map(|v| v - mean).collect();
    let var: f64 = c.iter().map(|v| v * v).sum();
    (0..=max_lag.min(g.len() - 1))
        .map(|k| c.iter().zip(&c[k..]).map(|(a, b)| a * b).sum::<f64>() / var.max(f64::MIN_POSITIVE))
        .collect()
}

/// One network's autocorrelation in Figure 6-5.
#[derive(Debug, Clone, Serialize)]
pub struct ShatteredRun {
    pub name: &'static str,
    /// ρ(1) per depth.
    pub lag1: Vec<f64>,
    /// `acf[depth]` = mean over networks of ρ(0..=max_lag).
    pub acf: Vec<Vec<f64>>,
}

/// One network's gradient in Figure 6-6.
#[derive(Debug, Clone, Serialize)]
pub struct ShatteredCurve {
    pub name: String,
    /// ρ(1) of this one gradient.
    pub lag1: f64,
    /// dy/dx on the grid (drawn, not saved).
    #[serde(skip)]
    pub gradient: Vec<f64>,
}

/// What Figures 6-5 and 6-6 measured (quick mode: the three smallest depths, no options).
#[derive(Debug, Clone, Serialize)]
pub struct ShatteredData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ShatteredOptions>,
    pub runs: Vec<ShatteredRun>,
    pub curves: Vec<ShatteredCurve>,
    /// The depths measured (those of the options, or their quick prefix).
    #[serde(skip)]
    pub depths: Vec<usize>,
}

/// Figure 6-5's data.
#[derive(Serialize)]
struct RunsPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a ShatteredOptions>,
    runs: &'a [ShatteredRun],
}

/// Figure 6-6's data.
#[derive(Serialize)]
struct CurvesPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a ShatteredOptions>,
    curves: &'a [ShatteredCurve],
}

/// Figures 6-5 (lag-1 autocorrelation of dy/dx against depth) and 6-6 (the gradients themselves).
pub struct Shattered;

impl Experiment for Shattered {
    const CHAPTER: &'static str = "ch06";
    const NAME: &'static str = "shattered";
    const ABOUT: &'static str =
        "Autocorrelation of dy/dx over a 1-D input for plain and residual nets against depth (Figures 6-5, 6-6)";
    type Options = ShatteredOptions;
    type Data = ShatteredData;

    fn run(opts: &ShatteredOptions, run_mode: &GenOptions) -> Result<ShatteredData> {
        cli::ensure_ascending("depths", &opts.depths)?;
        ensure!(!opts.depths.is_empty() && opts.depths.iter().all(|&d| d >= 1), "every depth must be at least 1");
        ensure!(opts.points >= 4 && opts.width > 0 && opts.networks > 0, "need ≥ 4 points, width ≥ 1, networks ≥ 1");
        ensure!(opts.max_lag >= 1 && opts.max_lag < opts.points, "the largest lag must be between 1 and points − 1");
        ensure!(
            opts.depths.contains(&opts.curve_depth),
            "the curve depth {} must be one of the depths",
            opts.curve_depth
        );
        let depths = if run_mode.quick { &opts.depths[..opts.depths.len().min(3)] } else { &opts.depths[..] };
        let names: Vec<&'static str> = shattered_configs(opts.width, 1).iter().map(|c| c.0).collect();
        // acf[variant][depth] = mean over networks of ρ(0..=max_lag).
        let mut acf = vec![Vec::new(); names.len()];
        // The gradients of network 0 (seed `opts.seed`), by (depth, variant): Figure 6-6 draws some.
        let mut first: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
        for &depth in depths {
            let configs = shattered_configs(opts.width, depth);
            let mut means = vec![vec![0.0; opts.max_lag + 1]; configs.len()];
            for k in 0..opts.networks {
                // One draw per network, shared by the variants (see `variant_of`).
                let base = configs[0].1.clone().with_seed(opts.seed + 1000 * k as u64).build()?;
                for (i, (_, cfg)) in configs.iter().enumerate() {
                    let net = variant_of(&base, cfg.clone().with_seed(base.config.seed))?;
                    let g = input_gradient(&net, opts.points)?;
                    for (m, r) in means[i].iter_mut().zip(autocorrelation(&g, opts.max_lag)) {
                        *m += r / opts.networks as f64;
                    }
                    if k == 0 {
                        first.insert((depth, i), g);
                    }
                }
            }
            for (i, mean) in means.into_iter().enumerate() {
                acf[i].push(mean);
            }
        }
        let runs = names
            .into_iter()
            .zip(acf)
            .map(|(name, acf)| ShatteredRun { name, lag1: acf.iter().map(|r| r[1]).collect(), acf })
            .collect();

        // Figure 6-6: the gradients of one network each.
        let d = opts.curve_depth;
        // (depth, variant of `shattered_configs`), network 0: gradients the loop above measured
        // already are taken from it.
        let configs = [
            ("plain, L = 1".to_string(), 1, 0),
            (format!("plain, L = {d}"), d, 0),
            (format!("residual α = 1, L = {d}"), d, 1),
            (format!("residual α = 1/√L, L = {d}"), d, 2),
            (format!("plain + BN, L = {d}"), d, 3),
        ];
        let mut bases: HashMap<usize, ResMlp> = HashMap::new();
        let mut curves = Vec::new();
        for (name, depth, i) in configs {
            let gradient = match first.get(&(depth, i)) {
                Some(g) => g.clone(),
                None => {
                    let cfgs = shattered_configs(opts.width, depth);
                    let base = match bases.entry(depth) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => e.insert(cfgs[0].1.clone().with_seed(opts.seed).build()?),
                    };
                    input_gradient(&variant_of(base, cfgs[i].1.clone().with_seed(opts.seed))?, opts.points)?
                }
            };
            curves.push(ShatteredCurve { name, lag1: autocorrelation(&gradient, 1)[1], gradient });
        }
        let options = (!run_mode.quick).then(|| opts.clone());
        Ok(ShatteredData { options, runs, curves, depths: depths.to_vec() })
    }

    fn draw(data: &ShatteredData) -> Result<Vec<Drawing>> {
        let runs_part = RunsPart { options: data.options.as_ref(), runs: &data.runs };
        let curves_part = CurvesPart { options: data.options.as_ref(), curves: &data.curves };
        let Some(opts) = &data.options else {
            return Ok(vec![
                Drawing::new("shattered", "", String::new(), &runs_part)?,
                Drawing::new("shattered-curves", "", String::new(), &curves_part)?,
            ]);
        };
        let mut chart = LineChart::new(format!(
            "Shattered gradients: correlation of dy/dx at neighbouring inputs (width {}, {} points in [−2, 2])",
            opts.width, opts.points
        ))
        .x_label("blocks L")
        .y_label("lag-1 autocorrelation of dy/dx")
        .log_x()
        .markers();
        for (i, r) in data.runs.iter().enumerate() {
            // Non-finite values are left out, as the JSON has them as null.
            let points =
                data.depths.iter().zip(&r.lag1).filter(|(_, v)| v.is_finite()).map(|(&d, &v)| (d as f64, v)).collect();
            chart = chart.series_with(r.name, points, SeriesStyle::solid().color(i));
        }
        let alt = "Lag-1 autocorrelation of the input gradient against depth on a log axis. For the plain network it falls steadily with depth; with BatchNorm it reaches 0, the value of white noise, by 16 blocks; the residual network with α = 1 falls more slowly, with or without BatchNorm, and with α = 1/√L it stays near 1.";
        let first = Drawing::new("shattered", alt, chart.render(alt)?, &runs_part)?;

        // Figure 6-6: the gradients, standardised and stacked.
        let mut chart = LineChart::new("dy/dx over the input, standardised, offset by 5 per curve")
            .x_label("input x")
            .y_label("standardised dy/dx (offset)");
        for (i, c) in data.curves.iter().enumerate() {
            let g = &c.gradient;
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let std =
                (g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / g.len() as f64).sqrt().max(f64::MIN_POSITIVE);
            let offset = -5.0 * i as f64;
            let points = g
                .iter()
                .enumerate()
                .map(|(j, v)| (-2.0 + 4.0 * j as f64 / (opts.points - 1) as f64, (v - mean) / std + offset))
                .collect();
            chart = chart.series_with(c.name.as_str(), points, SeriesStyle::solid().color(i));
        }
        let alt = "Five standardised input-gradient curves over x in [−2, 2]: a one-block plain network's is a few smooth steps; a deep plain network's is jagged; deep residual networks' are rougher than the shallow one's but correlated over longer stretches, the more so with α = 1/√L; the deep plain network with BatchNorm's is white noise.";
        let second = Drawing::new("shattered-curves", alt, chart.render(alt)?, &curves_part)?;
        Ok(vec![first, second])
    }
}

impl std::fmt::Display for ShatteredData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let rows = self.runs.iter().map(|r| (r.name, r.lag1.iter().map(|v| format!("{v:.3}")).collect()));
        crate::write_depth_table(f, "lag-1 autocorrelation", &self.depths, 7, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocorrelation_of_known_sequences() {
        // Alternating signs: ρ(1) = −1 (up to the end effect), ρ(2) = +1.
        let alt: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let r = autocorrelation(&alt, 2);
        assert!((r[0] - 1.0).abs() < 1e-12 && (r[1] + 0.99).abs() < 1e-9 && (r[2] - 0.98).abs() < 1e-9, "{r:?}");
        // A straight line is highly correlated with itself one step on.
        let line: Vec<f64> = (0..256).map(|i| i as f64).collect();
        assert!(autocorrelation(&line, 1)[1] > 0.98);
    }

    #[test]
    fn the_input_gradient_matches_finite_differences() -> Result<()> {
        let cfg = ResMlpConfig::new(1, 16, 3, 1).with_stem_bias_std(1.0).with_seed(3);
        let net = cfg.build_f64()?;
        let g = input_gradient(&net, 9)?;
        let y = |x: f64| -> Result<f64> {
            Ok(net.forward(&Tensor::new(&[[x]], &lab::DEVICE)?)?.flatten_all()?.to_vec1::<f64>()?[0])
        };
        for (i, gi) in g.iter().enumerate() {
            let x = -2.0 + 0.5 * i as f64;
            let fd = (y(x + 1e-6)? - y(x - 1e-6)?) / 2e-6;
            assert!((fd - gi).abs() < 1e-6 * (1.0 + gi.abs()), "x = {x}: fd {fd}, autograd {gi}");
        }
        Ok(())
    }

    #[test]
    fn variants_of_one_draw_are_the_networks_their_configs_build() -> Result<()> {
        let configs = shattered_configs(24, 3);
        let base = configs[0].1.clone().with_seed(7).build()?;
        for (name, cfg) in &configs {
            let cfg = cfg.clone().with_seed(7);
            let fresh = input_gradient(&cfg.build()?, 16)?;
            let shared = input_gradient(&variant_of(&base, cfg.clone())?, 16)?;
            // The same bits: the same weights through the same ops.
            assert_eq!(fresh, shared, "{name}");
            assert!(fresh.iter().all(|g| g.is_finite()) && fresh.iter().any(|g| *g != 0.0), "{name}");
        }
        // Another seed, width or depth draws other weights.
        assert!(variant_of(&base, configs[1].1.clone().with_seed(8)).is_err());
        assert!(variant_of(&base, shattered_configs(24, 4)[1].1.clone().with_seed(7)).is_err());
        Ok(())
    }
}

//! Figure 2-4: Nielsen's "speed of learning" ‖δˡ‖ = ‖∂C/∂bˡ‖ of every hidden layer at initialisation,
//! for sigmoid networks with 2, 3 and 4 hidden layers, next to his published values — and the book's
//! measure gˡ (chapter 1: the per-example RMS of δˡ) of the same networks on the same batch.

use crate::nielsen::{Cost, DataArgs, NIELSEN_INITIAL_SPEEDS, NetSpec, gradient_at_layers, speed_of_learning};
use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::experiments::geo_mean;
use lab::plot::{LayerProfile, Legend, SeriesStyle};
use lab::{Activation, Init};
use serde::Serialize;

/// Settings of Figure 2-4 (the defaults are Nielsen's networks).
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SpeedInitOptions {
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 3, 4], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training images the gradient is averaged over (Nielsen: the first 1000).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n: usize,
    /// Networks (weight seeds 0, 1, …) per depth.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Output layer and cost: sigmoid (Nielsen's cross-entropy) or softmax.
    #[arg(long, default_value_t = Cost::SigmoidCrossEntropy)]
    pub cost: Cost,
    /// Hidden activation.
    #[arg(long, default_value_t = Activation::Sigmoid, value_parser = cli::activation)]
    pub activation: Activation,
    /// Weight init (Nielsen: lecun_normal, i.e. N(0, 1/n_in)).
    #[arg(long, default_value_t = Init::LecunNormal, value_parser = cli::init)]
    pub init: Init,
    /// Standard deviation of the N(0, σ²) biases (Nielsen: 1).
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub bias_std: f64,
    #[command(flatten)]
    pub data: DataArgs,
}
chapter_kit::defaults_from_flags!(SpeedInitOptions);

impl SpeedInitOptions {
    /// Whether these are Nielsen's networks, so that his published speeds are comparable.
    pub fn is_nielsens_setup(&self) -> bool {
        self.width == 30
            && self.cost == Cost::SigmoidCrossEntropy
            && self.init == Init::LecunNormal
            && self.bias_std == 1.0
            && self.activation == Activation::Sigmoid
    }
}

/// Our mean speeds against Nielsen's (when he published the depth).
#[derive(Debug, Clone, Serialize)]
pub struct AgainstNielsen {
    pub nielsen_ratio_first_last: f64,
    pub ours_over_nielsen_min: f64,
    pub ours_over_nielsen_max: f64,
    /// Our mean speed over his, per layer.
    pub ours_over_nielsen: Vec<f64>,
}

/// The statistics over seeds of one depth (full runs only).
#[derive(Debug, Clone, Serialize)]
pub struct SpeedStats {
    /// Per layer, the mean, least and largest speed over the seeds.
    pub mean: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    /// Geometric mean over seeds of ‖δ¹‖/‖δᴸ‖.
    pub ratio_first_last_mean: f64,
    /// The mean growth of the speed from one layer to the next, first to last.
    pub per_layer_growth: f64,
    pub ratio_first_last_min: f64,
    pub ratio_first_last_max: f64,
    /// The same networks with a softmax output layer: their mean speeds, and the top layer's against ours.
    pub softmax_mean: Vec<f64>,
    pub softmax_over_sigmoid_top: f64,
    #[serde(flatten)]
    pub against_nielsen: Option<AgainstNielsen>,
    /// The book's gˡ of the same networks: per layer its mean over seeds, the geometric mean over seeds
    /// of g¹/gᴸ with its range, and the mean growth from one layer to the next.
    pub g_mean: Vec<f64>,
    pub g_ratio_first_last_mean: f64,
    pub g_ratio_first_last_min: f64,
    pub g_ratio_first_last_max: f64,
    pub g_per_layer_growth: f64,
    /// gˡ with a softmax output layer: its mean, and the top layer's against the sigmoid output's.
    pub softmax_g_mean: Vec<f64>,
    pub softmax_g_over_sigmoid_top: f64,
}

/// The networks of one depth.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedNets {
    pub depth: usize,
    /// `per_seed[s][l]`: the speed of hidden layer l+1 of the network of seed s.
    pub per_seed: Vec<Vec<f64>>,
    /// `g_per_seed[s][l]`: the book's gˡ of hidden layer l+1 of the network of seed s.
    pub g_per_seed: Vec<Vec<f64>>,
    /// Nielsen's published speeds, for his setup and depths 2 to 4.
    pub nielsen: Option<Vec<f64>>,
    #[serde(flatten)]
    pub stats: Option<SpeedStats>,
}

/// What Figure 2-4 measured (quick mode: one seed per depth, no statistics).
#[derive(Debug, Clone, Serialize)]
pub struct SpeedInitData {
    /// The data set, described.
    pub data: String,
    pub n: usize,
    pub width: usize,
    pub seeds: usize,
    pub cost: Cost,
    pub init: Init,
    pub bias_std: f64,
    pub activation: Activation,
    pub nets: Vec<SpeedNets>,
}

/// Figure 2-4: ‖δˡ‖ per hidden layer at initialisation for nets with 2, 3 and 4 hidden layers, next to
/// Nielsen's published values.
pub struct SpeedInit;

/// The statistics over the seeds' networks `per_seed` (built by `spec`) on `train`.
fn stats(
    spec: impl Fn(u64) -> NetSpec,
    train: &lab::data::Dataset,
    per_seed: &[Vec<f64>],
    g_per_seed: &[Vec<f64>],
    nielsen: Option<&[f64]>,
) -> Result<SpeedStats> {
    let seeds = per_seed.len();
    let layers = per_seed[0].len();
    let column = |l: usize| per_seed.iter().map(move |s| s[l]);
    let mean_of = |rows: &[Vec<f64>]| -> Vec<f64> {
        (0..layers).map(|l| rows.iter().map(|s| s[l]).sum::<f64>() / rows.len() as f64).collect()
    };
    let mean = mean_of(per_seed);
    let min: Vec<f64> = (0..layers).map(|l| column(l).fold(f64::INFINITY, f64::min)).collect();
    let max: Vec<f64> = (0..layers).map(|l| column(l).fold(0.0, f64::max)).collect();
    let ratios: Vec<f64> = per_seed.iter().map(|s| s[0] / s[layers - 1]).collect();
    let g_ratios: Vec<f64> = g_per_seed.iter().map(|s| s[0] / s[layers - 1]).collect();
    // The same networks with a softmax output layer, for comparison.
    let (mut softmax, mut softmax_g) = (Vec::new(), Vec::new());
    for s in 0..seeds as u64 {
        let net = spec(s).build()?;
        softmax.push(speed_of_learning(&net, &train.x, &train.y, Cost::Softmax)?);
        softmax_g.push(gradient_at_layers(&net, &train.x, &train.y, Cost::Softmax)?);
    }
    let softmax_mean = mean_of(&softmax);
    let (g_mean, softmax_g_mean) = (mean_of(g_per_seed), mean_of(&softmax_g));
    let per_layer = |r: f64| r.powf(-1.0 / (layers as f64 - 1.0).max(1.0));
    let against_nielsen = nielsen.map(|n| {
        let ratio: Vec<f64> = mean.iter().zip(n).map(|(a, b)| a / b).collect();
        AgainstNielsen {
            nielsen_ratio_first_last: n[0] / n[n.len() - 1],
            ours_over_nielsen_min: ratio.iter().copied().fold(f64::INFINITY, f64::min),
            ours_over_nielsen_max: ratio.iter().copied().fold(0.0, f64::max),
            ours_over_nielsen: ratio,
        }
    });
    Ok(SpeedStats {
        ratio_first_last_mean: geo_mean(ratios.iter().copied()),
        per_layer_growth: per_layer(geo_mean(ratios.iter().copied())),
        ratio_first_last_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratio_first_last_max: ratios.iter().copied().fold(0.0, f64::max),
        softmax_over_sigmoid_top: softmax_mean[layers - 1] / mean[layers - 1],
        softmax_mean,
        g_ratio_first_last_mean: geo_mean(g_ratios.iter().copied()),
        g_ratio_first_last_min: g_ratios.iter().copied().fold(f64::INFINITY, f64::min),
        g_ratio_first_last_max: g_ratios.iter().copied().fold(0.0, f64::max),
        g_per_layer_growth: per_layer(geo_mean(g_ratios.iter().copied())),
        softmax_g_over_sigmoid_top: softmax_g_mean[layers - 1] / g_mean[layers - 1],
        softmax_g_mean,
        g_mean,
        mean,
        min,
        max,
        against_nielsen,
    })
}

impl Experiment for SpeedInit {
    const CHAPTER: &'static str = "ch02";
    const NAME: &'static str = "speed-init";
    const ABOUT: &'static str =
        "Per-layer speed of learning ‖δˡ‖ at initialisation, after Nielsen's NNDL chapter 5 (Figure 2-4)";
    type Options = SpeedInitOptions;
    type Data = SpeedInitData;

    fn run(opts: &SpeedInitOptions, run_mode: &GenOptions) -> Result<SpeedInitData> {
        cli::ensure_nonempty("depths", &opts.depths, "depth")?;
        let source = opts.data.source()?;
        let (train, _) = source.load(opts.n, 0)?;
        let seeds = if run_mode.quick { 1 } else { opts.seeds };
        let mut nets = Vec::new();
        for &depth in &opts.depths {
            let spec = |seed| NetSpec {
                d_in: train.dim(),
                width: opts.width,
                activation: opts.activation,
                init: opts.init,
                bias_std: opts.bias_std,
                ..NetSpec::nielsen(depth, seed)
            };
            let (mut per_seed, mut g_per_seed) = (Vec::new(), Vec::new());
            for s in 0..seeds as u64 {
                let net = spec(s).build()?;
                per_seed.push(speed_of_learning(&net, &train.x, &train.y, opts.cost)?);
                g_per_seed.push(gradient_at_layers(&net, &train.x, &train.y, opts.cost)?);
            }
            let nielsen = (opts.is_nielsens_setup() && (2..=4).contains(&depth))
                .then(|| NIELSEN_INITIAL_SPEEDS[depth - 2].to_vec());
            let stats = if run_mode.quick {
                None
            } else {
                Some(stats(spec, &train, &per_seed, &g_per_seed, nielsen.as_deref())?)
            };
            nets.push(SpeedNets { depth, per_seed, g_per_seed, nielsen, stats });
        }
        Ok(SpeedInitData {
            data: source.describe(),
            n: opts.n,
            width: opts.width,
            seeds: opts.seeds,
            cost: opts.cost,
            init: opts.init,
            bias_std: opts.bias_std,
            activation: opts.activation,
            nets,
        })
    }

    fn draw(data: &SpeedInitData) -> Result<Vec<Drawing>> {
        if data.nets.iter().any(|net| net.stats.is_none()) {
            // A quick run has no means over seeds to draw (and its figure is never drawn).
            return Ok(vec![Drawing::data_only("speed-init", data)?]);
        }
        let mut chart = LayerProfile::new(format!(
            "The gradient at each layer at initialisation ({}, {} seeds)",
            data.data, data.seeds
        ))
        .y_label("Nielsen's ‖∂C/∂bˡ‖; the book's gˡ (dotted)")
        .x_label("hidden layer ℓ");
        for (i, net) in data.nets.iter().enumerate() {
            let depth = net.depth;
            if let Some(s) = &net.stats {
                chart = chart
                    .series_with(format!("ours, {depth} hidden layers"), s.mean.clone(), SeriesStyle::solid().color(i))
                    .series_with(format!("ours, gˡ, {depth} hidden"), s.g_mean.clone(), SeriesStyle::dotted().color(i));
            }
            if let Some(n) = &net.nielsen {
                chart = chart.series_with(
                    format!("Nielsen (MNIST), {depth} hidden"),
                    n.clone(),
                    SeriesStyle::dashed().color(i),
                );
            }
        }
        let alt = "Per-layer gradients at initialisation on a log scale for sigmoid networks with 2, 3 and 4 hidden layers of 30 units: Nielsen's bias-gradient norm grows about five-fold per layer towards the output, and our curves lie close to Nielsen's dashed MNIST curves; the book's per-example measure gˡ (dotted) lies above them and grows by about the same factor per layer";
        let svg = chart.legend(Legend::Outside).size(760, 440).render(alt)?;
        Ok(vec![Drawing::new("speed-init", alt, svg, data)?])
    }
}

impl std::fmt::Display for SpeedInitData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
        for net in &self.nets {
            let ours = net.stats.as_ref().map_or(&net.per_seed[0], |s| &s.mean);
            let g = net.stats.as_ref().map_or(&net.g_per_seed[0], |s| &s.g_mean);
            let nielsen = net.nielsen.as_deref().map(list).unwrap_or_default();
            writeln!(f, "{} hidden layers: ours [{}]  Nielsen [{nielsen}]  g [{}]", net.depth, list(ours), list(g))?;
        }
        Ok(())
    }
}

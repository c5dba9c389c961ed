//! Glorot & Bengio (2010), §4.2: a tanh MLP at initialisation under the "standard" and the
//! "normalized" (Xavier) initialisation — activations, back-propagated gradients and weight gradients
//! per layer, and the mean singular value of the layer Jacobians. The digits are averaged over 2×2
//! pixel blocks (14×14 = 196 inputs) and the hidden layers are as wide as the input, so the first
//! layer is square, as the paper's nearly is (32×32 = 1024 inputs, 1000 units).

use anyhow::{Result, ensure};
use candle_core::Tensor;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::data::standardized_digits;
use lab::plot::{HistogramGrid, LayerProfile, Legend, Marker, SeriesStyle};
use lab::probe::Histogram;
use lab::stats::std_of;
use lab::{Activation, DEVICE, Init, MlpConfig};
use serde::Serialize;

/// Settings of Figures 4-1 and 4-2.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct GlorotOptions {
    /// Hidden units per layer (the default equals the 196 inputs: a square first layer).
    #[arg(long, default_value_t = 196, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Hidden layers (at least 2: Jacobians are taken between equal-width layers).
    #[arg(long, default_value_t = 5, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Digit images the statistics are taken over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub batch: usize,
    /// Images whose layer Jacobians are decomposed.
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub jacobian_examples: usize,
    /// Seed of the weights and the digits.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(GlorotOptions);

/// `n` digits averaged over 2×2 pixel blocks (14×14 = 196 inputs), standardised to mean 0 and
/// variance 1 over the set: Glorot & Bengio's inputs are 32×32 images feeding 1000 units, so their
/// first layer is nearly square; these feed layers of 196.
pub fn pooled_digits(n: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let (x, y) = standardized_digits(n, seed)?;
    let pooled = x.reshape((n, 1, 28, 28))?.avg_pool2d(2)?.reshape((n, 196))?;
    let (mean, std) = lab::probe::mean_std(&pooled)?;
    Ok((pooled.affine(1.0 / std, -mean / std)?, y))
}

/// The two schemes Glorot & Bengio compare.
pub fn glorot_inits() -> [(&'static str, Init); 2] {
    [("standard", Init::Standard), ("normalized", Init::XavierUniform { gain: 1.0 })]
}

/// Histogram bins of the activations over [−1, 1].
const BINS: usize = 40;

/// One hidden layer's spreads at initialisation.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotLayer {
    pub layer: usize,
    pub act_std: f64,
    pub delta_std: f64,
    pub grad_w_std: f64,
    /// Counts of the activations in `BINS` equal bins over [−1, 1].
    pub act_hist: Vec<u64>,
}

/// One initialisation's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct GlorotInit {
    pub name: &'static str,
    pub init: Init,
    pub n_var_w: f64,
    pub layers: Vec<GlorotLayer>,
    pub act_std_first_over_last: f64,
    pub delta_std_first_over_last: f64,
    pub grad_w_std_first_over_last: f64,
    /// Linear-regime prediction of the activations' ratio: (n Var W)^(−(depth−1)/2).
    pub theory_act_first_over_last: f64,
    /// Linear-regime prediction of the errors' ratio: (n Var W)^((depth−1)/2).
    pub theory_delta_first_over_last: f64,
    /// Per decomposed example, the mean singular value of each square layer Jacobian (layers 2…depth).
    pub jacobian_mean_sv: Vec<Vec<f64>>,
    /// Random-matrix baseline: quarter-circle mean × √(n Var W), ignoring tanh's slope.
    pub quarter_circle_prediction: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jacobian_mean_sv_avg: Option<f64>,
}

/// What Figures 4-1 and 4-2 measured (Figure 4-2's JSON holds all of it).
#[derive(Debug, Clone, Serialize)]
pub struct GlorotData {
    pub options: GlorotOptions,
    pub d_in: usize,
    pub quarter_circle_mean: f64,
    pub inits: Vec<GlorotInit>,
    /// A quick run: one example's Jacobians, no averages, no pictures.
    #[serde(skip)]
    pub quick: bool,
}

/// Figure 4-1's data: the activation histograms of each initialisation.
#[derive(Serialize)]
struct ActivationsData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a GlorotOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bins: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<[f64; 2]>,
    inits: Vec<InitLayers<'a>>,
}

#[derive(Serialize)]
struct InitLayers<'a> {
    name: &'static str,
    layers: &'a [GlorotLayer],
}

/// Figures 4-1 (activation histograms) and 4-2 (per-layer spread of activations and gradients).
pub struct Glorot;

impl Experiment for Glorot {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "glorot";
    const ABOUT: &'static str =
        "Glorot & Bengio §4.2: a tanh MLP at initialisation, standard vs normalized init (Figures 4-1, 4-2)";
    type Options = GlorotOptions;
    type Data = GlorotData;

    fn run(opts: &GlorotOptions, run_mode: &GenOptions) -> Result<GlorotData> {
        ensure!(opts.width > 0 && opts.depth >= 2 && opts.batch > 0, "need width ≥ 1, depth ≥ 2 and batch ≥ 1");
        ensure!(
            opts.jacobian_examples >= 1 && opts.jacobian_examples <= opts.batch,
            "jacobian examples must be between 1 and the batch size ({})",
            opts.batch
        );
        let (x, y) = pooled_digits(opts.batch, opts.seed)?;
        let d_in = x.dim(1)?;
        // Quick mode decomposes one example's Jacobians instead of all of them.
        let jac_examples = if run_mode.quick { 1 } else { opts.jacobian_examples };
        let quarter = lab::jacobian::QUARTER_CIRCLE_MEAN;
        let mut inits = Vec::new();
        for (name, init) in glorot_inits() {
            let net = MlpConfig::new(d_in, opts.width, opts.depth, 10, Activation::Tanh, init)
                .with_seed(opts.seed)
                .build(&DEVICE)?;
            let trace = net.forward_trace(&x, true)?;
            let deltas = lab::jacobian::per_example_deltas(&net, &x, &y)?;
            let grads = net.loss(&x, &y)?.backward()?;
            let mut layers = Vec::new();
            for (l, ((layer, post), delta)) in net.hidden().iter().zip(&trace.post).zip(&deltas).enumerate() {
                let grad_w = grads.get(&layer.weight).expect("every weight has a gradient");
                layers.push(GlorotLayer {
                    layer: l + 1,
                    act_std: std_of(post)?,
                    delta_std: std_of(delta)?,
                    grad_w_std: std_of(grad_w)?,
                    act_hist: Histogram::of(post, -1.0, 1.0, BINS)?.counts,
                });
            }
            // Mean singular value of Jˡ = diag(f'(zˡ)) Wˡ for the square layers (2…depth), per example.
            let mut per_example = Vec::new();
            for i in 0..jac_examples {
                let js = lab::jacobian::layer_jacobians(&net, &x.narrow(0, i, 1)?)?;
                let mut means = Vec::new();
                for j in &js[1..] {
                    let sv = lab::jacobian::singular_values(j)?;
                    means.push(sv.iter().sum::<f64>() / sv.len() as f64);
                }
                per_example.push(means);
            }
            let n_var_w = opts.width as f64 * init.variance(opts.width, opts.width);
            let first_over_last = |f: fn(&GlorotLayer) -> f64| f(&layers[0]) / f(&layers[layers.len() - 1]);
            let above = (layers.len() - 1) as f64;
            inits.push(GlorotInit {
                name,
                init,
                n_var_w,
                act_std_first_over_last: first_over_last(|l| l.act_std),
                delta_std_first_over_last: first_over_last(|l| l.delta_std),
                grad_w_std_first_over_last: first_over_last(|l| l.grad_w_std),
                theory_act_first_over_last: n_var_w.powf(-above / 2.0),
                theory_delta_first_over_last: n_var_w.powf(above / 2.0),
                quarter_circle_prediction: quarter * n_var_w.sqrt(),
                jacobian_mean_sv_avg: (!run_mode.quick).then(|| mean(per_example.iter().flatten().copied())),
                jacobian_mean_sv: per_example,
                layers,
            });
        }
        Ok(GlorotData { options: opts.clone(), d_in, quarter_circle_mean: quarter, inits, quick: run_mode.quick })
    }

    fn draw(data: &GlorotData) -> Result<Vec<Drawing>> {
        let inits = data.inits.iter().map(|i| InitLayers { name: i.name, layers: &i.layers }).collect();
        if data.quick {
            let activations = ActivationsData { options: None, bins: None, range: None, inits };
            return Ok(vec![
                Drawing::new("glorot-activations", "", String::new(), &activations)?,
                Drawing::data_only("glorot-profile", data)?,
            ]);
        }
        let opts = &data.options;

        // Figure 4-1: activation histograms, one row per init, one panel per layer.
        let mut grid = HistogramGrid::new(
            "tanh activations per layer at initialisation — top: standard U(±1/√n), bottom: normalized (Xavier)",
        )
        .x_label("activation value tanh(z)")
        .x_range(-1.0, 1.0)
        .bins(BINS)
        .columns(opts.depth);
        for init in &data.inits {
            for l in &init.layers {
                let density = Histogram { lo: -1.0, hi: 1.0, counts: l.act_hist.clone() }.density();
                grid = grid.panel_counts(format!("ℓ{} · sd {:.2}", l.layer, l.act_std), density);
            }
        }
        let alt_hist = "Histograms of tanh activations for layers 1 to 5. Top row, standard initialisation: the distribution narrows to a spike at zero in higher layers. Bottom row, normalized initialisation: every layer keeps a broad distribution.";
        let hist_svg = grid.render(alt_hist)?;
        let activations = ActivationsData { options: Some(opts), bins: Some(BINS), range: Some([-1.0, 1.0]), inits };

        // Figure 4-2: spreads relative to the top hidden layer, against the linear-regime theory.
        let top = opts.depth - 1;
        let rel = |layers: &[GlorotLayer], f: fn(&GlorotLayer) -> f64| -> Vec<f64> {
            layers.iter().map(|l| f(l) / f(&layers[top])).collect()
        };
        let mut profile = LayerProfile::new(format!(
            "Spread per layer relative to the top hidden layer (tanh, {} × {})",
            opts.depth, opts.width
        ))
        .y_label(format!("std relative to layer {}", opts.depth))
        .legend(Legend::Outside)
        .size(760, 440);
        type Quantity = (&'static str, fn(&GlorotLayer) -> f64);
        let quantities: [Quantity; 3] =
            [("activations", |l| l.act_std), ("δ (back-prop.)", |l| l.delta_std), ("∂L/∂W", |l| l.grad_w_std)];
        for (slot, (qname, f)) in quantities.iter().enumerate() {
            for (k, init) in data.inits.iter().enumerate() {
                let style = if k == 0 {
                    SeriesStyle::solid().color(slot).marker(Marker::Circle)
                } else {
                    SeriesStyle::dotted().color(slot).marker(Marker::Square)
                };
                profile = profile.series_with(format!("{qname}, {}", init.name), rel(&init.layers, *f), style);
            }
        }
        // Linear regime (tanh ≈ identity), standard init: each layer scales variance by n·Var(W) = 1/3
        // forwards and backwards; the weight gradient, a product of the two, is the same in every layer.
        let n_var = data.inits[0].n_var_w;
        let depth = opts.depth as i32;
        let theory_act: Vec<f64> = (1..=depth).map(|l| n_var.powf((l - depth) as f64 / 2.0)).collect();
        let theory_delta: Vec<f64> = (1..=depth).map(|l| n_var.powf((depth - l) as f64 / 2.0)).collect();
        profile = profile
            .series_with(format!("theory, standard: 3^(({depth}−ℓ)/2)"), theory_act, SeriesStyle::dashed().color(0))
            .series_with(format!("theory, standard: 3^((ℓ−{depth})/2)"), theory_delta, SeriesStyle::dashed().color(1))
            .hline(1.0, "theory: normalized, and ∂L/∂W");
        let alt_profile = "Per-layer standard deviations relative to layer 5, log scale. Under the standard initialisation the activations shrink and the back-propagated gradients grow from layer 1 to layer 5 by about a factor √3 per layer, following the dashed linear-regime theory, while the weight gradients stay level. Under the normalized initialisation all three stay near 1.";
        let profile_svg = profile.render(alt_profile)?;
        Ok(vec![
            Drawing::new("glorot-activations", alt_hist, hist_svg, &activations)?,
            Drawing::new("glorot-profile", alt_profile, profile_svg, data)?,
        ])
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let all: Vec<f64> = values.collect();
    all.iter().sum::<f64>() / all.len() as f64
}

impl std::fmt::Display for GlorotData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{:<11} {:>5} {:>10} {:>10} {:>10}", "init", "layer", "act std", "δ std", "∂L/∂W std")?;
        for init in &self.inits {
            for l in &init.layers {
                writeln!(
                    f,
                    "{:<11} {:>5} {:>10.4} {:>10.3e} {:>10.3e}",
                    init.name, l.layer, l.act_std, l.delta_std, l.grad_w_std
                )?;
            }
        }
        for init in &self.inits {
            writeln!(
                f,
                "{:<11} mean singular value of the layer Jacobians {:.3} (random-matrix baseline {:.3})",
                init.name,
                mean(init.jacobian_mean_sv.iter().flatten().copied()),
                init.quarter_circle_prediction
            )?;
        }
        Ok(())
    }
}

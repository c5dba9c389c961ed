//! Figure 3-3: the per-layer profile of the gradient at each layer at initialisation — the book's gˡ
//! (chapter 1: the per-example RMS of δˡ, which `init_profile` reports as `per_example_norms`) —
//! measured on the digits and predicted by mean-field theory, for sigmoid, tanh and ReLU networks. The
//! bias gradients ‖∂L/∂bˡ‖ (`delta_norms`, `ratio_first_last`) are kept for comparison.

use crate::digits::digits;
use crate::families::{NetFamily, family};
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::experiments;
use lab::plot::{Legend, LineChart, SeriesStyle};
use serde::Serialize;

/// Settings of Figure 3-3.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ProfileOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::depth_at_least_2, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Digit images in the probe batch.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n: usize,
    /// Weight draws per network (seeds 0, 1, …); the profile is their geometric mean.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Networks to compare, as activation@σ_w² (weights N(0, σ_w²/n)), comma-separated.
    #[arg(
        long = "nets",
        value_name = "NETS",
        value_delimiter = ',',
        value_parser = family,
        default_values_t = [
            NetFamily::new(Activation::Sigmoid, 1.0),
            NetFamily::new(Activation::Tanh, 1.0),
            NetFamily::new(Activation::Relu, 1.0),
            NetFamily::new(Activation::Relu, 2.0),
        ]
    )]
    pub families: Vec<NetFamily>,
    /// Seed of the digit images.
    #[arg(long = "seed", value_name = "SEED", default_value_t = 0)]
    pub data_seed: u64,
}
chapter_kit::defaults_from_flags!(ProfileOptions);

/// What the full run adds to a family's profile: the averages, the per-example sizes, the theory.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileDetail {
    pub activation: Activation,
    pub weight_gain2: f64,
    /// Nielsen's bias gradients ‖∂L/∂bˡ‖ (geometric mean over seeds), and their first-over-last ratios.
    pub delta_norms: Vec<f64>,
    pub ratios: Vec<f64>,
    pub ratio_first_last: f64,
    pub per_layer_factor: f64,
    /// The book's gˡ per seed, per hidden layer; its geometric mean over seeds; g¹/gᴸ.
    pub per_example_per_seed: Vec<Vec<f64>>,
    pub per_example_norms: Vec<f64>,
    pub per_example_ratio: f64,
    pub per_example_ratios: Vec<f64>,
    pub per_example_ratio_min: f64,
    pub per_example_ratio_max: f64,
    pub per_example_per_layer_factor: f64,
    pub theory_relative: Vec<f64>,
    pub theory_anchored: Vec<f64>,
    pub theory_ratio: f64,
    pub theory_per_layer_factor: f64,
}

/// One network family's profile (quick mode: the bias gradients ‖∂L/∂bˡ‖ of the first seed only).
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSeries {
    pub label: String,
    /// Nielsen's ‖∂L/∂bˡ‖ per seed, per hidden layer.
    pub per_seed: Vec<Vec<f64>>,
    #[serde(flatten)]
    pub detail: Option<ProfileDetail>,
}

/// What Figure 3-3 measured.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileData {
    pub options: ProfileOptions,
    pub input_second_moment: f64,
    pub series: Vec<ProfileSeries>,
}

/// Figure 3-3: gˡ per hidden layer at initialisation, measured and predicted by mean-field theory.
pub struct DeltaProfile;

impl Experiment for DeltaProfile {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "delta-profile";
    const ABOUT: &'static str =
        "The gradient at each layer, gˡ, at initialisation, measured and predicted (Figure 3-3)";
    type Options = ProfileOptions;
    type Data = ProfileData;

    fn run(opts: &ProfileOptions, go: &GenOptions) -> Result<ProfileData> {
        ensure!(opts.depth >= 2, "--depth must be at least 2, got {}", opts.depth);
        ensure!(opts.seeds > 0 && !opts.families.is_empty(), "need a seed (--seeds) and a network (--nets)");
        let (probe, _, _) = digits(opts.n, 0, 0, opts.data_seed)?;
        let m2 = probe.x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64;
        // Quick: the first seed of the first two families — a prefix of every array.
        let seeds: Vec<u64> = (0..if go.quick { 1 } else { opts.seeds } as u64).collect();
        let families = if go.quick { &opts.families[..opts.families.len().min(2)] } else { &opts.families[..] };
        let last = opts.depth - 1;
        let mut series = Vec::new();
        for fam in families {
            let config = fam.config(probe.dim(), opts.width, opts.depth, probe.classes);
            let p = experiments::init_profile(&config, &probe.x, &probe.y, &seeds)?;
            if go.quick {
                series.push(ProfileSeries { label: fam.label.clone(), per_seed: p.per_seed, detail: None });
                continue;
            }
            let theory = experiments::meanfield_profile(&config, m2)?;
            let top = p.per_example_norms[last];
            // The per-layer factor, fitted and predicted: (‖δ¹‖/‖δᴸ‖)^(1/(L−1)).
            let per_layer = |ratio: f64| ratio.powf(1.0 / last as f64);
            let per_example_ratios: Vec<f64> = p.per_example_per_seed.iter().map(|r| r[0] / r[last]).collect();
            let detail = ProfileDetail {
                activation: fam.activation,
                weight_gain2: fam.weight_gain2,
                delta_norms: p.delta_norms,
                ratios: p.ratios,
                ratio_first_last: p.ratio_first_last,
                per_layer_factor: per_layer(p.ratio_first_last),
                per_example_per_seed: p.per_example_per_seed,
                per_example_norms: p.per_example_norms,
                per_example_ratio: p.per_example_ratio,
                per_example_ratio_min: per_example_ratios.iter().copied().fold(f64::INFINITY, f64::min),
                per_example_ratio_max: per_example_ratios.iter().copied().fold(0.0, f64::max),
                per_example_ratios,
                per_example_per_layer_factor: per_layer(p.per_example_ratio),
                theory_anchored: theory.iter().map(|t| t * top).collect(),
                theory_ratio: theory[0],
                theory_per_layer_factor: per_layer(theory[0]),
                theory_relative: theory,
            };
            series.push(ProfileSeries { label: fam.label.clone(), per_seed: p.per_seed, detail: Some(detail) });
        }
        Ok(ProfileData { options: opts.clone(), input_second_moment: m2, series })
    }

    fn draw(data: &ProfileData) -> Result<Vec<Drawing>> {
        let opts = &data.options;
        let mut chart = LineChart::new(format!(
            "The gradient at each layer, gˡ, at initialisation: {} hidden layers of {} units, digits",
            opts.depth, opts.width
        ))
        .x_label("hidden layer ℓ (input side first)")
        .y_label(format!("gˡ: per-example ‖δˡ‖, RMS over {} images", opts.n))
        .log_y()
        .integer_x();
        let xy = |v: &[f64]| v.iter().enumerate().map(|(l, &d)| ((l + 1) as f64, d)).collect::<Vec<_>>();
        let mut drawn = false;
        for (i, s) in data.series.iter().enumerate() {
            // Quick runs measure no per-example sizes: nothing to draw.
            let Some(d) = &s.detail else { continue };
            drawn = true;
            chart = chart.series_with(
                s.label.clone(),
                xy(&d.per_example_norms),
                SeriesStyle::solid().color(i).marker(lab::plot::Marker::ALL[i % 4]),
            );
            chart = chart.series_with(
                format!("{}: theory", s.label),
                xy(&d.theory_anchored),
                SeriesStyle::dashed().color(i).width(1.5),
            );
        }
        if !drawn {
            return Ok(vec![Drawing::data_only("delta-profile", data)?]);
        }
        let alt = "The gradient at each layer, gˡ, at initialisation on a log scale for four 20-layer networks: the sigmoid network's falls about four-fold per layer towards the input, tanh's and ReLU's with σ_w² = 1 fall slowly, and ReLU with He's σ_w² = 2 stays flat; dashed mean-field predictions follow each measured curve";
        let svg = chart.legend(Legend::Outside).size(780, 460).render(alt)?;
        Ok(vec![Drawing::new("delta-profile", alt, svg, data)?])
    }
}

impl std::fmt::Display for ProfileData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{:<26} {:>12} {:>12} {:>14} {:>16} {:>14}",
            "network", "‖∂L/∂b¹‖", "‖∂L/∂bᴸ‖", "bias ratio", "g¹/gᴸ", "theory"
        )?;
        for s in &self.series {
            let nan = f64::NAN;
            let d = s.detail.as_ref();
            let norms = d.map(|d| &d.delta_norms[..]).unwrap_or(&[]);
            let (first, last) = (norms.first().copied().unwrap_or(nan), norms.last().copied().unwrap_or(nan));
            writeln!(
                f,
                "{:<26} {:>12.3e} {:>12.3e} {:>14.3e} {:>16.3e} {:>14.3e}",
                s.label,
                first,
                last,
                d.map_or(nan, |d| d.ratio_first_last),
                d.map_or(nan, |d| d.per_example_ratio),
                d.map_or(nan, |d| d.theory_ratio)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_example_profile_is_error_rms() -> Result<()> {
        // Figure 3-3 draws init_profile's per-example norms: on the same net and batch they are the
        // book's gˡ, lab::probe::error_rms, within 1e-5 relative.
        let (probe, _, _) = digits(100, 0, 0, 0)?;
        for fam in [NetFamily::new(Activation::Sigmoid, 1.0), NetFamily::new(Activation::Relu, 2.0)] {
            let config = fam.config(probe.dim(), 32, 6, probe.classes);
            let p = experiments::init_profile(&config, &probe.x, &probe.y, &[2])?;
            let net = config.with_seed(2).build(&lab::DEVICE)?;
            let g = lab::probe::error_rms(&net, &probe.x, &probe.y)?;
            for (a, b) in p.per_example_per_seed[0].iter().zip(&g) {
                assert!((a - b).abs() <= 1e-5 * b.abs(), "{}: {:?} vs {g:?}", fam.label, p.per_example_per_seed[0]);
            }
        }
        Ok(())
    }
}

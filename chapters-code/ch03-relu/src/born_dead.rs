//! Networks "born dead": deep, narrow ReLU networks whose output is constant at initialisation.
//!
//! With zero biases and weights drawn from a symmetric continuous distribution (He-normal here), a
//! ReLU network is *born dead* on a set of inputs X when some hidden layer outputs zero for every
//! input in X: every later layer then outputs zero too, the output is the head's bias whatever the
//! input, and every weight below the dead layer receives exactly zero gradient. (With zero biases,
//! "some layer is all zero on X" and "the output is constant on X" are the same event, up to events
//! of probability zero.) Lu, Shin, Su & Karniadakis (2019) prove that for a fixed width the probability
//! tends to one as the depth grows. This module measures it by drawing networks, and brackets it with
//! two bounds derived in the chapter:
//!
//! - [`single_input_dead`]: for one input x ≠ 0 the probability is *exactly* 1 − (1 − 2⁻ᴺ)ᴸ, because
//!   each layer switches all its N units off with probability 2⁻ᴺ independently of the layers below;
//!   being dead on a set X requires being dead on each of its points, so this is an upper bound.
//! - [`two_ray_lower_bound`]: for one-dimensional inputs on an interval around 0, 1 − (1 − 4⁻ᴺ)ᴸ⁻¹.
//!
//! The networks are tiny (N ≤ 16), so they are simulated in plain `f64` arithmetic rather than
//! candle, with weights from lab's seeded [`Init::sample`] — the same draws `MlpConfig::build` makes.
//!
//! [`BornDead`] draws Figure 3-8 from [`width_curve`]s.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Init;
use lab::plot::{Legend, LineChart, SeriesStyle};
use rand::rngs::StdRng;
use serde::Serialize;

/// The first hidden layer (1-based) at which every unit is zero on every input, if any within
/// `max_depth` layers. `inputs` is `n × d_in`, row-major. Weights are drawn layer by layer from `rng`
/// with `init` (He-normal in the chapter; by positive homogeneity any symmetric scale gives the same
/// answer); biases are zero.
pub fn death_depth(
    width: usize,
    max_depth: usize,
    inputs: &[f64],
    d_in: usize,
    init: Init,
    rng: &mut StdRng,
) -> Option<usize> {
    assert!(width > 0 && d_in > 0 && inputs.len().is_multiple_of(d_in), "bad shapes");
    let n = inputs.len() / d_in;
    let mut h = inputs.to_vec();
    let mut fan_in = d_in;
    for depth in 1..=max_depth {
        let w = init.sample(width, fan_in, rng);
        h = relu_layer(&h, n, &w, width);
        if h.iter().all(|&v| v == 0.0) {
            return Some(depth);
        }
        fan_in = width;
    }
    None
}

/// One zero-bias ReLU layer in plain `f64`: `h` holds `n` inputs row-major, `w` is `width × fan_in`
/// row-major (fan_in = h.len() / n); returns the `n × width` activations relu(h Wᵀ).
pub fn relu_layer(h: &[f64], n: usize, w: &[f32], width: usize) -> Vec<f64> {
    let fan_in = h.len() / n;
    let mut next = vec![0.0f64; n * width];
    for i in 0..n {
        let row = &h[i * fan_in..(i + 1) * fan_in];
        for j in 0..width {
            let wj = &w[j * fan_in..(j + 1) * fan_in];
            let z: f64 = row.iter().zip(wj).map(|(&a, &b)| a * b as f64).sum();
            next[i * width + j] = z.max(0.0);
        }
    }
    next
}

/// P(a width-`width`, depth-`depth` ReLU net with zero biases and symmetric continuous weights outputs
/// zero at one given input x ≠ 0) = 1 − (1 − 2⁻ᴺ)ᴸ, exactly. An upper bound on being born dead on any
/// set of inputs.
pub fn single_input_dead(width: usize, depth: usize) -> f64 {
    1.0 - (1.0 - 0.5f64.powi(width as i32)).powi(depth as i32)
}

/// A lower bound on P(born dead on an interval [−a, a], a > 0) for one-dimensional inputs, zero
/// biases and Gaussian weights: 1 − (1 − 4⁻ᴺ)ᴸ⁻¹. (The net is positively homogeneous, so it is dead on
/// the interval iff dead at +a and at −a; from layer 2 on, whatever came before, each layer kills both
/// with probability at least 4⁻ᴺ.)
pub fn two_ray_lower_bound(width: usize, depth: usize) -> f64 {
    if depth == 0 {
        return 0.0;
    }
    1.0 - (1.0 - 0.25f64.powi(width as i32)).powi(depth as i32 - 1)
}

/// The seed of sample `i` of width `width`: every sample has its own stream, so a run with fewer
/// samples (quick mode) draws exactly the first samples of a longer one.
pub fn sample_seed(seed: u64, width: usize, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add((width as u64) << 32).wrapping_add(i as u64)
}

/// The inputs the chapter tests networks on: `n` points evenly spread over [−1, 1] (zero excluded),
/// for one-dimensional inputs; for `d_in` > 1, `n` standard normal points.
pub fn inputs(n: usize, d_in: usize, seed: u64) -> Vec<f64> {
    if d_in == 1 {
        return (0..n).map(|i| -1.0 + 2.0 * (i as f64 + 0.5) / n as f64).collect();
    }
    Init::Normal { std: 1.0 }.sample(n, d_in, &mut lab::init::rng(seed)).into_iter().map(f64::from).collect()
}

/// Death depths of `samples` independent networks (None: alive through `max_depth`).
pub fn simulate(
    width: usize,
    max_depth: usize,
    samples: usize,
    inputs: &[f64],
    d_in: usize,
    seed: u64,
) -> Vec<Option<usize>> {
    (0..samples)
        .map(|i| {
            death_depth(width, max_depth, inputs, d_in, Init::HE, &mut lab::init::rng(sample_seed(seed, width, i)))
        })
        .collect()
}

/// The fraction of networks born dead at each depth 1 ..= `max_depth`: a network that dies at layer ℓ
/// is dead at every depth ≥ ℓ (zero biases).
pub fn dead_fraction_by_depth(deaths: &[Option<usize>], max_depth: usize) -> Vec<f64> {
    let n = deaths.len().max(1) as f64;
    (1..=max_depth).map(|l| deaths.iter().filter(|d| d.is_some_and(|d| d <= l)).count() as f64 / n).collect()
}

/// One width's measurements and bounds.
#[derive(Debug, Clone, Serialize)]
pub struct WidthCurve {
    pub width: usize,
    pub d_in: usize,
    /// Measured P(born dead) at depth 1 ..= max_depth.
    pub measured: Vec<f64>,
    /// [`single_input_dead`] at each depth (the upper bound).
    pub upper: Vec<f64>,
    /// [`two_ray_lower_bound`] at each depth (for d_in = 1).
    pub lower: Vec<f64>,
    /// Standard error of the measured fraction at each depth, √(p(1 − p)/samples).
    pub std_error: Vec<f64>,
}

/// Measures one width's curve.
pub fn width_curve(
    width: usize,
    d_in: usize,
    max_depth: usize,
    samples: usize,
    n_inputs: usize,
    seed: u64,
) -> Result<WidthCurve> {
    ensure!(
        width > 0 && max_depth > 0 && samples > 0 && n_inputs > 0,
        "width, depth, samples and inputs must be positive"
    );
    let x = inputs(n_inputs, d_in, seed);
    let deaths = simulate(width, max_depth, samples, &x, d_in, seed);
    let measured = dead_fraction_by_depth(&deaths, max_depth);
    let std_error = measured.iter().map(|p| (p * (1.0 - p) / samples as f64).sqrt()).collect();
    Ok(WidthCurve {
        width,
        d_in,
        upper: (1..=max_depth).map(|l| single_input_dead(width, l)).collect(),
        lower: (1..=max_depth).map(|l| if d_in == 1 { two_ray_lower_bound(width, l) } else { 0.0 }).collect(),
        measured,
        std_error,
    })
}

/// The smallest width N for which [`single_input_dead`] stays at or below `p` at depth `depth` — a
/// design rule: N ≥ log₂(L/p) roughly.
pub fn min_width_for(depth: usize, p: f64) -> usize {
    (1..64).find(|&n| single_input_dead(n, depth) <= p).unwrap_or(64)
}

/// Settings of Figure 3-8.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct BornDeadOptions {
    /// Widths N, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 4, 5, 6, 8, 10], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub widths: Vec<usize>,
    /// Deepest network L (at least 20: the chapter quotes depths 10 and 20).
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub max_depth: usize,
    /// Random networks per width.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub samples: usize,
    /// Points of [−1, 1] each network is evaluated on.
    #[arg(long = "inputs", value_name = "N", default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub n_inputs: usize,
    /// Width of the extra curve with multi-dimensional Gaussian inputs.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub extra_width: usize,
    /// Input dimension of the extra curve.
    #[arg(long = "d-in", value_name = "D", default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_in_extra: usize,
    /// Seed of the weights (and of the extra curve's Gaussian inputs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(BornDeadOptions);

/// A curve's values at one depth, as the chapter quotes them.
#[derive(Debug, Clone, Serialize)]
pub struct AtDepth {
    pub depth: usize,
    pub measured: f64,
    pub upper: f64,
    pub lower: f64,
    pub std_error: f64,
}

impl AtDepth {
    fn of(c: &WidthCurve, depth: usize) -> AtDepth {
        let l = depth - 1;
        AtDepth { depth, measured: c.measured[l], upper: c.upper[l], lower: c.lower[l], std_error: c.std_error[l] }
    }
}

/// One width's values at depths 10, 20 and the deepest (`at50`).
#[derive(Debug, Clone, Serialize)]
pub struct WidthAt {
    pub width: usize,
    pub at10: AtDepth,
    pub at20: AtDepth,
    pub at50: AtDepth,
}

/// What the full run adds to the curves: the extra curve, the quoted values and the design rule.
#[derive(Debug, Clone, Serialize)]
pub struct BornDeadDetail {
    pub options: BornDeadOptions,
    pub extra: WidthCurve,
    pub at: Vec<WidthAt>,
    pub extra_at10: AtDepth,
    pub extra_at20: AtDepth,
    pub extra_at50: AtDepth,
    pub min_width_1pct_depth50: usize,
    pub min_width_1pct_depth100: usize,
}

/// What Figure 3-8 measured (quick mode: the first two widths' curves to depth 10).
#[derive(Debug, Clone, Serialize)]
pub struct BornDeadData {
    pub curves: Vec<WidthCurve>,
    #[serde(flatten)]
    pub detail: Option<BornDeadDetail>,
}

/// Figure 3-8: P(born dead) against depth for narrow ReLU nets, with the two bounds.
pub struct BornDead;

impl Experiment for BornDead {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "born-dead";
    const ABOUT: &'static str = "How often a random deep, narrow ReLU network is born dead (Figure 3-8)";
    type Options = BornDeadOptions;
    type Data = BornDeadData;

    fn run(opts: &BornDeadOptions, go: &GenOptions) -> Result<BornDeadData> {
        cli::ensure_nonempty("widths", &opts.widths, "width")?;
        ensure!(
            opts.max_depth >= 20,
            "--max-depth must be at least 20 (the chapter quotes depths 10 and 20), got {}",
            opts.max_depth
        );
        // Quick: the same networks of the first two widths, followed for 10 layers — a prefix of every curve.
        let depth = if go.quick { opts.max_depth.min(10) } else { opts.max_depth };
        let widths = if go.quick { &opts.widths[..opts.widths.len().min(2)] } else { &opts.widths[..] };
        let mut curves = Vec::new();
        for &w in widths {
            curves.push(width_curve(w, 1, depth, opts.samples, opts.n_inputs, opts.seed)?);
        }
        if go.quick {
            return Ok(BornDeadData { curves, detail: None });
        }
        let extra = width_curve(opts.extra_width, opts.d_in_extra, depth, opts.samples, opts.n_inputs, opts.seed)?;
        let at = curves
            .iter()
            .map(|c| WidthAt {
                width: c.width,
                at10: AtDepth::of(c, 10),
                at20: AtDepth::of(c, 20),
                at50: AtDepth::of(c, depth),
            })
            .collect();
        let detail = BornDeadDetail {
            options: opts.clone(),
            at,
            extra_at10: AtDepth::of(&extra, 10),
            extra_at20: AtDepth::of(&extra, 20),
            extra_at50: AtDepth::of(&extra, depth),
            extra,
            min_width_1pct_depth50: min_width_for(50, 0.01),
            min_width_1pct_depth100: min_width_for(100, 0.01),
        };
        Ok(BornDeadData { curves, detail: Some(detail) })
    }

    fn draw(data: &BornDeadData) -> Result<Vec<Drawing>> {
        let Some(detail) = &data.detail else {
            // A quick run: the first layers of two widths, nothing to draw.
            return Ok(vec![Drawing::data_only("born-dead", data)?]);
        };
        let (opts, extra) = (&detail.options, &detail.extra);
        let xy = |v: &[f64]| v.iter().enumerate().map(|(i, &p)| ((i + 1) as f64, p)).collect::<Vec<_>>();
        let mut chart = LineChart::new(format!(
            "Born dead: share of {} random zero-bias ReLU nets whose output is constant",
            opts.samples
        ))
        .x_label("depth L (hidden layers)")
        .y_label("P(born dead)")
        .y_range(0.0, 1.0);
        for (i, c) in data.curves.iter().enumerate() {
            chart = chart.series_with(
                format!("N = {}, inputs in [−1, 1]", c.width),
                xy(&c.measured),
                SeriesStyle::solid().color(i),
            );
            chart = chart.series_with(
                format!("N = {}: bound 1 − (1 − 2⁻ᴺ)ᴸ", c.width),
                xy(&c.upper),
                SeriesStyle::dashed().color(i).width(1.5),
            );
        }
        chart = chart.series_with(
            format!("N = {}, {}-d Gaussian inputs", extra.width, extra.d_in),
            xy(&extra.measured),
            SeriesStyle::dotted().color(opts.widths.len()),
        );
        let alt = "Probability that a random zero-bias ReLU network is born dead against depth, for widths 2, 3, 4, 5, 6, 8 and 10: each measured curve rises with depth and sits below its dashed single-input bound; width 2 is dead almost surely by depth 50, width 10 rarely";
        let svg = chart.legend(Legend::Outside).size(820, 460).render(alt)?;
        Ok(vec![Drawing::new("born-dead", alt, svg, data)?])
    }
}

impl std::fmt::Display for BornDeadData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let depth = self.curves.first().map_or(0, |c| c.measured.len());
        let marks: Vec<usize> = [5, 10, 20, 50, 100, 200].into_iter().filter(|&l| l <= depth).collect();
        writeln!(f, "P(born dead): measured ± standard error [lower bound, upper bound]")?;
        let show = |f: &mut std::fmt::Formatter, c: &WidthCurve, name: String| -> std::fmt::Result {
            write!(f, "{name:<22}")?;
            for &l in &marks {
                let (m, se, lo, hi) = (c.measured[l - 1], c.std_error[l - 1], c.lower[l - 1], c.upper[l - 1]);
                write!(f, "  L={l}: {m:.3}±{se:.3} [{lo:.3}, {hi:.3}]")?;
            }
            writeln!(f)
        };
        for c in &self.curves {
            show(f, c, format!("width {}, 1-d inputs", c.width))?;
        }
        if let Some(d) = &self.detail {
            show(f, &d.extra, format!("width {}, {}-d inputs", d.extra.width, d.extra.d_in))?;
        }
        writeln!(f, "(no lower bound is derived for multi-dimensional inputs; it is printed as 0)")?;
        for l in [50, 100] {
            writeln!(
                f,
                "width needed for P ≤ 1% at depth {l} by the single-input formula: {}",
                min_width_for(l, 0.01)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // Width 1: each layer kills the single unit with probability ½.
        assert_eq!(single_input_dead(1, 1), 0.5);
        assert!((single_input_dead(1, 3) - 0.875).abs() < 1e-15);
        assert!((single_input_dead(2, 2) - (1.0 - 0.75f64.powi(2))).abs() < 1e-15);
        assert_eq!(two_ray_lower_bound(3, 1), 0.0);
        assert!((two_ray_lower_bound(1, 3) - (1.0 - 0.75f64.powi(2))).abs() < 1e-15);
        for n in 1..8 {
            for l in 1..60 {
                assert!(two_ray_lower_bound(n, l) <= single_input_dead(n, l));
            }
        }
        // L·2⁻ᴺ is the small-probability approximation: 20 layers of 10 units ≈ 2 %.
        assert!((single_input_dead(10, 20) - 20.0 / 1024.0).abs() < 2e-4);
        assert_eq!(min_width_for(50, 0.01), 13);
    }

    #[test]
    fn one_input_matches_the_exact_probability() {
        // A single input x = 1: the measured death rate must match 1 − (1 − 2⁻ᴺ)ᴸ within 4 standard errors.
        let (samples, depth) = (4000, 12);
        for width in [1, 2, 3] {
            let deaths = simulate(width, depth, samples, &[1.0], 1, 7);
            let measured = dead_fraction_by_depth(&deaths, depth);
            for l in [1, 4, 12] {
                let p = single_input_dead(width, l);
                let se = (p * (1.0 - p) / samples as f64).sqrt();
                assert!((measured[l - 1] - p).abs() < 4.0 * se + 1e-9, "N={width} L={l}: {} vs {p}", measured[l - 1]);
            }
        }
    }

    #[test]
    fn zero_bias_nets_are_dead_on_an_interval_iff_dead_at_its_ends() {
        let grid = inputs(64, 1, 0);
        for i in 0..300 {
            let s = sample_seed(3, 2, i);
            let on_grid = death_depth(2, 15, &grid, 1, Init::HE, &mut lab::init::rng(s));
            let at_ends = death_depth(2, 15, &[-1.0, 1.0], 1, Init::HE, &mut lab::init::rng(s));
            assert_eq!(on_grid, at_ends, "sample {i}");
        }
    }

    #[test]
    fn measurements_sit_between_the_bounds() -> Result<()> {
        let c = width_curve(2, 1, 20, 3000, 16, 1)?;
        for l in 0..20 {
            let tol = 4.0 * c.std_error[l] + 1e-3;
            assert!(c.measured[l] <= c.upper[l] + tol && c.measured[l] >= c.lower[l] - tol, "depth {}: {c:?}", l + 1);
        }
        // Deeper is deadlier.
        assert!(c.measured[19] > c.measured[4]);
        Ok(())
    }

    #[test]
    fn the_simulation_agrees_with_lab_networks() -> Result<()> {
        // death_depth draws the same weights as MlpConfig::build (same Init, same RNG order): a network
        // it calls dead at depth ℓ outputs a constant through candle too.
        use candle_core::Tensor;
        use lab::{Activation, DEVICE, MlpConfig};
        let x = inputs(8, 1, 0);
        let mut checked = 0;
        for seed in 0..40u64 {
            let Some(d) = death_depth(2, 12, &x, 1, Init::HE, &mut lab::init::rng(seed)) else { continue };
            let net = MlpConfig::new(1, 2, d, 3, Activation::Relu, Init::HE).with_seed(seed).build(&DEVICE)?;
            let xt = Tensor::from_vec(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), (8, 1), &DEVICE)?;
            let trace = net.forward_trace(&xt, false)?;
            assert_eq!(trace.post[d - 1].abs()?.sum_all()?.to_scalar::<f32>()?, 0.0, "seed {seed}");
            if d > 1 {
                assert!(trace.post[d - 2].abs()?.sum_all()?.to_scalar::<f32>()? > 0.0, "seed {seed}");
            }
            checked += 1;
        }
        assert!(checked > 5);
        Ok(())
    }
}

//! The activations themselves: values, derivatives, and the averages of f′ that decide how a gradient
//! fares through a random layer.
//!
//! Backpropagation multiplies the error by f′(z) at every layer. For a wide layer with weights of
//! variance σ_w²/n, the squared error norm is multiplied on average by χ = σ_w² · E[f′(z)²] (chapter 2;
//! [`lab::meanfield`]). For ReLU, f′ is 1 on the active half and 0 on the other, so E[f′(z)²] = ½
//! whatever the distribution of z (as long as it is symmetric): χ = σ_w²/2, and He's σ_w² = 2 gives
//! exactly χ = 1 at every layer.
//!
//! [`Activations`] draws Figures 3-1 (the activations) and 3-2 (their derivatives) with the table of slopes.

use anyhow::Result;
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::meanfield::gaussian_expectation;
use lab::plot::{Legend, LineChart, SeriesStyle};
use serde::Serialize;

/// The activations the chapter compares, in the order of its figures (ReLU last, drawn on top).
pub fn compared() -> Vec<Activation> {
    vec![Activation::Sigmoid, Activation::Tanh, Activation::Gelu, Activation::LeakyRelu(0.1), Activation::Relu]
}

/// A short label for figures: "leaky ReLU (α = 0.1)" rather than `leaky_relu:0.1`.
pub fn label(act: Activation) -> String {
    match act {
        Activation::Sigmoid => "sigmoid".into(),
        Activation::Tanh => "tanh".into(),
        Activation::Relu => "ReLU".into(),
        Activation::LeakyRelu(a) => format!("leaky ReLU (α = {a})"),
        Activation::Gelu => "GELU".into(),
        Activation::Softsign => "softsign".into(),
        Activation::Linear => "linear".into(),
    }
}

/// E[f′(z)²] for z ~ N(0, q).
pub fn mean_slope2(act: Activation, q: f64) -> f64 {
    gaussian_expectation(|z| act.derivative(z).powi(2), 0.0, q)
}

/// P(f′(z) = 1 exactly) for z ~ N(0, q) — ½ for ReLU and leaky ReLU, 0 for the smooth activations.
pub fn share_of_unit_slope(act: Activation) -> f64 {
    match act {
        Activation::Relu | Activation::LeakyRelu(_) => 0.5,
        Activation::Linear => 1.0,
        _ => 0.0,
    }
}

/// The variance-preserving σ_w² (He's argument): the σ_w² that makes χ = 1 for unit-variance
/// pre-activations, 1 / E[f′(z)²] with z ~ N(0, 1).
pub fn critical_gain2(act: Activation) -> f64 {
    1.0 / mean_slope2(act, 1.0)
}

/// GELU's derivative Φ(z) + zφ(z) has its extremes where its own derivative φ(z)(2 − z²) vanishes:
/// z = ±√2. Returns (z, GELU′(z)) at the minimum and at the maximum.
pub fn gelu_derivative_extremes() -> ((f64, f64), (f64, f64)) {
    let r2 = std::f64::consts::SQRT_2;
    ((-r2, Activation::Gelu.derivative(-r2)), (r2, Activation::Gelu.derivative(r2)))
}

/// What the chapter's table says about one activation.
#[derive(Debug, Clone, Serialize)]
pub struct SlopeRow {
    pub activation: Activation,
    pub label: String,
    /// sup |f′|.
    pub max_slope: f64,
    /// E[f′(z)²] for z ~ N(0, 1).
    pub mean_slope2: f64,
    /// The same for z ~ N(0, 4): for ReLU it does not change.
    pub mean_slope2_q4: f64,
    /// P(f′(z) = 1) for z ~ N(0, 1).
    pub share_of_unit_slope: f64,
    /// 1/E[f′(z)²]: the σ_w² that gives χ = 1 for unit-variance pre-activations.
    pub critical_gain2: f64,
    /// χ with LeCun's σ_w² = 1 and He's σ_w² = 2 (unit-variance pre-activations).
    pub chi_lecun: f64,
    pub chi_he: f64,
    /// ‖δ¹‖/‖δ²⁰‖ that a per-layer factor √χ would give over 19 layers, for σ_w² = 1 and 2.
    pub ratio_20_lecun: f64,
    pub ratio_20_he: f64,
}

/// The table of slopes for `acts`.
pub fn slope_table(acts: &[Activation]) -> Vec<SlopeRow> {
    acts.iter()
        .map(|&act| {
            let m = mean_slope2(act, 1.0);
            SlopeRow {
                activation: act,
                label: label(act),
                max_slope: act.max_derivative(),
                mean_slope2: m,
                mean_slope2_q4: mean_slope2(act, 4.0),
                share_of_unit_slope: share_of_unit_slope(act),
                critical_gain2: 1.0 / m,
                chi_lecun: m,
                chi_he: 2.0 * m,
                ratio_20_lecun: m.sqrt().powi(19),
                ratio_20_he: (2.0 * m).sqrt().powi(19),
            }
        })
        .collect()
}

/// Settings of Figures 3-1 and 3-2 (the figures always show [`compared`]; the flag only adds rows to
/// the printed table).
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ActivationsOptions {
    /// Extra activations to add to the printed table (e.g. leaky_relu:0.2,softsign); the figures always
    /// show the chapter's five.
    #[arg(long, value_delimiter = ',', value_parser = cli::activation)]
    pub also: Vec<Activation>,
}
chapter_kit::defaults_from_flags!(ActivationsOptions);

/// A point of a curve: where, and the slope there.
#[derive(Debug, Clone, Serialize)]
pub struct SlopeAt {
    pub z: f64,
    pub slope: f64,
}

/// The z range both figures are drawn over.
const Z_RANGE: [f64; 2] = [-4.0, 4.0];

/// What Figures 3-1 and 3-2 show: the table of slopes and GELU′'s extremes (Figure 3-2's data).
#[derive(Debug, Clone, Serialize)]
pub struct ActivationsData {
    pub z_range: [f64; 2],
    pub table: Vec<SlopeRow>,
    pub gelu_min_slope: SlopeAt,
    pub gelu_max_slope: SlopeAt,
    pub relu_mean_slope2: f64,
    /// The table's rows for `--also`, printed but not drawn.
    #[serde(skip)]
    pub also: Vec<SlopeRow>,
}

/// Figure 3-1 (the activations) and Figure 3-2 (their derivatives), with the table of slopes.
pub struct Activations;

impl Experiment for Activations {
    const CHAPTER: &'static str = "ch03";
    const NAME: &'static str = "activations";
    const ABOUT: &'static str = "The activations, their derivatives and the table of slopes (Figures 3-1 and 3-2)";
    type Options = ActivationsOptions;
    type Data = ActivationsData;

    fn run(opts: &ActivationsOptions, _: &GenOptions) -> Result<ActivationsData> {
        let ((zmin, dmin), (zmax, dmax)) = gelu_derivative_extremes();
        Ok(ActivationsData {
            z_range: Z_RANGE,
            table: slope_table(&compared()),
            gelu_min_slope: SlopeAt { z: zmin, slope: dmin },
            gelu_max_slope: SlopeAt { z: zmax, slope: dmax },
            relu_mean_slope2: mean_slope2(Activation::Relu, 1.0),
            also: slope_table(&opts.also),
        })
    }

    fn draw(data: &ActivationsData) -> Result<Vec<Drawing>> {
        let acts = compared();
        let zs: Vec<f64> = (0..=800).map(|i| -4.0 + i as f64 * 0.01).collect();
        let curve = |f: &dyn Fn(f64) -> f64| zs.iter().map(|&z| (z, f(z))).collect::<Vec<_>>();
        let mut values =
            LineChart::new("The activations").x_label("pre-activation z").y_label("f(z)").y_range(-1.5, 4.0);
        let mut slopes = LineChart::new("Their derivatives: the factor each layer multiplies the error by")
            .x_label("pre-activation z")
            .y_label("f′(z)")
            .y_range(-0.2, 1.2);
        // The colours of the later figures: sigmoid, tanh, ReLU in slots 0, 1, 2.
        let slot = |a: Activation| match a {
            Activation::Sigmoid => 0,
            Activation::Tanh => 1,
            Activation::Relu => 2,
            Activation::LeakyRelu(_) => 3,
            _ => 4,
        };
        for &act in &acts {
            let style = SeriesStyle::solid().color(slot(act)).width(if act == Activation::Relu { 3.0 } else { 2.0 });
            values = values.series_with(label(act), curve(&|z| act.value(z)), style);
            slopes = slopes.series_with(label(act), curve(&|z| act.derivative(z)), style);
        }
        let alt_values = "The five activations on z from −4 to 4: sigmoid rises from 0 to 1, tanh from −1 to 1, ReLU is zero for negative z and the identity for positive z, leaky ReLU has slope 0.1 on the negative side, and GELU follows ReLU but curves smoothly through zero with a small dip below it";
        let alt_slopes = "The derivatives of the five activations: sigmoid's peaks at 0.25, tanh's at 1 at z = 0 and both fall to 0 in the tails; ReLU's is exactly 0 for negative z and exactly 1 for positive z; leaky ReLU's is 0.1 then 1; GELU's rises smoothly from slightly below 0 to slightly above 1";
        let values_svg = values.hline(0.0, "").legend(Legend::TopLeft).render(alt_values)?;
        let slopes_svg = slopes.legend(Legend::TopLeft).render(alt_slopes)?;
        #[derive(Serialize)]
        struct Range {
            z_range: [f64; 2],
        }
        Ok(vec![
            Drawing::new("activations", alt_values, values_svg, &Range { z_range: data.z_range })?,
            Drawing::new("derivatives", alt_slopes, slopes_svg, data)?,
        ])
    }
}

impl std::fmt::Display for ActivationsData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "z ~ N(0, 1)          sup|f'|   E[f'²]  E[f'²] (q=4)  P(f'=1)  χ (σ_w²=1)  χ (σ_w²=2)  σ_w² for χ=1"
        )?;
        for r in self.table.iter().chain(&self.also) {
            writeln!(
                f,
                "{:<20} {:>7.4}  {:>7.4}  {:>12.4}  {:>7.2}  {:>10.4}  {:>10.4}  {:>12.4}",
                r.label,
                r.max_slope,
                r.mean_slope2,
                r.mean_slope2_q4,
                r.share_of_unit_slope,
                r.chi_lecun,
                r.chi_he,
                r.critical_gain2
            )?;
        }
        let (lo, hi) = (&self.gelu_min_slope, &self.gelu_max_slope);
        writeln!(f, "GELU′ ranges from {:.4} (z = {:.4}) to {:.4} (z = {:.4})", lo.slope, lo.z, hi.slope, hi.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn relu_slopes_in_closed_form() {
        // E[relu'(z)²] = P(z > 0) = ½ for every variance; leaky: (1 + α²)/2.
        for q in [0.01, 1.0, 25.0] {
            assert!((mean_slope2(Activation::Relu, q) - 0.5).abs() < 1e-7, "q = {q}");
            assert!((mean_slope2(Activation::LeakyRelu(0.1), q) - 0.505).abs() < 1e-7);
        }
        assert!((critical_gain2(Activation::Relu) - 2.0).abs() < 1e-6);
        assert!(
            (critical_gain2(Activation::LeakyRelu(0.1)) - lab::init::gain(Activation::LeakyRelu(0.1)).powi(2)).abs()
                < 1e-6
        );
    }

    #[test]
    fn sigmoid_and_tanh_slopes_are_bounded_and_fall_with_variance() {
        let s = mean_slope2(Activation::Sigmoid, 1.0);
        assert!(s < 1.0 / 16.0 && s > 0.04, "{s}");
        assert!(mean_slope2(Activation::Sigmoid, 4.0) < s);
        let t = mean_slope2(Activation::Tanh, 1.0);
        assert!(t < 1.0 && mean_slope2(Activation::Tanh, 4.0) < t);
        // For tiny variance tanh is linear near 0: E[tanh'²] → 1.
        assert!((mean_slope2(Activation::Tanh, 1e-6) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn gelu_derivative_extremes_at_root_two() {
        let ((zmin, dmin), (zmax, dmax)) = gelu_derivative_extremes();
        assert!((zmax - 2f64.sqrt()).abs() < 1e-15 && (zmin + zmax).abs() < 1e-15);
        // GELU′(z) + GELU′(−z) = 1 (Φ(z) + Φ(−z) = 1 and zφ(z) is odd), so the extremes sum to 1.
        assert!((dmin + dmax - 1.0).abs() < 1e-12);
        assert!((dmax - 1.128_904_8).abs() < 1e-6, "{dmax}");
        let grid_max = (-6000..=6000).map(|i| Activation::Gelu.derivative(i as f64 / 1000.0)).fold(f64::MIN, f64::max);
        let grid_min = (-6000..=6000).map(|i| Activation::Gelu.derivative(i as f64 / 1000.0)).fold(f64::MAX, f64::min);
        assert!((grid_max - dmax).abs() < 1e-6 && (grid_min - dmin).abs() < 1e-6);
    }

    #[test]
    fn relu_backward_is_an_exact_mask() -> anyhow::Result<()> {
        // Through candle's autograd, for lab's forward (the network's) and candle's own relu.
        let z = Var::new(&[-2.5f32, -1e-3, 1e-3, 0.7, 40.0], &Device::Cpu)?;
        let g = Activation::Relu.forward(z.as_tensor())?.sum_all()?.backward()?;
        assert_eq!(g.get(&z).unwrap().to_vec1::<f32>()?, vec![0.0, 0.0, 1.0, 1.0, 1.0]);
        let g = z.as_tensor().relu()?.sum_all()?.backward()?;
        assert_eq!(g.get(&z).unwrap().to_vec1::<f32>()?, vec![0.0, 0.0, 1.0, 1.0, 1.0]);
        Ok(())
    }

    #[test]
    fn table_rows() {
        let t = slope_table(&compared());
        assert_eq!(t.len(), 5);
        let relu = &t[4];
        assert!((relu.chi_he - 1.0).abs() < 1e-6 && (relu.ratio_20_he - 1.0).abs() < 1e-4);
        assert!((relu.ratio_20_lecun - 0.5f64.powf(9.5)).abs() < 1e-6);
        assert_eq!(relu.share_of_unit_slope, 0.5);
        assert_eq!(t[0].max_slope, 0.25);
    }
}

//! The edge of chaos for tanh (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017): χ₁ over the
//! (σ_w², σ_b²) plane from the mean-field recursion (Figure 4-5), and where common tanh gains sit.

use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::chaos::{Phase, critical_sigma_w2, phase};
use lab::plot::Heatmap;
use serde::Serialize;

/// Settings of Figure 4-5.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ChaosPhaseOptions {
    /// Smallest σ_w² of the phase diagram.
    #[arg(long, default_value_t = 0.5, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub min_sigma_w2: f64,
    /// Largest σ_w² of the phase diagram.
    #[arg(long, default_value_t = 4.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub max_sigma_w2: f64,
    /// Smallest σ_b² of the phase diagram.
    #[arg(long, default_value_t = 0.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    pub min_sigma_b2: f64,
    /// Largest σ_b² of the phase diagram.
    #[arg(long, default_value_t = 0.3, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub max_sigma_b2: f64,
    /// Grid points along σ_w² (at least 2).
    #[arg(long, default_value_t = 36, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub columns: usize,
    /// Grid points along σ_b² (at least 2).
    #[arg(long, default_value_t = 31, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub rows: usize,
}
chapter_kit::defaults_from_flags!(ChaosPhaseOptions);

/// The grid of Figure 4-5, as its JSON records it.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseGrid {
    pub sigma_w2_range: (f64, f64),
    pub sigma_b2_range: (f64, f64),
    pub columns: usize,
    pub rows: usize,
}

/// Where common tanh gains put a bias-free network (σ_b² = 0).
#[derive(Debug, Clone, Serialize)]
pub struct TanhGains {
    /// The gain 5/3 of PyTorch's `calculate_gain`.
    pub five_thirds: Phase,
    /// Xavier's gain 1.
    pub xavier: Phase,
    /// The gain whose fixed point is q* = 1.
    pub unit_q: Phase,
    pub unit_q_gain: f64,
    /// Gain 1/E[tanh'(z)], z ~ N(0, 1): one reading of where 5/3 ≈ 1.65 might come from.
    pub inverse_mean_slope: f64,
}

/// What Figure 4-5 shows (quick mode: the first two rows of χ₁).
#[derive(Debug, Clone, Serialize)]
pub struct ChaosPhaseData {
    pub options: PhaseGrid,
    pub sigma_w2: Vec<f64>,
    pub sigma_b2: Vec<f64>,
    /// χ₁ per row (σ_b²) and column (σ_w²).
    pub chi1: Vec<Vec<f64>>,
    /// The critical σ_w² of each row computed.
    pub critical_sigma_w2: Vec<f64>,
    pub tanh_gains: TanhGains,
    #[serde(skip)]
    pub quick: bool,
}

fn grid(range: (f64, f64), n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![range.0];
    }
    (0..n).map(|i| range.0 + (range.1 - range.0) * i as f64 / (n - 1) as f64).collect()
}

/// Where common tanh gains put a bias-free network (σ_b² = 0): the gain-5/3 of PyTorch's
/// `calculate_gain`, Xavier's gain 1, and the gain whose fixed point is q* = 1.
pub fn tanh_gains() -> Result<TanhGains> {
    let unit_q_sigma_w2 = 1.0 / lab::chaos::second_moment(Activation::Tanh, 1.0);
    Ok(TanhGains {
        five_thirds: phase(Activation::Tanh, 25.0 / 9.0, 0.0)?,
        xavier: phase(Activation::Tanh, 1.0, 0.0)?,
        unit_q: phase(Activation::Tanh, unit_q_sigma_w2, 0.0)?,
        unit_q_gain: unit_q_sigma_w2.sqrt(),
        inverse_mean_slope: 1.0 / lab::chaos::gaussian_expectation(|z| Activation::Tanh.derivative(z), 1.0),
    })
}

/// Figure 4-5: χ₁ of a tanh network over (σ_w², σ_b²).
pub struct ChaosPhase;

impl Experiment for ChaosPhase {
    const CHAPTER: &'static str = "ch04";
    const NAME: &'static str = "chaos-phase";
    const ABOUT: &'static str =
        "The edge of chaos for tanh: χ₁ over (σ_w², σ_b²) from the mean-field recursion (Figure 4-5)";
    type Options = ChaosPhaseOptions;
    type Data = ChaosPhaseData;

    fn run(opts: &ChaosPhaseOptions, run_mode: &GenOptions) -> Result<ChaosPhaseData> {
        ensure!(opts.columns >= 2 && opts.rows >= 2, "the grid needs at least 2 × 2 cells");
        ensure!(
            opts.min_sigma_w2 > 0.0 && opts.max_sigma_w2 > opts.min_sigma_w2,
            "σ_w² range must be increasing and positive: --max-sigma-w2 {} is not above --min-sigma-w2 {}",
            opts.max_sigma_w2,
            opts.min_sigma_w2
        );
        ensure!(
            opts.min_sigma_b2 >= 0.0 && opts.max_sigma_b2 > opts.min_sigma_b2,
            "σ_b² range must be increasing and ≥ 0: --max-sigma-b2 {} is not above --min-sigma-b2 {}",
            opts.max_sigma_b2,
            opts.min_sigma_b2
        );
        let settings = PhaseGrid {
            sigma_w2_range: (opts.min_sigma_w2, opts.max_sigma_w2),
            sigma_b2_range: (opts.min_sigma_b2, opts.max_sigma_b2),
            columns: opts.columns,
            rows: opts.rows,
        };
        let (ws, bs) = (grid(settings.sigma_w2_range, opts.columns), grid(settings.sigma_b2_range, opts.rows));
        // Quick mode: the first two rows.
        let rows = if run_mode.quick { 2 } else { opts.rows };
        let mut chi = Vec::with_capacity(rows);
        let mut critical = Vec::with_capacity(rows);
        for &b in &bs[..rows] {
            chi.push(ws.iter().map(|&w| Ok(phase(Activation::Tanh, w, b)?.chi1)).collect::<Result<Vec<f64>>>()?);
            critical.push(critical_sigma_w2(Activation::Tanh, b)?);
        }
        Ok(ChaosPhaseData {
            options: settings,
            sigma_w2: ws,
            sigma_b2: bs,
            chi1: chi,
            critical_sigma_w2: critical,
            tanh_gains: tanh_gains()?,
            quick: run_mode.quick,
        })
    }

    fn draw(data: &ChaosPhaseData) -> Result<Vec<Drawing>> {
        if data.quick {
            return Ok(vec![Drawing::data_only("chaos-phase", data)?]);
        }
        let (ws, bs) = (&data.sigma_w2, &data.sigma_b2);
        let alt = "Heatmap of chi-1 for a tanh network over sigma_w squared (horizontal, 0.5 to 4) and sigma_b squared (vertical, 0 to 0.3), on a blue-white-red scale centred at 1 and saturating below 0.8 and above 1.25. Blue, ordered, on the left; red, chaotic, on the right; the white band of the critical line starts at sigma_w squared = 1 without bias and moves right as the bias variance grows.";
        let svg = Heatmap::new("tanh: χ₁ = σ_w² E[tanh′(√q* z)²] — ordered (blue), chaotic (red)", data.chi1.clone())
            .x_label("σ_w²  (weight variance × fan-in)")
            .y_label("σ_b²  (bias variance)")
            .x_centers(ws[0], *ws.last().expect("columns"))
            .y_centers(bs[0], *bs.last().expect("rows"))
            .colorbar_label("χ₁ (log scale, clipped to 0.8–1.25)")
            .log_color()
            .diverging(1.0)
            .color_range(0.8, 1.25)
            .render(alt)?;
        Ok(vec![Drawing::new("chaos-phase", alt, svg, data)?])
    }
}

impl std::fmt::Display for ChaosPhaseData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "critical σ_w² (χ₁ = 1) for tanh:")?;
        for (b, w) in self.sigma_b2.iter().zip(&self.critical_sigma_w2).step_by(5) {
            writeln!(f, "  σ_b² = {b:.3}: σ_w² = {w:.4}")?;
        }
        Ok(())
    }
}

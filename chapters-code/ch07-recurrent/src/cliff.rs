//! Figures 7-7 to 7-9: Pascanu, Mikolov & Bengio's (2013) cliff. Their §2.3 (eq. 8, Fig. 6) takes
//! the one-unit recurrence x_t = w·σ(x_{t−1}) + b, no input, x_0 = 0.5, σ the logistic sigmoid, and
//! the error E₅₀ = (σ(x₅₀) − 0.7)² after 50 steps. We draw E over a grid of (w, b), and ‖∇E‖ beside
//! it, then run plain gradient descent from many random starts in the same box, once as it is and
//! once with the gradient clipped to a norm (their algorithm 1), and count the runs that reach the
//! target.

use crate::median;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::Activation;
use lab::plot::{Heatmap, LineChart, SeriesStyle};
use rand::Rng;
use serde::Serialize;

/// Settings of Figures 7-7 to 7-9.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct CliffOptions {
    /// Steps T of the recurrence (the paper's 50).
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub steps: usize,
    /// Initial state x_0 (the paper's 0.5).
    #[arg(long, default_value_t = 0.5, value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub x0: f64,
    /// Target of σ(x_T) (the paper's 0.7), strictly between 0 and 1.
    #[arg(long, default_value_t = 0.7, value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub target: f64,
    /// The box of (w, b) drawn and sampled: w from, w to, b from, b to.
    #[arg(long, value_delimiter = ',', default_values_t = [-2.0, 12.0, -10.0, 2.0], value_parser = cli::finite_f64, allow_negative_numbers = true)]
    pub region: Vec<f64>,
    /// Cells of the drawn grid along each axis.
    #[arg(long, default_value_t = 81, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub grid: usize,
    /// The gradient map shows, in each cell, the largest ‖∇E‖ on a sub-grid of this many points
    /// a side (the cliff is far thinner than a cell).
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub subgrid: usize,
    /// Gradient-descent runs, each from a start drawn uniformly from the box.
    #[arg(long, default_value_t = 400, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub runs: usize,
    /// Learning rates, comma-separated, ascending (each rate runs every start, with and without clipping).
    #[arg(long, value_delimiter = ',', default_values_t = [0.1, 0.3, 1.0, 3.0], value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub lrs: Vec<f64>,
    /// Gradient-descent steps of each run.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_steps: usize,
    /// Clip the gradient to this norm (the threshold of Pascanu et al.'s algorithm 1).
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub clip: f64,
    /// A run succeeds when its final error E is below this.
    #[arg(long, default_value_t = 1e-4, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    pub success: f64,
    /// Seed of the random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(CliffOptions);

impl CliffOptions {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.target > 0.0 && self.target < 1.0, "--target must lie strictly between 0 and 1");
        ensure!(self.region.len() == 4, "--region takes four numbers: w from, w to, b from, b to");
        let r = &self.region;
        ensure!(r[0] < r[1] && r[2] < r[3], "--region must run from low to high on each axis");
        ensure!(self.grid >= 2, "--grid must be at least 2");
        ensure!(self.subgrid >= 1, "--subgrid must be at least 1");
        ensure!(!self.lrs.is_empty(), "need at least one learning rate");
        cli::ensure_ascending("lrs", &self.lrs)?;
        Ok(())
    }
}

const SIGMOID: Activation = Activation::Sigmoid;

/// Rows of the grid a quick run computes (from the bottom).
const QUICK_ROWS: usize = 4;

/// The recurrence x_t = w·σ(x_{t−1}) + b, its error E = (σ(x_T) − target)², and the gradient of E
/// with respect to (w, b) by backpropagation through time.
#[derive(Debug, Clone, Copy)]
pub struct OneUnit {
    pub steps: usize,
    pub x0: f64,
    pub target: f64,
}

impl OneUnit {
    /// x_0, …, x_T.
    pub fn states(&self, w: f64, b: f64) -> Vec<f64> {
        let mut xs = Vec::with_capacity(self.steps + 1);
        xs.push(self.x0);
        for t in 0..self.steps {
            xs.push(w * SIGMOID.value(xs[t]) + b);
        }
        xs
    }

    pub fn error(&self, w: f64, b: f64) -> f64 {
        let x_t = *self.states(w, b).last().unwrap();
        (SIGMOID.value(x_t) - self.target).powi(2)
    }

    /// (E, ∂E/∂w, ∂E/∂b). Backwards: δ_T = ∂E/∂x_T, and δ_{t−1} = δ_t·w·σ'(x_{t−1}); every step
    /// adds δ_t·σ(x_{t−1}) to ∂E/∂w and δ_t to ∂E/∂b (the same w and b at every step).
    pub fn error_and_grad(&self, w: f64, b: f64) -> (f64, f64, f64) {
        // s[t] = σ(x_t), kept from the forward pass: σ'(x) = σ(x)(1 − σ(x)).
        let mut s = Vec::with_capacity(self.steps + 1);
        s.push(SIGMOID.value(self.x0));
        for t in 0..self.steps {
            s.push(SIGMOID.value(w * s[t] + b));
        }
        let last = s[self.steps];
        let mut delta = 2.0 * (last - self.target) * last * (1.0 - last);
        let (mut gw, mut gb) = (0.0, 0.0);
        for t in (1..=self.steps).rev() {
            gw += delta * s[t - 1];
            gb += delta;
            delta *= w * s[t - 1] * (1.0 - s[t - 1]);
        }
        ((last - self.target).powi(2), gw, gb)
    }
}

/// How one gradient-descent run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Descent {
    pub error: f64,
    pub w: f64,
    pub b: f64,
    /// The largest gradient norm met on the way (before clipping).
    pub max_grad_norm: f64,
    /// The sum of the gradient norms of the updates taken, and their number.
    pub norm_sum: f64,
    pub updates: usize,
}

/// Gradient descent on (w, b) from `start`, with the gradient clipped to norm `clip` if given; stops
/// early once E is below `stop` (or at a non-finite value, which is returned as it is).
pub fn descend(unit: &OneUnit, start: (f64, f64), lr: f64, steps: usize, clip: Option<f64>, stop: f64) -> Descent {
    let (mut w, mut b) = start;
    let (mut max_grad_norm, mut norm_sum): (f64, f64) = (0.0, 0.0);
    for updates in 0..steps {
        let (e, mut gw, mut gb) = unit.error_and_grad(w, b);
        let norm = gw.hypot(gb);
        if e < stop || !norm.is_finite() {
            return Descent { error: e, w, b, max_grad_norm: max_grad_norm.max(norm), norm_sum, updates };
        }
        max_grad_norm = max_grad_norm.max(norm);
        norm_sum += norm;
        if let Some(c) = clip.filter(|&c| norm > c) {
            (gw, gb) = (gw * c / norm, gb * c / norm);
        }
        (w, b) = (w - lr * gw, b - lr * gb);
    }
    Descent { error: unit.error(w, b), w, b, max_grad_norm, norm_sum, updates: steps }
}

/// The runs of one learning rate, with or without clipping.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Runs that ended with E below the success threshold.
    pub solved: usize,
    pub fraction: f64,
    /// Runs that met a gradient above the clipping threshold at least once.
    pub met_cliff: usize,
    /// Of those, the runs that still succeeded.
    pub solved_after_cliff: usize,
    /// Runs that ended outside the drawn box (thrown off the map).
    pub left_box: usize,
    /// The largest gradient norm any run met.
    pub max_grad_norm: f64,
    /// The median over the runs of each run's largest gradient norm.
    pub median_max_grad_norm: f64,
    /// The mean gradient norm (before clipping) over every update of every run: Pascanu et al.
    /// (§3.2) set the threshold from this average.
    pub mean_grad_norm: f64,
}

/// Figure 7-9's row: one learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub lr: f64,
    pub plain: Outcome,
    pub clipped: Outcome,
}

/// The surface over the grid: `values[row][col]`, row = b (bottom first), col = w.
#[derive(Debug, Clone, Serialize)]
pub struct SurfaceFigure {
    pub options: CliffOptions,
    pub w: Vec<f64>,
    pub b: Vec<f64>,
    pub values: Vec<Vec<f64>>,
    /// The largest and the median value over the grid (full runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
}

/// Figure 7-9's data: success of gradient descent from random starts, per learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct ClipRunsFigure {
    pub options: CliffOptions,
    pub rates: Vec<RateRow>,
}

/// What Figures 7-7 to 7-9 measured (quick mode: the bottom rows of the two surfaces, no runs).
#[derive(Debug, Clone, Serialize)]
pub struct CliffData {
    pub loss: SurfaceFigure,
    pub grad: SurfaceFigure,
    pub runs: ClipRunsFigure,
}

fn centres(from: f64, to: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| from + (to - from) * i as f64 / (n - 1) as f64).collect()
}

fn outcome(opts: &CliffOptions, ends: &[Descent]) -> Outcome {
    let r = &opts.region;
    let ok = |d: &Descent| d.error < opts.success;
    let cliff = |d: &Descent| d.max_grad_norm > opts.clip;
    let solved = ends.iter().filter(|d| ok(d)).count();
    let maxima: Vec<f64> = ends.iter().map(|d| d.max_grad_norm).collect();
    Outcome {
        solved,
        fraction: solved as f64 / ends.len() as f64,
        met_cliff: ends.iter().filter(|d| cliff(d)).count(),
        solved_after_cliff: ends.iter().filter(|d| cliff(d) && ok(d)).count(),
        left_box: ends.iter().filter(|d| !(d.w >= r[0] && d.w <= r[1] && d.b >= r[2] && d.b <= r[3])).count(),
        max_grad_norm: maxima.iter().copied().fold(0.0, f64::max),
        median_max_grad_norm: median(&maxima),
        mean_grad_norm: ends.iter().map(|d| d.norm_sum).sum::<f64>()
            / ends.iter().map(|d| d.updates).sum::<usize>().max(1) as f64,
    }
}

/// Figures 7-7 (E over (w, b)), 7-8 (‖∇E‖) and 7-9 (success with and without clipping).
pub struct Cliff;

impl Experiment for Cliff {
    const CHAPTER: &'static str = "ch07";
    const NAME: &'static str = "cliff";
    const ABOUT: &'static str = "Pascanu et al.'s cliff: one recurrent unit's error surface, and gradient descent with and without clipping (Figures 7-7 to 7-9)";
    type Options = CliffOptions;
    type Data = CliffData;

    fn run(opts: &CliffOptions, run_mode: &GenOptions) -> Result<CliffData> {
        opts.validate()?;
        let unit = OneUnit { steps: opts.steps, x0: opts.x0, target: opts.target };
        let r = &opts.region;
        let (ws, bs) = (centres(r[0], r[1], opts.grid), centres(r[2], r[3], opts.grid));
        let (dw, db) = ((r[1] - r[0]) / (opts.grid - 1) as f64, (r[3] - r[2]) / (opts.grid - 1) as f64);
        let k = opts.subgrid;
        // The offsets of a k × k sub-grid spanning one cell around its centre.
        let offsets: Vec<f64> = (0..k).map(|i| (i as f64 + 0.5) / k as f64 - 0.5).collect();
        let cell_max = |w: f64, b: f64| {
            let mut m: f64 = 0.0;
            for ob in &offsets {
                for ow in &offsets {
                    let (_, gw, gb) = unit.error_and_grad(w + ow * dw, b + ob * db);
                    m = m.max(gw.hypot(gb));
                }
            }
            m
        };
        let quick = run_mode.quick;
        let rows = if quick { &bs[..QUICK_ROWS.min(bs.len())] } else { &bs[..] };
        let loss: Vec<Vec<f64>> = rows.iter().map(|&b| ws.iter().map(|&w| unit.error(w, b)).collect()).collect();
        let grad: Vec<Vec<f64>> = rows.iter().map(|&b| ws.iter().map(|&w| cell_max(w, b)).collect()).collect();
        let surface = |values: Vec<Vec<f64>>| {
            let flat: Vec<f64> = values.iter().flatten().copied().collect();
            SurfaceFigure {
                options: opts.clone(),
                w: ws.clone(),
                b: bs.clone(),
                max: (!quick).then(|| flat.iter().copied().fold(0.0, f64::max)),
                median: (!quick).then(|| median(&flat)),
                values,
            }
        };
        let mut rng = lab::init::rng(opts.seed);
        let starts: Vec<(f64, f64)> =
            (0..opts.runs).map(|_| (rng.random_range(r[0]..r[1]), rng.random_range(r[2]..r[3]))).collect();
        let lrs = if quick { &[][..] } else { &opts.lrs[..] };
        let rates = lrs
            .iter()
            .map(|&lr| {
                let ends = |clip: Option<f64>| -> Vec<Descent> {
                    starts.iter().map(|&s| descend(&unit, s, lr, opts.train_steps, clip, opts.success)).collect()
                };
                RateRow { lr, plain: outcome(opts, &ends(None)), clipped: outcome(opts, &ends(Some(opts.clip))) }
            })
            .collect();
        Ok(CliffData {
            loss: surface(loss),
            grad: surface(grad),
            runs: ClipRunsFigure { options: opts.clone(), rates },
        })
    }

    fn draw(data: &CliffData) -> Result<Vec<Drawing>> {
        let o = &data.loss.options;
        let (r, t) = (&o.region, o.steps);
        let heat = |title: String, fig: &SurfaceFigure| {
            Heatmap::new(title, fig.values.clone())
                .x_label("w")
                .y_label("b")
                .x_centers(r[0], r[1])
                .y_centers(r[2], r[3])
        };
        let alt_loss = format!(
            "The error (σ(x_{t}) − {})² of the one-unit recurrence x_t = w·σ(x_(t−1)) + b over a grid of w and b. A valley of zero error runs diagonally down from small w; past w ≈ 5 the surface is two flat plateaus, σ(x_{t}) near 0 and near 1, separated by a sharp wall.",
            o.target
        );
        let loss = heat(format!("E = (σ(x_{t}) − {})², x_0 = {}: the error over (w, b)", o.target, o.x0), &data.loss)
            .colorbar_label("E")
            .render(&alt_loss)?;
        let alt_grad = "The norm of the gradient of the same error over the same grid, on a log colour scale: small on the plateaus, many orders of magnitude larger along a thin curve, the cliff between them.";
        let grad = heat(format!("‖∇E‖ over (w, b), T = {t}: the largest in each cell"), &data.grad)
            .colorbar_label("max ‖∇E‖ in the cell (log scale)")
            .log_color()
            .render(alt_grad)?;
        let runs = &data.runs;
        let after = |o: &Outcome| o.solved_after_cliff as f64 / o.met_cliff.max(1) as f64;
        let pts = |f: &dyn Fn(&RateRow) -> f64| runs.rates.iter().map(|row| (row.lr, f(row))).collect::<Vec<_>>();
        let mut chart = LineChart::new(format!(
            "Gradient descent from {} random starts, {} steps: runs that reach E < {:e}",
            o.runs, o.train_steps, o.success
        ))
        .x_label("learning rate")
        .y_label("fraction of runs solved")
        .log_x()
        .y_range(0.0, 1.0)
        .markers()
        .legend(lab::plot::Legend::Outside);
        if runs.rates.is_empty() {
            // A quick run trains nothing: one placeholder point keeps the chart drawable.
            return Ok(vec![
                Drawing::new("cliff-loss", &alt_loss, loss, &data.loss)?,
                Drawing::new("cliff-grad", alt_grad, grad, &data.grad)?,
                Drawing::new(
                    "cliff-runs",
                    "No runs (quick mode).",
                    chart.series("no runs (quick mode)", vec![(o.lrs[0], 0.0)]).render("No runs (quick mode).")?,
                    &data.runs,
                )?,
            ]);
        }
        chart = chart
            .series_with("plain gradient descent", pts(&|row| row.plain.fraction), SeriesStyle::solid().color(0))
            .series_with(
                format!("clipped to norm {}", o.clip),
                pts(&|row| row.clipped.fraction),
                SeriesStyle::solid().color(1),
            )
            .series_with(
                "plain, of the runs that met the cliff",
                pts(&|row| after(&row.plain)),
                SeriesStyle::dashed().color(0),
            )
            .series_with(
                "clipped, of the runs that met the cliff",
                pts(&|row| after(&row.clipped)),
                SeriesStyle::dashed().color(1),
            );
        let alt_runs = "The fraction of gradient-descent runs from random starts that reach the target, against the learning rate, with and without clipping the gradient's norm (solid), and the same fraction among only the runs that met a gradient above the clipping threshold on the way (dashed): clipped, nearly all of those succeed; unclipped, about half.";
        Ok(vec![
            Drawing::new("cliff-loss", &alt_loss, loss, &data.loss)?,
            Drawing::new("cliff-grad", alt_grad, grad, &data.grad)?,
            Drawing::new("cliff-runs", alt_runs, chart.render(alt_runs)?, &data.runs)?,
        ])
    }
}

impl std::fmt::Display for CliffData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (median, max) = (self.grad.median.unwrap_or(f64::NAN), self.grad.max.unwrap_or(f64::NAN));
        writeln!(f, "‖∇E‖ over the grid: median {median:.2e}, largest {max:.2e}")?;
        writeln!(f, "{:>8} {:>22} {:>22}", "lr", "solved plain (cliff)", "solved clipped (cliff)")?;
        for row in &self.runs.rates {
            let cell = |o: &Outcome| format!("{:.3} ({}/{})", o.fraction, o.solved_after_cliff, o.met_cliff);
            writeln!(f, "{:>8} {:>22} {:>22}", row.lr, cell(&row.plain), cell(&row.clipped))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_gradient_matches_central_differences() {
        let unit = OneUnit { steps: 50, x0: 0.5, target: 0.7 };
        for &(w, b) in &[(1.0, -0.5), (4.0, -2.0), (8.0, -4.3), (-1.5, 1.0)] {
            let (_, gw, gb) = unit.error_and_grad(w, b);
            let h = 1e-6;
            let fw = (unit.error(w + h, b) - unit.error(w - h, b)) / (2.0 * h);
            let fb = (unit.error(w, b + h) - unit.error(w, b - h)) / (2.0 * h);
            for (g, fd) in [(gw, fw), (gb, fb)] {
                assert!((g - fd).abs() <= 1e-6 + 1e-4 * fd.abs(), "({w}, {b}): {g} against {fd}");
            }
        }
    }

    #[test]
    fn the_valley_is_the_stable_fixed_point_at_the_target() {
        // σ(x*) = 0.7 with x* = w·0.7 + b is a fixed point, stable while w·σ'(x*) < 1.
        let unit = OneUnit { steps: 50, x0: 0.5, target: 0.7 };
        let x_star = (0.7f64 / 0.3).ln();
        let w = 2.0;
        assert!(unit.error(w, x_star - 0.7 * w) < 1e-12);
        // Clipping bounds every step: from any start the clipped run moves at most lr·c a step.
        let d = descend(&unit, (9.0, -4.5), 0.5, 10, Some(1.0), 0.0);
        assert!((d.w - 9.0).hypot(d.b + 4.5) <= 10.0 * 0.5 + 1e-12);
    }
}

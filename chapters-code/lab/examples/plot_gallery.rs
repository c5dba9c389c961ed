//! One figure of every chart type in `lab::plot`, drawn from synthetic data, to check the house
//! style by eye.
//!
//! ```text
//! cargo run -p lab --example plot_gallery -- --out /tmp/gallery
//! ```

use anyhow::{Context, Result, bail};
use lab::plot::{Heatmap, HistogramGrid, LayerProfile, Legend, LineChart, SeriesStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;

fn main() -> Result<()> {
    let out = parse_out_dir()?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let figures = [
        ("line-depth-log-y", depth_sweep()?),
        ("line-log-log", loss_curves()?),
        ("layer-profile", layer_profile()?),
        ("histogram-grid", histogram_grid()?),
        ("heatmap-diverging", init_heatmap()?),
        ("heatmap-sequential", training_heatmap()?),
    ];
    for (name, svg) in figures {
        let path = out.join(format!("{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

fn parse_out_dir() -> Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    let mut out = std::env::temp_dir().join("lab-plot-gallery");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().context("--out needs a directory")?.into(),
            "-h" | "--help" => {
                println!("plot_gallery [--out DIR]   write one SVG per chart type (default {})", out.display());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(out)
}

/// Deterministic multiplicative jitter in [1 − a, 1 + a].
fn jitter(i: usize, a: f64) -> f64 {
    1.0 + a * ((i as f64 * 12.9898).sin() * 43758.5453).fract()
}

/// ‖δ¹‖ against depth for three activations: spans 10⁻³⁰ … 10³, with an underflow to 0.
fn depth_sweep() -> Result<String> {
    let depths: Vec<usize> = (1..=50).collect();
    let curve = |rate: f64, seed: usize| -> Vec<(f64, f64)> {
        depths.iter().map(|&d| (d as f64, rate.powi(d as i32) * jitter(d + seed, 0.3))).collect()
    };
    let mut sigmoid = curve(0.25, 0);
    sigmoid[47].1 = 0.0; // float underflow: skipped on the log axis, the line breaks
    let theory: Vec<(f64, f64)> = depths.iter().map(|&d| (d as f64, 0.25f64.powi(d as i32))).collect();
    LineChart::new("Gradient reaching the first layer, by depth")
        .x_label("depth L (hidden layers)")
        .y_label("‖δ¹‖")
        .log_y()
        .integer_x()
        .series("sigmoid", sigmoid)
        .series_with("¼ᴸ (σ′ ≤ ¼)", theory, SeriesStyle::dashed().color(0))
        .series("tanh", curve(0.7, 100))
        .series("ReLU + He", curve(1.15, 200))
        .hline(1.19e-7, "float32 ε")
        .vline(20.0, "W1 depth")
        .render(
            "On a log scale, ‖δ¹‖ falls in a straight line with depth for sigmoid (about 4× per layer, \
                 matching ¼ᴸ), more slowly for tanh, and grows for ReLU with He initialisation.",
        )
}

/// Training loss against step, log–log, for three learning rates.
fn loss_curves() -> Result<String> {
    let curve = |lr: f64, floor: f64| -> Vec<(f64, f64)> {
        (0..400)
            .map(|i| {
                let step = 10f64.powf(i as f64 / 100.0);
                (step, floor + 2.3 / (1.0 + lr * step).powf(0.8) * jitter(i, 0.05))
            })
            .collect()
    };
    LineChart::new("Training loss, deep sigmoid network")
        .x_label("step")
        .y_label("cross-entropy loss")
        .log_x()
        .log_y()
        .series("η = 0.01", curve(0.01, 0.02))
        .series("η = 0.1", curve(0.1, 0.01))
        .series("η = 1", curve(1.0, 0.005))
        .legend(Legend::Auto)
        .render("Loss falls as a power law in the step count; larger learning rates fall sooner.")
}

/// ‖δˡ‖ per layer for networks of several depths.
fn layer_profile() -> Result<String> {
    let mut chart = LayerProfile::new("Error signal per layer in sigmoid networks")
        .y_label("‖δˡ‖")
        .hline(1e-6, "10⁻⁶: no learning");
    for (k, depth) in [5usize, 10, 20, 30].into_iter().enumerate() {
        let values = (1..=depth).map(|l| 0.22f64.powi((depth - l) as i32) * 0.5 * jitter(l + 50 * k, 0.4)).collect();
        chart = chart.series(format!("{depth} layers"), values);
    }
    chart.render(
        "In every network ‖δˡ‖ is largest at the output layer and shrinks about 4.5× per layer \
         towards the input, so the 30-layer network's first layers get about 10⁻¹⁹ of it.",
    )
}

/// Activation histograms of a tanh network whose units saturate with depth.
fn histogram_grid() -> Result<String> {
    let mut rng = StdRng::seed_from_u64(7);
    let normal = Normal::new(0.0, 1.0)?;
    let mut grid = HistogramGrid::new("tanh activations per hidden layer, σ_w = 2 (too large)")
        .x_label("activation tanh(z)")
        .x_range(-1.0, 1.0)
        .shade(-1.0, -0.97, "saturated: |tanh z| > 0.97")
        .shade(0.97, 1.0, "saturated: |tanh z| > 0.97");
    for layer in 1..=8 {
        let spread = 0.6 + 0.45 * layer as f64;
        let values: Vec<f64> = (0..4000).map(|_| (spread * normal.sample(&mut rng)).tanh()).collect();
        let saturated = values.iter().filter(|v| v.abs() > 0.97).count() as f64 / values.len() as f64;
        grid = grid.panel(format!("layer {layer} · saturated {:.0}%", 100.0 * saturated), values);
    }
    grid.render(
        "Eight histograms of tanh activations. In layer 1 they spread over (−1, 1); \
         by layer 8 most sit in the shaded saturation regions at ±1.",
    )
}

/// log ‖δ¹‖/‖δᴸ‖ over an initialisation grid: blue where gradients vanish, red where they explode.
fn init_heatmap() -> Result<String> {
    let (columns, rows) = (25, 12);
    let grid: Vec<Vec<f64>> = (0..rows)
        .map(|r| {
            (0..columns)
                .map(|c| {
                    let sigma_w2 = 0.5 + 3.5 * c as f64 / (columns - 1) as f64;
                    let sigma_b2 = 0.3 * r as f64 / (rows - 1) as f64;
                    let chi = sigma_w2 * (0.32 - 0.25 * sigma_b2);
                    let ratio = chi.powi(20);
                    if r == rows - 1 && c == columns - 1 { f64::NAN } else { ratio }
                })
                .collect()
        })
        .collect();
    Heatmap::new("Gradient ratio ‖δ¹‖/‖δᴸ‖ over the initialisation grid, 20 layers", grid)
        .x_label("σ_w²")
        .x_centers(0.5, 4.0)
        .y_label("σ_b²")
        .y_centers(0.0, 0.3)
        .colorbar_label("‖δ¹‖ / ‖δᴸ‖")
        .log_color()
        .diverging(1.0)
        .render(
            "A heatmap over σ_w² (0.5 to 4) and σ_b² (0 to 0.3). The ratio is below 1 (blue, \
             vanishing) for small σ_w², near 1 (white) along a curve from σ_w² ≈ 3 to 4, above 1 \
             (red, exploding) beyond it, and one run diverged (grey).",
        )
}

/// Saturated fraction per layer over training steps, with values written in the cells.
fn training_heatmap() -> Result<String> {
    let steps = ["0", "100", "200", "500", "1k", "2k", "5k", "10k"];
    let layers = 6;
    let grid: Vec<Vec<f64>> = (0..layers)
        .map(|l| {
            (0..steps.len()).map(|s| (0.9 - 0.12 * l as f64) * (-(s as f64) / (2.0 + l as f64)).exp() + 0.02).collect()
        })
        .collect();
    Heatmap::new("Saturated fraction per layer during training", grid)
        .x_label("training step")
        .x_categories(steps.iter().map(|s| s.to_string()).collect())
        .y_label("layer")
        .y_categories((1..=layers).map(|l| l.to_string()).collect())
        .colorbar_label("saturated fraction")
        .color_range(0.0, 1.0)
        .annotate()
        .size(720, 360)
        .render(
            "A heatmap of the saturated fraction for six layers over eight checkpoints: \
             layer 1 starts at 90% saturated and recovers by step 500; deeper layers recover later.",
        )
}

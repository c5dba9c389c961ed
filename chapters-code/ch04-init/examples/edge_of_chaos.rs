//! Figures 4-5 and 4-6: the order-to-chaos phase diagram of tanh networks from the mean-field
//! recursion (Schoenholz et al. 2017), and per-layer gradients of simulated networks in each phase.
//!
//! `cargo run --release -p ch04-init --example edge_of_chaos -- --help`

use anyhow::Result;
use ch04_init::{GradientOptions, PhaseOptions, gradients_figure, phase_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "The edge of chaos for tanh: χ₁ over (σ_w², σ_b²), and simulated gradients in each phase (Figures 4-5, 4-6)"
)]
struct Args {
    /// Largest σ_w² of the phase diagram (it starts at 0.5).
    #[arg(long, default_value_t = 4.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    max_sigma_w2: f64,
    /// Largest σ_b² of the phase diagram (it starts at 0).
    #[arg(long, default_value_t = 0.3, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    max_sigma_b2: f64,
    /// Bias variance of the simulated networks.
    #[arg(long, default_value_t = 0.05, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    sigma_b2: f64,
    /// σ_w² of the ordered network (the critical one is computed).
    #[arg(long, default_value_t = 1.2, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    ordered: f64,
    /// σ_w² of the chaotic network.
    #[arg(long, default_value_t = 3.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    chaotic: f64,
    /// Hidden layers of the simulated networks.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per layer of the simulated networks.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Directory to write figures/ch04/chaos-*.{svg,json} under (default: target/figures).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into the book's src/ instead (what `book figures` does).
    #[arg(long)]
    book: bool,
    #[command(flatten)]
    common: Common,
}

fn main() {
    cli::exit_on_error(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    args.common.apply()?;
    let gen_opts = GenOptions { quick: args.common.quick, progress: true };
    let phase = PhaseOptions {
        sigma_w2_range: (0.5, args.max_sigma_w2),
        sigma_b2_range: (0.0, args.max_sigma_b2),
        ..PhaseOptions::default()
    };
    let phase_fig = phase_figure(&phase, &gen_opts)?;
    let grads = GradientOptions {
        sigma_b2: args.sigma_b2,
        ordered_sigma_w2: args.ordered,
        chaotic_sigma_w2: args.chaotic,
        depth: args.depth,
        width: args.width,
        seed: args.common.seed,
        ..GradientOptions::default()
    };
    let grad_fig = gradients_figure(&grads, &gen_opts)?;
    let d = &phase_fig.data;
    println!("critical σ_w² (χ₁ = 1) for tanh:");
    for (b, w) in d["sigma_b2"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(d["critical_sigma_w2"].as_array().into_iter().flatten())
        .step_by(5)
    {
        println!("  σ_b² = {:.3}: σ_w² = {:.4}", b.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(f64::NAN));
    }
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>10} {:>14} {:>14}",
        "network", "σ_w²", "q*", "χ₁", "ξ_∇", "E‖δ¹‖²/E‖δᴸ‖²", "mean field"
    );
    for r in grad_fig.data["runs"].as_array().into_iter().flatten() {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let xi = f("depth_scale");
        println!(
            "{:<10} {:>8.3} {:>8.4} {:>8.4} {:>10} {:>14.3e} {:>14.3e}",
            r["name"].as_str().unwrap_or("?"),
            f("sigma_w2"),
            f("q_star"),
            f("chi1"),
            if xi > 1e6 { "∞".to_string() } else { format!("{xi:.1}") },
            f("measured_first"),
            f("predicted_first")
        );
    }
    save_from_example(&[phase_fig, grad_fig], args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figures 4-7 and 4-8: the singular values of the input–output Jacobian of critical linear, tanh and
//! ReLU networks with Gaussian or orthogonal weights (Pennington, Schoenholz & Ganguli 2017).
//!
//! `cargo run --release -p ch04-init --example orthogonal_isometry -- --help`

use anyhow::Result;
use ch04_init::{IsometryOptions, isometry_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Dynamical isometry: spread of the input–output Jacobian's singular values against depth (Figures 4-7, 4-8)"
)]
struct Args {
    /// Units per layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Depths to measure at, ascending and comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Independent networks averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    networks: usize,
    /// Fixed point q* of the tanh networks (their σ_w², σ_b² are chosen on the critical line).
    #[arg(long, default_value_t = 1.0 / 64.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    tanh_q_star: f64,
    /// Depth whose singular values are histogrammed (one of --depths).
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    spectrum_depth: usize,
    /// Directory to write figures/ch04/isometry-*.{svg,json} under (default: target/figures).
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
    let opts = IsometryOptions {
        width: args.width,
        depths: args.depths,
        networks: args.networks,
        tanh_q_star: args.tanh_q_star,
        spectrum_depth: args.spectrum_depth,
        seed: args.common.seed,
    };
    let figs = isometry_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let d = &figs[0].data;
    let depths: Vec<u64> = d["depths"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()).collect();
    println!("var(λ)/mean(λ)² of the input–output Jacobian (measured / predicted L·slope)");
    print!("{:<22}", "network");
    for depth in &depths {
        print!(" {:>17}", format!("L = {depth}"));
    }
    println!();
    for c in d["configs"].as_array().into_iter().flatten() {
        print!("{:<22}", c["label"].as_str().unwrap_or("?"));
        let slope = c["theory_per_layer"].as_f64().unwrap_or(f64::NAN);
        for (k, depth) in depths.iter().enumerate() {
            let per_net: Vec<f64> =
                c["normalized_variance"][k].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
            let mean = per_net.iter().sum::<f64>() / per_net.len().max(1) as f64;
            print!(" {:>17}", format!("{mean:.3}/{:.3}", slope * *depth as f64));
        }
        println!();
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

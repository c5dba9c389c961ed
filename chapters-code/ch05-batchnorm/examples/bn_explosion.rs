//! Figures 5-6 and 5-7: Yang et al.'s (2019) gradient explosion of deep batch-normalised networks at
//! initialisation — the per-layer growth of ‖∂L/∂Wˡ‖² against the batch size.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_explosion -- --help`

use anyhow::Result;
use ch05_batchnorm::{ExplosionOptions, explosion_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Yang et al.: per-layer gradient growth of deep BatchNorm/LayerNorm networks against batch size (Figures 5-6, 5-7)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per layer (and input dimension).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Batch sizes, ascending, each at least 4.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16,32,64,128,256", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batches: Vec<usize>,
    /// Networks (weight draws) per batch size.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Layers dropped at each end before fitting the growth.
    #[arg(long, default_value_t = 5)]
    skip: usize,
    /// Directory to write figures/ch05/bn-explosion*.{svg,json} under (default: target/figures).
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
    let opts = ExplosionOptions {
        depth: args.depth,
        width: args.width,
        batches: args.batches,
        seeds: args.seeds,
        skip: args.skip,
        seed: args.common.seed,
    };
    let figs = explosion_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<20} {:>6} {:>12} {:>12}", "network", "B", "growth", "predicted");
    for cfg in figs[0].data["configs"].as_array().into_iter().flatten() {
        for run in cfg["runs"].as_array().into_iter().flatten() {
            let seeds: Vec<f64> =
                run["growth_per_seed"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
            let growth = run["growth"].as_f64().unwrap_or_else(|| lab::experiments::geo_mean(seeds.iter().copied()));
            let predicted = run["predicted"].as_f64().map_or("".to_string(), |p| format!("{p:.4}"));
            println!(
                "{:<20} {:>6} {:>12.4} {:>12}",
                cfg["name"].as_str().unwrap_or("?"),
                run["batch"].as_u64().unwrap_or(0),
                growth,
                predicted
            );
        }
    }
    println!("π/(π − 1) = {:.4}", lab::norm::relu_bn_growth_limit());
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

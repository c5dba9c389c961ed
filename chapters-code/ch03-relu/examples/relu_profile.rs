//! Figure 3-3: ‖δˡ‖ per hidden layer at initialisation for sigmoid, tanh and ReLU networks on the
//! digits, next to mean-field theory.
//!
//! `cargo run --release -p ch03-relu --example relu_profile -- --help`

use anyhow::Result;
use ch03_relu::{NetFamily, ProfileOptions, profile_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The per-layer error profile ‖δˡ‖ at initialisation, measured and predicted (Figure 3-3)")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = ch03_relu::cli::depth_at_least_2, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Digit images in the probe batch.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: usize,
    /// Weight draws per network (seeds 0, 1, …); the profile is their geometric mean.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Networks to compare, as activation@σ_w² (weights N(0, σ_w²/n)), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sigmoid@1,tanh@1,relu@1,relu@2", value_parser = ch03_relu::cli::family)]
    nets: Vec<NetFamily>,
    /// Directory to write figures/ch03/delta-profile.{svg,json} under (default: target/figures).
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
    let opts = ProfileOptions {
        depth: args.depth,
        width: args.width,
        n: args.n,
        seeds: args.seeds,
        families: args.nets,
        data_seed: args.common.seed,
    };
    let fig = profile_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!(
        "{:<26} {:>12} {:>12} {:>14} {:>16} {:>14}",
        "network", "‖δ¹‖", "‖δᴸ‖", "‖δ¹‖/‖δᴸ‖", "per-example", "theory"
    );
    for s in fig.data["series"].as_array().into_iter().flatten() {
        let norms: Vec<f64> = serde_json::from_value(s["delta_norms"].clone()).unwrap_or_default();
        let (first, last) = (norms.first().copied().unwrap_or(f64::NAN), norms.last().copied().unwrap_or(f64::NAN));
        println!(
            "{:<26} {:>12.3e} {:>12.3e} {:>14.3e} {:>16.3e} {:>14.3e}",
            s["label"].as_str().unwrap_or("?"),
            first,
            last,
            s["ratio_first_last"].as_f64().unwrap_or(f64::NAN),
            s["per_example_ratio"].as_f64().unwrap_or(f64::NAN),
            s["theory_ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

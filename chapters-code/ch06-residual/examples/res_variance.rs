//! Figure 6-3: the second moment of the residual stream along depth, for α = 1, α = 1/√L, with and
//! without a LayerNorm in front of each branch, and with zero-initialised branches.
//!
//! `cargo run --release -p ch06-residual --example res_variance -- --help`

use anyhow::Result;
use ch06_residual::{VarianceOptions, variance_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Second moment of the residual stream after every block, measured and predicted (Figure 6-3)")]
struct Args {
    /// Number of blocks L.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    blocks: usize,
    /// Width of the stream (and of the Gaussian input).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Inputs the second moment is averaged over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Directory to write figures/ch06/res-variance.{svg,json} under (default: target/figures).
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
    let opts = VarianceOptions { blocks: args.blocks, width: args.width, batch: args.batch, seed: args.common.seed };
    let fig = variance_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<26} {:>14} {:>18}", "network", format!("E[(x^{})²]", opts.blocks), "measured/predicted");
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        println!(
            "{:<26} {:>14.4e} {:>18.3}",
            r["name"].as_str().unwrap_or("?"),
            r["last"].as_f64().unwrap_or(f64::NAN),
            r["last_over_theory"].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

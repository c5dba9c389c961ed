//! Figures 6-5 and 6-6: Balduzzi et al.'s shattered gradients — how correlated dy/dx is at
//! neighbouring inputs of a 1-D network, plain against residual, as depth grows.
//!
//! `cargo run --release -p ch06-residual --example shattered_gradients -- --help`

use anyhow::{Result, ensure};
use ch06_residual::{ShatteredOptions, shattered_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Autocorrelation of dy/dx over a 1-D input for plain and residual nets against depth (Figures 6-5, 6-6)"
)]
struct Args {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Width of every layer.
    #[arg(long, default_value_t = 200, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Grid points in [−2, 2].
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    points: usize,
    /// Independently drawn networks averaged per depth.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    networks: usize,
    /// Largest lag of the autocorrelation function.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    max_lag: usize,
    /// Depth of the networks whose gradients Figure 6-6 draws (one of --depths).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    curve_depth: usize,
    /// Directory to write figures/ch06/shattered*.{svg,json} under (default: target/figures).
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
    ensure!(args.depths.windows(2).all(|w| w[0] < w[1]), "--depths must be ascending");
    let opts = ShatteredOptions {
        depths: args.depths,
        width: args.width,
        points: args.points,
        networks: args.networks,
        max_lag: args.max_lag,
        curve_depth: args.curve_depth,
        seed: args.common.seed,
    };
    let figs = shattered_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    print!("{:<22}", "lag-1 autocorrelation");
    for d in &opts.depths {
        print!(" {:>7}", format!("L={d}"));
    }
    println!();
    for r in figs[0].data["runs"].as_array().into_iter().flatten() {
        print!("{:<22}", r["name"].as_str().unwrap_or("?"));
        for v in r["lag1"].as_array().into_iter().flatten() {
            print!(" {:>7.3}", v.as_f64().unwrap_or(f64::NAN));
        }
        println!();
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

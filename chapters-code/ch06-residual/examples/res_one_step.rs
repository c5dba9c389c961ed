//! Figure 6-4: how far one SGD step moves the network's function, against depth, for standard,
//! scaled, SkipInit, zero-init and Fixup initialisations.
//!
//! `cargo run --release -p ch06-residual --example res_one_step -- --help`

use anyhow::{Result, ensure};
use ch06_residual::{OneStepOptions, one_step_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Size of the function change after one SGD step against depth, with and without Fixup (Figure 6-4)")]
struct Args {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 4, 8, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Digits in the batch of the step (and of the measurement).
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate η of the step.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    lr: f64,
    /// Independently drawn networks averaged per point.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    networks: usize,
    /// Directory to write figures/ch06/res-one-step.{svg,json} under (default: target/figures).
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
    let opts = OneStepOptions {
        depths: args.depths,
        width: args.width,
        batch: args.batch,
        lr: args.lr,
        networks: args.networks,
        seed: args.common.seed,
    };
    let fig = one_step_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    print!("{:<32}", "initialisation");
    for d in &opts.depths {
        print!(" {:>9}", format!("L={d}"));
    }
    println!();
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        print!("{:<32}", r["name"].as_str().unwrap_or("?"));
        for c in r["change"].as_array().into_iter().flatten() {
            print!(" {:>9.3e}", c.as_f64().unwrap_or(f64::NAN));
        }
        println!();
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

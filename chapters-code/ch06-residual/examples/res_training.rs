//! Figure 6-2: training plain, plain + LayerNorm and residual MLPs of 8 to 64 blocks on digits.
//!
//! `cargo run --release -p ch06-residual --example res_training -- --help`

use anyhow::{Result, ensure};
use ch06_residual::{TrainingOptions, training_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Training loss of plain vs residual MLPs at several depths on lab's digits (Figure 6-2)")]
struct Args {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate of SGD with momentum (the same for every network).
    #[arg(long, default_value_t = 0.02, value_parser = cli::finite_positive_f64)]
    lr: f64,
    /// Momentum.
    #[arg(long, default_value_t = 0.9, value_parser = cli::finite_non_negative_f64)]
    momentum: f64,
    /// Training digits.
    #[arg(long, default_value_t = 1500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_examples: usize,
    /// Directory to write figures/ch06/res-training.{svg,json} under (default: target/figures).
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
    ensure!(args.momentum < 1.0, "--momentum must be below 1");
    let opts = TrainingOptions {
        depths: args.depths,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        momentum: args.momentum,
        train_examples: args.train_examples,
        seed: args.common.seed,
    };
    let fig = training_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:>6} {:<22} {:>10} {:>16}", "blocks", "network", "first loss", "final loss (20)");
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let losses = r["losses"].as_array().cloned().unwrap_or_default();
        let last = r["final_loss"].as_f64().or_else(|| losses.last().and_then(|v| v.as_f64()));
        println!(
            "{:>6} {:<22} {:>10.3} {:>16.3}",
            r["depth"],
            r["name"].as_str().unwrap_or("?"),
            losses.first().and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
            last.unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figure 6-7: Veit et al.'s lesion study — delete one block of a trained plain or residual MLP at
//! test time and measure the damage.
//!
//! `cargo run --release -p ch06-residual --example res_lesion -- --help`

use anyhow::{Result, ensure};
use ch06_residual::{LesionOptions, lesion_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Delete one block of a trained plain or residual MLP at test time (Figure 6-7)")]
struct Args {
    /// Number of blocks.
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    blocks: usize,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 400, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate of SGD with momentum.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    lr: f64,
    /// Momentum.
    #[arg(long, default_value_t = 0.9, value_parser = cli::finite_non_negative_f64)]
    momentum: f64,
    /// Training digits.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_examples: usize,
    /// Held-out digits the lesions are evaluated on.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    test_examples: usize,
    /// Directory to write figures/ch06/lesion.{svg,json} under (default: target/figures).
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
    ensure!(args.momentum < 1.0, "--momentum must be below 1");
    let opts = LesionOptions {
        blocks: args.blocks,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        momentum: args.momentum,
        train_examples: args.train_examples,
        test_examples: args.test_examples,
        seed: args.common.seed,
    };
    let fig = lesion_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let acc: Vec<String> = r["lesioned_accuracy"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!("{:.2}", v.as_f64().unwrap_or(f64::NAN)))
            .collect();
        println!(
            "{:<20} intact {:.3}; one block deleted: [{}]",
            r["name"].as_str().unwrap_or("?"),
            r["intact_accuracy"].as_f64().unwrap_or(f64::NAN),
            acc.join(", ")
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

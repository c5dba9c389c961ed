//! Figure 4-4: training a deep ReLU MLP from He, Xavier and LSUV initialisation.
//!
//! `cargo run --release -p ch04-init --example he_init_training -- --help`

use anyhow::Result;
use ch04_init::{HeTrainingOptions, he_training_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Training curves of a deep ReLU MLP on digits from He, Xavier and LSUV initialisation (Figure 4-4)")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Optimiser steps per run.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate of SGD with momentum.
    #[arg(long, default_value_t = 0.005, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Momentum (PyTorch's convention).
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    momentum: f64,
    /// Training images.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_examples: usize,
    /// Held-out images.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    test_examples: usize,
    /// Directory to write figures/ch04/he-training.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.momentum < 1.0, "--momentum must be below 1, got {}", args.momentum);
    anyhow::ensure!(
        args.batch <= args.train_examples,
        "--batch ({}) cannot exceed --train-examples ({})",
        args.batch,
        args.train_examples
    );
    let opts = HeTrainingOptions {
        depth: args.depth,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        momentum: args.momentum,
        train_examples: args.train_examples,
        test_examples: args.test_examples,
        seed: args.common.seed,
    };
    let fig = he_training_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<34} {:>12} {:>12} {:>10}", "init", "first loss", "last loss", "test acc");
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let losses = r["losses"].as_array().cloned().unwrap_or_default();
        let f = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        println!(
            "{:<34} {:>12.4} {:>12.4} {:>10.3}",
            r["name"].as_str().unwrap_or("?"),
            f(losses.first()),
            f(losses.last()),
            f(r.get("test_accuracy"))
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

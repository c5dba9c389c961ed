//! Figure 3-4: ‖δ¹‖/‖δᴸ‖ while sigmoid, tanh and ReLU networks train on the digits.
//!
//! `cargo run --release -p ch03-relu --example relu_training -- --help`

use anyhow::Result;
use ch03_relu::{TrainedFamily, TrainingOptions, training_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The first-over-last error ratio ‖δ¹‖/‖δᴸ‖ during training (Figure 3-4)")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 10, value_parser = ch03_relu::cli::depth_at_least_2, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// SGD steps (minibatches).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Measure the profile every this many steps.
    #[arg(long, default_value_t = 25, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    every: usize,
    /// Momentum of SGD.
    #[arg(long, default_value_t = 0.9, value_parser = cli::probability, allow_negative_numbers = true)]
    momentum: f64,
    /// Networks as activation@σ_w²:learning_rate, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sigmoid@1:0.1,tanh:0.01,relu@2:0.01", value_parser = ch03_relu::cli::trained_family)]
    nets: Vec<TrainedFamily>,
    /// Directory to write figures/ch03/delta-training.{svg,json} under (default: target/figures).
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
    let opts = TrainingOptions {
        depth: args.depth,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        every: args.every,
        momentum: args.momentum,
        nets: args.nets,
        seed: args.common.seed,
        ..TrainingOptions::default()
    };
    let fig = training_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!(
        "{:<26} {:>7} {:>14} {:>14} {:>14} {:>10}",
        "network", "lr", "ratio at 0", "ratio at end", "min ratio", "test acc."
    );
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<26} {:>7} {:>14.3e} {:>14.3e} {:>14.3e} {:>10.3}",
            r["label"].as_str().unwrap_or("?"),
            f("lr"),
            f("initial_ratio"),
            f("final_ratio"),
            f("min_ratio"),
            f("test_accuracy")
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

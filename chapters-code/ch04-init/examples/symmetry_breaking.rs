//! Figure 4-10: a tanh MLP trained from all zeros, from one constant and from a random draw — how
//! far apart its units get, and what it learns.
//!
//! `cargo run --release -p ch04-init --example symmetry_breaking -- --help`

use anyhow::Result;
use ch04_init::{SymmetryOptions, symmetry_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Zero, constant and random starts: do a layer's units ever differ, and what does the net learn? (Figure 4-10)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// SGD steps per run.
    #[arg(long, default_value_t = 400, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    record_every: usize,
    /// Training images.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_examples: usize,
    /// Held-out images.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    test_examples: usize,
    /// Directory to write figures/ch04/symmetry.{svg,json} under (default: target/figures).
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
    let opts = SymmetryOptions {
        depth: args.depth,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        record_every: args.record_every,
        train_examples: args.train_examples,
        test_examples: args.test_examples,
        seed: args.common.seed,
    };
    let fig = symmetry_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<24} {:>10} {:>28}", "start", "test acc", "unit spread per layer (end)");
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let spreads: Vec<String> = r["spreads"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
            .map(|v| format!("{:.2e}", v.as_f64().unwrap_or(f64::NAN)))
            .collect();
        println!(
            "{:<24} {:>10.3} {:>28}",
            r["label"].as_str().unwrap_or("?"),
            r["test_accuracy"].as_array().and_then(|a| a.last()).and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
            spreads.join(" ")
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

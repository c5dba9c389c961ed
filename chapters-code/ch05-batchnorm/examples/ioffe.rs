//! Figures 5-2 to 5-5: Ioffe & Szegedy's (2015, §4.1) experiment at small scale — a deep sigmoid MLP
//! on lab's digits with and without BatchNorm, the input distribution of one sigmoid over training,
//! the gradient profile, and evaluation in training mode.
//!
//! `cargo run --release -p ch05-batchnorm --example ioffe -- --help`

use anyhow::{Result, ensure};
use ch05_batchnorm::ioffe::{IoffeOptions, ioffe_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Ioffe & Szegedy §4.1 at small scale: a deep sigmoid MLP with and without BatchNorm (Figures 5-2 to 5-5)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// SGD steps.
    #[arg(long, default_value_t = 3000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size (Ioffe & Szegedy: 60).
    #[arg(long, default_value_t = 60, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.5, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Evaluate every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    eval_every: usize,
    /// Training digits.
    #[arg(long, default_value_t = 6000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_examples: usize,
    /// Held-out digits (at least 1000).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    test_examples: usize,
    /// The last hidden layer's unit whose sigmoid input is tracked.
    #[arg(long, default_value_t = 0)]
    unit: usize,
    /// Directory to write figures/ch05/{ioffe,ioffe-percentiles,bn-profile,bn-eval-mode}.{svg,json} under (default: target/figures).
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
    ensure!(
        args.batch <= args.train_examples,
        "--batch {} cannot exceed --train-examples {}",
        args.batch,
        args.train_examples
    );
    let opts = IoffeOptions {
        depth: args.depth,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lr: args.lr,
        eval_every: args.eval_every,
        train_examples: args.train_examples,
        test_examples: args.test_examples,
        unit: args.unit,
        seed: args.common.seed,
    };
    let figs = ioffe_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for r in figs[0].data["runs"].as_array().into_iter().flatten() {
        let acc = r["accuracy"].as_array().cloned().unwrap_or_default();
        let p = r["percentiles"].as_array().cloned().unwrap_or_default();
        let last = |v: &[serde_json::Value]| v.last().cloned().unwrap_or_default();
        println!(
            "{:<18} accuracy {:.3} → {:.3}; sigmoid input percentiles {} → {} (first evaluation → last)",
            r["name"].as_str().unwrap_or("?"),
            acc.first().and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
            last(&acc).as_f64().unwrap_or(f64::NAN),
            p.first().map(|v| v.to_string()).unwrap_or_default(),
            last(&p)
        );
    }
    if let Some(s) = figs[0].data.get("summary") {
        println!(
            "training-mode accuracy of the BatchNorm net at test batch 1, 2, 16, all: {} {} {} {}",
            s["bn_train_mode_accuracy_b1"],
            s["bn_train_mode_accuracy_b2"],
            s["bn_train_mode_accuracy_b16"],
            s["bn_train_mode_accuracy_full"]
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

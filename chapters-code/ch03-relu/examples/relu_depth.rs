//! Figure 3-5: test accuracy against depth for sigmoid, tanh and ReLU networks on the digits, each
//! with the same training budget and the best of the same learning-rate grid.
//!
//! `cargo run --release -p ch03-relu --example relu_depth -- --help`

use anyhow::Result;
use ch03_relu::{DepthOptions, NetFamily, depth_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Test accuracy against depth under one training budget (Figure 3-5)")]
struct Args {
    /// Depths (hidden layers), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,8,16", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// SGD steps per run.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Learning-rate grid (momentum SGD), comma-separated; the best on the validation set is kept.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.003,0.01,0.03,0.1,0.3", value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lrs: Vec<f64>,
    /// Networks as activation[@σ_w²] (default σ_w²: the activation's recommended gain squared).
    #[arg(long, value_delimiter = ',', default_value = "sigmoid,tanh,relu", value_parser = ch03_relu::cli::family)]
    nets: Vec<NetFamily>,
    /// Trainings run side by side (each is single-threaded work; 2 suits two cores).
    #[arg(long, default_value_t = 2, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    workers: usize,
    /// Directory to write figures/ch03/depth-accuracy.{svg,json} under (default: target/figures).
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
    let opts = DepthOptions {
        depths: args.depths,
        width: args.width,
        steps: args.steps,
        batch: args.batch,
        lrs: args.lrs,
        families: args.nets,
        workers: args.workers,
        seed: args.common.seed,
        ..DepthOptions::default()
    };
    let fig = depth_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    print!("{:<26}", "test accuracy (best lr)");
    for d in &opts.depths {
        print!(" {:>14}", format!("depth {d}"));
    }
    println!();
    for s in fig.data["series"].as_array().into_iter().flatten() {
        print!("{:<26}", s["label"].as_str().unwrap_or("?"));
        for (a, lr) in
            s["test_accuracy"].as_array().into_iter().flatten().zip(s["best_lr"].as_array().into_iter().flatten())
        {
            print!(" {:>14}", format!("{:.3} ({})", a.as_f64().unwrap_or(f64::NAN), lr));
        }
        println!();
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

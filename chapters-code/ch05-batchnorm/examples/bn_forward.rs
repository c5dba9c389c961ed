//! Figure 5-1: the input to every sigmoid of the chapter's network at initialisation, without and
//! with BatchNorm.
//!
//! `cargo run --release -p ch05-batchnorm --example bn_forward -- --help`

use anyhow::Result;
use ch05_batchnorm::IoffeOptions;
use ch05_batchnorm::forward::forward_figure;
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The input to every sigmoid at initialisation, without and with BatchNorm (Figure 5-1)")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Held-out digits the histograms are taken over.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    test_examples: usize,
    /// Directory to write figures/ch05/bn-forward.{svg,json} under (default: target/figures).
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
    let opts = IoffeOptions {
        depth: args.depth,
        width: args.width,
        test_examples: args.test_examples,
        seed: args.common.seed,
        ..IoffeOptions::default()
    };
    let fig = forward_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let stds: Vec<String> = r["unit_std"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!("{:.3}", v.as_f64().unwrap_or(f64::NAN)))
            .collect();
        println!(
            "{:<18} per-unit spread over the examples, layer by layer: {}",
            r["name"].as_str().unwrap_or("?"),
            stds.join(", ")
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

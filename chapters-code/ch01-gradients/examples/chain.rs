//! Figure 1-3: the chain-rule product ∂aᴸ/∂a⁰ against depth, measured by autograd.
//!
//! `cargo run --release -p ch01-gradients --example chain -- --help`

use anyhow::Result;
use ch01_gradients::{ChainOptions, chain_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The chain-rule product through chains of scalar neurons against depth (Figure 1-3)")]
struct Args {
    /// Longest chain.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Depth whose values are printed and quoted.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    report_depth: usize,
    /// Directory to write figures/ch01/chain-product.{svg,json} under (default: target/figures).
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
    let fig = chain_figure(
        &ChainOptions { depth: args.depth, report_depth: args.report_depth },
        &GenOptions { quick: args.common.quick, progress: true },
    )?;
    let at = args.report_depth - 1;
    for s in fig.data["series"].as_array().into_iter().flatten() {
        println!(
            "{:<16} depth {}: {:.3e}",
            s["label"].as_str().unwrap_or("?"),
            args.report_depth,
            s["values"][at].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!(
        "{:<16} depth {}: {:.3e}",
        "bound 4^-L",
        args.report_depth,
        fig.data["bound"][at].as_f64().unwrap_or(f64::NAN)
    );
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

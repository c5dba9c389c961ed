//! Figures 8-3 and 8-4: the residual stream's size and the error arriving on it, block by block, for
//! Post-LN, Pre-LN, Pre-LN with GPT-2's 1/√(2N) scaling and DeepNorm.
//!
//! `cargo run --release -p ch08-transformers --example residual_stream -- --help`

use anyhow::Result;
use ch08_transformers::{StreamOptions, stream_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The residual stream by block: second moment and gradient (Figures 8-3, 8-4)")]
struct Args {
    /// Number of blocks N.
    #[arg(long, default_value_t = 24, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Sequences per measurement.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Weight draws averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Directory to write figures/ch08/stream-*.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.depth >= 2, "--depth must be at least 2, got {}", args.depth);
    let opts = StreamOptions { depth: args.depth, batch: args.batch, seeds: args.seeds, ..StreamOptions::default() };
    let figs = stream_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<18} {:>12} {:>12} {:>14} {:>14}", "", "E[x²] in", "E[x²] out", "‖∂L/∂x⁰‖", "‖∂L/∂xᴺ‖");
    for s in figs[0].data["summary"].as_array().into_iter().flatten() {
        let num = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<18} {:>12.3} {:>12.3} {:>14.3e} {:>14.3e}",
            s["name"].as_str().unwrap_or("?"),
            num("stream_first"),
            num("stream_last"),
            num("grad_first"),
            num("grad_last"),
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

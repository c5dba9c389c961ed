//! Figures 8-1 and 8-2: per-block weight gradients of untrained Post-LN and Pre-LN transformers at
//! several depths, and the last block's gradient against depth (Xiong et al. 2020).
//!
//! `cargo run --release -p ch08-transformers --example ln_gradients -- --help`

use anyhow::Result;
use ch08_transformers::{LnOptions, ln_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Post-LN vs Pre-LN: weight gradients per block at initialisation (Figures 8-1, 8-2)")]
struct Args {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "6,12,24", value_parser = cli::positive_usize)]
    depths: Vec<usize>,
    /// Sequences per measurement.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Weight draws averaged over.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Directory to write figures/ch08/ln-*.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.depths.windows(2).all(|w| w[0] < w[1]), "--depths must be ascending");
    let opts = LnOptions { depths: args.depths, batch: args.batch, seeds: args.seeds, ..LnOptions::default() };
    let figs = ln_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<10} {:>6} {:>14} {:>14} {:>16}", "", "blocks", "‖∂L/∂W₂¹‖", "‖∂L/∂W₂ᴺ‖", "last/first (all W)");
    for s in figs[0].data["summary"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {:>6} {:>14.3e} {:>14.3e} {:>16.2}",
            s["name"].as_str().unwrap_or("?"),
            s["depth"],
            s["first_w2"].as_f64().unwrap_or(f64::NAN),
            s["last_w2"].as_f64().unwrap_or(f64::NAN),
            s["last_over_first"].as_f64().unwrap_or(f64::NAN),
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figure 4-9: LSUV (Mishkin & Matas 2016) on ReLU, tanh, GELU and sigmoid networks — what it does to
//! each layer's forward variance and to the back-propagated signal.
//!
//! `cargo run --release -p ch04-init --example lsuv_init -- --help`

use anyhow::Result;
use ch04_init::{LsuvOptions, lsuv_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "LSUV on several activations: forward std per layer before and after, and the backward signal (Figure 4-9)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Digit images in the LSUV minibatch (and the statistics).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Directory to write figures/ch04/lsuv.{svg,json} under (default: target/figures).
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
    let opts = LsuvOptions { depth: args.depth, width: args.width, batch: args.batch, seed: args.common.seed };
    let fig = lsuv_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!(
        "{:<9} {:>22} {:>20} {:>12} {:>16}",
        "act", "std z (ℓ=2) before", "max |std − 1| after", "mean gain", "rms δ¹ / rms δᴸ"
    );
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<9} {:>22.4} {:>20.2e} {:>12.4} {:>16.3e}",
            r["activation"].as_str().unwrap_or("?"),
            r["pre_std_before"][1].as_f64().unwrap_or(f64::NAN),
            f("max_std_error_after"),
            f("mean_gain"),
            f("delta_first_over_last")
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figures 8-5 and 8-6: Post-LN and Pre-LN transformers trained with Adam at several peak learning
//! rates, with and without a linear warm-up.
//!
//! `cargo run --release -p ch08-transformers --example warmup -- --help`

use anyhow::Result;
use ch08_transformers::{WarmupOptions, warmup_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Learning-rate warm-up for Post-LN and Pre-LN transformers (Figures 8-5, 8-6)")]
struct Args {
    /// Peak learning rates, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0.003,0.01,0.03", value_parser = cli::finite_positive_f64)]
    lrs: Vec<f64>,
    /// Number of blocks.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    blocks: usize,
    /// Linear warm-up steps of the runs with warm-up.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    warmup: usize,
    /// Adam steps per run.
    #[arg(long, default_value_t = 150, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Directory to write figures/ch08/warmup-*.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.lrs.windows(2).all(|w| w[0] < w[1]), "--lrs must be ascending");
    let opts = WarmupOptions {
        lrs: args.lrs,
        blocks: args.blocks,
        warmup: args.warmup,
        steps: args.steps,
        seed: args.common.seed,
        ..WarmupOptions::default()
    };
    let figs = warmup_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:<28} {:>8} {:>12} {:>10}", "", "lr", "final loss", "accuracy");
    for r in figs[0].data["runs"].as_array().into_iter().flatten() {
        let num = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<28} {:>8} {:>12.3} {:>10.3}",
            r["name"].as_str().unwrap_or("?"),
            r["lr"],
            num("final_loss"),
            num("accuracy")
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

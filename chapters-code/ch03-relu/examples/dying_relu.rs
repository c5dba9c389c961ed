//! Figures 3-6 and 3-7: a few steps at a too-large learning rate kill most ReLU units for good; leaky
//! ReLU and GELU units come back.
//!
//! `cargo run --release -p ch03-relu --example dying_relu -- --help`

use anyhow::Result;
use ch03_relu::{DyingOptions, dying_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Dying ReLU after a spike of too-large learning rate, and leaky ReLU and GELU as fixes (Figures 3-6, 3-7)"
)]
struct Args {
    /// Adam's learning rate during the mild spike (Figure 3-6).
    #[arg(long, default_value_t = 0.03, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    mild_spike: f64,
    /// Adam's learning rate during the strong spike (Figure 3-7).
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    strong_spike: f64,
    /// Steps of each spike (a multiple of --every).
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    spike_steps: usize,
    /// Adam's learning rate after the spike.
    #[arg(long, default_value_t = 0.003, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Steps after the spike.
    #[arg(long, default_value_t = 450, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Seeds (weights and batches) per network; curves are their mean.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 25, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    every: usize,
    /// Directory to write figures/ch03/dying-{units,accuracy}.{svg,json} under (default: target/figures).
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
    let opts = DyingOptions {
        mild_spike_lr: args.mild_spike,
        strong_spike_lr: args.strong_spike,
        spike_steps: args.spike_steps,
        lr: args.lr,
        steps: args.steps,
        depth: args.depth,
        width: args.width,
        seeds: args.seeds,
        every: args.every,
        data_seed: args.common.seed,
        ..DyingOptions::default()
    };
    let figs = dying_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!(
        "{:<34} {:>16} {:>12} {:>16} {:>12}",
        "network", "inactive, spike", "acc., spike", "inactive, end", "acc., end"
    );
    for s in figs[0].data["series"].as_array().into_iter().flatten() {
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<34} {:>16.3} {:>12.3} {:>16.3} {:>12.3}",
            s["label"].as_str().unwrap_or("?"),
            f("inactive_after_spike"),
            f("accuracy_after_spike"),
            f("inactive_end"),
            f("accuracy_end")
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

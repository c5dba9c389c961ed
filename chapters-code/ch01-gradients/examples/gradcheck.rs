//! Figure 1-2: the finite-difference gradient check's relative error against the step h, f32 vs f64.
//!
//! `cargo run --release -p ch01-gradients --example gradcheck -- --help`

use anyhow::Result;
use ch01_gradients::{GradcheckOptions, gradcheck_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use lab::Activation;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Relative error of a finite-difference gradient check against the step h, in f32 and f64 (Figure 1-2)"
)]
struct Args {
    /// Hidden activation.
    #[arg(long, default_value = "sigmoid", value_parser = cli::activation)]
    activation: Activation,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 12, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Examples in the batch the loss is computed on.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Entries checked per weight matrix and per bias vector.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    per_var: usize,
    /// Directory to write figures/ch01/gradcheck.{svg,json} under (default: target/figures).
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
    let opts = GradcheckOptions {
        activation: args.activation,
        width: args.width,
        depth: args.depth,
        batch: args.batch,
        per_var: args.per_var,
        seed: args.common.seed,
    };
    let fig = gradcheck_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:>8}  {:>10}  {:>10}", "h", "f32", "f64");
    for row in fig.data["rows"].as_array().into_iter().flatten() {
        let v = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        println!("{:>8.0e}  {:>10.2e}  {:>10.2e}", v("h"), v("f32"), v("f64"));
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

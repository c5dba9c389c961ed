//! Figure 1-1: full-batch gradient descent on least squares at fractions of the stability limit 2/λ_max.
//!
//! `cargo run --release -p ch01-gradients --example descent -- --help`

use anyhow::Result;
use ch01_gradients::{DescentOptions, descent_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Gradient descent on least squares at fractions of the stability limit 2/λ_max (Figure 1-1)")]
struct Args {
    /// Number of data points.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: usize,
    /// Mean of the inputs x (an offset makes the loss bowl elongated: λ_max/λ_min grows).
    #[arg(long, default_value_t = 3.0, value_parser = cli::finite_f64, allow_negative_numbers = true)]
    x_mean: f64,
    /// Gradient-descent steps.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Learning rates, as fractions of the limit 2/λ_max, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,0.95,1.05", value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    fractions: Vec<f64>,
    /// Directory to write figures/ch01/descent.{svg,json} under (default: target/figures).
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
    let opts = DescentOptions {
        n: args.n,
        x_mean: args.x_mean,
        steps: args.steps,
        fractions: args.fractions,
        seed: args.common.seed,
    };
    let fig = descent_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let d = &fig.data;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "λ_min = {:.4}, λ_max = {:.4}, stability limit 2/λ_max = {:.4}",
        num(&d["lambda_min"]),
        num(&d["lambda_max"]),
        num(&d["limit"])
    );
    for run in d["runs"].as_array().into_iter().flatten() {
        let losses = run["losses"].as_array().map_or(0, |l| l.len());
        println!(
            "η = {:>5} × limit: {} steps, loss {:.3e} → {:.3e}",
            run["fraction"],
            losses - 1,
            run["losses"][0].as_f64().unwrap_or(f64::NAN),
            run["losses"][losses - 1].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

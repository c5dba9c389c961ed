//! Figures 3-1 and 3-2: ReLU, leaky ReLU, GELU, sigmoid and tanh, and their derivatives, with the
//! table of slopes that decides how an error signal fares through a random layer.
//!
//! `cargo run --release -p ch03-relu --example rectifiers -- --help`

use anyhow::Result;
use ch03_relu::shapes;
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use lab::Activation;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "The activations, their derivatives and the table of slopes (Figures 3-1 and 3-2)")]
struct Args {
    /// Extra activations to add to the printed table (e.g. leaky_relu:0.2,softsign); the figures always
    /// show the chapter's five.
    #[arg(long, value_delimiter = ',', value_parser = cli::activation)]
    also: Vec<Activation>,
    /// Directory to write figures/ch03/{activations,derivatives}.{svg,json} under (default: target/figures).
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
    let figures = ch03_relu::shapes_figures(&GenOptions { quick: args.common.quick, progress: true })?;
    let mut acts = shapes::compared();
    acts.extend(args.also.iter().copied());
    println!("z ~ N(0, 1)          sup|f'|   E[f'²]  E[f'²] (q=4)  P(f'=1)  χ (σ_w²=1)  χ (σ_w²=2)  σ_w² for χ=1");
    for r in shapes::slope_table(&acts) {
        println!(
            "{:<20} {:>7.4}  {:>7.4}  {:>12.4}  {:>7.2}  {:>10.4}  {:>10.4}  {:>12.4}",
            r.label,
            r.max_slope,
            r.mean_slope2,
            r.mean_slope2_q4,
            r.share_of_unit_slope,
            r.chi_lecun,
            r.chi_he,
            r.critical_gain2
        );
    }
    let ((zmin, dmin), (zmax, dmax)) = shapes::gelu_derivative_extremes();
    println!("GELU′ ranges from {dmin:.4} (z = {zmin:.4}) to {dmax:.4} (z = {zmax:.4})");
    save_from_example(&figures, args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figures 4-1 and 4-2: Glorot & Bengio's (2010, §4.2) tanh network at initialisation under the
//! "standard" and the "normalized" (Xavier) initialisation, and the mean singular value of its layer
//! Jacobians.
//!
//! `cargo run --release -p ch04-init --example glorot_init -- --help`

use anyhow::Result;
use ch04_init::{GlorotOptions, glorot_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Glorot & Bengio §4.2: a tanh MLP at initialisation, standard vs normalized init (Figures 4-1, 4-2)")]
struct Args {
    /// Hidden units per layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Hidden layers (at least 2: Jacobians are taken between equal-width layers).
    #[arg(long, default_value_t = 5, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Digit images the statistics are taken over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Images whose layer Jacobians are decomposed.
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    jacobian_examples: usize,
    /// Directory to write figures/ch04/glorot-*.{svg,json} under (default: target/figures).
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
    let opts = GlorotOptions {
        width: args.width,
        depth: args.depth,
        batch: args.batch,
        jacobian_examples: args.jacobian_examples,
        seed: args.common.seed,
    };
    let figs = glorot_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let d = &figs[1].data;
    println!("{:<11} {:>5} {:>10} {:>10} {:>10}", "init", "layer", "act std", "δ std", "∂L/∂W std");
    for init in d["inits"].as_array().into_iter().flatten() {
        for l in init["layers"].as_array().into_iter().flatten() {
            println!(
                "{:<11} {:>5} {:>10.4} {:>10.3e} {:>10.3e}",
                init["name"].as_str().unwrap_or("?"),
                l["layer"],
                l["act_std"].as_f64().unwrap_or(f64::NAN),
                l["delta_std"].as_f64().unwrap_or(f64::NAN),
                l["grad_w_std"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    for init in d["inits"].as_array().into_iter().flatten() {
        let per_example = init["jacobian_mean_sv"]
            .as_array()
            .map(|a| {
                a.iter().flat_map(|e| e.as_array().into_iter().flatten().filter_map(|v| v.as_f64())).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mean = per_example.iter().sum::<f64>() / per_example.len().max(1) as f64;
        println!(
            "{:<11} mean singular value of the layer Jacobians {mean:.3} (random-matrix baseline {:.3})",
            init["name"].as_str().unwrap_or("?"),
            init["quarter_circle_prediction"].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

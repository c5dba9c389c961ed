//! Figure 4-3: He et al.'s (2015, §2.2) variance argument, measured — the std of every layer's
//! pre-activations in a deep ReLU MLP under He, Xavier and PyTorch's default initialisation.
//!
//! `cargo run --release -p ch04-init --example he_init -- --help`

use anyhow::Result;
use ch04_init::{HeVarianceOptions, he_variance_figure};
use clap::Parser;
use lab::cli::{self, Common};
use lab::figure::{GenOptions, save_from_example};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "He et al. §2.2: per-layer std of a deep ReLU MLP's pre-activations under He, Xavier and U(±1/√n) (Figure 4-3)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per layer (and input dimension).
    #[arg(long, default_value_t = 512, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Gaussian inputs the statistics are taken over.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Directory to write figures/ch04/he-variance.{svg,json} under (default: target/figures).
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
    let opts = HeVarianceOptions { depth: args.depth, width: args.width, batch: args.batch, seed: args.common.seed };
    let fig = he_variance_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let runs = fig.data["runs"].as_array().cloned().unwrap_or_default();
    let last = runs.first().and_then(|r| r["pre_std"].as_array()).map_or(0, |a| a.len());
    println!("{:<30} {:>10} {:>12} {:>12} {:>14}", "init", "n·Var(W)", "std z¹", format!("std z^{last}"), "theory z^L");
    for r in &runs {
        let s = |k: &str, i: usize| r[k][i].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<30} {:>10.3} {:>12.4} {:>12.3e} {:>14.3e}",
            r["name"].as_str().unwrap_or("?"),
            r["n_var_w"].as_f64().unwrap_or(f64::NAN),
            s("pre_std", 0),
            s("pre_std", last - 1),
            s("theory_std", last - 1)
        );
    }
    if let Some(s) = fig.data.get("summary") {
        println!(
            "rms δ¹ / rms δᴸ: He {:.3}, Xavier {:.3e}",
            s["he_delta_ratio"].as_f64().unwrap_or(f64::NAN),
            s["xavier_delta_ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

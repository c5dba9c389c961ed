//! Figure 6-1: ‖∂L/∂W₁ˡ‖ of every block at initialisation, plain against residual MLPs of 8 to 64
//! blocks.
//!
//! `cargo run --release -p ch06-residual --example res_profile -- --help`

use anyhow::{Result, ensure};
use ch06_residual::{ProfileOptions, profile_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Per-block gradient norms at initialisation, plain vs residual MLPs at several depths (Figure 6-1)")]
struct Args {
    /// Numbers of blocks, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 16, 32, 64], value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Width of the stream and the branches.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Digits in the batch the loss is taken over.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Independently drawn networks averaged per depth.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    networks: usize,
    /// Directory to write figures/ch06/res-profile.{svg,json} under (default: target/figures).
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
    ensure!(args.depths.windows(2).all(|w| w[0] < w[1]), "--depths must be ascending");
    let opts = ProfileOptions {
        depths: args.depths,
        width: args.width,
        batch: args.batch,
        networks: args.networks,
        seed: args.common.seed,
    };
    let fig = profile_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!("{:>6} {:<22} {:>12} {:>12} {:>12}", "blocks", "network", "‖∂L/∂W₁¹‖", "‖∂L/∂W₁ᴸ‖", "first/last");
    for r in fig.data["runs"].as_array().into_iter().flatten() {
        let g = r["grad_w1"].as_array().cloned().unwrap_or_default();
        let at = |i: usize| g.get(i).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        println!(
            "{:>6} {:<22} {:>12.4} {:>12.4} {:>12.2}",
            r["depth"],
            r["name"].as_str().unwrap_or("?"),
            at(0),
            at(g.len().saturating_sub(1)),
            r["first_over_last"].as_f64().unwrap_or(f64::NAN)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figure 3-8: the share of random narrow ReLU networks that are born dead, against depth, with the
//! bounds derived in the chapter.
//!
//! `cargo run --release -p ch03-relu --example born_dead -- --help`

use anyhow::Result;
use ch03_relu::{BornDeadOptions, born_dead, born_dead_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "How often a random deep, narrow ReLU network is born dead (Figure 3-8)")]
struct Args {
    /// Widths N, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4,6,8", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    widths: Vec<usize>,
    /// Deepest network L.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    max_depth: usize,
    /// Random networks per width.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    samples: usize,
    /// Points of [−1, 1] each network is evaluated on.
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    inputs: usize,
    /// Width of the extra curve with multi-dimensional Gaussian inputs.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    extra_width: usize,
    /// Input dimension of the extra curve.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    d_in: usize,
    /// Directory to write figures/ch03/born-dead.{svg,json} under (default: target/figures).
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
    let opts = BornDeadOptions {
        widths: args.widths,
        max_depth: args.max_depth,
        samples: args.samples,
        n_inputs: args.inputs,
        extra_width: args.extra_width,
        d_in_extra: args.d_in,
        seed: args.common.seed,
    };
    let fig = born_dead_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let depth = fig.data["curves"][0]["measured"].as_array().map_or(0, |a| a.len());
    let marks: Vec<usize> = [5, 10, 20, 50, 100, 200].into_iter().filter(|&l| l <= depth).collect();
    println!("P(born dead): measured ± standard error [lower bound, upper bound]");
    let show = |c: &serde_json::Value, name: String| {
        print!("{name:<22}");
        for &l in &marks {
            let g = |k: &str| c[k][l - 1].as_f64().unwrap_or(f64::NAN);
            print!("  L={l}: {:.3}±{:.3} [{:.3}, {:.3}]", g("measured"), g("std_error"), g("lower"), g("upper"));
        }
        println!();
    };
    for c in fig.data["curves"].as_array().into_iter().flatten() {
        show(c, format!("width {}, 1-d inputs", c["width"]));
    }
    let e = &fig.data["extra"];
    show(e, format!("width {}, {}-d inputs", e["width"], e["d_in"]));
    println!("(no lower bound is derived for multi-dimensional inputs; it is printed as 0)");
    for l in [50, 100] {
        println!(
            "width needed for P ≤ 1% at depth {l} by the single-input formula: {}",
            born_dead::min_width_for(l, 0.01)
        );
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

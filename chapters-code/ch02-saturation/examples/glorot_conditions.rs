//! Figure 2-13: the sigmoid experiment of Figure 2-9 under varied conditions (learning rate, inputs,
//! depth, init): when does the top hidden layer saturate?
//!
//! `cargo run --release -p ch02-saturation --example glorot_conditions -- --help`

use anyhow::Result;
use ch02_saturation::cli::OutArgs;
use ch02_saturation::{ConditionsOptions, conditions_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Top-layer saturation of a deep sigmoid net under varied learning rate, inputs, depth and init (Figure 2-13)"
)]
struct Args {
    /// SGD steps per condition.
    #[arg(long, default_value_t = 2000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    common: Common,
}

fn main() {
    cli::exit_on_error(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    args.common.apply()?;
    let mut opts = ConditionsOptions::default();
    for c in &mut opts.conditions {
        c.options.steps = args.steps;
        c.options.width = args.width;
        c.options.seed = args.common.seed;
    }
    let fig = conditions_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for c in fig.data["conditions"].as_array().into_iter().flatten() {
        println!(
            "{:<24} top-layer mean {:.4}, saturated {:.2}, held-out accuracy {:.3}",
            c["label"].as_str().unwrap_or("?"),
            c["final_top_mean"].as_f64().unwrap_or(f64::NAN),
            c["final_top_saturated"].as_f64().unwrap_or(f64::NAN),
            c["final_accuracy"].as_f64().unwrap_or(f64::NAN)
        );
    }
    args.out.save(&[fig])
}

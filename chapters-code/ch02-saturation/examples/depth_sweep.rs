//! Figure 2-8: ‖δ¹‖/‖δᴸ‖ at initialisation against depth for sigmoid and tanh networks, measured and
//! predicted by mean-field theory.
//!
//! `cargo run --release -p ch02-saturation --example depth_sweep -- --help`

use anyhow::Result;
use ch02_saturation::cli::{self as ch02_cli, DataArgs, OutArgs, show};
use ch02_saturation::{SweepOptions, sweep_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;
use lab::{Activation, Init};

#[derive(Parser)]
#[command(
    about = "First-to-last layer gradient ratio at initialisation against depth, with mean-field theory (Figure 2-8)"
)]
struct Args {
    /// Numbers of hidden layers (each at least 2), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4,5,6,8,10,15,20,25,30,40,50", value_parser = ch02_cli::depth_at_least_2, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Images in the probe batch.
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: usize,
    /// Networks per depth (weight seeds 0, 1, …); ratios are averaged geometrically.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Weight init.
    #[arg(long, default_value = "lecun_normal", value_parser = cli::init)]
    init: Init,
    /// Hidden activations to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sigmoid,tanh", value_parser = cli::activation)]
    activations: Vec<Activation>,
    #[command(flatten)]
    data: DataArgs,
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
    let opts = SweepOptions {
        depths: args.depths,
        width: args.width,
        n: args.n,
        seeds: args.seeds,
        init: args.init,
        activations: args.activations,
        data: args.data.source()?,
    };
    let fig = sweep_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for s in fig.data["series"].as_array().into_iter().flatten() {
        let name = s["activation"].as_str().unwrap_or("?");
        for key in [
            "fit_per_layer_bias",
            "fit_per_layer_per_example",
            "fit_per_layer_theory",
            "theory_per_layer_deep",
            "deepest",
        ] {
            show(&format!("{name}: {key}"), &s[key]);
        }
    }
    args.out.save(&[fig])
}

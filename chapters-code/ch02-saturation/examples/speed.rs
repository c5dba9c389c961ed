//! Figure 2-4: Nielsen's "speed of learning" ‖δˡ‖ = ‖∂C/∂bˡ‖ of every hidden layer at initialisation,
//! for sigmoid networks with 2, 3 and 4 hidden layers, next to his published values.
//!
//! `cargo run --release -p ch02-saturation --example speed -- --help`

use anyhow::Result;
use ch02_saturation::cli::{self as ch02_cli, DataArgs, OutArgs};
use ch02_saturation::nielsen::Cost;
use ch02_saturation::{SpeedInitOptions, speed_init_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;
use lab::{Activation, Init};

#[derive(Parser)]
#[command(about = "Per-layer speed of learning ‖δˡ‖ at initialisation, after Nielsen's NNDL chapter 5 (Figure 2-4)")]
struct Args {
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Training images the gradient is averaged over.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: usize,
    /// Networks (weight seeds 0, 1, …) per depth.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Output layer and cost: sigmoid (Nielsen's cross-entropy) or softmax.
    #[arg(long, default_value = "sigmoid", value_parser = ch02_cli::cost)]
    cost: Cost,
    /// Hidden activation.
    #[arg(long, default_value = "sigmoid", value_parser = cli::activation)]
    activation: Activation,
    /// Weight init (Nielsen: lecun_normal, i.e. N(0, 1/n_in)).
    #[arg(long, default_value = "lecun_normal", value_parser = cli::init)]
    init: Init,
    /// Standard deviation of the N(0, σ²) biases (Nielsen: 1).
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    bias_std: f64,
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
    let opts = SpeedInitOptions {
        depths: args.depths,
        width: args.width,
        n: args.n,
        seeds: args.seeds,
        cost: args.cost,
        data: args.data.source()?,
        init: args.init,
        bias_std: args.bias_std,
        activation: args.activation,
    };
    let fig = speed_init_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for net in fig.data["nets"].as_array().into_iter().flatten() {
        let fmt = |v: &serde_json::Value| {
            v.as_array()
                .map(|a| {
                    a.iter().map(|x| format!("{:.4}", x.as_f64().unwrap_or(f64::NAN))).collect::<Vec<_>>().join(", ")
                })
                .unwrap_or_default()
        };
        let ours = if net["mean"].is_null() { &net["per_seed"][0] } else { &net["mean"] };
        println!("{} hidden layers: ours [{}]  Nielsen [{}]", net["depth"], fmt(ours), fmt(&net["nielsen"]));
    }
    args.out.save(&[fig])
}

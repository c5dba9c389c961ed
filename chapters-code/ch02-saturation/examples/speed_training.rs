//! Figure 2-5: the speed of learning of every hidden layer across training, by Nielsen's protocol
//! (gradient descent on 1000 images, η = 0.1, L2 λ = 5, 500 epochs).
//!
//! `cargo run --release -p ch02-saturation --example speed_training -- --help`

use anyhow::Result;
use ch02_saturation::cli::{self as ch02_cli, DataArgs, OutArgs, show};
use ch02_saturation::nielsen::Cost;
use ch02_saturation::speed_training_figure;
use ch02_saturation::training::SpeedTrainingOptions;
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Per-layer speed of learning during full-batch training, after Nielsen's NNDL chapter 5 (Figure 2-5)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Training images (one batch).
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n: usize,
    /// Epochs (= gradient steps).
    #[arg(long, default_value_t = 500, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    epochs: usize,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    eta: f64,
    /// L2 regularisation λ (weights shrink by 1 − ηλ/n per step).
    #[arg(long, default_value_t = 5.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    lambda: f64,
    /// Output layer and cost: sigmoid (Nielsen's cross-entropy) or softmax.
    #[arg(long, default_value = "sigmoid", value_parser = ch02_cli::cost)]
    cost: Cost,
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
    let opts = SpeedTrainingOptions {
        depth: args.depth,
        width: args.width,
        n: args.n,
        epochs: args.epochs,
        eta: args.eta,
        lambda: args.lambda,
        cost: args.cost,
        data: args.data.source()?,
        seed: args.common.seed,
    };
    let fig = speed_training_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for key in
        ["initial", "final", "initial_ratio_first_last", "final_ratio_first_last", "accuracy_start", "accuracy_end"]
    {
        show(key, &fig.data[key]);
    }
    args.out.save(&[fig])
}

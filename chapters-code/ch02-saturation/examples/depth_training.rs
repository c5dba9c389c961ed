//! Figures 2-6 and 2-7: sigmoid networks of increasing depth trained with the same SGD budget — test
//! accuracy during training, and how far each layer's weights moved.
//!
//! `cargo run --release -p ch02-saturation --example depth_training -- --help`

use anyhow::Result;
use ch02_saturation::cli::{self as ch02_cli, DataArgs, OutArgs};
use ch02_saturation::depth_training_figures;
use ch02_saturation::nielsen::Cost;
use ch02_saturation::training::DepthTrainingOptions;
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Test accuracy and per-layer weight change of sigmoid nets of increasing depth under one SGD budget (Figures 2-6, 2-7)"
)]
struct Args {
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,8,10", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Training images.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n_train: usize,
    /// Test images.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    n_test: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// SGD steps per network.
    #[arg(long, default_value_t = 5000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    eta: f64,
    /// L2 regularisation λ.
    #[arg(long, default_value_t = 0.0, value_parser = cli::finite_non_negative_f64, allow_negative_numbers = true)]
    lambda: f64,
    /// Evaluate on the test images every this many steps.
    #[arg(long, default_value_t = 250, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    eval_every: usize,
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
    let opts = DepthTrainingOptions {
        depths: args.depths,
        width: args.width,
        n_train: args.n_train,
        n_test: args.n_test,
        batch: args.batch,
        steps: args.steps,
        eta: args.eta,
        lambda: args.lambda,
        eval_every: args.eval_every,
        cost: args.cost,
        data: args.data.source()?,
        seed: args.common.seed,
    };
    let figs = depth_training_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for r in figs[0].data["runs"].as_array().into_iter().flatten() {
        let acc = r["test_accuracy"].as_array().and_then(|a| a.last()).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        println!(
            "{:>2} hidden layers: test accuracy {acc:.3}, weight change per layer {}",
            r["depth"], r["weight_change"]
        );
    }
    args.out.save(&figs)
}

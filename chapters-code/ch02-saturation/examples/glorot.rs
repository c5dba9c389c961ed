//! Figures 2-9 to 2-12: Glorot & Bengio's (2010, §3.1) experiment — the mean activation of every
//! hidden layer of a deep sigmoid network during SGD from the standard init, a tanh network for
//! contrast, their held-out error, and per-layer activation histograms.
//!
//! `cargo run --release -p ch02-saturation --example glorot -- --help`

use anyhow::Result;
use ch02_saturation::cli::{self as ch02_cli, OutArgs, show};
use ch02_saturation::glorot::{GlorotOptions, Inputs};
use ch02_saturation::{GlorotFigureOptions, glorot_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;
use lab::{Activation, Init};

#[derive(Parser)]
#[command(
    about = "Per-layer activations of deep sigmoid and tanh nets during SGD, after Glorot & Bengio 2010 §3.1 (Figures 2-9 to 2-12)"
)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Input dimension of the teacher task.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    d_in: usize,
    /// Weight init (Glorot & Bengio's "standard" is U(±1/√n)).
    #[arg(long, default_value = "standard", value_parser = cli::init)]
    init: Init,
    /// Learning rate of plain SGD.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Minibatch size (the paper's is 10).
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// SGD steps per network.
    #[arg(long, default_value_t = 6000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Probe the held-out batch every this many steps.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    probe_every: usize,
    /// Inputs: gaussian (the teacher's N(0, I)) or positive (σ(x), like pixels).
    #[arg(long, default_value = "gaussian", value_parser = ch02_cli::inputs)]
    inputs: Inputs,
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
    let sigmoid = GlorotOptions {
        activation: Activation::Sigmoid,
        depth: args.depth,
        width: args.width,
        d_in: args.d_in,
        init: args.init,
        lr: args.lr,
        batch: args.batch,
        steps: args.steps,
        probe_every: args.probe_every,
        inputs: args.inputs,
        seed: args.common.seed,
        ..GlorotOptions::default()
    };
    let opts = GlorotFigureOptions { tanh: GlorotOptions { activation: Activation::Tanh, ..sigmoid.clone() }, sigmoid };
    let figs = glorot_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    for (name, fig) in [("sigmoid", &figs[0]), ("tanh", &figs[1])] {
        let s = &fig.data["summary"];
        for key in ["initial_means", "final_means", "final_saturated", "final_accuracy"] {
            show(&format!("{name}: {key}"), &s[key]);
        }
    }
    args.out.save(&figs)
}

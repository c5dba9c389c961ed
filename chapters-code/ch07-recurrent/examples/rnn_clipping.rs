//! Figures 7-4 and 7-5: exploding gradients in a tanh RNN with ρ > 1, trained with plain SGD with and without
//! clipping the gradient by its global norm (Pascanu, Mikolov & Bengio 2013).
//!
//! `cargo run --release -p ch07-recurrent --example rnn_clipping -- --help`

use anyhow::Result;
use ch07_recurrent::{ClippingOptions, clipping_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Exploding gradients in a tanh RNN and clipping by global norm (Figures 7-4, 7-5)")]
struct Args {
    /// Singular values of the initial recurrent matrix W_hh = ρ·Q.
    #[arg(long, default_value_t = 2.0, value_parser = cli::finite_positive_f64)]
    rho: f64,
    /// Sequence length T of the memory task.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    length: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    hidden: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64)]
    lr: f64,
    /// SGD steps.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Clip the global gradient norm to this.
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_positive_f64)]
    clip: f64,
    /// Directory to write figures/ch07/clipping-*.{svg,json} under (default: target/figures).
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
    let opts = ClippingOptions {
        rho: args.rho,
        length: args.length,
        hidden: args.hidden,
        lr: args.lr,
        train_steps: args.train_steps,
        batch: args.batch,
        clip: args.clip,
        seed: args.common.seed,
        ..ClippingOptions::default()
    };
    let figs = clipping_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    println!("{:<22} {:>14} {:>14} {:>14} {:>10}", "", "median ‖g‖", "largest ‖g‖", "final loss", "accuracy");
    let losses = figs[1].data["runs"].as_array().cloned().unwrap_or_default();
    for (n, l) in figs[0].data["runs"].as_array().into_iter().flatten().zip(&losses) {
        println!(
            "{:<22} {:>14.3} {:>14.3e} {:>14.3} {:>10.3}",
            n["name"].as_str().unwrap_or("?"),
            num(&n["median_grad_norm"]),
            num(&n["max_grad_norm"]),
            num(&l["final_loss"]),
            num(&l["accuracy"]),
        );
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

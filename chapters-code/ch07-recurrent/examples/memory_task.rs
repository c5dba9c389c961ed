//! Figure 7-2: "remember the first symbol" — held-out accuracy against the sequence length for a
//! tanh RNN and LSTMs trained under the same budget.
//!
//! `cargo run --release -p ch07-recurrent --example memory_task -- --help`

use anyhow::Result;
use ch07_recurrent::{MemoryOptions, memory_figure};
use clap::Parser;
use lab::cli::{self, Common};
use lab::figure::{GenOptions, save_from_example};
use lab::rnn::Cell;
use lab::train::Optim;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "A long-range memory task: accuracy against sequence length for tanh RNNs and LSTMs (Figure 7-2)")]
struct Args {
    /// Sequence lengths T, ascending and comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    lengths: Vec<usize>,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    hidden: usize,
    /// Adam steps per run.
    #[arg(long, default_value_t = 300, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    train_steps: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Independent runs per cell and length.
    #[arg(long, default_value_t = 3, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    seeds: usize,
    /// Forget-gate biases of the LSTMs compared with the two tanh RNNs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,3", value_parser = cli::finite_f64, allow_negative_numbers = true)]
    forget_biases: Vec<f64>,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64)]
    lr: f64,
    /// SGD momentum; without it, Adam.
    #[arg(long, value_parser = cli::finite_non_negative_f64)]
    momentum: Option<f64>,
    /// Directory to write figures/ch07/memory.{svg,json} under (default: target/figures).
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
    if let Some(m) = args.momentum {
        anyhow::ensure!(m < 1.0, "--momentum must be below 1");
    }
    let opts = MemoryOptions {
        lengths: args.lengths,
        hidden: args.hidden,
        train_steps: args.train_steps,
        batch: args.batch,
        optim: match args.momentum {
            Some(momentum) => Optim::Momentum { lr: args.lr, momentum },
            None => Optim::AdamW { lr: args.lr, weight_decay: 0.0 },
        },
        seeds: args.seeds,
        cells: [Cell::TanhDefault, Cell::Tanh { rho: 1.0 }]
            .into_iter()
            .chain(args.forget_biases.iter().map(|&forget_bias| Cell::Lstm { forget_bias }))
            .collect(),
        seed: args.common.seed,
        ..MemoryOptions::default()
    };
    let fig = memory_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let header: Vec<String> = opts.lengths.iter().map(|t| format!("T = {t}")).collect();
    println!("{:<24} {}", "mean held-out accuracy", header.iter().map(|h| format!("{h:>8}")).collect::<String>());
    for c in fig.data["cells"].as_array().into_iter().flatten() {
        let acc: String = c["accuracy"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{:>8.3}", a.as_f64().unwrap_or(f64::NAN)))
            .collect();
        println!("{:<24} {acc}", c["name"].as_str().unwrap_or("?"));
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

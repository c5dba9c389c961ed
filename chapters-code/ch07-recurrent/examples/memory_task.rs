//! Figures 7-2 and 7-3: "remember the first symbol" — held-out accuracy against the sequence length
//! for tanh RNNs and LSTMs trained under the same budget, with Adam (`memory`) or SGD (`memory-sgd`).
//!
//! `cargo run --release -p ch07-recurrent --example memory_task -- --help`
//! `cargo run --release -p ch07-recurrent --example memory_task -- --optimizer sgd`

use anyhow::Result;
use ch07_recurrent::memory::{SGD_LRS, SGD_MOMENTUM};
use ch07_recurrent::{MemoryOptions, memory_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::{Parser, ValueEnum};
use lab::rnn::Cell;
use lab::train::Optim;
use std::path::PathBuf;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Optimizer {
    /// Adam, learning rate 0.01 unless --lr (Figure 7-2, memory.{svg,json}).
    Adam,
    /// SGD with momentum; the learning rate is picked per network from --lrs unless --lr (Figure 7-3,
    /// memory-sgd.{svg,json}).
    Sgd,
}

#[derive(Parser)]
#[command(
    about = "A long-range memory task: accuracy against sequence length for tanh RNNs and LSTMs, with Adam (Figure 7-2) or SGD (Figure 7-3)"
)]
struct Args {
    /// Sequence lengths T, ascending and comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32", value_parser = cli::positive_usize, allow_negative_numbers = true)]
    lengths: Vec<usize>,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    hidden: usize,
    /// Optimiser steps per run.
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
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = Optimizer::Adam)]
    optimizer: Optimizer,
    /// A fixed learning rate for every network (default: 0.01 for Adam; for SGD, a search over --lrs).
    #[arg(long, value_parser = cli::finite_positive_f64)]
    lr: Option<f64>,
    /// SGD only: learning rates tried per network at the shortest length, comma-separated; each network
    /// keeps the one with the best held-out accuracy (ties: lowest final training loss).
    #[arg(long, value_delimiter = ',', value_parser = cli::finite_positive_f64)]
    lrs: Vec<f64>,
    /// SGD only: momentum, 0 for plain SGD [default: 0.9].
    #[arg(long, value_parser = cli::finite_non_negative_f64)]
    momentum: Option<f64>,
    /// Directory to write figures/ch07/memory{,-sgd}.{svg,json} under (default: target/figures).
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
    let (optim, lr_grid) = match args.optimizer {
        Optimizer::Adam => {
            anyhow::ensure!(
                args.momentum.is_none() && args.lrs.is_empty(),
                "--momentum and --lrs apply to --optimizer sgd only"
            );
            (Optim::AdamW { lr: args.lr.unwrap_or(0.01), weight_decay: 0.0 }, Vec::new())
        }
        Optimizer::Sgd => {
            anyhow::ensure!(args.lr.is_none() || args.lrs.is_empty(), "give --lr or --lrs, not both");
            let grid = match (args.lr, args.lrs.is_empty()) {
                (Some(_), _) => Vec::new(),
                (None, true) => SGD_LRS.to_vec(),
                (None, false) => args.lrs,
            };
            let lr = args.lr.unwrap_or_else(|| grid[0]);
            let optim = match args.momentum.unwrap_or(SGD_MOMENTUM) {
                0.0 => Optim::Sgd { lr },
                momentum => Optim::Momentum { lr, momentum },
            };
            (optim, grid)
        }
    };
    let opts = MemoryOptions {
        lengths: args.lengths,
        hidden: args.hidden,
        train_steps: args.train_steps,
        batch: args.batch,
        optim,
        lr_grid,
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
        let lr = c["lr"].as_f64().map(|lr| format!("   (lr {lr})")).unwrap_or_default();
        println!("{:<24} {acc}{lr}", c["name"].as_str().unwrap_or("?"));
    }
    save_from_example(&[fig], args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figures 7-1 and 7-6: the gradient of a recurrent network's loss with respect to its hidden state,
//! against how many steps back that state is — for tanh RNNs with W_hh = ρ·(orthogonal), LSTMs with
//! several forget-gate biases, and a GRU.
//!
//! `cargo run --release -p ch07-recurrent --example bptt_lag -- --help`

use anyhow::Result;
use ch07_recurrent::{LagOptions, lag_figures};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Backpropagation through time: ‖∂L/∂h_t‖ against the lag T − t (Figures 7-1, 7-6)")]
struct Args {
    /// Sequence length T.
    #[arg(long, default_value_t = 60, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    hidden: usize,
    /// Input features (standard normal at every step).
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    d_in: usize,
    /// Sequences averaged over.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Scales ρ of the tanh RNNs' recurrent matrix, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.9,1,1.1,1.5", value_parser = cli::finite_positive_f64)]
    rhos: Vec<f64>,
    /// Forget-gate biases of the LSTMs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,3", value_parser = cli::finite_f64, allow_negative_numbers = true)]
    forget_biases: Vec<f64>,
    /// Scale of the tanh RNNs' input weights, W_ih ~ N(0, gain²/d_in).
    #[arg(long, default_value_t = 0.3, value_parser = cli::finite_non_negative_f64)]
    input_gain: f64,
    /// Directory to write figures/ch07/lag-*.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.steps >= 2, "--steps must be at least 2, got {}", args.steps);
    let opts = LagOptions {
        steps: args.steps,
        hidden: args.hidden,
        d_in: args.d_in,
        batch: args.batch,
        rhos: args.rhos,
        forget_biases: args.forget_biases,
        input_gain: args.input_gain,
        seed: args.common.seed,
    };
    let figs = lag_figures(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    let lag = |v: &serde_json::Value, k: usize| v.as_array().and_then(|a| a.get(k)).and_then(|x| x.as_f64());
    let k_max = opts.steps - 1;
    println!("{:<28} {:>12} {:>12} {:>12}", "‖∂L/∂h_t‖ at lag", "10", "30", k_max);
    for fig in &figs {
        for r in fig.data["runs"].as_array().into_iter().flatten() {
            for (part, label) in [("h", ""), ("c", " (cell c)")] {
                if r[part].is_array() {
                    let cells: Vec<String> = [10, 30, k_max]
                        .iter()
                        .map(|&k| lag(&r[part], k).map_or("-".into(), |v| format!("{v:.3e}")))
                        .collect();
                    let name = format!("{}{label}", r["name"].as_str().unwrap_or("?"));
                    println!("{name:<28} {:>12} {:>12} {:>12}", cells[0], cells[1], cells[2]);
                }
            }
        }
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

//! Figure 8-7: attention entropy and the gradient through the softmax as the attention logits grow,
//! with and without the 1/√d_k scale of Vaswani et al. (2017, §3.2.1).
//!
//! `cargo run --release -p ch08-transformers --example attention_saturation -- --help`

use anyhow::Result;
use ch08_transformers::{SaturationOptions, saturation_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::{GenOptions, save_from_example};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Attention saturation: entropy and gradient against the logits' scale (Figure 8-7)")]
struct Args {
    /// Gains on W_Q and W_K, comma-separated, ascending.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,1,2,4,8", value_parser = cli::finite_positive_f64)]
    gains: Vec<f64>,
    /// Width of the single head (d_k).
    #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    d_model: usize,
    /// Directory to write figures/ch08/attention-saturation.{svg,json} under (default: target/figures).
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
    anyhow::ensure!(args.gains.windows(2).all(|w| w[0] < w[1]), "--gains must be ascending");
    let opts = SaturationOptions { gains: args.gains, d_model: args.d_model, ..SaturationOptions::default() };
    let figs = saturation_figure(&opts, &GenOptions { quick: args.common.quick, progress: true })?;
    println!(
        "{:<18} {:>6} {:>10} {:>10} {:>12} {:>12}",
        "", "gain", "logit std", "H / ln T", "‖J_softmax‖", "‖∂L/∂W_Q‖"
    );
    for run in figs[0].data["runs"].as_array().into_iter().flatten() {
        for p in run["points"].as_array().into_iter().flatten() {
            let num = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<18} {:>6} {:>10.3} {:>10.3} {:>12.3e} {:>12.3e}",
                run["name"].as_str().unwrap_or("?"),
                p["gain"],
                num("logit_std"),
                num("entropy"),
                num("jacobian"),
                num("wq_grad")
            );
        }
    }
    save_from_example(&figs, args.out.as_deref(), args.book)?;
    Ok(())
}

//! Training speed of the chapter's default transformer (vocabulary 16, 16 positions, width 32, 4
//! heads, MLP width 128, Pre-LN): Adam steps per second on the sorting task.
//!
//! `cargo run --release -p ch08-transformers --example train_bench -- --steps 200 --threads 2`
//!
//! The same model in PyTorch: `chapters-code/lab/bench/transformer_torch.py`.

use anyhow::Result;
use ch08_transformers::{Arch, ModelOptions};
use chapter_kit::cli::{self, Common};
use clap::Parser;
use lab::data::SeqTask;
use lab::transformer::{Transformer, warmup_lr};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Adam steps per second of the chapter's default transformer")]
struct Args {
    /// Timed steps (after 5 untimed warm-up steps).
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Number of blocks.
    #[arg(long, default_value_t = 6, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    blocks: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Post-LN instead of Pre-LN.
    #[arg(long)]
    post_ln: bool,
    #[command(flatten)]
    model: ModelOptions,
    #[command(flatten)]
    common: Common,
}

fn main() {
    cli::exit_on_error(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    use candle_nn::Optimizer;
    args.common.apply()?;
    args.model.ensure_valid()?;
    let m = &args.model;
    let arch = if args.post_ln { Arch::PostLn } else { Arch::PreLn };
    let model: Transformer = arch.apply(m.config(args.blocks)).with_seed(args.common.seed).build()?;
    let params = candle_nn::ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() };
    let mut opt = lab::train::InPlaceAdamW::new(model.vars(), params)?; // the optimiser the figures train with
    let mut rng = lab::init::rng(args.common.seed + 1);
    let mut step = |i: usize| -> Result<f64> {
        opt.set_learning_rate(warmup_lr(1e-3, 0, i));
        let (x, y) = SeqTask::Sort.batch(args.batch, m.seq_len, m.vocab, &mut rng)?;
        let loss = model.loss(&x, &y)?;
        opt.step(&loss.backward()?)?;
        Ok(loss.to_scalar::<f32>()? as f64)
    };
    for i in 0..5 {
        step(i)?;
    }
    let start = Instant::now();
    let mut last = 0.0;
    for i in 0..args.steps {
        last = step(i)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let threads = candle_core::utils::get_num_threads();
    println!(
        "{} blocks, batch {}, {} threads: {:.1} steps/s ({:.2} ms/step), last loss {last:.3}",
        args.blocks,
        args.batch,
        threads,
        args.steps as f64 / secs,
        1e3 * secs / args.steps as f64
    );
    Ok(())
}

//! Training-step throughput of a lab MLP: the book's reference workload W1 and its siblings.
//!
//! ```text
//! cargo run --release -p lab --example step_bench -- --depth 20 --width 256 --batch 128 \
//!     --activation sigmoid --steps 200 --threads 2
//! ```
//!
//! One step is what every chapter's training loop does: a forward pass in training mode, the mean
//! softmax cross-entropy, `backward()`, and the optimiser update (and reading the loss back, which
//! synchronises). Inputs have dimension `--width`, labels come from lab's teacher task with 10
//! classes, and all batches are generated before the clock starts. The last line of the output is
//! `steps_per_sec: <number>`; see `chapters-code/lab/PERFORMANCE.md` for the numbers and what they mean.

use anyhow::{Result, ensure};
use chapter_kit::cli::{self, Common};
use clap::Parser;
use lab::train::Optim;
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Steps per second of one lab MLP training step (forward, cross-entropy, backward, update)")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer (and the input dimension).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Examples per minibatch.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Activation of every hidden layer.
    #[arg(long, default_value = "sigmoid", value_parser = cli::activation)]
    activation: Activation,
    /// Weight init (default: Xavier-uniform for saturating activations, He-normal otherwise).
    #[arg(long, value_parser = cli::init)]
    init: Option<Init>,
    /// Timed steps.
    #[arg(long, default_value_t = 200, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Untimed warm-up steps (thread pools, allocator, caches).
    #[arg(long, default_value_t = 10, value_parser = non_negative_usize, allow_negative_numbers = true)]
    warmup: usize,
    /// Normalisation of the hidden pre-activations: none, batch or layer.
    #[arg(long, default_value = "none", value_parser = cli::norm)]
    norm: Norm,
    /// Residual hidden blocks (h + f(z)).
    #[arg(long)]
    residual: bool,
    /// Optimiser: sgd or adamw.
    #[arg(long, default_value = "sgd", value_parser = optim_name)]
    optim: String,
    /// Learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Number of distinct pre-generated minibatches the steps cycle through.
    #[arg(long, default_value_t = 8, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batches: usize,
    /// Use candle's stock ops only (every lab fast path off): the baseline.
    #[arg(long)]
    reference: bool,
    /// Switch off some of lab's fast paths (comma-separated: linear, act, bn, sgd, split), for ablations.
    #[arg(long, value_delimiter = ',')]
    disable: Vec<lab::fast::Kernel>,
    #[command(flatten)]
    common: Common,
}

const CLASSES: usize = 10;

fn non_negative_usize(s: &str) -> Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| format!("must be a non-negative integer, got `{s}`"))
}

fn optim_name(s: &str) -> Result<String, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        o @ ("sgd" | "adamw") => Ok(o.to_string()),
        _ => Err(format!("unknown optimiser `{s}` (expected sgd or adamw)")),
    }
}

fn main() {
    cli::exit_on_error(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    args.common.apply()?;
    if args.reference {
        lab::fast::set_enabled(false);
    }
    for &kernel in &args.disable {
        lab::fast::set_kernel_enabled(kernel, false);
    }
    let init = args.init.unwrap_or(if args.activation.saturates() { Init::XAVIER } else { Init::HE });
    let config = MlpConfig::new(args.width, args.width, args.depth, CLASSES, args.activation, init)
        .with_seed(args.common.seed)
        .with_norm(args.norm)
        .with_residual(args.residual);
    ensure!(args.batch > 1 || args.norm != Norm::Batch, "BatchNorm needs a batch of at least 2 examples");
    let net = config.build(&DEVICE)?;
    let optim = match args.optim.as_str() {
        "adamw" => Optim::AdamW { lr: args.lr, weight_decay: 0.0 },
        _ => Optim::Sgd { lr: args.lr },
    };
    let mut opt = optim.optimizer(net.vars())?;

    // All data exists before the clock starts.
    let data = lab::data::teacher(args.batch * args.batches, args.width, CLASSES, args.common.seed)?;
    let batches: Vec<_> = (0..args.batches)
        .map(|b| data.batch(&(b * args.batch..(b + 1) * args.batch).collect::<Vec<_>>()))
        .collect::<Result<_>>()?;

    let sizes = config.sizes();
    let macs: usize = sizes.windows(2).map(|p| p[0] * p[1]).sum();
    let gflop_per_step = 3.0 * 2.0 * (args.batch * macs) as f64 / 1e9;
    let threads = candle_core::utils::get_num_threads();
    println!(
        "workload: {} MLP, {} hidden x {}, input {}, batch {}, {} classes, norm {}, residual {}, optim {}, lr {}",
        args.activation,
        args.depth,
        args.width,
        args.width,
        args.batch,
        CLASSES,
        args.norm,
        args.residual,
        args.optim,
        args.lr
    );
    if !lab::fast::enabled() {
        println!("kernels: candle reference ops");
    } else if args.disable.is_empty() {
        println!("kernels: lab fast paths");
    } else {
        println!("kernels: lab fast paths except {:?}", args.disable);
    }
    println!("threads: {threads}");

    // Wall time of the three phases, summed over the timed steps.
    let mut phases = [0f64; 3];
    let mut step = |i: usize, phases: &mut [f64; 3]| -> Result<f32> {
        let (x, y) = &batches[i % batches.len()];
        let t0 = Instant::now();
        let loss = net.loss(x, y)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        let loss = loss.to_scalar::<f32>()?;
        let t3 = Instant::now();
        phases[0] += (t1 - t0).as_secs_f64();
        phases[1] += (t2 - t1).as_secs_f64();
        phases[2] += (t3 - t2).as_secs_f64();
        Ok(loss)
    };
    let mut first_loss = f32::NAN;
    for i in 0..args.warmup {
        let l = step(i, &mut [0.0; 3])?;
        if i == 0 {
            first_loss = l;
        }
    }
    let mut times = Vec::with_capacity(args.steps);
    let start = Instant::now();
    let mut last_loss = f32::NAN;
    for i in 0..args.steps {
        let t = Instant::now();
        last_loss = step(args.warmup + i, &mut phases)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let total = start.elapsed().as_secs_f64();
    ensure!(last_loss.is_finite(), "the loss diverged ({last_loss}); lower --lr");
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let steps_per_sec = args.steps as f64 / total;
    if args.warmup > 0 {
        println!("loss: {first_loss:.4} (first warm-up step) -> {last_loss:.4} (last step)");
    } else {
        println!("loss: {last_loss:.4} (last step)");
    }
    println!("timed: {} steps in {:.3} s", args.steps, total);
    println!(
        "ms/step: {:.3} (median {:.3}, min {:.3}, max {:.3})",
        1e3 * total / args.steps as f64,
        1e3 * median,
        1e3 * times[0],
        1e3 * times[times.len() - 1]
    );
    let per = |t: f64| 1e3 * t / args.steps as f64;
    println!(
        "phases (ms/step): forward+loss {:.3}, backward {:.3}, update {:.3}",
        per(phases[0]),
        per(phases[1]),
        per(phases[2])
    );
    println!("gflop/step: {gflop_per_step:.3} (forward+backward = 3 x 2·B·Σ in·out)");
    println!("gflop/s: {:.1}", gflop_per_step * steps_per_sec);
    println!("steps_per_sec: {steps_per_sec:.2}");
    Ok(())
}

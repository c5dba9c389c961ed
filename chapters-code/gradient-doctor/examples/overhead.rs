//! The doctor's cost per training step on the book's reference workload W1 (sigmoid MLP, 20 hidden
//! layers × 256, batch 128, SGD), with and without the doctor, in interleaved rounds.
//!
//! ```text
//! cargo run --release -p gradient-doctor --example overhead -- --rounds 5 --steps 20 --threads 2
//! ```
//!
//! "doctor" observes every step (gradient and weight norms of every layer); "doctor+taps" also taps
//! every hidden activation. The last lines print steps/s of each and the overhead in percent.

use anyhow::Result;
use chapter_kit::cli::{self, Common};
use clap::Parser;
use gradient_doctor::{Act, Doctor};
use lab::net::cross_entropy;
use lab::train::Optim;
use lab::{Activation, DEVICE, Init, MlpConfig};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Steps per second of W1 with and without the gradient doctor")]
struct Args {
    /// Interleaved rounds (each runs every mode once).
    #[arg(long, default_value_t = 5, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    rounds: usize,
    /// Timed steps per mode and round.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer (and the input dimension).
    #[arg(long, default_value_t = 256, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Examples per minibatch.
    #[arg(long, default_value_t = 128, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    #[command(flatten)]
    common: Common,
}

fn main() {
    cli::exit_on_error(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    args.common.apply()?;
    let config = MlpConfig::new(args.width, args.width, args.depth, 10, Activation::Sigmoid, Init::XAVIER)
        .with_seed(args.common.seed);
    let net = config.build(&DEVICE)?;
    let lr = 0.01;
    let mut opt = Optim::Sgd { lr }.optimizer(net.vars())?;
    let data = lab::data::teacher(args.batch * 4, args.width, 10, args.common.seed)?;
    let batches: Vec<_> = (0..4)
        .map(|b| data.batch(&(b * args.batch..(b + 1) * args.batch).collect::<Vec<_>>()))
        .collect::<Result<_>>()?;
    let doctor = Doctor::new(&net.varmap)?;
    let modes = ["plain", "doctor", "doctor+taps"];
    let mut rates = vec![Vec::new(); modes.len()];
    // Time spent inside the doctor's own calls, per mode (seconds, timed rounds only).
    let mut inside = vec![0f64; modes.len()];
    let mut i = 0usize;
    for round in 0..=args.rounds {
        for (m, mode) in modes.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..args.steps {
                let (x, y) = &batches[i % batches.len()];
                i += 1;
                let trace = net.forward_trace(x, true)?;
                let t = Instant::now();
                if *mode == "doctor+taps" {
                    for (l, a) in trace.post.iter().enumerate() {
                        doctor.tap_as(&format!("l{l}"), a, Act::Sigmoid)?;
                    }
                }
                let mut spent = t.elapsed().as_secs_f64();
                let loss = cross_entropy(&trace.logits, y)?;
                let grads = loss.backward()?;
                let t = Instant::now();
                if *mode != "plain" {
                    doctor.observe_step(&grads, lr)?;
                }
                spent += t.elapsed().as_secs_f64();
                if round > 0 {
                    inside[m] += spent;
                }
                opt.step(&grads)?;
                loss.to_scalar::<f32>()?;
            }
            // Round 0 warms up.
            if round > 0 {
                rates[m].push(args.steps as f64 / start.elapsed().as_secs_f64());
            }
        }
    }
    let threads = candle_core::utils::get_num_threads();
    println!(
        "workload: sigmoid MLP {} x {}, batch {}, SGD; {threads} threads; {} rounds of {} steps",
        args.depth, args.width, args.batch, args.rounds, args.steps
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let meds: Vec<f64> = rates.iter_mut().map(median).collect();
    let timed = (args.rounds * args.steps) as f64;
    for (m, (mode, r)) in modes.iter().zip(&meds).enumerate() {
        println!(
            "{mode:>12}: {r:.2} steps/s (median), {:.2} ms/step, overhead {:+.1} %; inside the doctor {:.2} ms/step \
             ({:.1} % of a plain step)",
            1e3 / r,
            100.0 * (meds[0] / r - 1.0),
            1e3 * inside[m] / timed,
            100.0 * (inside[m] / timed) * meds[0]
        );
    }
    Ok(())
}

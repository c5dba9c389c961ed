//! Trains one of the book's MLPs with the gradient doctor on and prints its diagnosis.
//!
//! ```text
//! cargo run --release -p gradient-doctor --example checkup -- --depth 20 --activation sigmoid --init standard
//! cargo run --release -p gradient-doctor --example checkup -- --activation relu --init he_normal --lr 3
//! ```
//!
//! Data: lab's teacher task (inputs N(0, I), 4 classes). Flags choose the network (depth, width,
//! activation, init and its scale, normalisation, residual blocks) and the training (SGD rate, steps,
//! batch). `--json` prints the report as JSON, `--svg PATH` writes the dashboard, `--check-eval`
//! also runs the evaluation check, `--train-mode-eval` deliberately evaluates in training mode.

use anyhow::{Result, ensure};
use candle_core::{ModuleT, backprop::GradStore};
use chapter_kit::cli::{self, Common};
use clap::Parser;
use gradient_doctor::{Act, Doctor, Options};
use lab::net::Trace;
use lab::train::{Optim, StepObserver, TrainConfig, train_observed};
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};

#[derive(Parser, Debug)]
#[command(about = "Train a book network with the gradient doctor on and print its diagnosis")]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    width: usize,
    /// Activation of every hidden layer.
    #[arg(long, default_value = "sigmoid", value_parser = cli::activation)]
    activation: Activation,
    /// Weight init (`standard`, `xavier_uniform`, `he_normal`, `normal:<std>`, …).
    #[arg(long, default_value = "standard", value_parser = cli::init)]
    init: Init,
    /// Multiply every initial weight by this (10 makes He's ReLU network explode).
    #[arg(long, default_value_t = 1.0, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    init_scale: f64,
    /// Normalisation of the hidden pre-activations: none, batch or layer.
    #[arg(long, default_value = "none", value_parser = cli::norm)]
    norm: Norm,
    /// Residual hidden blocks.
    #[arg(long)]
    residual: bool,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    lr: f64,
    /// Optimiser steps.
    #[arg(long, default_value_t = 50, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    steps: usize,
    /// Examples per minibatch.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    batch: usize,
    /// Steps the statistics average over.
    #[arg(long, default_value_t = 20, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    window: usize,
    /// Run the evaluation check (outputs must not depend on the batch).
    #[arg(long)]
    check_eval: bool,
    /// Evaluate in training mode in the evaluation check (the bug of chapter 5).
    #[arg(long)]
    train_mode_eval: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write the SVG dashboard here.
    #[arg(long)]
    svg: Option<std::path::PathBuf>,
    #[command(flatten)]
    common: Common,
}

struct Watch<'a>(&'a Doctor, Act);

impl StepObserver for Watch<'_> {
    fn observe(&mut self, _: usize, trace: &Trace, grads: &GradStore, lr: f64) -> Result<()> {
        for (i, a) in trace.post.iter().enumerate() {
            if self.0.tap_as(&format!("l{i}"), a, self.1).is_err() {
                self.0.discard_taps(); // diverged: the gradients will say so
                break;
            }
        }
        self.0.observe_step(grads, lr)
    }
}

fn main() {
    cli::exit_on_error(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    args.common.apply()?;
    ensure!(!args.train_mode_eval || args.check_eval, "--train-mode-eval needs --check-eval");
    ensure!(args.batch > 1 || args.norm != Norm::Batch, "BatchNorm needs --batch of at least 2");
    let data = lab::data::teacher(args.batch.max(64) * 16, 16, 4, args.common.seed)?;
    let net = MlpConfig::new(16, args.width, args.depth, 4, args.activation, args.init)
        .with_norm(args.norm)
        .with_residual(args.residual)
        .with_seed(args.common.seed)
        .build(&DEVICE)?;
    if args.init_scale != 1.0 {
        for layer in &net.layers {
            layer.weight.set(&(layer.weight.as_tensor() * args.init_scale)?)?;
        }
    }
    let doctor = Doctor::with_options(&net.varmap, Options { window: args.window, ..Options::default() })?;
    let act = match args.activation {
        Activation::Sigmoid => Act::Sigmoid,
        Activation::Tanh => Act::Tanh,
        Activation::Relu => Act::Relu,
        _ => Act::Other,
    };
    let mut cfg = TrainConfig::new(Optim::Sgd { lr: args.lr }, args.steps, args.batch);
    cfg.seed = args.common.seed;
    train_observed(&net, &data.x, &data.y, None, &cfg, &mut Watch(&doctor, act))?;
    if args.check_eval {
        let x = data.x.narrow(0, 0, 64)?;
        doctor.check_eval(&x, |x| Ok(net.forward_t(x, args.train_mode_eval)?))?;
    }
    let report = doctor.report()?;
    if args.json {
        println!("{}", report.to_json()?);
    } else {
        report.print();
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report.svg(doctor.options()))?;
        eprintln!("dashboard written to {}", path.display());
    }
    Ok(())
}

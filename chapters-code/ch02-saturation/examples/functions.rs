//! Figures 2-1 to 2-3: σ and tanh with their slopes, the product bound ∏σ′ ≤ 4⁻ᴸ against random
//! chains, and the window of inputs where one factor |w σ′(wa + b)| can reach 1.
//!
//! `cargo run --release -p ch02-saturation --example functions -- --help`

use anyhow::Result;
use ch02_saturation::cli::{OutArgs, show};
use ch02_saturation::{BoundOptions, bound_figure, functions_figure, window_figure};
use chapter_kit::cli::{self, Common};
use chapter_kit::figure::GenOptions;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "σ, tanh and their slopes; the product bound 4^-L; the window where |w σ'(wa+b)| ≥ 1 (Figures 2-1 to 2-3)"
)]
struct Args {
    /// Longest chain in the product-bound figure.
    #[arg(long, default_value_t = 30, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    depth: usize,
    /// Random chains per weight scale.
    #[arg(long, default_value_t = 10_000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    chains: usize,
    /// Standard deviations of the chains' weights, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,6", value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
    weight_stds: Vec<f64>,
    /// Depth whose chain statistics are printed and quoted.
    #[arg(long, default_value_t = 10, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    report_depth: usize,
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
    let go = GenOptions { quick: args.common.quick, progress: true };
    let opts = BoundOptions {
        depth: args.depth,
        chains: args.chains,
        weight_stds: args.weight_stds,
        report_depth: args.report_depth,
        seed: args.common.seed,
    };
    let figures = vec![functions_figure(&go)?, bound_figure(&opts, &go)?, window_figure(&go)?];
    let (f, b, w) = (&figures[0].data, &figures[1].data, &figures[2].data);
    show("max σ′ (z = 0)", &f["max_sigmoid_prime"]);
    show("σ saturated beyond |z| =", &f["sigmoid_threshold"]);
    show("tanh saturated beyond |z| =", &f["tanh_threshold"]);
    show(&format!("bound 4^-L at L = {}", args.report_depth), &b["bound_at_report"]);
    for s in b["at_report"].as_array().into_iter().flatten() {
        show(
            &format!("chains w ~ N(0, {}²): median, p90", s["weight_std"]),
            &serde_json::json!([s["median"], s["p90"]]),
        );
    }
    show("widest window at |w| =", &w["best_w"]);
    show("widest window width", &w["best_width"]);
    show("max |closed form − bisection|", &w["max_abs_difference"]);
    args.out.save(&figures)
}

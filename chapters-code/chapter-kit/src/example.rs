//! The one `main` of every figure example: parse the experiment's options and the run flags, run,
//! print the summary (the data's `Display`), save the figures.
//!
//! ```text
//! // chapters-code/ch04-init/examples/he_init.rs, whole:
//! //! Figure 4-3: … (`cargo run --release -p ch04-init --example he_init -- --help`)
//! fn main() {
//!     chapter_kit::example_main::<ch04_init::HeVariance>()
//! }
//! ```

use crate::cli::{exit_on_error, pin_thread_count, positive_usize, set_threads};
use crate::figure::{Experiment, GenOptions, figures, save_from_example};
use anyhow::{Result, bail};
use clap::{CommandFactory, FromArgMatches, Parser};
use std::path::PathBuf;

/// Flags of every figure example besides the experiment's own options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RunFlags {
    /// Worker threads for candle's matmuls and elementwise ops (default: RAYON_NUM_THREADS, else the
    /// number of physical cores, or 1 for experiments whose ops are too small to split).
    #[arg(long, value_parser = positive_usize, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// A smaller, faster run (what the figure-freshness test regenerates); writes the data only.
    #[arg(long)]
    pub quick: bool,
    /// Directory to write figures/<chapter>/*.{svg,json} under (default: target/figures).
    #[allow(rustdoc::invalid_html_tags)] // the doc is the --help text, not HTML
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write into the book's src/ instead (what `book figures` does); only with the default settings,
    /// which are what the committed figures show.
    #[arg(long)]
    pub book: bool,
}

impl RunFlags {
    /// Applies `--threads`; without it, `RAYON_NUM_THREADS`, else the experiment's `preferred` count
    /// ([`Experiment::THREADS`]), else candle's default; and sets the allocator for candle
    /// ([`lab::malloc::keep_freed_memory`]). Call before any tensor operation.
    pub fn apply_threads(&self, preferred: Option<usize>) -> Result<()> {
        lab::malloc::keep_freed_memory();
        match (self.threads, preferred) {
            (Some(n), _) => set_threads(n),
            (None, Some(n)) if std::env::var_os("RAYON_NUM_THREADS").is_none() => set_threads(n),
            (None, _) => pin_thread_count(),
        }
    }
}

#[derive(Parser)]
struct ExampleArgs<O: clap::Args + FromArgMatches> {
    #[command(flatten)]
    options: O,
    #[command(flatten)]
    run: RunFlags,
}

/// Parses the command line for experiment `E` (exit status 2 with clap's message on bad flags), runs
/// it, prints its summary and saves its figures; any error prints one line and exits with status 1.
pub fn example_main<E: Experiment>() {
    let command = ExampleArgs::<E::Options>::command().about(E::ABOUT);
    let matches = command.get_matches();
    let args = ExampleArgs::<E::Options>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    exit_on_error(run_example::<E>(&args.options, &args.run));
}

/// What [`example_main`] does after parsing: also callable from a test.
pub fn run_example<E: Experiment>(options: &E::Options, run: &RunFlags) -> Result<()> {
    if run.book {
        if run.out.is_some() {
            bail!("--out and --book are mutually exclusive");
        }
        if run.quick {
            bail!("--book writes the committed figures, which are full runs: drop --quick");
        }
        let defaults = serde_json::to_value(E::Options::default())?;
        if serde_json::to_value(options)? != defaults {
            bail!(
                "--book writes the committed figures, which use the default settings ({defaults}); \
                 drop the changed flags, or write elsewhere with --out DIR"
            );
        }
    }
    run.apply_threads(E::THREADS)?;
    let (data, figs) = figures::<E>(options, &GenOptions { quick: run.quick, progress: true })?;
    print!("{data}");
    save_from_example(&figs, run.out.as_deref(), run.book)?;
    Ok(())
}

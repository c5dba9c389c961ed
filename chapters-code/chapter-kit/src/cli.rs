//! Flag parsers and helpers shared by every example, so that bad input always gives one clear error
//! line and a non-zero exit, never a panic or a half-written file.
//!
//! Use the parsers with clap's derive API:
//!
//! ```
//! use clap::Parser;
//! use chapter_kit::cli::{self, Common};
//!
//! #[derive(Parser)]
//! struct Args {
//!     /// Hidden units per layer.
//!     #[arg(long, default_value_t = 64, value_parser = cli::positive_usize, allow_negative_numbers = true)]
//!     width: usize,
//!     /// Learning rate.
//!     #[arg(long, default_value_t = 0.1, value_parser = cli::finite_positive_f64, allow_negative_numbers = true)]
//!     lr: f64,
//!     #[arg(long, default_value = "sigmoid", value_parser = cli::activation)]
//!     activation: lab::Activation,
//!     #[command(flatten)]
//!     common: Common,
//! }
//!
//! # fn main() -> anyhow::Result<()> {
//! let args = Args::try_parse_from(["demo", "--width", "32", "--seed", "7"])?;
//! assert_eq!((args.width, args.common.seed), (32, 7));
//! let err = Args::try_parse_from(["demo", "--width", "-3"]).err().unwrap().to_string();
//! assert!(err.contains("must be a positive integer, got `-3`"), "{err}");
//! let err = Args::try_parse_from(["demo", "--lr", "nan"]).err().unwrap().to_string();
//! assert!(err.contains("must be a finite positive number, got `nan`"), "{err}");
//! # Ok(())
//! # }
//! ```
//!
//! Numeric flags that reject negative values should set `allow_negative_numbers = true`: without it
//! clap reads `--width -3` as the flag `-3` and reports "unexpected argument '-3' found", which is
//! correct but less helpful than our parser's "must be a positive integer, got `-3`". (`--width=-3`
//! always reaches the parser.)
//!
//! A `main` that wants the same one-line errors for its own failures can end with [`exit_on_error`].

use anyhow::Result;
pub use lab::flags::*;
pub use lab::io::OutputFile;
pub use lab::threads::{pin_thread_count, set_threads};

/// Flags every example shares; include them with `#[command(flatten)] common: Common` and call
/// [`Common::apply`] first thing in `main`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Common {
    /// Seed of every random draw (weights, data, batches): the same seed gives the same numbers.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Worker threads for candle's matmuls and elementwise ops (default: RAYON_NUM_THREADS or the
    /// number of physical cores).
    #[arg(long, value_parser = positive_usize, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// A smaller, faster run (what the figure-freshness tests regenerate).
    #[arg(long)]
    pub quick: bool,
}

impl Common {
    /// Applies `--threads` (see [`set_threads`]), or else pins the default count
    /// ([`pin_thread_count`]); and sets the allocator for candle ([`lab::malloc::keep_freed_memory`]).
    /// Call before any tensor operation.
    pub fn apply(&self) -> Result<()> {
        lab::malloc::keep_freed_memory();
        match self.threads {
            Some(n) => set_threads(n),
            None => pin_thread_count(),
        }
    }
}

/// Prints `error: <message>` (the whole anyhow context chain, on one line) to stderr and exits with
/// status 1 on error. `fn main() { chapter_kit::cli::exit_on_error(run()) }`.
pub fn exit_on_error<T>(result: Result<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::exit(1);
        }
    }
}

/// The error with its causes joined by ": " on a single line (newlines inside messages become spaces).
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// Refuses a list flag (`--depths 4,2`) whose values are not strictly ascending.
pub fn ensure_ascending<T: PartialOrd + std::fmt::Debug>(flag: &str, values: &[T]) -> Result<()> {
    anyhow::ensure!(values.windows(2).all(|w| w[0] < w[1]), "--{flag} must be ascending, got {values:?}");
    Ok(())
}

/// Refuses a flag whose value exceeds another's (`--batch 600` drawn from `--train-examples 500`).
pub fn ensure_at_most<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    value: T,
    bound_flag: &str,
    bound: T,
) -> Result<()> {
    anyhow::ensure!(value <= bound, "--{flag} {value} cannot exceed --{bound_flag} {bound}");
    Ok(())
}

/// Refuses an empty list flag: `--{flag} needs at least one {item}`.
pub fn ensure_nonempty<T>(flag: &str, values: &[T], item: &str) -> Result<()> {
    anyhow::ensure!(!values.is_empty(), "--{flag} needs at least one {item}");
    Ok(())
}

/// The digits a figure trains on and the held-out digits it scores on: two flags, flattened into
/// the figure's options (`#[command(flatten)] #[serde(flatten)]`, so its saved options keep the two
/// fields), drawn by [`lab::experiments::HeldOutDigits`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, clap::Args)]
pub struct DigitSplit {
    /// Training digits.
    #[arg(long, default_value_t = 2000, value_parser = positive_usize, allow_negative_numbers = true)]
    pub train_examples: usize,
    /// Held-out digits.
    #[arg(long, default_value_t = 500, value_parser = positive_usize, allow_negative_numbers = true)]
    pub test_examples: usize,
}

impl DigitSplit {
    /// The standardised digits drawn with `seed`, refused when a minibatch of `batch` would not fit
    /// in the training digits.
    pub fn draw(&self, batch: usize, seed: u64) -> Result<lab::experiments::HeldOutDigits> {
        ensure_at_most("batch", batch, "train-examples", self.train_examples)?;
        lab::experiments::HeldOutDigits::new(self.train_examples, self.test_examples, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use lab::{Activation, Init, Norm};

    #[derive(Parser, Debug)]
    struct Demo {
        #[arg(long, default_value_t = 8, value_parser = positive_usize, allow_negative_numbers = true)]
        width: usize,
        #[arg(long, default_value_t = 8, value_parser = positive_usize)]
        depth: usize,
        #[arg(long, default_value_t = 0.1, value_parser = finite_positive_f64, allow_negative_numbers = true)]
        lr: f64,
        #[arg(long, default_value_t = 0.0, value_parser = probability, allow_negative_numbers = true)]
        dropout: f64,
        #[arg(long, default_value = "tanh", value_parser = activation)]
        activation: Activation,
        #[arg(long, default_value = "xavier_uniform", value_parser = init)]
        init: Init,
        #[arg(long, default_value = "none", value_parser = norm)]
        norm: Norm,
        #[command(flatten)]
        common: Common,
    }

    fn err(args: &[&str]) -> String {
        let mut full = vec!["demo"];
        full.extend_from_slice(args);
        Demo::try_parse_from(full).expect_err("should be rejected").to_string()
    }

    #[test]
    fn parsers_accept_good_values() {
        let d = Demo::try_parse_from([
            "demo",
            "--width",
            "16",
            "--lr",
            "1e-3",
            "--dropout",
            "0.5",
            "--activation",
            "relu",
            "--init",
            "he_normal",
            "--norm",
            "batch",
            "--seed",
            "9",
            "--threads",
            "1",
            "--quick",
        ])
        .unwrap();
        assert_eq!((d.width, d.depth, d.lr, d.dropout), (16, 8, 1e-3, 0.5));
        assert_eq!((d.activation, d.init, d.norm), (Activation::Relu, Init::HE, Norm::Batch));
        assert_eq!(d.common, Common { seed: 9, threads: Some(1), quick: true });
        assert_eq!(Demo::try_parse_from(["demo"]).unwrap().common, Common { seed: 0, threads: None, quick: false });
    }

    #[test]
    fn parsers_reject_bad_values_with_one_clear_line() {
        for (args, expect) in [
            (&["--width", "-3"][..], "must be a positive integer, got `-3`"),
            (&["--width", "0"], "must be a positive integer, got `0`"),
            (&["--width", "abc"], "must be a positive integer, got `abc`"),
            (&["--width=-3"], "must be a positive integer, got `-3`"),
            (&["--depth=-2"], "must be a positive integer, got `-2`"),
            (&["--lr", "nan"], "must be a finite positive number, got `nan`"),
            (&["--lr", "inf"], "must be a finite positive number, got `inf`"),
            (&["--lr", "0"], "must be a finite positive number, got `0`"),
            (&["--lr", "-0.1"], "must be a finite positive number, got `-0.1`"),
            (&["--dropout", "1.5"], "must be a probability between 0 and 1, got `1.5`"),
            (&["--dropout", "nan"], "must be a probability between 0 and 1"),
            (&["--activation", "swish"], "unknown activation `swish`"),
            (&["--init", "normal"], "needs a value"),
            (&["--norm", "group"], "unknown norm `group`"),
            (&["--threads", "0"], "must be a positive integer, got `0`"),
            (&["--threads", "-1"], "must be a positive integer, got `-1`"),
            (&["--seed", "-1"], "invalid value '-1' for '--seed <SEED>'"),
        ] {
            let e = err(args);
            assert!(e.contains(expect), "{args:?}: {e}");
            // The error itself is one line; clap appends only its "try --help" hint.
            assert_eq!(e.lines().next().map(|l| l.contains(expect)), Some(true), "{e}");
        }
        // Without allow_negative_numbers clap still refuses, with its own message.
        assert!(err(&["--depth", "-2"]).contains("unexpected argument '-2'"));
    }

    #[test]
    fn scalar_parsers() {
        assert_eq!(positive_usize(" 7 "), Ok(7));
        assert_eq!(finite_f64("-2.5"), Ok(-2.5));
        assert!(finite_f64("NaN").is_err());
        assert_eq!(finite_non_negative_f64("0"), Ok(0.0));
        assert!(finite_non_negative_f64("-1e-9").is_err());
        assert_eq!(probability("1"), Ok(1.0));
        assert!(probability("-0.0001").is_err());
        assert!(finite_positive_f64("1e400").is_err());
    }

    #[test]
    fn ascending_lists() {
        assert!(ensure_ascending("depths", &[2, 4, 8]).is_ok());
        let err = ensure_ascending("depths", &[4, 2]).unwrap_err().to_string();
        assert!(err.contains("--depths must be ascending, got [4, 2]"), "{err}");
    }

    #[test]
    fn one_line_joins_context() {
        let e = anyhow::anyhow!("inner\nproblem").context("outer");
        assert_eq!(one_line(&e), "outer: inner problem");
    }
}

//! Flag parsers and helpers shared by every example, so that bad input always gives one clear error
//! line and a non-zero exit, never a panic or a half-written file.
//!
//! Use the parsers with clap's derive API:
//!
//! ```
//! use clap::Parser;
//! use lab::cli::{self, Common};
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

use crate::{Activation, Init, Norm};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A strictly positive integer (`--width`, `--depth`, `--steps`, `--batch`, `--threads`).
pub fn positive_usize(s: &str) -> Result<usize, String> {
    let t = s.trim();
    match t.parse::<usize>() {
        Ok(0) => Err(format!("must be a positive integer, got `{s}`")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("must be a positive integer, got `{s}`")),
    }
}

/// A finite number, any sign.
pub fn finite_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("must be a finite number, got `{s}`")),
    }
}

/// A finite number > 0 (`--lr`, `--std`, `--gain`): rejects `nan`, `inf`, `0` and negatives.
pub fn finite_positive_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("must be a finite positive number, got `{s}`")),
    }
}

/// A finite number ≥ 0 (`--weight-decay`, `--noise`, `--clip` where 0 means off).
pub fn finite_non_negative_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("must be a finite number ≥ 0, got `{s}`")),
    }
}

/// A probability in [0, 1] (`--dropout`, `--momentum`).
pub fn probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("must be a probability between 0 and 1, got `{s}`")),
    }
}

/// An [`Activation`] (`sigmoid`, `tanh`, `relu`, `leaky_relu[:α]`, `gelu`, `softsign`, `linear`).
pub fn activation(s: &str) -> Result<Activation, String> {
    s.parse::<Activation>().map_err(|e| e.to_string())
}

/// An [`Init`] scheme (`standard`, `normal:<std>`, `xavier_uniform[:gain]`, `he_normal[:gain][,fan_out]`, …).
pub fn init(s: &str) -> Result<Init, String> {
    s.parse::<Init>().map_err(|e| e.to_string())
}

/// A [`Norm`] (`none`, `batch`, `layer`).
pub fn norm(s: &str) -> Result<Norm, String> {
    s.parse::<Norm>().map_err(|e| e.to_string())
}

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
    /// ([`pin_thread_count`]). Call before any tensor operation.
    pub fn apply(&self) -> Result<()> {
        match self.threads {
            Some(n) => set_threads(n),
            None => pin_thread_count(),
        }
    }
}

/// Pins candle's thread count to its own default (the number of physical cores) unless
/// `RAYON_NUM_THREADS` already sets it. Call at the start of `main`, as [`set_threads`].
///
/// Why: without the variable, candle 0.11's `get_num_threads()` — which every stock matmul calls —
/// re-derives the core count from the CPU mask and `/proc/cpuinfo` each time. A recurrent network's
/// chain of tiny products spends most of its time there (2.5–3× slower in chapter 7's memory task).
/// With the variable set, the same call is one environment lookup.
pub fn pin_thread_count() -> Result<()> {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return Ok(());
    }
    set_threads(candle_core::utils::get_num_threads())
}

/// Sets the number of threads candle computes with. Call it at the start of `main`, before any tensor
/// operation and before any other thread is started.
///
/// How candle 0.11 decides (see `candle_core::utils`): matmuls go through `gemm` with
/// `get_num_threads()` workers on rayon's global pool, and `get_num_threads()` reads
/// `RAYON_NUM_THREADS` on every call (falling back to the number of physical cores); elementwise ops
/// run on candle's own barrier pool, sized once, on its first use, from `CANDLE_NUM_THREADS` or else
/// `RAYON_NUM_THREADS`; rayon's global pool is also sized from `RAYON_NUM_THREADS` when first used.
/// So setting both variables before the first tensor op sizes all three consistently. Afterwards the
/// two pools are fixed, which is why this must run first. lab's own products ([`crate::fast`]) split
/// across the barrier pool's threads, so `--threads` sizes them too.
pub fn set_threads(n: usize) -> Result<()> {
    if n == 0 {
        bail!("--threads must be at least 1");
    }
    let value = n.to_string();
    // SAFETY: the environment is only modified here, which the caller runs at the start of `main`,
    // before any other thread exists (documented contract of this function).
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", &value);
        std::env::set_var("CANDLE_NUM_THREADS", &value);
    }
    let seen = candle_core::utils::get_num_threads();
    if seen != n {
        bail!("could not set the thread count to {n}: candle reports {seen}");
    }
    Ok(())
}

/// Prints `error: <message>` (the whole anyhow context chain, on one line) to stderr and exits with
/// status 1 on error. `fn main() { lab::cli::exit_on_error(run()) }`.
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

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written atomically: data goes to a temporary file in the destination's directory, and only
/// [`OutputFile::commit`] renames it into place. Dropped without a commit (an error, a panic), the
/// temporary file is removed and the destination is untouched: no partial output, ever.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Starts writing `path` (its directory is created if needed).
    pub fn create(path: impl AsRef<Path>) -> Result<OutputFile> {
        let path = path.as_ref().to_path_buf();
        let name = path.file_name().with_context(|| format!("output path `{}` has no file name", path.display()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            bail!("cannot write {}: it is a directory", path.display());
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating directory {}", dir.display()))?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{}.{}-{n}.tmp", name.to_string_lossy(), std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(OutputFile { path, tmp, file: Some(BufWriter::new(file)) })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the temporary file onto the destination.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().expect("an uncommitted OutputFile has a file");
        let result = (|| -> io::Result<()> {
            let f = file.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&self.tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e).with_context(|| format!("writing {}", self.path.display()));
        }
        Ok(self.path.clone())
    }

    /// Writes `bytes` to `path` atomically in one call.
    pub fn write_all_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf> {
        let mut out = OutputFile::create(path)?;
        out.write_all(bytes).with_context(|| format!("writing {}", out.path.display()))?;
        out.commit()
    }

    fn inner(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("an uncommitted OutputFile has a file")
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

impl Seek for OutputFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner().seek(pos)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            drop(f);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
    fn one_line_joins_context() {
        let e = anyhow::anyhow!("inner\nproblem").context("outer");
        assert_eq!(one_line(&e), "outer: inner problem");
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn output_file_is_atomic() -> Result<()> {
        let dir = temp_dir("atomic");
        let path = dir.join("out.txt");
        // Committed: the content appears, no temp file remains.
        let mut f = OutputFile::create(&path)?;
        f.write_all(b"hello ")?;
        f.write_all(b"world")?;
        assert!(!path.exists(), "nothing at the destination before commit");
        f.commit()?;
        assert_eq!(std::fs::read_to_string(&path)?, "hello world");
        assert_eq!(entries(&dir), vec!["out.txt"]);
        // Dropped without commit (an error midway): the old content stays, the temp file is gone.
        {
            let mut f = OutputFile::create(&path)?;
            f.write_all(b"partial")?;
        }
        assert_eq!(std::fs::read_to_string(&path)?, "hello world");
        assert_eq!(entries(&dir), vec!["out.txt"]);
        // A new file that fails midway leaves nothing behind.
        let fresh = dir.join("sub").join("fresh.bin");
        {
            let mut f = OutputFile::create(&fresh)?;
            f.write_all(&[1, 2, 3])?;
        }
        assert!(!fresh.exists());
        assert!(entries(&dir.join("sub")).is_empty());
        OutputFile::write_all_atomic(&fresh, b"ok")?;
        assert_eq!(std::fs::read(&fresh)?, b"ok");
        // A directory at the destination is refused up front.
        assert!(OutputFile::create(&dir).unwrap_err().to_string().contains("is a directory"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

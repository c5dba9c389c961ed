//! Flags the chapter's examples share (on top of [`chapter_kit::cli::Common`]).

use crate::nielsen::{Cost, DataSource};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, save_from_example};
use std::path::PathBuf;

/// Where the digits come from: `--mnist-dir DIR` for the real MNIST, else lab's procedural digits.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DataArgs {
    /// Directory holding the four decompressed MNIST IDX files (train-images-idx3-ubyte, …); without
    /// it the examples use lab's procedurally drawn digits.
    #[arg(long, value_name = "DIR")]
    pub mnist_dir: Option<PathBuf>,
    /// Seed of the procedural digits (ignored with --mnist-dir).
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
}

impl DataArgs {
    /// The data source, checking that an MNIST directory exists before any work starts.
    pub fn source(&self) -> Result<DataSource> {
        match &self.mnist_dir {
            Some(dir) => {
                ensure!(dir.is_dir(), "--mnist-dir {} is not a directory", dir.display());
                Ok(DataSource::Mnist { dir: dir.clone() })
            }
            None => Ok(DataSource::Digits { seed: self.data_seed }),
        }
    }
}

/// Where figures go: `--out DIR` (default `target/figures`) or `--book` (the book's `src/`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct OutArgs {
    /// Directory to write figures/ch02/*.{svg,json} under (default: target/figures).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write into the book's src/ instead (what `book figures` does). Only the default settings
    /// reproduce the committed figures.
    #[arg(long)]
    pub book: bool,
}

impl OutArgs {
    pub fn save(&self, figures: &[Figure]) -> Result<()> {
        save_from_example(figures, self.out.as_deref(), self.book)?;
        Ok(())
    }
}

/// Parses `--cost` (`sigmoid`: Nielsen's sigmoid outputs with cross-entropy; `softmax`).
pub fn cost(s: &str) -> Result<Cost, String> {
    s.parse::<Cost>().map_err(|e| e.to_string())
}

/// Parses `--inputs` (`gaussian` or `positive`).
pub fn inputs(s: &str) -> Result<crate::glorot::Inputs, String> {
    s.parse().map_err(|e: anyhow::Error| e.to_string())
}

/// A depth of at least 2 (a ratio between the first and the last hidden layer needs two).
pub fn depth_at_least_2(s: &str) -> Result<usize, String> {
    match chapter_kit::cli::positive_usize(s)? {
        1 => Err(format!("must be at least 2, got `{s}`")),
        n => Ok(n),
    }
}

/// Prints a JSON value compactly with a label (the examples' summaries).
pub fn show(label: &str, v: &serde_json::Value) {
    println!("{label:<34} {v}");
}

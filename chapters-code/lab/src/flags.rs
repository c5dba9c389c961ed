//! Parsers that read lab's settings from command-line text with one clear error line on bad input
//! (`--width -3` → "must be a positive integer, got `-3`"). Use them as clap `value_parser`s;
//! the book's examples get them through `chapter_kit::cli`.

use crate::{Activation, Init, Norm};

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

/// A depth of at least 2 (a ratio between the first and the last hidden layer needs two).
pub fn depth_at_least_2(s: &str) -> Result<usize, String> {
    match positive_usize(s)? {
        1 => Err(format!("must be at least 2, got `{s}`")),
        n => Ok(n),
    }
}

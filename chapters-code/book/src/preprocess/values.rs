//! `{{#value chNN/file.json:dotted.path[:format]}}`: numbers quoted in the prose come from the JSON
//! that the book's own code wrote, never from a person's copy.
//!
//! The file is relative to `src/figures/`; the path walks the figure's `data` (array indices as
//! `.0`); the optional format is `.N` (N decimals) or `eN` (scientific, N digits after the point).
//! Without a format a number is written as the JSON has it. An unreadable file or a missing key is
//! an error that names the file and the key: a blank in the prose would go unnoticed.
//!
//! Like mdBook's `{{#include}}`, placeholders expand everywhere, code blocks included; rustdoc does
//! not expand them, so they do not belong in Rust listings.

use anyhow::{Context, Result, bail};
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::Book;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

const OPEN: &str = "{{#value";
const CLOSE: &str = "}}";

/// How a number is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// As the JSON has it.
    AsIs,
    /// `.N`: fixed, N decimals.
    Fixed(usize),
    /// `eN`: scientific, N digits after the point (`1.23e-5`).
    Scientific(usize),
}

/// One parsed placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef {
    /// Relative to `src/figures/`, e.g. `ch02/gradient-profile.json`.
    pub file: String,
    /// Dotted path inside the figure's `data`.
    pub key: String,
    pub format: NumberFormat,
}

impl ValueRef {
    /// Parses the inside of `{{#value …}}`.
    pub fn parse(spec: &str) -> Result<ValueRef> {
        let mut parts = spec.trim().split(':');
        let file = parts.next().unwrap_or_default().trim();
        let key = parts.next().map(str::trim).unwrap_or_default();
        let format = match parts.next().map(str::trim) {
            None => NumberFormat::AsIs,
            Some(f) => parse_format(f)?,
        };
        if parts.next().is_some() {
            bail!("expected `file.json:key` or `file.json:key:format`");
        }
        if file.is_empty() || key.is_empty() {
            bail!("expected `chNN/file.json:dotted.key`");
        }
        let escapes = Path::new(file).components().any(|c| !matches!(c, Component::Normal(_)));
        if escapes || !file.ends_with(".json") {
            bail!("`{file}` must be a .json file inside src/figures/, e.g. `ch01/name.json`");
        }
        Ok(ValueRef { file: file.to_string(), key: key.to_string(), format })
    }
}

fn parse_format(spec: &str) -> Result<NumberFormat> {
    let digits = |s: &str| s.parse::<usize>().ok().filter(|&n| n <= 17);
    let format = if let Some(n) = spec.strip_prefix('.') {
        digits(n).map(NumberFormat::Fixed)
    } else if let Some(n) = spec.strip_prefix('e') {
        digits(n).map(NumberFormat::Scientific)
    } else {
        None
    };
    format.with_context(|| format!("unknown format `{spec}`: use `.N` (N decimals) or `eN` (scientific)"))
}

/// `data.<key>` of a figure's data, where numeric segments index arrays.
pub fn lookup<'a>(data: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(data, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Writes `value` in `format`. Strings and booleans pass through when no format is asked for.
pub fn format_value(value: &Value, format: NumberFormat) -> Result<String> {
    match (value, format) {
        (Value::Number(n), NumberFormat::AsIs) => Ok(n.to_string()),
        (Value::Number(n), NumberFormat::Fixed(decimals)) => Ok(format!("{:.*}", decimals, as_f64(n)?)),
        (Value::Number(n), NumberFormat::Scientific(digits)) => Ok(format!("{:.*e}", digits, as_f64(n)?)),
        (Value::String(s), NumberFormat::AsIs) => Ok(s.clone()),
        (Value::Bool(b), NumberFormat::AsIs) => Ok(b.to_string()),
        (Value::Array(_) | Value::Object(_), _) => bail!("is an {}, not a number", kind(value)),
        (Value::Null, _) => bail!("is null (a NaN or infinity, which JSON cannot hold?)"),
        _ => bail!("is {value}, which a number format cannot apply to"),
    }
}

fn as_f64(n: &serde_json::Number) -> Result<f64> {
    n.as_f64().with_context(|| format!("{n} does not fit an f64"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "scalar",
    }
}

/// Figure data read so far, so a chapter quoting one file ten times reads it once.
#[derive(Default)]
pub struct FigureData {
    by_file: HashMap<PathBuf, std::result::Result<Value, String>>,
}

impl FigureData {
    fn get(&mut self, path: &Path) -> std::result::Result<&Value, String> {
        self.by_file
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                if !path.exists() {
                    let chapter =
                        path.parent().and_then(|p| p.file_name()).map_or("chNN".into(), |c| c.to_string_lossy());
                    return Err(format!(
                        "{} does not exist (generate it: `book figures --chapter {chapter}`)",
                        path.display()
                    ));
                }
                chapter_kit::figure::read_data(path).map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The formatted value a placeholder stands for.
    pub fn resolve(&mut self, figures_dir: &Path, value_ref: &ValueRef) -> Result<String> {
        let path = figures_dir.join(&value_ref.file);
        let data = self.get(&path).map_err(anyhow::Error::msg)?;
        let Some(value) = lookup(data, &value_ref.key) else {
            bail!("no key `{}` in the data of {}{}", value_ref.key, path.display(), nearest_keys(data, &value_ref.key));
        };
        format_value(value, value_ref.format).with_context(|| format!("key `{}` of {}", value_ref.key, path.display()))
    }
}

/// Names the keys that do exist where the lookup stopped, to make a typo obvious.
fn nearest_keys(data: &Value, key: &str) -> String {
    let mut value = data;
    let mut walked = Vec::new();
    for segment in key.split('.') {
        match lookup(value, segment) {
            Some(next) => {
                value = next;
                walked.push(segment);
            }
            None => break,
        }
    }
    let at = if walked.is_empty() { "data".to_string() } else { format!("data.{}", walked.join(".")) };
    match value {
        Value::Object(map) => {
            let keys: Vec<_> = map.keys().map(String::as_str).collect();
            format!(" ({at} has keys: {})", keys.join(", "))
        }
        Value::Array(items) => format!(" ({at} is an array of {} entries)", items.len()),
        other => format!(" ({at} is {other})"),
    }
}

/// Every placeholder in `text` with its byte range, or the first malformed one.
pub fn placeholders(text: &str) -> Vec<(std::ops::Range<usize>, Result<ValueRef>)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(OPEN).map(|i| from + i) {
        let inner_start = start + OPEN.len();
        let Some(end) = text[inner_start..].find(CLOSE).map(|i| inner_start + i) else {
            found.push((start..text.len(), Err(anyhow::anyhow!("`{OPEN}` without a closing `{CLOSE}`"))));
            break;
        };
        let inner = &text[inner_start..end];
        let parsed = if inner.starts_with(char::is_whitespace) {
            ValueRef::parse(inner)
        } else {
            Err(anyhow::anyhow!("expected a space after `{OPEN}`"))
        };
        found.push((start..end + CLOSE.len(), parsed));
        from = end + CLOSE.len();
    }
    found
}

/// Replaces every placeholder in `text` with its value from the figure JSON under `figures_dir`
/// (the book's `src/figures`). The error lists every placeholder that does not resolve, one a line.
pub fn expand_values(text: &str, figures_dir: &Path, data: &mut FigureData) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut problems = String::new();
    let mut copied_to = 0;
    for (range, parsed) in placeholders(text) {
        out.push_str(&text[copied_to..range.start]);
        copied_to = range.end;
        let placeholder = &text[range.clone()];
        let line = crate::markdown::line_of(text, range.start);
        match parsed.and_then(|value_ref| data.resolve(figures_dir, &value_ref)) {
            Ok(value) => out.push_str(&value),
            Err(e) => writeln!(problems, "line {line}: {placeholder}: {e:#}").expect("writing to a String"),
        }
    }
    out.push_str(&text[copied_to..]);
    if problems.is_empty() { Ok(out) } else { bail!("{}", problems.trim_end()) }
}

/// The mdBook preprocessor; runs after mdBook's own `{{#include}}` expansion.
pub struct ValuesPreprocessor;

impl mdbook_preprocessor::Preprocessor for ValuesPreprocessor {
    fn name(&self) -> &str {
        "values"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let figures_dir = ctx.root.join(&ctx.config.book.src).join("figures");
        let mut data = FigureData::default();
        super::rewrite_chapters(&mut book, "{{#value}} placeholders that do not resolve", |chapter| {
            expand_values(&chapter.content, &figures_dir, &mut data).map(Some)
        })?;
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn figures_with(data: Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let fig = chapter_kit::figure::Figure::new("ch02", "profile", "alt", String::new(), &data).unwrap();
        fig.write(dir.path()).unwrap();
        dir
    }

    #[test]
    fn formats_numbers() {
        let x = json!(0.000123456);
        assert_eq!(format_value(&x, NumberFormat::AsIs).unwrap(), "0.000123456");
        assert_eq!(format_value(&x, NumberFormat::Fixed(5)).unwrap(), "0.00012");
        assert_eq!(format_value(&x, NumberFormat::Scientific(2)).unwrap(), "1.23e-4");
        assert_eq!(format_value(&json!(42), NumberFormat::AsIs).unwrap(), "42");
        assert_eq!(format_value(&json!(2.5), NumberFormat::Fixed(0)).unwrap(), "2");
        assert_eq!(format_value(&json!(-1.23456), NumberFormat::Fixed(3)).unwrap(), "-1.235");
        assert!(format_value(&json!([1]), NumberFormat::AsIs).is_err());
        assert!(format_value(&json!("x"), NumberFormat::Fixed(2)).is_err());
    }

    #[test]
    fn parses_placeholders() {
        let r = ValueRef::parse(" ch01/x.json:a.0.b:e3 ").unwrap();
        assert_eq!((r.file.as_str(), r.key.as_str(), r.format), ("ch01/x.json", "a.0.b", NumberFormat::Scientific(3)));
        assert_eq!(ValueRef::parse("ch01/x.json:k").unwrap().format, NumberFormat::AsIs);
        assert_eq!(ValueRef::parse("ch01/x.json:k:.2").unwrap().format, NumberFormat::Fixed(2));
        for bad in ["ch01/x.json", "ch01/x.json:k:%2", "../x.json:k", "/etc/x.json:k", "ch01/x.svg:k", "a:b:.1:z"] {
            assert!(ValueRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expands_values_everywhere_including_nested_arrays() {
        let dir = figures_with(json!({"ratio": 1234.5678, "layers": [{"norm": 0.5}, {"norm": 2.5e-7}]}));
        let text = "ratio {{#value ch02/profile.json:ratio:.1}}, last {{#value ch02/profile.json:layers.1.norm:e1}}.";
        let out = expand_values(text, &dir.path().join("figures"), &mut FigureData::default()).unwrap();
        assert_eq!(out, "ratio 1234.6, last 2.5e-7.");
    }

    #[test]
    fn missing_keys_and_files_are_errors_naming_file_and_key() {
        let dir = figures_with(json!({"ratio": 1.0, "layers": [1, 2]}));
        let figures = dir.path().join("figures");
        let text = "a {{#value ch02/profile.json:ratoi}}\nb {{#value ch09/none.json:x}}\nc {{#value ch02/profile.json:layers.7}}";
        let err = expand_values(text, &figures, &mut FigureData::default()).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("`ratoi`") && err.contains("profile.json"), "{err}");
        assert!(err.contains("has keys: layers, ratio"), "{err}");
        assert!(err.contains("line 2") && err.contains("ch09/none.json") && err.contains("does not exist"), "{err}");
        assert!(err.contains("line 3") && err.contains("array of 2 entries"), "{err}");
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        let figures = Path::new("/nonexistent");
        assert!(expand_values("x {{#value ch01/a.json:k", figures, &mut FigureData::default()).is_err());
        assert!(expand_values("x {{#valueX}}", figures, &mut FigureData::default()).is_err());
        assert_eq!(
            expand_values("no placeholders {{#include x}}", figures, &mut FigureData::default()).unwrap(),
            "no placeholders {{#include x}}"
        );
    }
}

//! Figures: an SVG plus the JSON of the data behind it, written atomically, and the registry of
//! generators that the driver (`book figures`) and each chapter's examples call.
//!
//! A generator is a plain function `fn(&GenOptions) -> Result<Vec<Figure>>`. The same seed gives the
//! same data. Quick mode exists so `cargo test` can check freshness cheaply: a quick run must produce
//! a *sub-document* of the full run's JSON — the same keys with the same values, where arrays may be
//! prefixes (e.g. the first steps of the same seeded training run) and keys may be missing. The
//! freshness test compares quick output against the committed JSON with [`json_agrees`].

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Options every generator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Run the cheap subset used by the freshness test instead of the full experiment.
    pub quick: bool,
    /// Show progress bars (the driver turns them off when it runs generators in parallel).
    pub progress: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { quick: false, progress: true }
    }
}

/// One generated figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Chapter folder under `src/figures/`, e.g. `ch01`.
    pub chapter: String,
    /// File stem, e.g. `chain-product` → `chain-product.svg`, `chain-product.json`.
    pub name: String,
    /// The rendered SVG (empty in quick mode: the freshness test compares data only).
    pub svg: String,
    /// Alternative text describing the figure for screen readers.
    pub alt: String,
    /// The data behind the figure; numbers quoted in the prose are read from here.
    pub data: Value,
}

impl Figure {
    pub fn new(chapter: &str, name: &str, alt: &str, svg: String, data: &impl Serialize) -> Result<Figure> {
        Ok(Figure {
            chapter: chapter.to_string(),
            name: name.to_string(),
            svg,
            alt: alt.to_string(),
            data: serde_json::to_value(data)?,
        })
    }

    /// `figures/<chapter>/<name>.svg`, relative to the book's `src/`.
    pub fn svg_path(&self) -> PathBuf {
        PathBuf::from("figures").join(&self.chapter).join(format!("{}.svg", self.name))
    }

    /// `figures/<chapter>/<name>.json`, relative to the book's `src/`.
    pub fn json_path(&self) -> PathBuf {
        PathBuf::from("figures").join(&self.chapter).join(format!("{}.json", self.name))
    }

    /// Writes the SVG and JSON under `src_dir` (the book's `src/`), each atomically (temp file +
    /// rename), so a crash never leaves a half-written figure. Returns the paths written.
    pub fn write(&self, src_dir: &Path) -> Result<Vec<PathBuf>> {
        let mut json = serde_json::json!({ "alt": self.alt, "data": self.data });
        if let Some(obj) = json.as_object_mut() {
            obj.insert("generator".into(), Value::String(format!("{}/{}", self.chapter, self.name)));
        }
        let svg_path = src_dir.join(self.svg_path());
        let json_path = src_dir.join(self.json_path());
        let mut written = Vec::new();
        if !self.svg.is_empty() {
            write_atomic(&svg_path, self.svg.as_bytes())?;
            written.push(svg_path);
        }
        write_atomic(&json_path, (serde_json::to_string_pretty(&json)? + "\n").as_bytes())?;
        written.push(json_path);
        Ok(written)
    }
}

/// Reads the `data` of a committed figure JSON.
pub fn read_data(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    v.get("data").cloned().with_context(|| format!("{} has no `data` field", path.display()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("output path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file_name = path.file_name().context("output path has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// A registered figure generator.
#[derive(Clone, Copy)]
pub struct Generator {
    /// Chapter folder, e.g. `ch01`.
    pub chapter: &'static str,
    /// Name of the figure family (usually the example that runs it).
    pub name: &'static str,
    /// Produces one or more figures.
    pub run: fn(&GenOptions) -> Result<Vec<Figure>>,
}

/// Tolerances of the freshness comparison. Floating point differs across CPUs (FMA, SIMD widths,
/// thread counts in reductions), and sensitivity grows with training length, so the comparison is
/// relative with an absolute floor.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { rel: 1e-3, abs: 1e-6 }
    }
}

/// Checks that `quick` is a sub-document of `full` within `tol`: every key of an object in `quick`
/// exists in `full` and agrees; every array in `quick` is a prefix of the array in `full`; numbers
/// agree within tolerance; strings and booleans are equal. Returns the first disagreement's path.
pub fn json_agrees(quick: &Value, full: &Value, tol: Tolerance) -> Result<()> {
    fn go(q: &Value, f: &Value, tol: Tolerance, path: &mut String) -> Result<()> {
        match (q, f) {
            (Value::Object(qo), Value::Object(fo)) => {
                for (k, qv) in qo {
                    let Some(fv) = fo.get(k) else { bail!("{path}.{k}: missing from the committed data") };
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    go(qv, fv, tol, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            (Value::Array(qa), Value::Array(fa)) => {
                if qa.len() > fa.len() {
                    bail!("{path}: {} entries regenerated, only {} committed", qa.len(), fa.len());
                }
                for (i, (qv, fv)) in qa.iter().zip(fa).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    go(qv, fv, tol, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            (Value::Number(qn), Value::Number(fnum)) => {
                let (a, b) = (qn.as_f64().unwrap_or(f64::NAN), fnum.as_f64().unwrap_or(f64::NAN));
                if (a - b).abs() <= tol.abs + tol.rel * a.abs().max(b.abs()) {
                    Ok(())
                } else {
                    bail!("{path}: regenerated {a}, committed {b} (tolerance rel {} abs {})", tol.rel, tol.abs)
                }
            }
            _ if q == f => Ok(()),
            _ => bail!("{path}: regenerated {q}, committed {f}"),
        }
    }
    go(quick, full, tol, &mut String::from("data"))
}

/// Runs `gen` and writes its figures under `src_dir`, printing each path — what every chapter
/// example's `main` does.
pub fn run_and_write(generator: &Generator, opts: &GenOptions, src_dir: &Path) -> Result<Vec<PathBuf>> {
    let figures =
        (generator.run)(opts).with_context(|| format!("generator {}/{}", generator.chapter, generator.name))?;
    let mut written = Vec::new();
    for fig in &figures {
        for p in fig.write(src_dir)? {
            println!("wrote {}", p.display());
            written.push(p);
        }
    }
    Ok(written)
}

/// Where chapter examples write figures unless told otherwise: `target/figures/` in the workspace, so a
/// reader's experiments with other flags never overwrite the book's committed figures (`book figures`,
/// or an example's `--book` flag, regenerates those).
///
/// `LAB_FIGURE_OUT`, when set, names another folder: the book's Run button sets it, so that a
/// listing run from the page shows the figures it writes.
pub fn example_out_dir() -> PathBuf {
    match std::env::var_os("LAB_FIGURE_OUT") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target/figures"),
    }
}

/// The workspace root (lab lives in `chapters-code/lab`).
pub fn workspace_root() -> PathBuf {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR"));
    lab.parent().and_then(Path::parent).expect("lab sits two levels below the workspace root").to_path_buf()
}

/// What a chapter example does with its figures: write them under `--out DIR` (default
/// [`example_out_dir`]), or into the book's `src/` with `to_book`, printing every path written.
pub fn save_from_example(figures: &[Figure], out: Option<&Path>, to_book: bool) -> Result<Vec<PathBuf>> {
    let dir = match (out, to_book) {
        (Some(_), true) => bail!("--out and --book are mutually exclusive"),
        (Some(dir), false) => dir.to_path_buf(),
        (None, true) => book_src_dir(),
        (None, false) => example_out_dir(),
    };
    let mut written = Vec::new();
    for fig in figures {
        for p in fig.write(&dir)? {
            println!("wrote {}", p.display());
            written.push(p);
        }
    }
    Ok(written)
}

/// The book's `src/` directory, found from this crate's location (works from any chapter crate,
/// example, test or the driver, whatever the working directory).
pub fn book_src_dir() -> PathBuf {
    workspace_root().join("src")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sub_documents_agree_and_differences_are_located() {
        let full = json!({"a": [1.0, 2.0, 3.0], "b": {"c": 0.5, "d": "x"}, "e": true});
        assert!(json_agrees(&json!({"a": [1.0, 2.0000001]}), &full, Tolerance::default()).is_ok());
        assert!(json_agrees(&json!({"b": {"c": 0.5}}), &full, Tolerance::default()).is_ok());
        let err = json_agrees(&json!({"a": [1.0, 2.1]}), &full, Tolerance::default()).unwrap_err().to_string();
        assert!(err.contains("data.a[1]"), "{err}");
        assert!(json_agrees(&json!({"z": 1}), &full, Tolerance::default()).is_err());
        assert!(json_agrees(&json!({"a": [1, 2, 3, 4]}), &full, Tolerance::default()).is_err());
        assert!(json_agrees(&json!({"b": {"d": "y"}}), &full, Tolerance::default()).is_err());
    }

    #[test]
    fn writes_are_atomic_and_complete() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("lab-figure-test-{}", std::process::id()));
        let fig = Figure::new("chXX", "demo", "a demo", "<svg/>".into(), &json!({"x": [1, 2]}))?;
        let paths = fig.write(&dir)?;
        assert_eq!(paths.len(), 2);
        assert_eq!(read_data(&paths[1])?, json!({"x": [1, 2]}));
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("figures/chXX"))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        // A directory where the file should go makes the rename fail.
        let dir = std::env::temp_dir().join(format!("lab-atomic-fail-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("target.svg")).unwrap();
        assert!(write_atomic(&dir.join("target.svg"), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

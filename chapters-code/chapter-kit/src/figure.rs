//! Figures: an SVG plus the JSON of the data behind it, written atomically, and the registry of
//! generators that the driver (`book figures`) and each chapter's examples call.
//!
//! ## The shape of a figure
//!
//! Every figure family is one [`Experiment`]:
//!
//! - an **options** struct deriving `clap::Args` + `Serialize` (+ `Clone`, `Debug`): each field a flag
//!   with its default written once, in its `#[arg(default_value_t = …)]` attribute;
//!   [`defaults_from_flags!`](crate::defaults_from_flags) derives `Default` from those attributes, so the
//!   example's defaults, the registry's run and the committed figures cannot disagree. The options are
//!   saved in every figure's JSON (`"options"`).
//! - `run(&Options, &GenOptions) -> Data`: the experiment, returning a typed, serialisable result whose
//!   `Display` is the summary the example prints;
//! - `draw(&Data) -> Vec<Drawing>`: one SVG per figure, with alt text and the part of the data that
//!   figure shows (its JSON's `"data"`, where the prose reads its `{{#value}}`s).
//!
//! Then the registry line is `Generator::of::<MyExperiment>()` and the example is
//! `fn main() { chapter_kit::example_main::<MyExperiment>() }`.
//!
//! ```
//! use anyhow::Result;
//! use chapter_kit::figure::{Drawing, Experiment, GenOptions, Generator, figures};
//! use serde::Serialize;
//!
//! /// Settings of the figure.
//! #[derive(Debug, Clone, Serialize, clap::Args)]
//! pub struct SquaresOptions {
//!     /// How many squares.
//!     #[arg(long, default_value_t = 4, value_parser = chapter_kit::cli::positive_usize)]
//!     pub n: usize,
//! }
//! chapter_kit::defaults_from_flags!(SquaresOptions);
//!
//! #[derive(Serialize)]
//! pub struct Squares { squares: Vec<usize> }
//!
//! impl std::fmt::Display for Squares {
//!     fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
//!         writeln!(f, "squares: {:?}", self.squares)
//!     }
//! }
//!
//! pub struct SquaresFigure;
//!
//! impl Experiment for SquaresFigure {
//!     const CHAPTER: &'static str = "ch00";
//!     const NAME: &'static str = "squares";
//!     const ABOUT: &'static str = "Figure 0-1: the first n squares";
//!     type Options = SquaresOptions;
//!     type Data = Squares;
//!     fn run(opts: &SquaresOptions, _: &GenOptions) -> Result<Squares> {
//!         Ok(Squares { squares: (1..=opts.n).map(|i| i * i).collect() })
//!     }
//!     fn draw(data: &Squares) -> Result<Vec<Drawing>> {
//!         Ok(vec![Drawing::new("squares", "The first squares.", "<svg/>".into(), data)?])
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! assert_eq!(SquaresOptions::default().n, 4);
//! let (data, figs) = figures::<SquaresFigure>(&SquaresOptions::default(), &GenOptions::default())?;
//! assert_eq!(data.squares, [1, 4, 9, 16]);
//! assert_eq!(figs[0].options.as_ref().unwrap()["n"], 4);
//! const GENERATORS: &[Generator] = &[Generator::of::<SquaresFigure>()];
//! assert_eq!(GENERATORS[0].name, "squares");
//! # Ok(())
//! # }
//! ```
//!
//! The same seed gives the same data. Quick mode exists so `cargo test` can check freshness cheaply: a
//! quick run must produce a *sub-document* of the full run's JSON — the same keys with the same values,
//! where arrays may be prefixes (e.g. the first steps of the same seeded training run) and keys may be
//! missing. The freshness test compares quick output against the committed JSON with [`json_agrees`].

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

impl GenOptions {
    /// The freshness test's mode: quick, without progress bars (what chapter tests run).
    pub const QUICK: GenOptions = GenOptions { quick: true, progress: false };
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
    /// The settings that produced it (an [`Experiment`]'s options), saved beside the data.
    pub options: Option<Value>,
}

impl Figure {
    pub fn new(chapter: &str, name: &str, alt: &str, svg: String, data: &impl Serialize) -> Result<Figure> {
        Ok(Figure {
            chapter: chapter.to_string(),
            name: name.to_string(),
            svg,
            alt: alt.to_string(),
            data: serde_json::to_value(data)?,
            options: None,
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
            obj.insert("kernels".into(), Value::String(lab::fast::gemm_kernels().into()));
            if let Some(options) = &self.options {
                obj.insert("options".into(), options.clone());
            }
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

/// The gemm kernels a committed figure was computed with (its JSON's `"kernels"`, see
/// [`lab::fast::gemm_kernels`]); `None` for a figure written before they were recorded.
pub fn read_kernels(path: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(v.get("kernels").and_then(Value::as_str).map(str::to_string))
}

/// Checks a regenerated figure's `quick` data against the committed figure at `path`: numbers within
/// `tol` when both were computed with the same gemm kernels ([`json_agrees`]); across kernels, which
/// add a product's terms in another order and so move every trained number a little and chaotic runs
/// a lot, only the shape ([`json_shape_agrees`]). Returns whether the values were compared.
pub fn agrees_with_committed(quick: &Value, path: &Path, tol: Tolerance) -> Result<bool> {
    let committed = read_data(path)?;
    if read_kernels(path)?.as_deref() == Some(lab::fast::gemm_kernels()) {
        json_agrees(quick, &committed, tol)?;
        Ok(true)
    } else {
        json_shape_agrees(quick, &committed)?;
        Ok(false)
    }
}

pub use lab::io::write_atomic;

/// One figure family: settings in, typed data out, figures drawn from the data (see the module docs).
pub trait Experiment {
    /// Chapter folder under `src/figures/`, e.g. `ch04`.
    const CHAPTER: &'static str;
    /// The family's name in the registry (`book figures`), e.g. `he-variance`.
    const NAME: &'static str;
    /// One line for the example's `--help`: which figure, and what it shows.
    const ABOUT: &'static str;
    /// The example's thread count when neither `--threads` nor `RAYON_NUM_THREADS` sets one; `None`
    /// is candle's default, the number of physical cores. An experiment whose ops are too small to
    /// split says `Some(1)`: its results do not depend on the count, only its speed does.
    const THREADS: Option<usize> = None;
    /// The settings, as flags; `Default` must be the settings of the committed figures.
    type Options: clap::Args + clap::FromArgMatches + Default + Serialize + Clone + std::fmt::Debug;
    /// What the experiment measured; its `Display` is the summary the example prints.
    type Data: Serialize + std::fmt::Display;
    /// Runs the experiment (in quick mode, the cheap sub-run the freshness test compares).
    fn run(options: &Self::Options, run_mode: &GenOptions) -> Result<Self::Data>;
    /// Draws the figures from the data.
    fn draw(data: &Self::Data) -> Result<Vec<Drawing>>;
}

/// One drawn figure of an [`Experiment`]: its file stem, alt text, SVG and the data it shows.
#[derive(Debug, Clone)]
pub struct Drawing {
    pub name: String,
    pub alt: String,
    pub svg: String,
    pub data: Value,
}

impl Drawing {
    /// A figure named `name` (file stem) showing `data` — the experiment's whole data or the part of it
    /// this figure draws.
    pub fn new(name: &str, alt: &str, svg: String, data: &impl Serialize) -> Result<Drawing> {
        Ok(Drawing { name: name.to_string(), alt: alt.to_string(), svg, data: serde_json::to_value(data)? })
    }

    /// A figure named `name` that keeps only `data`, without a picture: what `draw` returns for a
    /// quick run's data, which has too little in it to draw (the freshness test compares only data).
    pub fn data_only(name: &str, data: &impl Serialize) -> Result<Drawing> {
        Drawing::new(name, "", String::new(), data)
    }
}

/// Runs experiment `E` with `options` and draws its figures, each carrying the options. In quick mode
/// the SVGs are dropped: only the data is compared, and a quick run's picture is not the figure.
pub fn figures<E: Experiment>(options: &E::Options, run_mode: &GenOptions) -> Result<(E::Data, Vec<Figure>)> {
    let data = E::run(options, run_mode)?;
    let saved = serde_json::to_value(options)?;
    let drawings = E::draw(&data)?;
    let figures = drawings
        .into_iter()
        .map(|d| Figure {
            chapter: E::CHAPTER.to_string(),
            name: d.name,
            svg: if run_mode.quick { String::new() } else { d.svg },
            alt: d.alt,
            data: d.data,
            options: Some(saved.clone()),
        })
        .collect();
    Ok((data, figures))
}

fn figures_with_defaults<E: Experiment>(run_mode: &GenOptions) -> Result<Vec<Figure>> {
    Ok(figures::<E>(&E::Options::default(), run_mode)?.1)
}

/// The default options of an options struct, read from its flags' `default_value_t`s (what
/// [`defaults_from_flags!`](crate::defaults_from_flags) implements `Default` with).
pub fn flag_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = command.try_get_matches_from(std::iter::empty::<String>());
    let parsed = matches.and_then(|m| T::from_arg_matches(&m));
    parsed.unwrap_or_else(|e| panic!("the flags' own defaults must parse: {e}"))
}

/// Implements `Default` for an options struct from its flags' defaults, so each default is written
/// once: in the `#[arg(default_value_t = …)]` next to the field.
#[macro_export]
macro_rules! defaults_from_flags {
    ($options:ty) => {
        impl ::std::default::Default for $options {
            fn default() -> Self {
                $crate::figure::flag_defaults::<$options>()
            }
        }
    };
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

impl Generator {
    /// The registry entry of experiment `E`, run with its default options.
    pub const fn of<E: Experiment>() -> Generator {
        Generator { chapter: E::CHAPTER, name: E::NAME, run: figures_with_defaults::<E> }
    }
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

/// Checks that `quick` has the shape of a sub-document of `full`: every key of an object in `quick`
/// exists in `full`, every array in `quick` is no longer than the one in `full`, and each value has
/// the same JSON type (numbers, strings and booleans are not compared). What [`json_agrees`] checks
/// when values cannot be expected to agree.
pub fn json_shape_agrees(quick: &Value, full: &Value) -> Result<()> {
    fn go(q: &Value, f: &Value, path: &mut String) -> Result<()> {
        let len = path.len();
        match (q, f) {
            (Value::Object(qo), Value::Object(fo)) => {
                for (k, qv) in qo {
                    let Some(fv) = fo.get(k) else { bail!("{path}.{k}: missing from the committed data") };
                    path.push('.');
                    path.push_str(k);
                    go(qv, fv, path)?;
                    path.truncate(len);
                }
            }
            (Value::Array(qa), Value::Array(fa)) => {
                if qa.len() > fa.len() {
                    bail!("{path}: {} entries regenerated, only {} committed", qa.len(), fa.len());
                }
                for (i, (qv, fv)) in qa.iter().zip(fa).enumerate() {
                    path.push_str(&format!("[{i}]"));
                    go(qv, fv, path)?;
                    path.truncate(len);
                }
            }
            // A NaN is written as null, so a number may stand where the other run has null.
            (Value::Number(_), Value::Number(_) | Value::Null) | (Value::Null, Value::Number(_) | Value::Null) => {}
            (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => {}
            _ => bail!("{path}: regenerated {q}, committed {f}: not the same kind of value"),
        }
        Ok(())
    }
    go(quick, full, &mut String::from("data"))
}

/// Reruns every generator of `generators` in quick mode and checks each figure's data against the
/// committed JSON under the book's `src/` ([`agrees_with_committed`], default tolerance); panics listing every
/// disagreement. The root `figures` test does this for the whole book in CI; a chapter crate calls it
/// from an `#[ignore]`d test to check its own figures while it is being edited.
pub fn assert_quick_runs_agree(generators: &[Generator]) {
    let src = book_src_dir();
    let quick = GenOptions::QUICK;
    let mut problems = Vec::new();
    for g in generators {
        match (g.run)(&quick) {
            Err(e) => problems.push(format!("{}/{}: {e:#}", g.chapter, g.name)),
            Ok(figures) => {
                for fig in figures {
                    let check = agrees_with_committed(&fig.data, &src.join(fig.json_path()), Tolerance::default());
                    if let Err(e) = check {
                        problems.push(format!("{}/{}: {e:#}", fig.chapter, fig.name));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "quick runs disagree with the committed figures:\n{}", problems.join("\n"));
}

/// The chapter crate's own check of its figures against the committed ones
/// ([`assert_quick_runs_agree`]); ignored because the root `figures` test checks every chapter in CI.
#[macro_export]
macro_rules! quick_runs_agree_with_the_committed_figures {
    ($generators:path) => {
        #[cfg(test)]
        #[test]
        #[ignore = "the root figures test checks every chapter in CI; run with --ignored while editing"]
        fn quick_runs_agree_with_the_committed_figures() {
            $crate::figure::assert_quick_runs_agree($generators);
        }
    };
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

/// The workspace root (this crate lives in `chapters-code/chapter-kit`).
pub fn workspace_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().and_then(Path::parent).expect("chapter-kit sits two levels below the workspace root").to_path_buf()
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
    fn across_kernels_only_the_shape_must_agree() {
        let full = json!({"a": [1.0, 2.0, 3.0], "b": {"c": 0.5, "d": "x", "n": null}, "e": true});
        assert!(json_shape_agrees(&json!({"a": [7.0, -2.0], "b": {"d": "y", "n": 1.5}, "e": false}), &full).is_ok());
        let err = json_shape_agrees(&json!({"b": {"c": "0.5"}}), &full).unwrap_err().to_string();
        assert!(err.contains("data.b.c"), "{err}");
        assert!(json_shape_agrees(&json!({"z": 1}), &full).is_err());
        assert!(json_shape_agrees(&json!({"a": [1, 2, 3, 4]}), &full).is_err());
        assert!(json_shape_agrees(&json!({"e": 1}), &full).is_err());
    }

    #[test]
    fn values_are_compared_only_against_figures_from_the_same_kernels() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("chapter-kit-kernels-test-{}", std::process::id()));
        let path = Figure::new("chXX", "k", "alt", String::new(), &json!({"x": [1.0, 2.0]}))?.write(&dir)?.remove(0);
        assert_eq!(read_kernels(&path)?.as_deref(), Some(lab::fast::gemm_kernels()));
        // Same kernels: values count.
        assert!(agrees_with_committed(&json!({"x": [1.0]}), &path, Tolerance::default())?);
        assert!(agrees_with_committed(&json!({"x": [1.5]}), &path, Tolerance::default()).is_err());
        // Committed from other kernels: the shape counts, the values do not.
        let mut other: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        other["kernels"] = json!("some-other-cpu");
        std::fs::write(&path, serde_json::to_string(&other)?)?;
        assert!(!agrees_with_committed(&json!({"x": [1.5]}), &path, Tolerance::default())?);
        assert!(agrees_with_committed(&json!({"x": [1.5, 2.0, 3.0]}), &path, Tolerance::default()).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
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

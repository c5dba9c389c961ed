//! The committed figures are what the code produces, and the prose only quotes produced numbers:
//! - every generator, rerun in quick mode, agrees with its committed JSON
//!   (`chapter_kit::figure::agrees_with_committed`: within the default tolerance when the figure was
//!   committed from this CPU's gemm kernels; in shape only when from others', whose sums run in
//!   another order and move chaotic runs visibly);
//! - every committed figure file has a generator that produces it (no orphans);
//! - every `![…](figures/…)` in the chapters exists, and every `{{#value}}` resolves.

use anyhow::Result;
use chapter_kit::figure::{Figure, GenOptions, Generator, Tolerance, agrees_with_committed};
use regex::Regex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

fn src_dir() -> PathBuf {
    book::workspace_root().join("src")
}

/// A generator and what its quick run produced (or why it failed).
type QuickRun = (Generator, Result<Vec<Figure>, String>);

/// Quick runs of every generator, shared by the tests (two at a time: the machines have 2 cores).
fn quick_runs() -> &'static [QuickRun] {
    static RUNS: OnceLock<Vec<QuickRun>> = OnceLock::new();
    RUNS.get_or_init(run_all_quick)
}

/// Every generator once, in quick mode, two at a time; sorted by chapter and name.
fn run_all_quick() -> Vec<QuickRun> {
    {
        let generators = book::all_generators();
        let runs = Mutex::new(Vec::new());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let options = GenOptions { quick: true, progress: false };
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while let Some(g) = generators.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
                        let result = book::figures::run_generator(g, &options).map_err(|e| format!("{e:#}"));
                        runs.lock().unwrap().push((*g, result));
                    }
                });
            }
        });
        let mut runs = runs.into_inner().unwrap();
        runs.sort_by_key(|(g, _)| (g.chapter, g.name));
        runs
    }
}

/// `(chapter, stem)` of every figure file (JSON or SVG) committed under `src/figures/`.
fn committed_figure_files(src: &Path) -> Result<BTreeSet<(String, String, String)>> {
    let figures = src.join("figures");
    if !figures.exists() {
        return Ok(BTreeSet::new());
    }
    let mut files = BTreeSet::new();
    for path in book::files::files_under(&figures)? {
        let relative = path.strip_prefix(&figures)?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if matches!(ext, "json" | "svg") {
            let chapter = relative.parent().map(|p| p.display().to_string()).unwrap_or_default();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert((chapter, stem, relative.display().to_string()));
        }
    }
    Ok(files)
}

/// Files no generator produces.
fn orphans(committed: &BTreeSet<(String, String, String)>, produced: &BTreeSet<(String, String)>) -> Vec<String> {
    committed
        .iter()
        .filter(|(chapter, stem, _)| !produced.contains(&(chapter.clone(), stem.clone())))
        .map(|(.., file)| format!("src/figures/{file} has no generator (delete it, or register its generator)"))
        .collect()
}

#[test]
fn regenerated_data_agrees_with_the_committed_figures() {
    let src = src_dir();
    let mut problems = Vec::new();
    let (mut values_compared, mut shapes_only) = (0, Vec::new());
    for (generator, result) in quick_runs() {
        let label = format!("{}/{}", generator.chapter, generator.name);
        let figures = match result {
            Ok(figures) if figures.is_empty() => {
                problems.push(format!("{label}: produced no figures"));
                continue;
            }
            Ok(figures) => figures,
            Err(e) => {
                problems.push(format!("{label}: {e}"));
                continue;
            }
        };
        for figure in figures {
            let path = src.join(figure.json_path());
            let checked = agrees_with_committed(&figure.data, &path, Tolerance::default());
            match &checked {
                Ok(true) => values_compared += 1,
                Ok(false) => shapes_only.push(figure.json_path().display().to_string()),
                Err(_) => {}
            }
            if let Err(e) = checked {
                problems.push(format!(
                    "{label} → {}: {e:#}\n  (regenerate with `cargo run --release -p book -- figures --chapter {}`)",
                    figure.json_path().display(),
                    generator.chapter
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{} stale or failing figures:\n{}", problems.len(), problems.join("\n"));
    if !shapes_only.is_empty() {
        // Not a failure: another CPU's kernels move the numbers (see `agrees_with_committed`).
        eprintln!(
            "{} figure(s) were committed from other gemm kernels than this CPU's ({}): only their shape \
             was compared, the values of {values_compared} others: {}",
            shapes_only.len(),
            lab::fast::gemm_kernels(),
            shapes_only.join(", ")
        );
    }
}

/// The same seed gives the same bytes: a second run of every generator, in the same process (so
/// with other `HashMap` seeds, other allocations and another interleaving of the two worker
/// threads), produces exactly the data of the first. This catches iteration over a `HashMap` (a
/// `VarMap`'s variables), wall-clock times in the data and unseeded random draws.
#[test]
fn a_second_run_gives_identical_data() {
    let first = quick_runs();
    let second = run_all_quick();
    let mut problems = Vec::new();
    for ((generator, a), (_, b)) in first.iter().zip(&second) {
        let (Ok(a), Ok(b)) = (a, b) else { continue }; // failures are the freshness test's to report
        for (fa, fb) in a.iter().zip(b) {
            if fa.data != fb.data {
                problems.push(format!("{}/{} → {}", generator.chapter, generator.name, fa.json_path().display()));
            }
        }
        if a.len() != b.len() {
            problems.push(format!("{}/{}: {} figures, then {}", generator.chapter, generator.name, a.len(), b.len()));
        }
    }
    assert!(problems.is_empty(), "generators whose data differ between two runs:\n{}", problems.join("\n"));
}

#[test]
fn every_committed_figure_has_a_generator() -> Result<()> {
    let runs = quick_runs();
    let produced: BTreeSet<_> = runs
        .iter()
        .flat_map(|(_, result)| result.iter().flatten())
        .map(|f| (f.chapter.clone(), f.name.clone()))
        .collect();
    // A failed generator's files cannot be attributed; the freshness test reports the failure.
    let failed: Vec<_> =
        runs.iter().filter(|(_, r)| r.is_err()).map(|(g, _)| format!("src/figures/{}/", g.chapter)).collect();
    let problems: Vec<_> = orphans(&committed_figure_files(&src_dir())?, &produced)
        .into_iter()
        .filter(|p| !failed.iter().any(|chapter| p.starts_with(chapter)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn chapter_images_and_values_exist() -> Result<()> {
    let src = src_dir();
    let html_img = Regex::new(r#"<img\b[^>]*\bsrc\s*=\s*"([^"]*)""#)?;
    let mut problems = Vec::new();
    let mut data = book::preprocess::values::FigureData::default();
    for path in book::files::files_under(&src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(&path)?;
        let name = path.strip_prefix(&src)?.display().to_string();
        let mut targets = book::markdown::image_targets(&text);
        targets.extend(html_img.captures_iter(&text).map(|c| (c[1].to_string(), 0)));
        for (target, line) in targets.into_iter().filter(|(t, _)| t.starts_with("figures/")) {
            let file = path.parent().unwrap().join(target.split(['?', '#']).next().unwrap_or_default());
            if !file.is_file() {
                problems.push(format!("src/{name} line {line}: image {target} does not exist"));
            }
        }
        if let Err(e) = book::preprocess::values::expand_values(&text, &src.join("figures"), &mut data) {
            problems.push(format!("src/{name}:\n{e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn orphans_are_found() {
    let committed: BTreeSet<_> =
        [("ch01", "a", "ch01/a.json"), ("ch01", "a", "ch01/a.svg"), ("ch01", "old", "ch01/old.svg")]
            .into_iter()
            .map(|(c, s, f)| (c.to_string(), s.to_string(), f.to_string()))
            .collect();
    let produced = BTreeSet::from([("ch01".to_string(), "a".to_string())]);
    assert_eq!(
        orphans(&committed, &produced),
        vec!["src/figures/ch01/old.svg has no generator (delete it, or register its generator)"]
    );
}

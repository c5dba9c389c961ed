//! `book figures`: runs chapter generators in-process and writes their figures into `src/figures/`.
//!
//! Staleness is decided per chapter, from modification times:
//! a chapter's generators are stale when `src/figures/<chapter>/` holds no JSON, or when its oldest
//! JSON is older than the newest file its figures depend on — the chapter crate (`Cargo.toml`,
//! `build.rs`, `src/`, `examples/`; which crate is the chapters table's, [`crate::chapters`]), the
//! `lab` and `chapter-kit` crates (`Cargo.toml`, `src/`) and the workspace `Cargo.lock` (a candle
//! upgrade changes the numbers). Figures are cheap enough that rerunning a
//! whole chapter beats tracking which generator wrote which file. `--all` ignores staleness; the
//! `figures` test catches anything this rule misses (a hand-deleted file, say).

use crate::chapters;
use crate::files::{newest_mtime, oldest_with_extension};
use anyhow::{Context, Result, bail};
use chapter_kit::figure::{Figure, GenOptions, Generator};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Whether `chapter`'s figures are older than the code that makes them (see the module docs).
pub fn chapter_is_stale(workspace: &Path, src_dir: &Path, chapter: &str) -> Result<bool> {
    let crate_dir = chapters::require(chapter)?.crate_dir(workspace);
    if !crate_dir.is_dir() {
        bail!("no crate folder {} for chapter {chapter}", crate_dir.display());
    }
    let shared = ["lab", "chapter-kit"].map(|c| workspace.join("chapters-code").join(c));
    let sources: Vec<PathBuf> = ["Cargo.toml", "build.rs", "src", "examples"]
        .iter()
        .map(|p| crate_dir.join(p))
        .chain(shared.iter().flat_map(|c| [c.join("Cargo.toml"), c.join("src")]))
        .chain([workspace.join("Cargo.lock")])
        .collect();
    let Some(oldest_output) = oldest_with_extension(&src_dir.join("figures").join(chapter), "json")? else {
        return Ok(true);
    };
    Ok(newest_mtime(&sources)?.is_some_and(|newest| newest > oldest_output))
}

/// The generators to run: those of `chapters` (all chapters when empty), stale ones only unless
/// `all`.
pub fn select(
    generators: &[Generator],
    chapters: &[String],
    all: bool,
    workspace: &Path,
    src_dir: &Path,
) -> Result<Vec<Generator>> {
    for chapter in chapters {
        if !generators.iter().any(|g| g.chapter == chapter) {
            let mut known: Vec<_> = generators.iter().map(|g| g.chapter).collect();
            known.dedup();
            bail!("no generators for chapter `{chapter}` (chapters with generators: {})", known.join(", "));
        }
    }
    let mut selected = Vec::new();
    let mut stale = std::collections::HashMap::new();
    for generator in generators {
        if !chapters.is_empty() && !chapters.iter().any(|c| c == generator.chapter) {
            continue;
        }
        let is_stale = match stale.get(generator.chapter) {
            Some(&is_stale) => is_stale,
            None => {
                let is_stale = chapter_is_stale(workspace, src_dir, generator.chapter)?;
                stale.insert(generator.chapter, is_stale);
                is_stale
            }
        };
        if all || is_stale {
            selected.push(*generator);
        }
    }
    Ok(selected)
}

/// What one generator did.
pub struct Outcome {
    pub generator: Generator,
    pub result: Result<Vec<PathBuf>>,
    pub elapsed: Duration,
}

/// Runs `generators` on `jobs` threads and writes their figures under `src_dir`; with `progress`,
/// shows a progress bar and prints a line per file written. Generators run without their own
/// progress bars: several at once would garble the terminal. Quick figures are previews: their JSON
/// gets an old modification time, so the next full run counts them stale.
pub fn regenerate(generators: &[Generator], quick: bool, jobs: usize, src_dir: &Path, progress: bool) -> Vec<Outcome> {
    let bar = if progress { ProgressBar::new(generators.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let running = Mutex::new(Vec::<String>::new());
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let options = GenOptions { quick, progress: false };
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, generators.len().max(1)) {
            scope.spawn(|| {
                while let Some(generator) = generators.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let label = format!("{}/{}", generator.chapter, generator.name);
                    set_running(&bar, &running, |r| r.push(label.clone()));
                    let started = std::time::Instant::now();
                    let result = run_one(generator, &options, src_dir);
                    let elapsed = started.elapsed();
                    if progress {
                        bar.suspend(|| report(&label, &result, elapsed));
                    }
                    set_running(&bar, &running, |r| r.retain(|l| *l != label));
                    bar.inc(1);
                    outcomes.lock().expect("no panics hold this lock").push(Outcome {
                        generator: *generator,
                        result,
                        elapsed,
                    });
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut outcomes = outcomes.into_inner().expect("no panics hold this lock");
    outcomes.sort_by_key(|o| {
        generators.iter().position(|g| g.chapter == o.generator.chapter && g.name == o.generator.name)
    });
    outcomes
}

/// A line per file written and one per generator; a closed stdout (`| head`) is not an error.
fn report(label: &str, result: &Result<Vec<PathBuf>>, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    let _ = match result {
        Ok(paths) => paths
            .iter()
            .try_for_each(|path| writeln!(stdout, "wrote {}", path.display()))
            .and_then(|()| writeln!(stdout, "{label}: {} files in {seconds:.1}s", paths.len())),
        Err(e) => writeln!(std::io::stderr(), "{label}: FAILED after {seconds:.1}s: {e:#}"),
    };
}

fn set_running(bar: &ProgressBar, running: &Mutex<Vec<String>>, change: impl FnOnce(&mut Vec<String>)) {
    let mut running = running.lock().expect("no panics hold this lock");
    change(&mut running);
    bar.set_message(format!("running {}", running.join(", ")));
}

/// Runs one generator (a panic becomes an error) and writes its figures.
pub fn run_one(generator: &Generator, options: &GenOptions, src_dir: &Path) -> Result<Vec<PathBuf>> {
    let figures = run_generator(generator, options)?;
    let mut written = Vec::new();
    for figure in &figures {
        let paths = figure.write(src_dir)?;
        if options.quick {
            mark_stale(&src_dir.join(figure.json_path()))?;
        }
        written.extend(paths);
    }
    Ok(written)
}

/// Runs `generator`, turning a panic into an error, and checks its figures belong to its chapter
/// (the staleness rule looks for them there).
pub fn run_generator(generator: &Generator, options: &GenOptions) -> Result<Vec<Figure>> {
    let label = format!("generator {}/{}", generator.chapter, generator.name);
    let figures = match catch_unwind(AssertUnwindSafe(|| (generator.run)(options))) {
        Ok(result) => result.with_context(|| label.clone())?,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            bail!("{label} panicked: {message}");
        }
    };
    if let Some(stray) = figures.iter().find(|f| f.chapter != generator.chapter) {
        bail!("{label} produced figure {}/{}, outside its chapter", stray.chapter, stray.name);
    }
    Ok(figures)
}

fn mark_stale(path: &Path) -> Result<()> {
    let file = std::fs::File::options().write(true).open(path)?;
    file.set_modified(SystemTime::UNIX_EPOCH).with_context(|| format!("marking {} stale", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn demo(_: &GenOptions) -> Result<Vec<Figure>> {
        Ok(vec![Figure::new("ch07", "demo", "alt", "<svg/>".into(), &serde_json::json!({"x": 1}))?])
    }

    fn broken(_: &GenOptions) -> Result<Vec<Figure>> {
        panic!("boom")
    }

    fn touch(path: &Path, when: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if !path.exists() {
            std::fs::write(path, "{}").unwrap();
        }
        std::fs::File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
    }

    #[test]
    fn staleness_follows_sources_lab_chapter_kit_and_missing_outputs() {
        let ws = tempfile::tempdir().unwrap();
        let (ws, src) = (ws.path(), ws.path().join("src"));
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s);
        let crate_dir = chapters::require("ch07").unwrap().crate_dir(ws);
        touch(&crate_dir.join("src/lib.rs"), t(10));
        touch(&ws.join("chapters-code/lab/src/lib.rs"), t(10));
        touch(&ws.join("chapters-code/chapter-kit/src/lib.rs"), t(10));
        assert!(chapter_is_stale(ws, &src, "ch07").unwrap(), "no figures yet");
        touch(&src.join("figures/ch07/a.json"), t(20));
        touch(&src.join("figures/ch07/b.json"), t(30));
        assert!(!chapter_is_stale(ws, &src, "ch07").unwrap());
        touch(&crate_dir.join("examples/new.rs"), t(25));
        assert!(chapter_is_stale(ws, &src, "ch07").unwrap(), "newer than the oldest figure");
        touch(&crate_dir.join("examples/new.rs"), t(15));
        assert!(!chapter_is_stale(ws, &src, "ch07").unwrap());
        touch(&ws.join("chapters-code/chapter-kit/src/figure.rs"), t(40));
        assert!(chapter_is_stale(ws, &src, "ch07").unwrap(), "chapter-kit changed");
        touch(&ws.join("chapters-code/chapter-kit/src/figure.rs"), t(15));
        touch(&ws.join("chapters-code/lab/src/net.rs"), t(40));
        assert!(chapter_is_stale(ws, &src, "ch07").unwrap(), "lab changed");
        assert!(chapter_is_stale(ws, &src, "ch08").is_err(), "no crate folder");
        assert!(chapter_is_stale(ws, &src, "ch99").is_err(), "no such chapter");
    }

    #[test]
    fn runs_generators_writes_figures_and_reports_panics() {
        let src = tempfile::tempdir().unwrap();
        let generators = [
            Generator { chapter: "ch07", name: "demo", run: demo },
            Generator { chapter: "ch07", name: "broken", run: broken },
        ];
        let outcomes = regenerate(&generators, false, 2, src.path(), false);
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].result.as_ref().unwrap().len(), 2);
        assert!(src.path().join("figures/ch07/demo.svg").exists());
        let err = format!("{:#}", outcomes[1].result.as_ref().unwrap_err());
        assert!(err.contains("ch07/broken panicked: boom"), "{err}");
    }

    #[test]
    fn quick_figures_count_as_stale() {
        let src = tempfile::tempdir().unwrap();
        let generator = Generator { chapter: "ch07", name: "demo", run: demo };
        run_one(&generator, &GenOptions { quick: true, progress: false }, src.path()).unwrap();
        let json = src.path().join("figures/ch07/demo.json");
        assert_eq!(std::fs::metadata(json).unwrap().modified().unwrap(), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn selection_rejects_unknown_chapters() {
        let ws = tempfile::tempdir().unwrap();
        let generators = [Generator { chapter: "ch07", name: "demo", run: demo }];
        let Err(err) = select(&generators, &["ch09".into()], true, ws.path(), ws.path()) else {
            panic!("accepted ch09")
        };
        let err = err.to_string();
        assert!(err.contains("ch09") && err.contains("ch07"), "{err}");
    }
}

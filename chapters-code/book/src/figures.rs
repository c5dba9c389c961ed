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
    /// CPU time it used: the whole process's while it ran when generators run one at a time (its
    /// threads and candle's included), else only that of the thread that ran it.
    pub cpu: Duration,
}

/// CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if ok { Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32) } else { Duration::ZERO }
}

/// CPU time (user + system) the whole process has used so far, its threads included.
pub fn process_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// How long each generator took last time (wall seconds, by `chapter/name`, quick runs apart), kept
/// in the cargo target folder: [`longest_first`] starts the long ones first, so that the last
/// generator to finish is a short one and no job thread idles at the end.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    seconds: std::collections::BTreeMap<String, f64>,
}

impl Timings {
    fn key(generator: &Generator, quick: bool) -> String {
        format!("{}{}/{}", if quick { "quick:" } else { "" }, generator.chapter, generator.name)
    }

    /// Where they are kept for the workspace at `workspace`.
    pub fn path(workspace: &Path) -> PathBuf {
        crate::files::target_dir(workspace).join("book-figures-timings.json")
    }

    /// The timings at `path`; none when the file is missing or unreadable (they are only a hint).
    pub fn load(path: &Path) -> Timings {
        std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        chapter_kit::figure::write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    pub fn get(&self, generator: &Generator, quick: bool) -> Option<f64> {
        self.seconds.get(&Self::key(generator, quick)).copied()
    }

    /// Records what succeeded in `outcomes`.
    pub fn record(&mut self, outcomes: &[Outcome], quick: bool) {
        for outcome in outcomes.iter().filter(|o| o.result.is_ok()) {
            self.seconds.insert(Self::key(&outcome.generator, quick), outcome.elapsed.as_secs_f64());
        }
    }
}

/// `generators` in the order to start them: the longest last time first; those never timed go
/// first (they may be long), in their own order.
pub fn longest_first(generators: &mut [Generator], timings: &Timings, quick: bool) {
    generators.sort_by(|a, b| {
        let (a, b) = (timings.get(a, quick), timings.get(b, quick));
        b.unwrap_or(f64::INFINITY).total_cmp(&a.unwrap_or(f64::INFINITY))
    });
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
    let threads = jobs.clamp(1, generators.len().max(1));
    let cpu_clock: fn() -> Duration = if threads == 1 { process_cpu_time } else { thread_cpu_time };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(generator) = generators.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let label = format!("{}/{}", generator.chapter, generator.name);
                    set_running(&bar, &running, |r| r.push(label.clone()));
                    let (started, cpu_before) = (std::time::Instant::now(), cpu_clock());
                    let result = run_one(generator, &options, src_dir);
                    let (elapsed, cpu) = (started.elapsed(), cpu_clock().saturating_sub(cpu_before));
                    if progress {
                        bar.suspend(|| report(&label, &result, elapsed, cpu));
                    }
                    set_running(&bar, &running, |r| r.retain(|l| *l != label));
                    bar.inc(1);
                    outcomes.lock().expect("no panics hold this lock").push(Outcome {
                        generator: *generator,
                        result,
                        elapsed,
                        cpu,
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
fn report(label: &str, result: &Result<Vec<PathBuf>>, elapsed: Duration, cpu: Duration) {
    let (seconds, cpu) = (elapsed.as_secs_f64(), cpu.as_secs_f64());
    let mut stdout = std::io::stdout().lock();
    let _ = match result {
        Ok(paths) => paths
            .iter()
            .try_for_each(|path| writeln!(stdout, "wrote {}", path.display()))
            .and_then(|()| writeln!(stdout, "{label}: {} files in {seconds:.1}s ({cpu:.1}s CPU)", paths.len())),
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
        Err(panic) => bail!("{label} panicked: {}", chapter_kit::exercise::panic_message(&*panic)),
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
        run_one(&generator, &GenOptions::QUICK, src.path()).unwrap();
        let json = src.path().join("figures/ch07/demo.json");
        assert_eq!(std::fs::metadata(json).unwrap().modified().unwrap(), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn long_generators_start_first_and_untimed_ones_before_them() {
        let g = |name| Generator { chapter: "ch07", name, run: demo };
        let src = tempfile::tempdir().unwrap();
        let mut timings = Timings::default();
        let broken = Generator { chapter: "ch07", name: "broken", run: broken };
        let outcomes = regenerate(&[g("demo"), broken], false, 1, src.path(), false);
        timings.record(&outcomes, false);
        assert!(timings.get(&g("demo"), false).is_some() && timings.get(&g("demo"), true).is_none());
        assert!(timings.get(&broken, false).is_none(), "failures are not timed");
        timings.seconds.insert("ch07/long".into(), 100.0);
        let path = src.path().join("t/timings.json");
        timings.save(&path).unwrap();
        let timings = Timings::load(&path);
        let mut order = [g("demo"), g("long"), g("new")];
        longest_first(&mut order, &timings, false);
        assert_eq!(order.map(|g| g.name), ["new", "long", "demo"]);
        assert_eq!(Timings::load(&src.path().join("missing")).seconds.len(), 0);
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

//! Compiles and runs a listing the way `cargo test` runs it as a doctest: with `rustc`, against the
//! very libraries (`.rlib`s) that the workspace's doctest build uses, then under [`sandbox`] limits.
//!
//! **Preparing** runs `cargo test --workspace --doc -v -- --list` in the workspace: cargo builds (or
//! finds fresh) every library in the test configuration and prints the `rustdoc` command of each
//! crate's doctests, whose `--extern` and `-L` arguments say exactly which `.rlib`s a doctest of that
//! crate links. `--list` only lists the doctests, so nothing else is compiled or run. After
//! `cargo test --workspace` (CI), this is a few seconds of fingerprint checks: nothing is rebuilt.
//!
//! **Running** writes the code to `<target>/run-scratch/listing.rs`, compiles it with the same
//! `rustc` and those arguments (debug, incremental, ~0.5 s with the dependencies already optimised),
//! and runs it in an emptied `out/` folder, where any figure it writes is picked up.
//!
//! Why not a scratch *crate* with path dependencies on the workspace crates: cargo hashes a path
//! dependency relative to its workspace root, so a second workspace recompiles lab and every chapter
//! crate; and its feature unification differs from `cargo test --workspace`'s (which also sees the
//! driver's and the tests' dependencies), which in CI means recompiling candle itself.
//!
//! One job at a time, also across processes: a `flock` on `run-scratch/.lock`.

use super::sandbox::{self, Ending};
use crate::chapters::{CHAPTERS, Chapter};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The limits of the three kinds of job.
#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Preparing (building the workspace's libraries): generous, it can be a cold build.
    pub prepare: Duration,
    /// Compiling one listing.
    pub compile: Duration,
    /// Running one listing.
    pub run: sandbox::Limits,
}

impl Default for RunLimits {
    fn default() -> RunLimits {
        let run_time = Duration::from_secs(60);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        RunLimits {
            prepare: Duration::from_secs(60 * 60),
            compile: Duration::from_secs(120),
            run: sandbox::Limits {
                wall_time: run_time,
                memory_bytes: Some(4 << 30),
                cpu_seconds: Some(run_time.as_secs() * cores + 1),
                file_bytes: Some(64 << 20),
                output_bytes: 256 << 10,
            },
        }
    }
}

/// Where a job is; reported as it moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Preparing,
    Compiling,
    Running,
}

/// An SVG the program wrote.
#[derive(Debug, Clone, Serialize)]
pub struct FigureFile {
    /// Relative to the program's working folder.
    pub name: String,
    pub svg: String,
}

/// What happened to one listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub compiled: bool,
    /// rustc's diagnostics (errors and warnings), as rustc prints them.
    pub compiler: String,
    /// How the program ended, for a reader (`exit code 0`, `stopped: ran longer than …`).
    pub ending: String,
    pub exit_code: Option<i32>,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub figures: Vec<FigureFile>,
    pub compile_ms: u64,
    pub run_ms: u64,
}

/// How a doctest of one crate is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateLinks {
    pub edition: String,
    /// `-L …` and `--extern …` pairs, flattened.
    pub args: Vec<String>,
}

/// What preparing found.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub rustc: PathBuf,
    /// By crate name (`ch01_gradients`).
    pub crates: BTreeMap<String, CrateLinks>,
    pub prepared_at: SystemTime,
}

pub struct Runner {
    workspace: PathBuf,
    dir: PathBuf,
    limits: RunLimits,
    toolchain: Mutex<Option<Toolchain>>,
}

/// What a listing's libraries are built from: every crate under chapters-code but the driver,
/// the workspace manifest and the lock file.
pub fn library_sources(workspace: &Path) -> Vec<PathBuf> {
    let chapters_code = workspace.join("chapters-code");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&chapters_code)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    sources.retain(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "book"));
    sources.extend([workspace.join("Cargo.toml"), workspace.join("Cargo.lock")]);
    sources
}

/// `run-scratch` under the workspace's target folder (`CARGO_TARGET_DIR`, else `target/`).
pub fn default_scratch_dir(workspace: &Path) -> PathBuf {
    crate::files::target_dir(workspace).join("run-scratch")
}

impl Runner {
    pub fn new(workspace: &Path, dir: &Path, limits: RunLimits) -> Result<Runner> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Runner { workspace: workspace.to_path_buf(), dir: dir.to_path_buf(), limits, toolchain: Mutex::new(None) })
    }

    /// The folder it compiles and runs in.
    pub fn scratch_dir(&self) -> &Path {
        &self.dir
    }

    pub fn limits(&self) -> &RunLimits {
        &self.limits
    }

    /// The crates whose doctest configuration is known (after preparing).
    pub fn crates(&self) -> Vec<String> {
        let toolchain = self.toolchain.lock().expect("no panics hold this lock");
        toolchain.as_ref().map(|t| t.crates.keys().cloned().collect()).unwrap_or_default()
    }

    /// Builds the workspace's libraries and learns how doctests link, unless that is already done
    /// and no workspace source changed since.
    pub fn prepare(&self) -> Result<()> {
        let _lock = FileLock::exclusive(&self.dir.join(".lock"))?;
        self.prepare_locked(false)
    }

    fn prepare_locked(&self, force: bool) -> Result<()> {
        let prepared_at = self.toolchain.lock().expect("no panics hold this lock").as_ref().map(|t| t.prepared_at);
        if !force && let Some(prepared_at) = prepared_at {
            let newest = crate::files::newest_mtime(&library_sources(&self.workspace))?;
            if newest.is_none_or(|newest| newest <= prepared_at) {
                return Ok(());
            }
        }
        let started = SystemTime::now();
        let output = self.cargo_doctest_list(&["--workspace"]).or_else(|workspace_error| {
            // A crate that does not build (work in progress outside the book) need not break the
            // Run button: retry with only the chapters' crates.
            if CHAPTERS.is_empty() {
                return Err(workspace_error);
            }
            let mut args = Vec::new();
            for c in CHAPTERS {
                args.extend(["-p", c.package]);
            }
            self.cargo_doctest_list(&args).map_err(|e| e.context(format!("{workspace_error:#}")))
        })?;
        let mut found = parse_doctest_commands(&output)?;
        found.prepared_at = started;
        *self.toolchain.lock().expect("no panics hold this lock") = Some(found);
        Ok(())
    }

    fn cargo_doctest_list(&self, selection: &[&str]) -> Result<String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(&self.workspace).args(["test", "--doc", "-v"]).args(selection).args(["--", "--list"]);
        command.env("CARGO_TERM_COLOR", "never");
        // Variables cargo sets for the process that runs us; none of them is meant for a nested cargo.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let nested = key.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_MAKEFLAGS",
                    "MAKEFLAGS",
                    "MFLAGS",
                ]
                .contains(&key.as_ref());
            if nested {
                command.env_remove(key.as_ref());
            }
        }
        let limits = sandbox::Limits::wall(self.limits.prepare, 64 << 20);
        let out = sandbox::run(command, &limits).context("running cargo")?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        if !out.ending.success() {
            let tail: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("Running `")).collect();
            let tail = tail[tail.len().saturating_sub(40)..].join("\n");
            bail!("`cargo test --doc {}` failed ({}):\n{tail}", selection.join(" "), out.ending.describe(&limits));
        }
        Ok(text)
    }

    /// Compiles `code` as a doctest of `crate_name` (or of the first chapter crate) and runs it;
    /// `stage` hears when each stage starts.
    pub fn run(&self, code: &str, crate_name: Option<&str>, stage: &mut dyn FnMut(Stage)) -> Result<Outcome> {
        let _lock = FileLock::exclusive(&self.dir.join(".lock"))?;
        if self.toolchain.lock().expect("no panics hold this lock").is_none() {
            stage(Stage::Preparing);
        }
        self.prepare_locked(false)?;
        let mut outcome = Outcome::default();
        stage(Stage::Compiling);
        let mut compiled = self.compile(code, crate_name)?;
        if !compiled.0 && stale_libraries(&compiled.1) {
            // The workspace was rebuilt under us (a library's hash changed): learn the new files.
            stage(Stage::Preparing);
            self.prepare_locked(true)?;
            stage(Stage::Compiling);
            compiled = self.compile(code, crate_name)?;
        }
        let (ok, compiler, took) = compiled;
        outcome.compiled = ok;
        outcome.compiler = compiler;
        outcome.compile_ms = took.as_millis() as u64;
        if !ok {
            outcome.ending = "did not compile".into();
            return Ok(outcome);
        }
        stage(Stage::Running);
        let out_dir = self.dir.join("out");
        if out_dir.exists() {
            std::fs::remove_dir_all(&out_dir).with_context(|| format!("emptying {}", out_dir.display()))?;
        }
        std::fs::create_dir_all(&out_dir)?;
        let mut command = Command::new(self.dir.join("listing"));
        command.current_dir(&out_dir).env_clear().env("LAB_FIGURE_OUT", &out_dir);
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "RAYON_NUM_THREADS", "RUST_BACKTRACE"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        let run = sandbox::run(command, &self.limits.run)?;
        outcome.run_ms = run.elapsed.as_millis() as u64;
        outcome.ending = run.ending.describe(&self.limits.run);
        outcome.exit_code = match run.ending {
            Ending::Exited(code) => Some(code),
            _ => None,
        };
        outcome.success = run.ending.success();
        outcome.stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        outcome.stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        outcome.figures = collect_figures(&out_dir)?;
        Ok(outcome)
    }

    /// (compiled, rustc's diagnostics, time taken).
    fn compile(&self, code: &str, crate_name: Option<&str>) -> Result<(bool, String, Duration)> {
        let toolchain = self.toolchain.lock().expect("no panics hold this lock").clone().context("not prepared")?;
        let links = match crate_name {
            Some(name) => toolchain.crates.get(name).with_context(|| {
                let known: Vec<_> = toolchain.crates.keys().map(String::as_str).collect();
                format!("no crate `{name}` in the workspace's doctests (known: {})", known.join(", "))
            })?,
            None => {
                let first = CHAPTERS.first().map(Chapter::rust_name);
                first
                    .and_then(|c| toolchain.crates.get(&c))
                    .or_else(|| toolchain.crates.values().next())
                    .context("no crates")?
            }
        };
        std::fs::write(self.dir.join("listing.rs"), code).context("writing the listing")?;
        let _ = std::fs::remove_file(self.dir.join("listing"));
        let mut command = Command::new(&toolchain.rustc);
        command
            .current_dir(&self.dir)
            .args(["--edition", &links.edition, "--crate-type", "bin", "--crate-name", "listing", "listing.rs"])
            .args(["-o", "listing", "-C", "opt-level=0", "-C", "debuginfo=line-tables-only"])
            .args(["-C", "incremental=incremental", "-A", "unused", "--color", "never", "--error-format", "human"])
            .args(&links.args);
        let limits = sandbox::Limits::wall(self.limits.compile, 256 << 10);
        let started = Instant::now();
        let out = sandbox::run(command, &limits)?;
        let mut diagnostics = String::from_utf8_lossy(&out.stderr).into_owned();
        if !matches!(out.ending, Ending::Exited(_)) {
            diagnostics.push_str(&format!("\nrustc {}", out.ending.describe(&limits)));
        }
        Ok((out.ending.success() && self.dir.join("listing").exists(), diagnostics, started.elapsed()))
    }
}

/// rustc's complaints when an `.rlib` it was pointed at has been rebuilt since.
fn stale_libraries(diagnostics: &str) -> bool {
    ["E0460", "E0463", "E0461", "E0462", "found possibly newer version of crate", "can't find crate"]
        .iter()
        .any(|needle| diagnostics.contains(needle))
}

/// SVG files under `dir` (at most 8, each at most 4 MiB), by name.
fn collect_figures(dir: &Path) -> Result<Vec<FigureFile>> {
    let mut figures = Vec::new();
    for path in crate::files::files_under(dir)? {
        if figures.len() == 8 {
            break;
        }
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= 4 << 20);
        if path.extension().is_some_and(|e| e == "svg") && small {
            let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            figures.push(FigureFile { name, svg: std::fs::read_to_string(&path).unwrap_or_default() });
        }
    }
    Ok(figures)
}

/// The `rustdoc --test` commands in cargo's verbose output, one per crate.
pub fn parse_doctest_commands(cargo_output: &str) -> Result<Toolchain> {
    let mut crates = BTreeMap::new();
    let mut rustc = None;
    for line in cargo_output.lines() {
        let Some(command) = line.trim().strip_prefix("Running `").and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        let words = shell_words(command);
        let Some(program) = words.first() else { continue };
        let program = Path::new(program);
        if program.file_stem().is_none_or(|s| s != "rustdoc") || !words.iter().any(|w| w == "--test") {
            continue;
        }
        let (mut name, mut edition, mut args) = (None, "2021".to_string(), Vec::new());
        let mut iter = words.iter().skip(1);
        while let Some(word) = iter.next() {
            let mut value = |flag: &str| -> Option<String> {
                if word == flag {
                    iter.next().cloned()
                } else {
                    word.strip_prefix(&format!("{flag}=")).map(str::to_string)
                }
            };
            if let Some(v) = value("--crate-name") {
                name = Some(v);
            } else if let Some(v) = value("--edition") {
                edition = v;
            } else if let Some(v) = value("-L") {
                args.extend(["-L".to_string(), v]);
            } else if let Some(v) = value("--extern") {
                args.extend(["--extern".to_string(), v]);
            }
        }
        let name = name.with_context(|| format!("no --crate-name in `{command}`"))?;
        rustc = Some(program.with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX)));
        if program.parent().is_none_or(|p| p.as_os_str().is_empty()) {
            rustc = Some(PathBuf::from("rustc"));
        }
        crates.insert(name, CrateLinks { edition, args });
    }
    let rustc =
        rustc.context("cargo printed no `rustdoc --test` command (does any workspace crate have a library?)")?;
    Ok(Toolchain { rustc, crates, prepared_at: SystemTime::now() })
}

/// Splits a command line as cargo quotes it (POSIX shell words: '…', "…", backslash escapes).
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// An exclusive `flock` held until dropped (on Unix; elsewhere only the open file).
struct FileLock {
    #[cfg_attr(not(unix), allow(dead_code))]
    file: std::fs::File,
}

impl FileLock {
    fn exclusive(path: &Path) -> Result<FileLock> {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(FileLock { file })
    }
}

#[cfg(unix)]
impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_shell_words_as_cargo_quotes_them() {
        assert_eq!(
            shell_words(r#"rustc --check-cfg 'cfg(docsrs,test)' -L "a b" c\ d 'it'\''s'"#),
            ["rustc", "--check-cfg", "cfg(docsrs,test)", "-L", "a b", "c d", "it's"]
        );
    }

    #[test]
    fn reads_each_crates_doctest_links_from_cargo_output() {
        let output = "   Compiling lab v0.1.0\n\
            \x20    Running `/tc/bin/rustc --crate-name lab --edition=2024 src/lib.rs --extern x=/t/libx.rmeta`\n\
            \x20  Doc-tests ch01_gradients\n\
            \x20    Running `/tc/bin/rustdoc --edition=2024 --crate-type lib --color auto --crate-name ch01_gradients --test \
            chapters-code/ch01-gradients/src/lib.rs -L native=/t/build/zstd/out --test-args --list \
            --extern anyhow=/t/deps/libanyhow-1.rlib --extern ch01_gradients=/t/deps/libch01_gradients-2.rlib \
            -L dependency=/t/deps --check-cfg 'cfg(docsrs,test)'`\n";
        let toolchain = parse_doctest_commands(output).unwrap();
        assert_eq!(toolchain.rustc, Path::new("/tc/bin/rustc"));
        assert_eq!(toolchain.crates.keys().collect::<Vec<_>>(), ["ch01_gradients"]);
        let links = &toolchain.crates["ch01_gradients"];
        assert_eq!(links.edition, "2024");
        assert_eq!(
            links.args,
            [
                "-L",
                "native=/t/build/zstd/out",
                "--extern",
                "anyhow=/t/deps/libanyhow-1.rlib",
                "--extern",
                "ch01_gradients=/t/deps/libch01_gradients-2.rlib",
                "-L",
                "dependency=/t/deps"
            ]
        );
        assert!(parse_doctest_commands("nothing here").is_err());
    }

    #[test]
    fn recognises_stale_library_errors() {
        assert!(stale_libraries("error[E0460]: found possibly newer version of crate `lab` which `ch01` depends on"));
        assert!(!stale_libraries("error[E0425]: cannot find value `x` in this scope"));
    }
}

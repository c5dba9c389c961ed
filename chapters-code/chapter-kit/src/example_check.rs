//! Checks of the example binaries, shared by every crate's `tests/cli.rs`: bad input must give one
//! `error:` line, a non-zero exit and no output file; a good run writes where it was asked to.
//!
//! ```no_run
//! let examples = chapter_kit::example_check::Examples::of(env!("CARGO_MANIFEST_DIR"));
//! examples.refuses_writing_nothing("chain", &["--depth", "0"], "must be a positive integer, got `0`");
//! ```
//! (`no_run`: the example binaries exist only once `cargo test` has built them.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example binaries `cargo test` built for one crate (into `<target>/debug/examples/`).
pub struct Examples {
    dir: PathBuf,
    crate_name: String,
}

impl Examples {
    /// The examples of the crate at `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`). The target
    /// folder is `CARGO_TARGET_DIR`, or else `target/` beside the workspace's `Cargo.lock`.
    pub fn of(manifest_dir: &str) -> Examples {
        let manifest_dir = Path::new(manifest_dir);
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
            let root = manifest_dir.ancestors().find(|d| d.join("Cargo.lock").exists()).unwrap_or(manifest_dir);
            root.join("target")
        });
        let crate_name = manifest_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Examples { dir: target.join("debug/examples"), crate_name }
    }

    /// The path of example `name`, which must have been built.
    pub fn path(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        assert!(path.exists(), "{} is missing: `cargo test` builds the examples before the tests run", path.display());
        path
    }

    /// Runs example `name` with `args`.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        Command::new(self.path(name)).args(args).output().expect("the example runs")
    }

    /// A fresh, empty scratch folder for this crate, `tag` and process.
    pub fn scratch(&self, tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("{}-cli-{tag}-{}", self.crate_name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch folder");
        dir
    }

    /// `name args` fails with exactly one `error:` line, the first, which contains `needle` (clap may
    /// add a usage hint after it).
    pub fn refuses(&self, name: &str, args: &[&str], needle: &str) {
        let out = self.run(name, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} {args:?} succeeded; stderr: {stderr}");
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error:") && first.contains(needle),
            "{name} {args:?}: expected `{needle}` in `{first}`"
        );
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error")).count(), 1, "{name} {args:?}: {stderr}");
    }

    /// As [`Examples::refuses`], with `--out <a scratch folder>` appended, and that folder left empty.
    pub fn refuses_writing_nothing(&self, name: &str, args: &[&str], needle: &str) {
        let dir = self.scratch(name);
        let mut with_out = args.to_vec();
        let out = dir.to_string_lossy().into_owned();
        with_out.extend(["--out", out.as_str()]);
        self.refuses(name, &with_out, needle);
        let written = files_under(&dir);
        assert!(written.is_empty(), "{name} {args:?} wrote {written:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `name args --out <a scratch folder>` succeeds and writes exactly the `expected` files (paths
    /// relative to the folder, in any order); returns what it printed.
    pub fn writes_exactly(&self, name: &str, args: &[&str], expected: &[&str]) -> String {
        let dir = self.scratch(&format!("{name}-ok"));
        let mut with_out = args.to_vec();
        let out = dir.to_string_lossy().into_owned();
        with_out.extend(["--out", out.as_str()]);
        let run = self.run(name, &with_out);
        assert!(run.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&run.stderr));
        let written: Vec<String> =
            files_under(&dir).iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(written, expected, "{name} {args:?}: files written");
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8_lossy(&run.stdout).into_owned()
    }
}

impl Examples {
    /// The checks every figure example passes through [`crate::example_main`]: bad run flags are
    /// refused with one line and nothing written.
    pub fn refuses_bad_run_flags(&self, name: &str) {
        self.refuses_writing_nothing(name, &["--threads", "0"], "must be a positive integer, got `0`");
        self.refuses_writing_nothing(name, &["--book"], "mutually exclusive");
    }
}

/// Every file below `dir`, sorted (none if `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_at_every_depth_and_a_missing_folder_has_none() {
        let dir = std::env::temp_dir().join(format!("lab-example-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/x.json"), "{}").unwrap();
        std::fs::write(dir.join("y.svg"), "").unwrap();
        assert_eq!(files_under(&dir), [dir.join("a/b/x.json"), dir.join("y.svg")]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(files_under(&dir).is_empty());
    }

    #[test]
    fn the_target_folder_is_beside_the_workspace_lock_file() {
        let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("CARGO_TARGET_DIR").is_none() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
            assert_eq!(examples.dir, root.join("target/debug/examples"));
        }
        assert_eq!(examples.crate_name, "chapter-kit");
    }
}

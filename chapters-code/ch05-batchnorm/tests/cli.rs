//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch05-batchnorm`
//! builds the examples (into `target/debug/examples/`) before running this.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug/examples").join(name);
    assert!(path.exists(), "{} is missing: `cargo test -p ch05-batchnorm` builds it", path.display());
    path
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ch05-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Runs `bin args --out <dir>` and expects failure with a single `error:` line containing `needle`.
fn refuses(bin: &str, args: &[&str], needle: &str) {
    let dir = scratch(bin);
    let out = Command::new(example(bin)).args(args).arg("--out").arg(&dir).output().expect("example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{bin} {args:?} succeeded; stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("error:") && first.contains(needle), "{bin} {args:?}: expected `{needle}` in `{first}`");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error")).count(), 1, "{bin} {args:?}: {stderr}");
    assert!(files_under(&dir).is_empty(), "{bin} {args:?} wrote {:?}", files_under(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    refuses("ioffe", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("ioffe", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("ioffe", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples");
    refuses("ioffe", &["--unit", "100"], "unit 100 does not exist");
    refuses("ioffe", &["--steps", "50"], "--steps 50 must be at least --eval-every 100");
    refuses("bn_forward", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("bn_explosion", &["--batches", "8,4"], "batch sizes must be ascending");
    refuses("bn_explosion", &["--batches", "2,8"], "every batch size must be at least 4");
    refuses("bn_explosion", &["--depth", "10"], "too shallow");
    refuses("bn_explosion", &["--seeds", "-1"], "must be a positive integer, got `-1`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    let dir = scratch("quick");
    let out = Command::new(example("bn_explosion"))
        .args(["--quick", "--depth", "20", "--width", "64", "--out"])
        .arg(&dir)
        .output()
        .expect("example runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("linear + BatchNorm") && stdout.contains("π/(π − 1)"), "{stdout}");
    let mut names: Vec<String> =
        files_under(&dir).iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
    names.sort();
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    assert_eq!(names, ["figures/ch05/bn-explosion-profile.json", "figures/ch05/bn-explosion.json"]);
    let _ = std::fs::remove_dir_all(&dir);
}

//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch04-init` builds
//! the examples (into `target/debug/examples/`) before running this.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug/examples").join(name);
    assert!(path.exists(), "{} is missing: `cargo test -p ch04-init` builds it", path.display());
    path
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ch04-cli-{tag}-{}", std::process::id()));
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
    refuses("glorot_init", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("glorot_init", &["--depth", "1"], "depth ≥ 2");
    refuses(
        "glorot_init",
        &["--batch", "4", "--jacobian-examples", "8"],
        "jacobian examples must be between 1 and the batch size",
    );
    refuses("he_init", &["--depth", "-3"], "must be a positive integer, got `-3`");
    refuses("he_init_training", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("he_init_training", &["--momentum", "1"], "--momentum must be below 1");
    refuses("he_init_training", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples");
    refuses("edge_of_chaos", &["--max-sigma-w2", "0.4"], "σ_w² range must be increasing");
    refuses("edge_of_chaos", &["--sigma-b2", "-0.1"], "must be a finite number ≥ 0, got `-0.1`");
    refuses("orthogonal_isometry", &["--depths", "4,2"], "depths must be ascending");
    refuses("orthogonal_isometry", &["--spectrum-depth", "5"], "the spectrum depth 5 must be one of the depths");
    refuses("orthogonal_isometry", &["--tanh-q-star", "inf"], "must be a finite positive number, got `inf`");
    refuses("lsuv_init", &["--batch", "1"], "batch ≥ 2");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    let dir = scratch("quick");
    let out =
        Command::new(example("edge_of_chaos")).args(["--quick", "--out"]).arg(&dir).output().expect("example runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("critical σ_w²") && stdout.contains("ordered"), "{stdout}");
    let mut names: Vec<String> =
        files_under(&dir).iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
    names.sort();
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    assert_eq!(names, ["figures/ch04/chaos-gradients.json", "figures/ch04/chaos-phase.json"]);
    let _ = std::fs::remove_dir_all(&dir);
}

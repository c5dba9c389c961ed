//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch07-recurrent`
//! builds the examples (into `target/debug/examples/`) before running this.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug/examples").join(name);
    assert!(path.exists(), "{} is missing: `cargo test -p ch07-recurrent` builds it", path.display());
    path
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ch07-cli-{tag}-{}", std::process::id()));
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
    refuses("bptt_lag", &["--steps", "1"], "--steps must be at least 2");
    refuses("bptt_lag", &["--rhos", "0.5,-1"], "must be a finite positive number, got `-1`");
    refuses("bptt_lag", &["--hidden", "0"], "must be a positive integer, got `0`");
    refuses("memory_task", &["--lengths", "16,8"], "--lengths must be ascending");
    refuses("memory_task", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("memory_task", &["--momentum", "1"], "--momentum must be below 1");
    refuses("memory_task", &["--optimizer", "rmsprop"], "invalid value 'rmsprop'");
    refuses("memory_task", &["--momentum", "0.9"], "--momentum and --lrs apply to --optimizer sgd only");
    refuses("memory_task", &["--optimizer", "sgd", "--lr", "0.1", "--lrs", "0.1,0.3"], "give --lr or --lrs, not both");
    refuses("memory_task", &["--optimizer", "sgd", "--lrs", "0.1,0"], "must be a finite positive number, got `0`");
    refuses("rnn_clipping", &["--clip", "0"], "must be a finite positive number, got `0`");
    refuses("rnn_clipping", &["--rho", "inf"], "must be a finite positive number, got `inf`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    let dir = scratch("quick");
    let out =
        Command::new(example("rnn_clipping")).args(["--quick", "--out"]).arg(&dir).output().expect("example runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> =
        files_under(&dir).iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
    names.sort();
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    assert_eq!(names, ["figures/ch07/clipping-loss.json", "figures/ch07/clipping-norms.json"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_sgd_memory_task_writes_its_own_figure_and_has_help() {
    let dir = scratch("sgd");
    let out = Command::new(example("memory_task"))
        .args(["--optimizer", "sgd", "--lrs", "0.01,0.1", "--quick", "--out"])
        .arg(&dir)
        .output()
        .expect("example runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<PathBuf> = files_under(&dir).iter().map(|p| p.strip_prefix(&dir).unwrap().to_path_buf()).collect();
    assert_eq!(names, [Path::new("figures/ch07/memory-sgd.json")]);
    let json = std::fs::read_to_string(dir.join("figures/ch07/memory-sgd.json")).unwrap();
    assert!(json.contains("\"lrs\"") && json.contains("0.01"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);

    let help = Command::new(example("memory_task")).arg("--help").output().expect("example runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--optimizer") && help.contains("--lrs") && help.contains("sgd"), "{help}");
}

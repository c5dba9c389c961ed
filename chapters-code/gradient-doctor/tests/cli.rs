//! The checkup example refuses bad flags with one clear error line, and a short run prints a verdict.
//! `cargo test -p gradient-doctor` builds the examples before running this.

use chapter_kit::example_check::Examples;

fn examples() -> Examples {
    Examples::of(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn checkup_refuses_bad_flags() {
    let e = examples();
    e.refuses("checkup", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    e.refuses("checkup", &["--depth", "0"], "must be a positive integer, got `0`");
    e.refuses("checkup", &["--activation", "swish2"], "swish2");
    e.refuses("checkup", &["--init-scale", "-1"], "must be a finite positive number, got `-1`");
    e.refuses("checkup", &["--train-mode-eval"], "--train-mode-eval needs --check-eval");
    e.refuses("overhead", &["--rounds", "0"], "must be a positive integer, got `0`");
}

#[test]
fn a_short_checkup_of_a_deep_sigmoid_net_finds_vanishing_gradients() {
    let out = std::process::Command::new(examples().path("checkup"))
        .args(["--depth", "8", "--steps", "5", "--window", "5", "--threads", "1", "--json"])
        .output()
        .expect("run checkup");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["findings"][0]["verdict"], "vanishing", "{report}");
}

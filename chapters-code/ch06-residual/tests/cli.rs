//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch06-residual`
//! builds the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

const EXAMPLES: [&str; 8] = [
    "res_fixup_depth",
    "res_lesion",
    "res_one_step",
    "res_paths",
    "res_profile",
    "res_training",
    "res_variance",
    "shattered_gradients",
];

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for name in EXAMPLES {
        examples.refuses_bad_run_flags(name);
    }
    let refuses = |name: &str, args: &[&str], needle: &str| examples.refuses_writing_nothing(name, args, needle);
    refuses("res_profile", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("res_profile", &["--depths", "16,8"], "--depths must be ascending");
    refuses("res_profile", &["--depths", "1"], "every depth must be at least 2");
    refuses("res_training", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("res_training", &["--momentum", "1"], "--momentum must be below 1");
    refuses("res_training", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples");
    refuses("res_variance", &["--blocks", "-2"], "must be a positive integer, got `-2`");
    refuses("res_one_step", &["--lr", "0"], "must be a finite positive number, got `0`");
    refuses("res_one_step", &["--depths", "8,4"], "--depths must be ascending");
    refuses("shattered_gradients", &["--curve-depth", "5"], "the curve depth 5 must be one of the depths");
    refuses(
        "shattered_gradients",
        &["--points", "8", "--max-lag", "8"],
        "the largest lag must be between 1 and points − 1",
    );
    refuses("res_lesion", &["--blocks", "1"], "need blocks ≥ 2");
    refuses("res_lesion", &["--momentum", "1.5"], "--momentum must be below 1");
    refuses("res_fixup_depth", &["--depths", "16,4"], "--depths must be ascending");
    refuses("res_fixup_depth", &["--depths", "4"], "need at least two depths");
    refuses("res_fixup_depth", &["--check-width", "0"], "must be a positive integer, got `0`");
    refuses("res_fixup_depth", &["--networks", "-3"], "must be a positive integer, got `-3`");
    refuses("res_fixup_depth", &["--lr", "inf"], "must be a finite positive number, got `inf`");
    refuses("res_paths", &["--paper-range", "35,19"], "--paper-range must be two lengths first,last");
    refuses("res_paths", &["--effective-range", "5,99"], "--effective-range must be two lengths first,last");
    refuses("res_paths", &["--samples", "0"], "must be a positive integer, got `0`");
    refuses("res_paths", &["--max-length", "-1"], "must be a positive integer, got `-1`");
    refuses("res_paths", &["--blocks", "1"], "need at least 2 blocks");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    let stdout = examples.writes_exactly("res_variance", &["--quick"], &["figures/ch06/res-variance.json"]);
    assert!(stdout.contains("measured/predicted") && stdout.contains("α = 1/√L"), "{stdout}");
}

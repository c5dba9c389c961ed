//! The chapter's example refuses bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch09-diagnosis`
//! builds the example (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

#[test]
fn the_example_refuses_bad_flags_and_writes_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    examples.refuses_writing_nothing("five_networks", &["--seed", "-1"], "invalid value '-1' for '--seed");
    examples.refuses_writing_nothing("five_networks", &["--verbose"], "unexpected argument '--verbose'");
    examples.refuses_bad_run_flags("five_networks");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "five_networks",
        &["--quick", "--json"],
        &[
            "figures/ch09/dashboard-relu.json",
            "figures/ch09/dashboard-sigmoid.json",
            "figures/ch09/histories.json",
            "figures/ch09/verdicts.json",
        ],
    );
    assert!(stdout.contains("== DeepSigmoid Broken") && stdout.contains("\"verdict\": \"vanishing\""), "{stdout}");
}

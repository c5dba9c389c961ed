//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch04-init` builds
//! the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

const EXAMPLES: [&str; 8] = [
    "glorot_init",
    "he_init",
    "he_init_training",
    "edge_of_chaos",
    "chaos_gradients",
    "orthogonal_isometry",
    "lsuv_init",
    "symmetry_breaking",
];

#[test]
fn every_example_refuses_bad_run_flags() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for name in EXAMPLES {
        examples.refuses_bad_run_flags(name);
    }
}

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for (name, args, needle) in [
        ("glorot_init", &["--width", "0"][..], "must be a positive integer, got `0`"),
        ("glorot_init", &["--depth", "1"], "must be at least 2, got `1`"),
        (
            "glorot_init",
            &["--batch", "4", "--jacobian-examples", "8"],
            "jacobian examples must be between 1 and the batch size",
        ),
        ("he_init", &["--depth", "-3"], "must be a positive integer, got `-3`"),
        ("he_init", &["--draws", "0"], "must be a positive integer, got `0`"),
        ("he_init_training", &["--lr", "nan"], "must be a finite positive number, got `nan`"),
        ("he_init_training", &["--momentum", "1"], "--momentum must be below 1"),
        ("he_init_training", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples"),
        ("edge_of_chaos", &["--max-sigma-w2", "0.4"], "σ_w² range must be increasing"),
        ("edge_of_chaos", &["--rows", "1"], "the grid needs at least 2 × 2 cells"),
        ("chaos_gradients", &["--sigma-b2", "-0.1"], "must be a finite number ≥ 0, got `-0.1`"),
        ("chaos_gradients", &["--depth", "1"], "must be at least 2, got `1`"),
        ("orthogonal_isometry", &["--depths", "4,2"], "--depths must be ascending"),
        ("orthogonal_isometry", &["--spectrum-depth", "5"], "the spectrum depth 5 must be one of the depths"),
        ("orthogonal_isometry", &["--tanh-q-star", "inf"], "must be a finite positive number, got `inf`"),
        ("lsuv_init", &["--batch", "1"], "batch ≥ 2"),
        ("symmetry_breaking", &["--width", "1"], "width ≥ 2"),
        (
            "symmetry_breaking",
            &["--batch", "600", "--train-examples", "500"],
            "--batch 600 cannot exceed --train-examples 500",
        ),
        ("symmetry_breaking", &["--lr", "-1"], "must be a finite positive number, got `-1`"),
    ] {
        examples.refuses_writing_nothing(name, args, needle);
    }
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    let stdout = examples.writes_exactly("chaos_gradients", &["--quick"], &["figures/ch04/chaos-gradients.json"]);
    assert!(stdout.contains("ordered") && stdout.contains("mean field"), "{stdout}");
}

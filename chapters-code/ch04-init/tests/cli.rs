//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch04-init` builds
//! the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

fn examples() -> Examples {
    Examples::of(env!("CARGO_MANIFEST_DIR"))
}

/// Bad flags: one `error:` line naming the problem, a non-zero exit and nothing written.
fn refuses(bin: &str, args: &[&str], needle: &str) {
    examples().refuses_writing_nothing(bin, args, needle)
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
    refuses("symmetry_breaking", &["--width", "1"], "width ≥ 2");
    refuses("symmetry_breaking", &["--batch", "600", "--train-examples", "500"], "the batch cannot exceed");
    refuses("symmetry_breaking", &["--lr", "-1"], "must be a finite positive number, got `-1`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = examples().writes_exactly(
        "edge_of_chaos",
        &["--quick"],
        &["figures/ch04/chaos-gradients.json", "figures/ch04/chaos-phase.json"],
    );
    assert!(stdout.contains("critical σ_w²") && stdout.contains("ordered"), "{stdout}");
}

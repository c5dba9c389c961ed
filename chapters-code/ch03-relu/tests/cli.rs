//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch03-relu` builds
//! the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

const EXAMPLES: [&str; 7] =
    ["rectifiers", "relu_profile", "relu_training", "relu_depth", "dying_relu", "born_dead", "length_variance"];

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    let refuses = |bin: &str, args: &[&str], needle: &str| examples.refuses_writing_nothing(bin, args, needle);
    refuses("rectifiers", &["--also", "swish"], "unknown activation `swish`");
    refuses("relu_profile", &["--depth", "1"], "must be at least 2, got `1`");
    refuses("relu_profile", &["--nets", "relu@-1"], "σ_w² after `@` must be a finite positive number, got `-1`");
    refuses("relu_training", &["--momentum", "1"], "--momentum must be below 1");
    refuses("relu_training", &["--nets", "relu@2"], "expected activation@σ_w²:learning_rate");
    refuses("relu_training", &["--n-probe", "6000"], "--n-probe 6000 cannot exceed --n-train 5000");
    refuses("relu_depth", &["--depths", "4,2"], "--depths must be ascending");
    refuses("relu_depth", &["--lrs", "0.1,nan"], "must be a finite positive number, got `nan`");
    refuses("relu_depth", &["--nets", "swish"], "unknown activation `swish`");
    refuses("dying_relu", &["--spike-steps", "30"], "must be a multiple of the probe interval (--every 25)");
    refuses("dying_relu", &["--mild-spike", "0"], "must be a finite positive number, got `0`");
    refuses("born_dead", &["--max-depth", "10"], "--max-depth must be at least 20");
    refuses("born_dead", &["--widths", "2,0"], "must be a positive integer, got `0`");
    refuses("length_variance", &["--widths", "16,0"], "must be a positive integer, got `0`");
    refuses("length_variance", &["--mixed", "-4"], "must be a positive integer, got `-4`");
    refuses("length_variance", &["--depth", "1"], "must be at least 2, got `1`");
    refuses("length_variance", &["--samples", "1"], "need at least 2 samples to measure a variance");
    refuses("length_variance", &["--d-in", "0"], "must be a positive integer, got `0`");
    for bin in EXAMPLES {
        examples.refuses_bad_run_flags(bin);
    }
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG; --also adds table rows.
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "rectifiers",
        &["--quick", "--also", "softsign"],
        &["figures/ch03/activations.json", "figures/ch03/derivatives.json"],
    );
    assert!(stdout.contains("GELU′ ranges from") && stdout.contains("softsign"), "{stdout}");
}

//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch08-transformers`
//! builds the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

const FIGURE_EXAMPLES: [&str; 4] = ["ln_gradients", "residual_stream", "warmup", "attention_saturation"];

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    examples.refuses_writing_nothing("ln_gradients", &["--depths", "12,6"], "--depths must be ascending");
    examples.refuses_writing_nothing("ln_gradients", &["--seeds", "0"], "must be a positive integer, got `0`");
    examples.refuses_writing_nothing("ln_gradients", &["--heads", "5"], "--d-model (32) must be a multiple of --heads");
    examples.refuses_writing_nothing("residual_stream", &["--depth", "1"], "must be at least 2, got `1`");
    examples.refuses_writing_nothing("residual_stream", &["--archs", "pre-ln,post"], "invalid value 'post'");
    examples.refuses_writing_nothing("warmup", &["--lrs", "0.01,nan"], "must be a finite positive number, got `nan`");
    examples.refuses_writing_nothing("warmup", &["--lrs", "0.03,0.01"], "--lrs must be ascending");
    examples.refuses_writing_nothing("warmup", &["--task", "shuffle"], "must be sort, reverse or prefix_sum_mod");
    examples.refuses_writing_nothing("attention_saturation", &["--gains", "2,1"], "--gains must be ascending");
    examples.refuses_writing_nothing(
        "attention_saturation",
        &["--d-model", "0"],
        "must be a positive integer, got `0`",
    );
    for name in FIGURE_EXAMPLES {
        examples.refuses_bad_run_flags(name);
    }
    examples.refuses("train_bench", &["--steps", "0"], "must be a positive integer, got `0`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "residual_stream",
        &["--quick"],
        &["figures/ch08/stream-gradient.json", "figures/ch08/stream-variance.json"],
    );
    assert!(stdout.contains("E[x²] in") && stdout.contains("Post-LN"), "{stdout}");
}

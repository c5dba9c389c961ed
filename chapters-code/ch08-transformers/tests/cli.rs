//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch08-transformers`
//! builds the examples (into `target/debug/examples/`) before running this.

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
    refuses("ln_gradients", &["--depths", "12,6"], "--depths must be ascending");
    refuses("ln_gradients", &["--seeds", "0"], "must be a positive integer, got `0`");
    refuses("residual_stream", &["--depth", "1"], "--depth must be at least 2");
    refuses("warmup", &["--lrs", "0.01,nan"], "must be a finite positive number, got `nan`");
    refuses("warmup", &["--lrs", "0.03,0.01"], "--lrs must be ascending");
    refuses("attention_saturation", &["--gains", "2,1"], "--gains must be ascending");
    refuses("attention_saturation", &["--d-model", "0"], "must be a positive integer, got `0`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    examples().writes_exactly(
        "residual_stream",
        &["--quick"],
        &["figures/ch08/stream-gradient.json", "figures/ch08/stream-variance.json"],
    );
}

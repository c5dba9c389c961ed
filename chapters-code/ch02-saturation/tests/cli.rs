//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch02-saturation`
//! builds the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

/// Examples whose default run takes seconds in a debug build. `refuses_bad_run_flags` passes
/// `--book --out DIR`, which `chapter_kit::example::run_example` refuses only after running the
/// default experiment, so the slow examples get the run flags' other check only.
const CHEAP_EXAMPLES: [&str; 3] = ["functions", "speed", "saxe"];
const SLOW_EXAMPLES: [&str; 5] = ["speed_training", "depth_training", "depth_sweep", "glorot", "glorot_conditions"];

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for name in CHEAP_EXAMPLES {
        examples.refuses_bad_run_flags(name);
    }
    for name in SLOW_EXAMPLES {
        examples.refuses_writing_nothing(name, &["--threads", "0"], "must be a positive integer, got `0`");
    }
    let refuses = |name, args: &[&str], needle| examples.refuses_writing_nothing(name, args, needle);
    refuses("functions", &["--report-depth", "40"], "--report-depth 40 cannot exceed --depth 30");
    refuses("functions", &["--weight-stds", "1,0"], "must be a finite positive number, got `0`");
    refuses("speed", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("speed", &["--cost", "hinge"], "unknown cost `hinge`");
    refuses("speed", &["--mnist-dir", "/nonexistent/mnist"], "--mnist-dir /nonexistent/mnist is not a directory");
    refuses("speed_training", &["--lambda", "-1"], "must be a finite number ≥ 0, got `-1`");
    refuses("speed_training", &["--eta", "inf"], "must be a finite positive number, got `inf`");
    refuses("depth_training", &["--batch", "600", "--n-train", "500"], "--batch 600 cannot exceed --n-train 500");
    refuses("depth_training", &["--eval-every", "0"], "must be a positive integer, got `0`");
    refuses("depth_sweep", &["--depths", "2,1"], "must be at least 2, got `1`");
    refuses("depth_sweep", &["--activations", "sigmoid,swish"], "swish");
    refuses("glorot", &["--inputs", "pixelz"], "unknown inputs `pixelz`");
    refuses("glorot", &["--batch", "30000"], "--batch 30000 cannot exceed --n-train 20000");
    refuses("glorot_conditions", &["--steps", "0"], "must be a positive integer, got `0`");
    refuses("glorot_conditions", &["--width", "1"], "--width must be at least 2 (the sweep halves it), got 1");
    refuses("glorot", &["--table-steps", "150"], "--table-steps 150 must be a multiple of --probe-every 100");
    refuses("saxe", &["--strengths", "1,2"], "--strengths must be distinct and decreasing");
    refuses("saxe", &["--strengths", "1,0"], "must be a finite positive number, got `0`");
    refuses("saxe", &["--fraction", "1.5"], "must be a probability between 0 and 1, got `1.5`");
    refuses("saxe", &["--examples", "4"], "--examples 4 must be at least --d 8");
    refuses("saxe", &["--steps", "10"], "some modes did not reach 0.9 of their strength");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "functions",
        &["--quick"],
        &["figures/ch02/functions.json", "figures/ch02/product-bound.json", "figures/ch02/window.json"],
    );
    assert!(stdout.contains("widest window at |w| =") && stdout.contains("bound 4^-L at L = 10"), "{stdout}");
}

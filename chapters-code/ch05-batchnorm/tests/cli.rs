//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch05-batchnorm`
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
    refuses("ioffe", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("ioffe", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("ioffe", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples");
    refuses("ioffe", &["--unit", "100"], "unit 100 does not exist");
    refuses("ioffe", &["--steps", "50"], "--steps 50 must be at least --eval-every 100");
    refuses("bn_forward", &["--width", "0"], "must be a positive integer, got `0`");
    refuses("bn_explosion", &["--batches", "8,4"], "batch sizes must be ascending");
    refuses("bn_explosion", &["--batches", "2,8"], "every batch size must be at least 4");
    refuses("bn_explosion", &["--depth", "10"], "too shallow");
    refuses("bn_explosion", &["--seeds", "-1"], "must be a positive integer, got `-1`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = examples().writes_exactly(
        "bn_explosion",
        &["--quick", "--depth", "20", "--width", "64"],
        &["figures/ch05/bn-explosion-profile.json", "figures/ch05/bn-explosion.json"],
    );
    assert!(stdout.contains("linear + BatchNorm") && stdout.contains("π/(π − 1)"), "{stdout}");
}

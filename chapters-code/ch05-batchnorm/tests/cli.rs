//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch05-batchnorm`
//! builds the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

#[test]
fn every_example_refuses_bad_run_flags() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for name in ["bn_forward", "ioffe", "bn_saturation", "bn_noisy", "bn_explosion"] {
        examples.refuses_bad_run_flags(name);
    }
}

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for (name, args, needle) in [
        ("ioffe", &["--width", "0"][..], "must be a positive integer, got `0`"),
        ("ioffe", &["--lr", "nan"], "must be a finite positive number, got `nan`"),
        ("ioffe", &["--batch", "100", "--train-examples", "50"], "cannot exceed --train-examples"),
        ("ioffe", &["--unit", "100"], "unit 100 does not exist"),
        ("ioffe", &["--steps", "50"], "--steps 50 must be at least --eval-every 100"),
        ("bn_forward", &["--width", "0"], "must be a positive integer, got `0`"),
        ("bn_saturation", &["--depth", "0"], "must be a positive integer, got `0`"),
        ("bn_saturation", &["--width", "0"], "must be a positive integer, got `0`"),
        ("bn_saturation", &["--d-in", "0"], "must be a positive integer, got `0`"),
        ("bn_saturation", &["--lr", "-1"], "must be a finite positive number, got `-1`"),
        ("bn_saturation", &["--batch", "1"], "must be between 2"),
        ("bn_saturation", &["--batch", "30", "--train-examples", "20"], "must be between 2"),
        ("bn_saturation", &["--steps", "50"], "--steps 50 must be at least --probe-every 100"),
        ("bn_saturation", &["--probe-every", "0"], "must be a positive integer, got `0`"),
        ("bn_saturation", &["--test-examples", "0"], "must be a positive integer, got `0`"),
        ("bn_noisy", &["--steps", "0"], "must be a positive integer, got `0`"),
        ("bn_noisy", &["--steps", "150"], "--steps 150 must be at least 2 × --eval-every 100"),
        ("bn_noisy", &["--eval-every", "-1"], "must be a positive integer, got `-1`"),
        ("bn_noisy", &["--noise-scales", "1,-2"], "must be a finite positive number, got `-2`"),
        ("bn_noisy", &["--noise-scales", "inf"], "must be a finite positive number, got `inf`"),
        ("bn_noisy", &["--probe-every", "150"], "must be a multiple of --eval-every 100"),
        ("bn_noisy", &["--probe-every", "1500"], "and below --steps 1500"),
        ("bn_noisy", &["--probe-examples", "1"], "--probe-examples must be between 2"),
        ("bn_noisy", &["--step-multiples", "0"], "must be a finite positive number, got `0`"),
        ("bn_explosion", &["--batches", "8,4"], "--batches must be ascending"),
        ("bn_explosion", &["--batches", "2,8"], "every batch size must be at least 4"),
        ("bn_explosion", &["--depth", "10"], "too shallow"),
        ("bn_explosion", &["--seeds", "-1"], "must be a positive integer, got `-1`"),
    ] {
        examples.refuses_writing_nothing(name, args, needle);
    }
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "bn_explosion",
        &["--quick", "--depth", "20", "--width", "64"],
        &["figures/ch05/bn-explosion-profile.json", "figures/ch05/bn-explosion.json"],
    );
    assert!(stdout.contains("linear + BatchNorm") && stdout.contains("π/(π − 1)"), "{stdout}");
}

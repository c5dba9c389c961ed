//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good run writes its figure where asked. `cargo test -p ch01-gradients` builds the
//! examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    let refuses = |bin: &str, args: &[&str], needle: &str| examples.refuses_writing_nothing(bin, args, needle);
    refuses("chain", &["--depth", "0"], "must be a positive integer, got `0`");
    refuses("chain", &["--depth", "-3"], "must be a positive integer, got `-3`");
    refuses("chain", &["--depth", "5", "--report-depth", "9"], "report depth");
    refuses("descent", &["--fractions", "nan"], "must be a finite positive number, got `nan`");
    refuses("descent", &["--x-mean", "inf"], "must be a finite number, got `inf`");
    refuses("gradcheck", &["--activation", "foo"], "unknown activation `foo`");
    refuses("gradcheck", &["--width", "-3"], "must be a positive integer, got `-3`");
    for bin in ["chain", "descent", "gradcheck"] {
        examples.refuses_bad_run_flags(bin);
    }
}

#[test]
fn a_good_run_writes_its_figure_where_asked() {
    let stdout = Examples::of(env!("CARGO_MANIFEST_DIR")).writes_exactly(
        "chain",
        &["--depth", "5", "--report-depth", "3"],
        &["figures/ch01/chain-product.json", "figures/ch01/chain-product.svg"],
    );
    assert!(stdout.contains("bound 4^-L       depth 3: 1.562e-2"), "{stdout}");
}

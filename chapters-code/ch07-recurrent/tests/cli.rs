//! The chapter's examples refuse bad input with one clear error line, a non-zero exit and no output
//! file, and a good quick run writes its figure data where asked. `cargo test -p ch07-recurrent`
//! builds the examples (into `target/debug/examples/`) before running this.

use chapter_kit::example_check::Examples;

#[test]
fn examples_refuse_bad_flags_and_write_nothing() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "bptt_lag",
        "memory_task",
        "memory_sgd",
        "rnn_clipping",
        "cliff",
        "forget_product",
        "adding_problem",
        "jacobian_norm",
    ] {
        examples.refuses_bad_run_flags(name);
    }
    let refuses = |name: &str, args: &[&str], needle: &str| examples.refuses_writing_nothing(name, args, needle);
    refuses("bptt_lag", &["--steps", "1"], "--steps must be at least 2");
    refuses("bptt_lag", &["--rhos", "0.5,-1"], "must be a finite positive number, got `-1`");
    refuses("bptt_lag", &["--hidden", "0"], "must be a positive integer, got `0`");
    refuses("memory_task", &["--lengths", "16,8"], "--lengths must be ascending");
    refuses("memory_task", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("memory_task", &["--momentum", "1"], "--momentum must be below 1");
    refuses("memory_task", &["--optimizer", "rmsprop"], "invalid value 'rmsprop'");
    refuses("memory_task", &["--momentum", "0.9"], "--momentum and --lrs apply to --optimizer sgd only");
    refuses("memory_sgd", &["--lr", "0.1", "--lrs", "0.1,0.3"], "give --lr or --lrs, not both");
    refuses("memory_sgd", &["--lrs", "0.1,0"], "must be a finite positive number, got `0`");
    refuses("memory_sgd", &["--lengths", "4,4"], "--lengths must be ascending");
    // Figure 7-3 has its own defaults: `--book` takes them, but not other changes.
    examples.refuses("memory_sgd", &["--lrs", "0.1", "--book"], "use the default settings");
    refuses("rnn_clipping", &["--clip", "0"], "must be a finite positive number, got `0`");
    refuses("rnn_clipping", &["--rho", "inf"], "must be a finite positive number, got `inf`");
    refuses("cliff", &["--target", "1"], "--target must lie strictly between 0 and 1");
    refuses("cliff", &["--region", "0,1,2"], "--region takes four numbers");
    refuses("cliff", &["--region", "1,0,-1,1"], "--region must run from low to high");
    refuses("cliff", &["--lrs", "1,0.1"], "--lrs must be ascending");
    refuses("cliff", &["--grid", "1"], "--grid must be at least 2");
    refuses("cliff", &["--subgrid", "0"], "must be a positive integer, got `0`");
    refuses("cliff", &["--clip", "-1"], "must be a finite positive number, got `-1`");
    refuses("cliff", &["--success", "0"], "must be a finite positive number, got `0`");
    refuses("cliff", &["--runs", "0"], "must be a positive integer, got `0`");
    refuses("cliff", &["--x0", "nan"], "got `nan`");
    refuses("forget_product", &["--steps", "2"], "--steps must be at least 3");
    refuses("forget_product", &["--forget-biases", "1,inf"], "must be a finite number, got `inf`");
    refuses("forget_product", &["--hidden", "0"], "must be a positive integer, got `0`");
    refuses("adding_problem", &["--lengths", "3,10"], "--lengths must be at least 4");
    refuses("adding_problem", &["--lengths", "20,10"], "--lengths must be ascending");
    refuses("adding_problem", &["--solved-ratio", "1.5"], "must be a probability between 0 and 1");
    refuses("adding_problem", &["--lr", "0"], "must be a finite positive number, got `0`");
    refuses("adding_problem", &["--seeds", "0"], "must be a positive integer, got `0`");
    refuses("jacobian_norm", &["--hidden", "1"], "--hidden must be at least 2");
    refuses("jacobian_norm", &["--tanh-radii", "1,-2"], "must be a finite positive number, got `-2`");
    refuses("jacobian_norm", &["--sigmoid-radii", "nan"], "must be a finite positive number, got `nan`");
    refuses("jacobian_norm", &["--input-gain", "-1"], "got `-1`");
}

#[test]
fn a_quick_run_writes_its_figure_data_where_asked() {
    // Quick mode writes the data only (the freshness test's mode), never an SVG.
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    examples.writes_exactly(
        "rnn_clipping",
        &["--quick"],
        &["figures/ch07/clipping-loss.json", "figures/ch07/clipping-norms.json"],
    );
}

#[test]
fn the_sgd_memory_task_writes_its_own_figure_and_has_help() {
    let examples = Examples::of(env!("CARGO_MANIFEST_DIR"));
    let args = ["--lrs", "0.01,0.1", "--quick"];
    examples.writes_exactly("memory_sgd", &args, &["figures/ch07/memory-sgd.json"]);
    let dir = examples.scratch("sgd");
    let out = dir.to_string_lossy().into_owned();
    let run = examples.run("memory_sgd", &[&args[..], &["--out", &out]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let json = std::fs::read_to_string(dir.join("figures/ch07/memory-sgd.json")).unwrap();
    assert!(json.contains("\"lrs\"") && json.contains("0.01"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);

    for name in ["memory_task", "memory_sgd"] {
        let help = examples.run(name, &["--help"]);
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(help.contains("--optimizer") && help.contains("--lrs") && help.contains("sgd"), "{help}");
    }
}

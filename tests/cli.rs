//! Bad input gets one clear error line, a non-zero exit and no output file — checked on the real
//! example binaries that `cargo test --workspace` builds (into `target/debug/examples/`).

use chapter_kit::example_check::Examples;
use std::path::Path;

fn examples() -> Examples {
    Examples::of(env!("CARGO_MANIFEST_DIR"))
}

/// `bin args` fails with one `error:` line containing `needle`.
fn refuses(bin: &str, args: &[&str], needle: &str) {
    examples().refuses(bin, args, needle)
}

fn scratch(tag: &str) -> std::path::PathBuf {
    examples().scratch(tag)
}

fn no_files_in(dir: &Path) {
    let found = chapter_kit::example_check::files_under(dir);
    assert!(found.is_empty(), "bad input left files behind: {found:?}");
}

#[test]
fn step_bench_refuses_the_issue_list_of_bad_flags() {
    refuses("step_bench", &["--depth", "0"], "must be a positive integer, got `0`");
    refuses("step_bench", &["--width", "-3"], "must be a positive integer, got `-3`");
    refuses("step_bench", &["--lr", "nan"], "must be a finite positive number, got `nan`");
    refuses("step_bench", &["--activation", "foo"], "unknown activation `foo`");
}

/// Writes an IDX file: `magic`, then the dimensions, then `payload` (possibly shorter than they claim).
fn idx(path: &Path, magic: u32, dims: &[u32], payload: &[u8]) {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(payload);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn missing_or_truncated_mnist_files_are_refused_with_the_file_named() {
    let out = scratch("ch02-out");
    let o = out.to_str().unwrap();
    // No such directory.
    refuses("speed", &["--mnist-dir", "/nonexistent/mnist", "--out", o], "/nonexistent/mnist");
    // A directory whose training images are truncated: the header promises 3 images of 28×28.
    let dir = scratch("mnist-truncated");
    idx(&dir.join("train-images-idx3-ubyte"), 0x0803, &[3, 28, 28], &[0u8; 28 * 28 * 2]);
    idx(&dir.join("train-labels-idx1-ubyte"), 0x0801, &[3], &[1, 2, 3]);
    idx(&dir.join("t10k-images-idx3-ubyte"), 0x0803, &[1, 28, 28], &[0u8; 28 * 28]);
    idx(&dir.join("t10k-labels-idx1-ubyte"), 0x0801, &[1], &[4]);
    refuses("speed", &["--mnist-dir", dir.to_str().unwrap(), "--out", o], "train-images-idx3-ubyte");
    // The same with a missing labels file.
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    refuses("speed", &["--mnist-dir", dir.to_str().unwrap(), "--out", o], "train-labels");
    no_files_in(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_or_truncated_npz_is_refused_and_no_gradient_file_is_written() {
    let dir = scratch("npz");
    let grads = dir.join("G.npz");
    let g = grads.to_str().unwrap();
    refuses("gradients", &["--weights", "/nonexistent/W.npz", "--activation", "sigmoid", "--save-grads", g], "W.npz");
    // A truncated zip: the first bytes of a real archive's signature and nothing else.
    let truncated = dir.join("W.npz");
    std::fs::write(&truncated, b"PK\x03\x04\x14\x00\x00\x00").unwrap();
    refuses(
        "gradients",
        &["--weights", truncated.to_str().unwrap(), "--activation", "tanh", "--save-grads", g],
        "W.npz",
    );
    assert!(!grads.exists(), "a failed run left {}", grads.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Every runnable listing of the book has a recorded output, recorded for its current code: the
//! built book shows that output under the listing (see `book::listings`). Cheap on purpose: it
//! compares hashes of the listings' code with the hashes stored next to the outputs, and compiles
//! nothing (the doctests already run every listing).

use anyhow::Result;
use book::listings::{self, Outputs, Recorded};
use std::path::Path;

/// Problems with the recorded outputs of the book at `root`.
fn problems(root: &Path) -> Result<Vec<String>> {
    let src = root.join("src");
    let mut problems = Vec::new();
    for chapter in listings::summary_chapters(&src)? {
        let text = std::fs::read_to_string(src.join(&chapter))?;
        let found = listings::listings(&text);
        let outputs = listings::read_outputs(&src, &chapter)?;
        for listing in &found {
            if outputs.by_hash(&listing.hash()).is_none() {
                problems.push(format!(
                    "src/{} listing {} (line {}, `{}`) has no recorded output for its current code",
                    chapter.display(),
                    listing.index,
                    listing.line,
                    listing.title()
                ));
            }
        }
        for recorded in &outputs.listings {
            if !found.iter().any(|l| l.hash() == recorded.code_hash) {
                problems.push(format!(
                    "{}: the output recorded for `{}` belongs to no listing of the chapter any more",
                    listings::outputs_path(&src, &chapter).strip_prefix(root)?.display(),
                    recorded.title
                ));
            }
        }
    }
    Ok(problems)
}

#[test]
fn every_listing_has_a_fresh_recorded_output() -> Result<()> {
    let problems = problems(&book::workspace_root())?;
    assert!(
        problems.is_empty(),
        "{}\n\nRecord them with `cargo run -p book -- outputs` (it runs only the listings that changed).",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn stale_and_missing_outputs_are_found() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::write(root.join("src/SUMMARY.md"), "# Summary\n\n- [One](01-one.md)\n")?;
    let chapter =
        "# One\n\n```rust\nfn main() { println!(\"a\"); }\n```\n\n```rust\n# fn main() {\nprintln!(\"b\");\n# }\n```\n";
    std::fs::write(root.join("src/01-one.md"), chapter)?;
    let found = listings::listings(chapter);
    let record = |code_hash: String| Recorded {
        title: "t".into(),
        code_hash,
        exit_code: 0,
        stdout: "a\n".into(),
        stderr: String::new(),
    };
    let write = |outputs: &Outputs| listings::write_outputs(&root.join("src"), Path::new("01-one.md"), outputs);

    write(&Outputs { about: String::new(), listings: found.iter().map(|l| record(l.hash())).collect() })?;
    assert_eq!(problems(root)?, Vec::<String>::new());

    write(&Outputs {
        about: String::new(),
        listings: vec![record(found[0].hash()), record("0123456789abcdef".into())],
    })?;
    let found_problems = problems(root)?;
    assert_eq!(found_problems.len(), 2, "{found_problems:?}");
    assert!(found_problems[0].contains("listing 2 (line 7") && found_problems[0].contains("no recorded output"));
    assert!(found_problems[1].contains("belongs to no listing"));
    Ok(())
}

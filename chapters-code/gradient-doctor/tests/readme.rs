//! The program in the workspace README's "Check your own candle model" is the crate README's, which
//! rustdoc compiles and runs as the crate's documentation.

#[test]
fn the_workspace_readme_shows_the_tested_program() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let ours = std::fs::read_to_string(format!("{dir}/README.md")).expect("crate README");
    let root = std::fs::read_to_string(format!("{dir}/../../README.md")).expect("workspace README");
    let block = |text: &str| -> String {
        let start = text.find("```rust").expect("a rust block");
        let end = start + 7 + text[start + 7..].find("```").expect("closed");
        text[start..end].to_string()
    };
    let section = &root[root.find("## Check your own candle model").expect("the README section")..];
    assert_eq!(block(section), block(&ours), "the README's program differs from the tested one");
    assert!(block(&ours).lines().count() <= 40, "the program should stay short");
}

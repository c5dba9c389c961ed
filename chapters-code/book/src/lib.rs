//! The book's driver, as a library so the binary and the whole-book tests run the same code.
//!
//! Grouped by role; a module uses only the ones listed after it (no import cycles between them:
//! `tests::no_import_cycles_between_top_level_modules` checks it):
//!
//! | module          | role                                                                          |
//! |-----------------|-------------------------------------------------------------------------------|
//! | [`site`]        | `book build`: mdBook with the preprocessors in process, then post-processing  |
//! | [`serve`]       | `book serve`: the built site over HTTP, and the Run API                       |
//! | [`figures`]     | `book figures`: runs the chapters' figure generators, staleness               |
//! | [`preprocess`]  | the six mdBook preprocessors (`book preprocess <name>`), all together          |
//! | [`listings`]    | the chapters' Rust listings: recorded outputs (`book outputs`), runner, sandbox |
//! | [`assets`]      | the stylesheets and scripts the built pages load, and which page needs which   |
//! | [`chapters`]    | the chapters table: id, page, crate, generators, exercises of each chapter     |
//! | [`markdown`]    | Markdown scanning with mdBook's parser (code blocks, directives, escaping)     |
//! | [`files`]       | file helpers (walking, modification times, the workspace root); a leaf         |
//!
//! `main.rs` is the command line over these.

pub mod assets;
pub mod chapters;
pub mod figures;
pub mod files;
pub mod listings;
pub mod markdown;
pub mod preprocess;
pub mod serve;
pub mod site;

pub use chapters::{all_exercises, all_generators};
pub use files::workspace_root;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The modules in the order of the table in the crate docs: each may use only those after it.
    fn layers() -> Vec<String> {
        include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | [`")?.split_once('`').map(|(m, _)| m.to_string()))
            .collect()
    }

    /// The top-level modules a Rust file refers to through `crate::…` paths (in `use` lines and
    /// inline), comments left out; `crate::{a, b::c}` names `a` and `b`.
    fn crate_references(text: &str) -> Vec<String> {
        let code: String =
            text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
        let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
        let mut found = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = code[at + "crate::".len()..].trim_start();
            if let Some(group) = rest.strip_prefix('{') {
                let (mut depth, mut item) = (0, String::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push(ident(item.trim()));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                found.push(ident(item.trim()));
            } else {
                found.push(ident(rest));
            }
        }
        found.retain(|m| !m.is_empty());
        found
    }

    /// Which top-level module uses which, from every file under `src/` (but the crate root).
    fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for file in crate::files::files_under(src).unwrap() {
            let relative = file.strip_prefix(src).unwrap();
            if file.extension().is_none_or(|e| e != "rs")
                || ["lib.rs", "main.rs"].contains(&&*relative.to_string_lossy())
            {
                continue;
            }
            let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("super::super::"), "{}: reach other modules through `crate::`", file.display());
            let uses = graph.entry(module.clone()).or_default();
            for target in crate_references(&text) {
                if target != module {
                    uses.entry(target).or_insert_with(|| relative.display().to_string());
                }
            }
        }
        graph
    }

    /// A cycle through `module`, as `a → b → a`, if there is one.
    fn cycle_from(graph: &BTreeMap<String, BTreeMap<String, String>>, path: &mut Vec<String>) -> Option<String> {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flat_map(|uses| uses.keys()) {
            if let Some(at) = path.iter().position(|m| m == next) {
                let cycle: Vec<String> = path[at..]
                    .iter()
                    .zip(path[at + 1..].iter().chain([next]))
                    .map(|(from, to)| format!("{from} → {to} ({})", graph[from][to]))
                    .collect();
                return Some(cycle.join(", "));
            }
            path.push(next.clone());
            if let Some(cycle) = cycle_from(graph, path) {
                return Some(cycle);
            }
            path.pop();
        }
        None
    }

    #[test]
    fn references_are_parsed_from_use_lines_and_paths() {
        let text = "use crate::a::{self, X};\nuse crate::{b, c::d::{e, f}};\n// use crate::ignored;\n\
                    fn g() { crate::h::i(); my_crate::j(); }\n";
        assert_eq!(crate_references(text), ["a", "b", "c", "h"]);
    }

    #[test]
    fn no_import_cycles_between_top_level_modules() {
        let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        let layers = layers();
        assert!(layers.len() >= 9 && layers.contains(&"files".to_string()), "the module table: {layers:?}");
        for (module, uses) in &graph {
            assert!(layers.contains(module), "module `{module}` is missing from the table in lib.rs");
            for (target, file) in uses {
                assert!(layers.contains(target), "{file} uses `crate::{target}`, which is not one of the modules");
            }
        }
        for module in graph.keys() {
            if let Some(cycle) = cycle_from(&graph, &mut vec![module.clone()]) {
                panic!("an import cycle between the driver's modules: {cycle}");
            }
        }
        let rank = |m: &String| layers.iter().position(|l| l == m).unwrap();
        for (module, uses) in &graph {
            for (target, file) in uses {
                assert!(
                    rank(target) > rank(module),
                    "{file} (module `{module}`) uses `{target}`, which lib.rs's table lists before it"
                );
            }
        }
    }
}

//! The shape of the house, checked: no module of `src/` imports a module that imports it back,
//! directly or through others. Settings flow one way (`config` knows every part, no part knows
//! `config`), and a cycle is the first sign that a type lives in the wrong module.
//!
//! The graph is read from the source: a top-level module depends on another when its code
//! (not its unit tests) names `crate::other`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its non-test code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let relative = path.strip_prefix(&src).unwrap();
        let module = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs").to_string();
        let is_tests_file = relative.file_name().is_some_and(|n| n == "tests.rs");
        if module == "main" || module == "lib" || is_tests_file || path.extension().is_none_or(|e| e != "rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A file's own unit tests may reach anywhere; they are not part of the design.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    // `crate::{a, b::c}`: each group member's first segment.
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap()
                        .split(',')
                        .filter_map(|item| item.trim().split("::").next())
                        .collect(),
                    None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap()],
                };
                deps.extend(names.into_iter().filter(|n| !n.is_empty() && *n != module).map(str::to_string));
            }
        }
    }
    graph
}

/// A cycle through `start`, as the path of modules, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = module_graph();
    assert!(graph.len() > 15, "the graph was not read: {graph:?}");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|path| path.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn no_part_imports_the_settings_module_or_the_command_line() {
    let graph = module_graph();
    for (module, deps) in &graph {
        if module != "app" {
            assert!(!deps.contains("config"), "{module} imports config: its settings belong to it");
        }
        if module != "config" && module != "app" {
            assert!(!deps.contains("cli"), "{module} imports cli: no part sees a flag");
        }
    }
}

#[test]
fn the_reader_finds_a_cycle_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(
        cycle_through(&graph, "a"),
        Some(vec!["a", "b", "c", "a"].into_iter().map(String::from).collect())
    );
    assert_eq!(cycle_through(&graph, "d"), None);
}

//! The dev stack's modules import each other without circles (issue 14.2): a module shared
//! by two others lives in its own file (`roles.rs` holds `ApiRole`), so each file can be read
//! and changed knowing only what it imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The sibling modules a file imports through `super::` (its `#[cfg(test)]` part left out:
/// tests may reach anywhere). `super::Item` of `mod.rs` itself counts as no sibling.
fn sibling_imports(source: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("super::") {
        let rest = &code[i + "super::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').collect()
        } else {
            vec![rest]
        };
        for name in names {
            let ident: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if siblings.contains(&ident) {
                found.insert(ident);
            }
        }
    }
    found
}

/// A circle in `graph` as the list of modules along it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_dev_stack_modules_import_each_other_without_circles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/devstack");
    let files: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .filter(|(name, _)| name != "mod")
        .collect();
    let siblings: BTreeSet<String> = files.keys().cloned().collect();
    assert!(siblings.len() > 10, "read {dir:?}: {siblings:?}");
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|(name, source)| (name.clone(), sibling_imports(source, &siblings)))
        .collect();
    assert!(
        graph["gateway"].contains("api_error"),
        "the parser reads imports: {graph:?}"
    );
    assert_eq!(find_circle(&graph), None, "imports: {graph:#?}");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(n, deps)| (n.to_string(), deps.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

//! The import rule, checked on the source: domain ← `http` ← `server` ← `cli`, and no circles
//! between the crate's top-level modules. A newcomer can read where a change goes and what it
//! may import from the folder tree; this test keeps the tree honest.
//!
//! The domain is every top-level module but `http`, `server` and `cli`; it never names poem.
//! Unit tests (`#[cfg(test)]` and below) are left out: they may reach across for fixtures.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The layers above the domain, lowest first; each may import only what is below it.
const LAYERS: [&str; 3] = ["http", "server", "cli"];

fn rank(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| *l == module)
        .map_or(0, |i| i + 1)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("api/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate's top-level modules a file's non-test code names (`crate::x`, or `x::` inside a
/// `use crate::{...}` group).
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            for item in group[..end].split([',', '{', '}']) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let nested = item.trim().starts_with(&format!("{name}::"));
                if !name.is_empty() && (nested || !name.starts_with(char::is_uppercase)) {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
}

fn module_graph() -> BTreeMap<String, (BTreeSet<String>, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut graph: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).expect("under api/src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_owned())
            .expect("a file name");
        if top == "lib" || top == "main" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("a readable source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let entry = graph.entry(top.clone()).or_default();
        entry
            .0
            .extend(references(code).into_iter().filter(|m| *m != top));
        if code.contains("poem") {
            entry.1.push(rel.display().to_string());
        }
    }
    graph
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let graph = module_graph();
    let mut wrong = Vec::new();
    for (module, (refs, _)) in &graph {
        for target in refs.iter().filter(|t| graph.contains_key(*t)) {
            if rank(target) > rank(module) || (rank(target) == rank(module) && rank(module) > 0) {
                wrong.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

#[test]
fn nothing_in_the_domain_names_poem() {
    let graph = module_graph();
    let poem: Vec<_> = graph
        .iter()
        .filter(|(m, _)| rank(m) == 0)
        .flat_map(|(_, (_, files))| files.clone())
        .collect();
    assert!(poem.is_empty(), "domain files that name poem: {poem:?}");
}

#[test]
fn the_modules_import_each_other_without_circles() {
    let graph = module_graph();
    // Kahn's algorithm: whatever cannot be ordered sits on a circle.
    let mut left: BTreeMap<&str, BTreeSet<&str>> = graph
        .iter()
        .map(|(m, (refs, _))| {
            let deps = refs
                .iter()
                .filter(|r| graph.contains_key(*r))
                .map(String::as_str)
                .collect();
            (m.as_str(), deps)
        })
        .collect();
    loop {
        let free: Vec<&str> = left
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(m, _)| *m)
            .collect();
        if free.is_empty() {
            break;
        }
        for m in &free {
            left.remove(m);
        }
        for deps in left.values_mut() {
            for m in &free {
                deps.remove(m);
            }
        }
    }
    assert!(left.is_empty(), "modules on an import circle: {left:#?}");
}

#[test]
fn the_checks_see_a_violation_when_there_is_one() {
    let refs = references("use crate::{http::errors::ApiError, users::{self, User}};");
    assert!(refs.contains("http") && refs.contains("users"), "{refs:?}");
    assert!(references("let x = crate::server::openapi_json();").contains("server"));
    assert!(rank("http") > rank("users") && rank("cli") > rank("server"));
}

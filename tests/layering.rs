//! The request path's layering, checked on the source: each module imports only the
//! modules below it (server → handler → context → dispatch → upstream, with leaves anyone
//! may use), the modules inside `handler` import each other without a cycle, and only
//! `main.rs` names the logging thread's crate. The crate graph already makes Tokio and
//! sqlx unnameable here; this covers what the compiler cannot see.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the crate modules it may import (`mutate` is the fuzz tests' input maker). The
/// re-exported `gpt-api-common` modules (`admin`, `alloc`, `eventstream`, `json`, `log`,
/// `record`, `time`) are leaves.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "context", "handler", "http", "error", "iovec", "config", "metrics", "log", "record",
            "alloc", "mutate",
        ],
    ),
    (
        "handler",
        &[
            "context",
            "dispatch",
            "upstream",
            "http",
            "error",
            "config",
            "metrics",
            "json",
            "record",
            "log",
            "mutate",
            "dialect",
            "admin",
            "time",
            "limits",
            "console",
            "sigv4",
            "eventstream",
        ],
    ),
    (
        "context",
        &[
            "dispatch", "upstream", "config", "metrics", "record", "admin", "limits", "log",
        ],
    ),
    (
        "dispatch",
        &["upstream", "config", "error", "metrics", "record"],
    ),
    ("dialect", &["json", "eventstream"]),
    ("limits", &["config", "error", "json", "log"]),
    ("upstream", &["config", "http", "iovec", "sigv4"]),
    ("http", &["error", "iovec"]),
    ("metrics", &["config", "json"]),
    ("config", &["json"]),
    ("error", &["json"]),
    ("iovec", &[]),
    ("sigv4", &["time"]),
    ("console", &[]),
    ("mutate", &[]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The other crates of the workspace have their own Cargo.toml.
            if !path.join("Cargo.toml").exists() {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc comments name paths too).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow each `prefix` in `text`.
fn names_after<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module `path` belongs to: its first component below `under` (`src/handler/x.rs` and
/// `src/handler/x/y.rs` both give `x` under `src/handler`).
fn module_of(path: &Path, under: &Path) -> String {
    let relative = path.strip_prefix(under).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

#[test]
fn modules_import_only_what_lies_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    // The binary (main.rs and its own modules) wires everything together.
    let main = code(&src().join("main.rs"));
    let binary: Vec<&str> = names_after(&main, "mod ");
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(file, &src());
        let text = code(file);
        if module == "main" || module == "lib" || binary.contains(&module.as_str()) {
            continue;
        }
        let Some(may_import) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module '{module}' is not in the layering table",
                file.display()
            ));
            continue;
        };
        for name in names_after(&text, "crate::") {
            if name != module && !may_import.contains(&name) {
                violations.push(format!(
                    "{}: '{module}' imports crate::{name}",
                    file.display()
                ));
            }
        }
        if text.contains("gpt_api_recorder") {
            violations.push(format!(
                "{}: only main.rs may start the recorder",
                file.display()
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn handler_modules_import_each_other_without_a_cycle() {
    let handler = src().join("handler");
    let mut files = Vec::new();
    rust_files(&handler, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file, &handler);
        if from == "mod" {
            continue;
        }
        let text = code(file);
        let mut targets: Vec<&str> = names_after(&text, "crate::handler::");
        // `super::x` from a file directly in handler/ names a sibling.
        if file.parent() == Some(handler.as_path()) {
            targets.extend(names_after(&text, "super::"));
        }
        for to in targets {
            if to != from && to != "tests" {
                edges
                    .entry(from.clone())
                    .or_default()
                    .insert(to.to_string());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle in handler/: {cycle:?} (edges {edges:?})"
        );
    }
    assert!(
        edges["exchange"].contains("stream"),
        "the table reads the imports: {edges:?}"
    );
}

//! The library's architecture, checked: its folders are layers, and a
//! module imports only modules of its own layer or of the layers below, with
//! no circle among the modules of one layer. A lower layer that names a type
//! of a higher one fails here, with the file and the path it named.
//!
//! A short reader of `crate::` and `super::` paths rather than a tool such as
//! `cargo-modules`: that needs a build of rust-analyzer's crates (minutes on
//! a fresh CI machine) to answer a question this page of code answers in
//! milliseconds, and the layer order below is ours to state anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. `lib.rs` sits above them all.
const LAYERS: [&str; 9] = [
    "error",
    "memory",
    "shm",
    "protocol",
    "job",
    "worker",
    "coordinator",
    "jobs",
    "distributed",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `memory::array` for `src/memory/array.rs`, `memory` for its `mod.rs`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Code without comments and without unit-test modules (tests may reach
/// anywhere), wherever in the file they are.
fn code(text: &str) -> String {
    let mut code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    while let Some(i) = code.find("#[cfg(test)]") {
        let Some(open) = code[i..].find('{').map(|o| i + o) else {
            break;
        };
        // An item without a body (`#[cfg(test)] test_worker!();`).
        if let Some(semi) = code[i..open].find(';') {
            code.replace_range(i..i + semi + 1, "");
            continue;
        }
        // The matching brace (string literals in this crate's tests hold
        // no unbalanced braces).
        let mut depth = 0;
        let mut end = code.len();
        for (k, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        code.replace_range(i..end, "");
    }
    code
}

/// Every module path that `text` names with `crate::` or `super::`.
fn imports(module: &[String], is_mod_file: bool, text: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let code = code(text);
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` (module a::b) it is `a`.
            let mut p = module.to_vec();
            if !is_mod_file || !p.is_empty() {
                p.pop();
            }
            p
        }),
    ] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            // Not the tail of a longer word (`xcrate::`).
            let word_start = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
            rest = &rest[i + prefix.len()..];
            if !word_start {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut full = base.clone();
            full.extend(path.split("::").filter(|s| !s.is_empty()).map(String::from));
            found.insert(full);
        }
    }
    found
}

#[test]
fn layers_import_only_downward_and_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let layer = |m: &[String]| {
        m.first()
            .and_then(|top| LAYERS.iter().position(|l| l == top))
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let is_mod = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        for path in imports(&module, is_mod, &std::fs::read_to_string(file).unwrap()) {
            // The longest prefix of the path that is a module of the crate.
            let Some(target) = (1..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            let (from, to) = (layer(&module), layer(&target));
            if let (Some(from), Some(to)) = (from, to)
                && to > from
            {
                wrong.push(format!(
                    "{} ({}) names {} ({}), a higher layer",
                    file.strip_prefix(&src).unwrap().display(),
                    LAYERS[from],
                    path.join("::"),
                    LAYERS[to]
                ));
            }
            // Parents and children (re-exports, `super::`) are one unit.
            if target != module && !target.starts_with(&module) && !module.starts_with(&target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );

    // No circle: every module reaches itself by no path of imports.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(Vec<String>, Vec<Vec<String>>)> = vec![(start.clone(), vec![])];
        while let Some((m, trail)) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                let mut trail = trail.clone();
                trail.push(next.clone());
                assert!(
                    next != start,
                    "import circle: {} -> {}",
                    start.join("::"),
                    trail
                        .iter()
                        .map(|t| t.join("::"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                );
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), trail));
                }
            }
        }
    }
    assert!(modules.len() > 15, "read the whole tree: {modules:?}");
}

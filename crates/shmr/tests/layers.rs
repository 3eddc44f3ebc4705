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
    "builtin",
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

/// The paths of a use tree such as `a::{b, c::{d, e as f}}`, each as its
/// segments (an alias is named by the path it stands for; `self` is the
/// path so far).
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap();
        return vec![
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "self")
                .map(String::from)
                .collect(),
        ];
    };
    let prefix: Vec<String> = tree[..open]
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    // Split at the commas outside nested braces.
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(use_paths)
        .map(|p| prefix.iter().cloned().chain(p).collect())
        .collect()
}

/// The use tree that starts at `rest` (after `crate::`): up to the end of
/// a path, or the brace that closes a group.
fn tree_at(rest: &str) -> &str {
    if !rest.starts_with('{') {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        // A group after a path (`crate::a::{b, c}`) belongs to it.
        if rest[end..].starts_with('{') {
            return tree_at_group(rest, end);
        }
        return &rest[..end];
    }
    tree_at_group(rest, 0)
}

fn tree_at_group(rest: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..open + i + 1];
                }
            }
            _ => {}
        }
    }
    rest
}

/// What the crate root re-exports (`pub use a::{B, c}` in lib.rs), by the
/// name it gives: the path it stands for. A lower layer that names
/// `crate::Pool` names `coordinator::Pool`.
fn reexports(lib: &str) -> BTreeMap<String, Vec<String>> {
    let code = code(lib);
    let mut map = BTreeMap::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("pub use ") {
        rest = &rest[i + "pub use ".len()..];
        let end = rest.find(';').unwrap_or(rest.len());
        for path in use_paths(&rest[..end]) {
            if let Some(last) = path.last() {
                map.insert(last.clone(), path.clone());
            }
        }
        rest = &rest[end..];
    }
    map
}

/// Every module path that `text` names with `crate::` or `super::`, with
/// the crate root's re-exports resolved to where they are defined.
fn imports(
    module: &[String],
    is_mod_file: bool,
    text: &str,
    roots: &BTreeMap<String, Vec<String>>,
) -> BTreeSet<Vec<String>> {
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
            for path in use_paths(tree_at(rest)) {
                let mut full = base.clone();
                full.extend(path);
                // A name the root re-exports, named through the root.
                if let Some(defined) = full.first().and_then(|n| roots.get(n)) {
                    full.splice(..1, defined.iter().cloned());
                }
                found.insert(full);
            }
        }
    }
    found
}

/// Each import of a lower layer's module that names a higher layer, as a
/// line saying which; `files` are the crate's sources with their text.
fn against_the_layers(src: &Path, files: &[(PathBuf, String)]) -> (Vec<String>, Edges) {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(f, _)| module_of(src, f)).collect();
    let lib = files
        .iter()
        .find(|(f, _)| f.ends_with("lib.rs"))
        .map_or("", |(_, t)| t.as_str());
    let roots = reexports(lib);
    let layer = |m: &[String]| {
        m.first()
            .and_then(|top| LAYERS.iter().position(|l| l == top))
    };
    let mut edges: Edges = BTreeMap::new();
    let mut wrong = Vec::new();
    for (file, text) in files {
        let module = module_of(src, file);
        let is_mod = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        // The root re-exports for its users; only the layers are checked.
        let roots = if module.is_empty() {
            &BTreeMap::new()
        } else {
            &roots
        };
        for path in imports(&module, is_mod, text, roots) {
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
                    file.strip_prefix(src).unwrap().display(),
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
    (wrong, edges)
}

/// Imports between modules: who names whom.
type Edges = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The crate's sources with their text.
fn sources() -> (PathBuf, Vec<(PathBuf, String)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect();
    (src, files)
}

#[test]
fn a_higher_layer_named_through_the_crate_root_is_caught() {
    let (src, mut files) = sources();
    let (wrong, _) = against_the_layers(&src, &files);
    assert!(wrong.is_empty(), "{wrong:?}");
    // The hole this closes: the root re-exports `Pool` from the
    // coordinator, so `crate::Pool` in memory/ names a higher layer; as do
    // a group (`crate::{Element, Pool}`) and a path into a group.
    for line in [
        "use crate::Pool as _;",
        "use crate::{DType, Pool};",
        "use crate::{error::Result, coordinator::{Pool as P}};",
    ] {
        let array = files
            .iter_mut()
            .find(|(f, _)| f.ends_with("memory/array.rs"))
            .unwrap();
        let with = format!("{line}\n{}", array.1);
        let saved = std::mem::replace(&mut array.1, with);
        let (wrong, _) = against_the_layers(&src, &files);
        assert!(
            wrong
                .iter()
                .any(|w| w.contains("memory/array.rs") && w.contains("Pool")),
            "{line} was not caught: {wrong:?}"
        );
        files
            .iter_mut()
            .find(|(f, _)| f.ends_with("memory/array.rs"))
            .unwrap()
            .1 = saved;
    }
}

#[test]
fn layers_import_only_downward_and_modules_form_no_circle() {
    let (src, files) = sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(f, _)| module_of(&src, f)).collect();
    let (wrong, edges) = against_the_layers(&src, &files);
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

//! docs/design.md checked against the code, for what a reader can check
//! without understanding it: every file it names exists, and every member
//! it names of one of our types (`Type::member`) is defined where that type
//! is defined or implemented. A rename or a move that forgets the design
//! page fails here, with the name it left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file of the workspace: its name and its text.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `text`, if any.
fn first_word(text: &str) -> &str {
    &text[..text.find(|c: char| !is_ident(c)).unwrap_or(text.len())]
}

/// What one source file defines (declared by a keyword, or first on its
/// line as a field `name: T` or a variant `Name {`, `Name(..)`, `Name,`),
/// and the types it implements something for.
#[derive(Default)]
struct Defined {
    names: BTreeSet<String>,
    implemented: BTreeSet<String>,
}

fn defined(text: &str) -> Defined {
    const KEYWORDS: [&str; 9] = [
        "fn ",
        "struct ",
        "enum ",
        "trait ",
        "type ",
        "const ",
        "static ",
        "mod ",
        "macro_rules! ",
    ];
    let mut d = Defined::default();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("impl") {
            d.implemented
                .extend(t.split(|c: char| !is_ident(c)).map(String::from));
            continue;
        }
        let t = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        let t = t.strip_prefix("unsafe ").unwrap_or(t);
        if let Some(rest) = KEYWORDS.iter().find_map(|k| t.strip_prefix(k)) {
            d.names.insert(first_word(rest).to_string());
            continue;
        }
        let word = first_word(t);
        let tail = t[word.len()..].trim_start();
        let field = tail.starts_with(':') && !tail.starts_with("::");
        let variant = word.starts_with(char::is_uppercase)
            && (tail.starts_with('{') || tail.starts_with('(') || tail.starts_with(','));
        if !word.is_empty() && (field || variant) {
            d.names.insert(word.to_string());
        }
    }
    d
}

/// The spans between backticks, with their line numbers.
fn quoted(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in doc.lines().enumerate() {
        let parts: Vec<&str> = line.split('`').collect();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 1 && i + 1 < parts.len() {
                out.push((n + 1, p.trim().to_string()));
            }
        }
    }
    out
}

/// What `doc` names that the sources (`files`) no longer have, one line
/// each.
fn stale(doc: &str, root: &Path, files: &[(String, String)]) -> Vec<String> {
    let defs: Vec<Defined> = files.iter().map(|(_, t)| defined(t)).collect();
    // Our types, and the files that define or implement each.
    let mut homes: BTreeMap<&str, Vec<&Defined>> = BTreeMap::new();
    for d in &defs {
        for name in d.names.iter().chain(&d.implemented) {
            if name.starts_with(char::is_uppercase) {
                homes.entry(name.as_str()).or_default().push(d);
            }
        }
    }
    let ours = |ty: &str| defs.iter().any(|d| d.names.contains(ty));
    let mut missing = Vec::new();
    for (line, q) in quoted(doc) {
        // A path of ours: `coordinator/round.rs`, `crates/shmr/tests/faults.rs`.
        if q.contains('/')
            && !q.contains(' ')
            && [".rs", ".md", ".sh", ".py"].iter().any(|e| q.ends_with(e))
        {
            let found = ["", "crates/shmr/src", "crates", "crates/shmr-bench"]
                .iter()
                .any(|base| root.join(base).join(&q).exists());
            if !found {
                missing.push(format!("line {line}: file `{q}`"));
            }
            continue;
        }
        // A source file by its name alone: `round.rs`.
        if q.ends_with(".rs") && !q.contains(['/', ' ']) {
            if !files.iter().any(|(name, _)| *name == q) {
                missing.push(format!("line {line}: file `{q}`"));
            }
            continue;
        }
        // `Type::member`, `Type::member(..)`: a member of one of our types.
        let head = q.split(['(', ' ', '<', '.']).next().unwrap_or("");
        let segments: Vec<&str> = head.split("::").collect();
        let [ty, member] = segments[..] else {
            continue;
        };
        let a_type = ty.starts_with(char::is_uppercase);
        if !a_type || member.is_empty() || !member.chars().all(is_ident) || !ours(ty) {
            continue;
        }
        let there = homes
            .get(ty)
            .is_some_and(|ds| ds.iter().any(|d| d.names.contains(member)));
        if !there {
            missing.push(format!(
                "line {line}: `{q}` ({member} is not defined with {ty})"
            ));
        }
    }
    missing
}

fn workspace() -> (PathBuf, Vec<(String, String)>) {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crates", "src", "examples", "tests", "benches"] {
        sources(&root.join(dir), &mut files);
    }
    (root, files)
}

#[test]
fn files_and_items_named_in_design_md_exist() {
    let (root, files) = workspace();
    let doc = std::fs::read_to_string(root.join("docs/design.md")).unwrap();
    let missing = stale(&doc, &root, &files);
    assert!(
        missing.is_empty(),
        "docs/design.md names what no longer exists:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_renamed_method_or_a_moved_file_is_caught() {
    let (root, files) = workspace();
    let doc = "The ring is read by `Slots::take` (`shm/slots.rs`), jobs live in `job.rs`; \
               `Slots::take_if` is real, and so are `coordinator/round.rs`, `round.rs` \
               and `MmapOptions::map_copy`, which is not ours.";
    let missing = stale(doc, &root, &files);
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(missing[0].contains("Slots::take`"), "{missing:?}");
    assert!(missing[1].contains("shm/slots.rs"), "{missing:?}");
    assert!(missing[2].contains("job.rs"), "{missing:?}");
}

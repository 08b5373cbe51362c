//! The modules of each library crate import each other as a DAG: no module reaches itself
//! through `use crate::...` (issue 13, "no import cycles inside a crate"). The top-level
//! modules are checked, and likewise the children of each folder module (`state/`).
//!
//! A cycle means two modules cannot be understood (or moved) one without the other; the fix
//! is to move what both need into a smaller module below them, or to pass it as a parameter.
//! The check reads the sources as text: `crate::<module>` paths (in `use` lines and inline),
//! `crate::<Item>` through the crate root's `pub use` re-exports, and a file-level
//! `use super::...` that climbs to the crate root. Comments and the `#[cfg(test)]` module at
//! the bottom of a file (and `tests.rs` files) are left out: test code may reach across
//! modules. A module's own root file (`lib.rs`, `mod.rs`) is not a node: it declares and
//! re-exports its children.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One source file: its path relative to `src/` (or to its parent module's folder, when a
/// folder module is checked), where it is for messages, and its text.
#[derive(Clone)]
struct Source {
    path: String,
    shown: String,
    text: String,
}

/// `from` uses `to` at `at` (file:line).
type Edges = BTreeMap<String, BTreeMap<String, String>>;

/// The top-level modules declared in `lib.rs` (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let name = rest.strip_prefix("mod ")?;
            let name = name.strip_suffix(';').or_else(|| name.strip_suffix(" {"))?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// Items the root re-exports from a local module (`pub use module::{A, B as C};`), by name.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let code = strip_comments(lib);
    let mut items = BTreeMap::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(start) = statement.find("use ") else {
            continue;
        };
        let path = statement[start + 4..].trim();
        let path = path
            .strip_prefix("crate::")
            .or_else(|| path.strip_prefix("self::"))
            .unwrap_or(path);
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        if !modules.contains(module) {
            continue;
        }
        let rest = rest.trim().trim_start_matches('{').trim_end_matches('}');
        for item in rest.split(',') {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            let name = name.rsplit("::").next().unwrap_or(name).trim();
            if !name.is_empty() && name != "self" {
                items.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    items
}

/// The text with `//` comments blanked (line structure kept, for line numbers).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text before a `#[cfg(test)]` that opens a module (the unit tests at the bottom).
fn without_test_module(text: &str) -> &str {
    let mut offset = 0;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim();
                next.starts_with("mod ") || next.starts_with("pub(crate) mod ")
            })
        {
            return &text[..offset];
        }
        offset += line.len() + 1;
    }
    text
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first identifier of `text` (after spaces).
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c| !is_ident(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first identifier of each item of a `{...}` group that `text` starts with.
fn group_heads(text: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut item_start = true;
    for (at, c) in text.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    item_start = true;
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if item_start && depth == 1 && is_ident(c) => {
                heads.push(ident(&text[at..]));
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// The names a file refers to at the crate root, with their line numbers: what follows
/// `crate::`, and what follows a file-level `use super::...` that climbs to the root (one
/// `super` in `a.rs` or `a/mod.rs`, two in `a/b.rs`, ...).
fn root_references(source: &Source) -> Vec<(String, usize)> {
    let code = strip_comments(without_test_module(&source.text));
    let depth = source.path.trim_end_matches("/mod.rs").matches('/').count() + 1;
    let to_root = format!("use {}", "super::".repeat(depth));
    let mut found = Vec::new();
    let mut scan = |at: usize, prefix_len: usize| {
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + prefix_len..];
        if rest.trim_start().starts_with('{') {
            for head in group_heads(rest) {
                found.push((head.to_owned(), line));
            }
        } else {
            found.push((ident(rest).to_owned(), line));
        }
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            continue;
        }
        scan(at, "crate::".len());
    }
    let mut offset = 0;
    for line in code.split('\n') {
        // File level only: inside an inline `mod`, `super` means something else.
        let visibility = ["", "pub ", "pub(crate) ", "pub(super) "];
        if let Some(prefix) = visibility
            .iter()
            .map(|v| format!("{v}{to_root}"))
            .find(|prefix| line.starts_with(prefix.as_str()))
        {
            // `super::super::` where one `super` was expected is not the root's child.
            if !line[prefix.len()..].starts_with("super::") {
                scan(offset, prefix.len());
            }
        }
        offset += line.len() + 1;
    }
    found
}

/// The edges between the top-level modules of one crate.
fn module_edges(sources: &[Source]) -> Edges {
    let lib = sources
        .iter()
        .find(|s| s.path == "lib.rs")
        .map_or("", |s| s.text.as_str());
    let modules = declared_modules(lib);
    let reexports = root_reexports(lib, &modules);
    let mut edges = Edges::new();
    for source in sources {
        let Some(from) = source
            .path
            .split('/')
            .next()
            .map(|head| head.trim_end_matches(".rs"))
            .filter(|head| modules.contains(*head))
        else {
            continue;
        };
        if source.path == "tests.rs" || source.path.ends_with("/tests.rs") {
            continue;
        }
        for (name, line) in root_references(source) {
            let to = if modules.contains(&name) {
                Some(name.as_str())
            } else {
                reexports.get(&name).map(String::as_str)
            };
            if let Some(to) = to.filter(|to| *to != from) {
                edges
                    .entry(from.to_owned())
                    .or_default()
                    .entry(to.to_owned())
                    .or_insert_with(|| format!("src/{}:{line}", source.shown));
            }
        }
    }
    edges
}

/// One cycle per strongly connected group of modules, as `a -> b (at) -> a (at)`.
fn cycles(edges: &Edges) -> Vec<String> {
    let nodes: BTreeSet<&String> = edges
        .iter()
        .flat_map(|(from, tos)| core::iter::once(from).chain(tos.keys()))
        .collect();
    let reaches = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&String> = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for next in edges.get(node).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|node| (*node, reaches(node))).collect();
    let mut reported = BTreeSet::new();
    let mut found = Vec::new();
    for node in &nodes {
        if reported.contains(*node) || !reach[node].contains(*node) {
            continue;
        }
        let group: BTreeSet<&String> = nodes
            .iter()
            .copied()
            .filter(|other| reach[node].contains(*other) && reach[other].contains(*node))
            .collect();
        reported.extend(group.iter().map(|n| (*n).clone()));
        // Shortest way back to `node`, for the message.
        let mut previous: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = VecDeque::from([*node]);
        'search: while let Some(at) = queue.pop_front() {
            for next in edges.get(at).into_iter().flat_map(BTreeMap::keys) {
                if next == *node {
                    previous.insert(node, at);
                    break 'search;
                }
                if group.contains(next) && !previous.contains_key(next) {
                    previous.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        let mut path = vec![*node];
        let mut at = previous[node];
        while at != *node {
            path.push(at);
            at = previous[at];
        }
        path.push(node);
        path.reverse();
        let mut text = (*node).clone();
        for pair in path.windows(2) {
            let _ = write!(text, " -> {} ({})", pair[1], edges[pair[0]][pair[1]]);
        }
        let members: Vec<&str> = group.iter().map(|s| s.as_str()).collect();
        found.push(format!("{{{}}}: {text}", members.join(", ")));
    }
    found
}

/// The cycles among the modules of `sources` (a crate, `scope` empty), and, recursively,
/// among the children of each folder module (`scope` then names it, as `state::`): its
/// `mod.rs` (or `<name>.rs`) plays the crate root and `crate::<name>::` means `crate::`.
fn nested_cycles(scope: &str, sources: &[Source]) -> Vec<String> {
    let mut found: Vec<String> = cycles(&module_edges(sources))
        .into_iter()
        .map(|cycle| format!("{scope}{cycle}"))
        .collect();
    let lib = sources
        .iter()
        .find(|s| s.path == "lib.rs")
        .map_or("", |s| s.text.as_str());
    for module in declared_modules(lib) {
        let folder = format!("{module}/");
        let Some(parent) = sources
            .iter()
            .find(|s| s.path == format!("{module}.rs") || s.path == format!("{folder}mod.rs"))
        else {
            continue;
        };
        // Paths into the rest of the crate must not be read as paths to siblings.
        let reroot = |text: &str| {
            text.replace("crate::", "outer_crate::")
                .replace(&format!("outer_crate::{module}::"), "crate::")
        };
        let mut inner: Vec<Source> = sources
            .iter()
            .filter(|s| s.path.starts_with(&folder) && s.path != format!("{folder}mod.rs"))
            .map(|s| Source {
                path: s.path[folder.len()..].to_owned(),
                shown: s.shown.clone(),
                text: reroot(&s.text),
            })
            .collect();
        if inner.is_empty() {
            continue;
        }
        inner.push(Source {
            path: "lib.rs".to_owned(),
            shown: parent.shown.clone(),
            text: reroot(&parent.text),
        });
        found.extend(nested_cycles(&format!("{scope}{module}::"), &inner));
    }
    found
}

/// Every `.rs` file under `dir`, with paths relative to `root`.
fn read_sources(root: &Path, dir: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(root, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(Source {
                shown: relative.clone(),
                path: relative,
                text: std::fs::read_to_string(&path).unwrap(),
            });
        }
    }
}

/// The cycles of every library crate of the workspace, by crate folder.
fn workspace_cycles() -> BTreeMap<String, Vec<String>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut all = BTreeMap::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(workspace)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file() && dir.join("src/lib.rs").is_file())
        .collect();
    crates.sort();
    for dir in crates {
        let src = dir.join("src");
        let mut sources = Vec::new();
        read_sources(&src, &src, &mut sources);
        sources.retain(|s| !s.path.starts_with("bin/") && s.path != "main.rs");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        all.insert(name, nested_cycles("", &sources));
    }
    all
}

#[test]
fn agent_modules_import_each_other_without_cycles() {
    let all = workspace_cycles();
    let agent = all.get("agent").expect("the agent crate is read");
    assert!(
        agent.is_empty(),
        "import cycles between agent's modules:\n{}",
        agent.join("\n")
    );
}

#[test]
fn library_crates_import_their_modules_without_cycles() {
    let mut failures = Vec::new();
    for (name, found) in workspace_cycles() {
        if found.is_empty() {
            continue;
        }
        failures.push(format!("{name}:\n  {}", found.join("\n  ")));
    }
    assert!(
        failures.is_empty(),
        "import cycles between modules:\n{}",
        failures.join("\n")
    );
}

fn source(path: &str, text: &str) -> Source {
    Source {
        shown: path.to_owned(),
        path: path.to_owned(),
        text: text.to_owned(),
    }
}

/// The check itself: a cycle through a grouped `use`, a root re-export and a file-level
/// `use super::` is found and named; test modules and comments are not read.
#[test]
fn finds_a_cycle_through_groups_reexports_and_super() {
    let lib = "mod a;\nmod b;\npub(crate) mod c;\npub use c::{Thing, Other as Renamed};\n";
    let sources = [
        source("lib.rs", lib),
        source("a.rs", "use crate::{b::X, std_like};\n"),
        source("b/mod.rs", "mod inner;\n"),
        source("b/inner.rs", "fn f() -> crate::Renamed { todo!() }\n"),
        source(
            "b/deeper.rs",
            "use super::inner;\nuse super::super::super::x;\n",
        ),
        source("c.rs", "use super::a::Y;\n// use crate::b;\n"),
    ];
    let found = cycles(&module_edges(&sources));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("{a, b, c}: a -> b (src/a.rs:1) -> c (src/b/inner.rs:1) -> a"),
        "{found:?}"
    );

    let acyclic = [
        source("lib.rs", lib),
        source("a.rs", "use crate::b::X;\n"),
        source("b/mod.rs", "use crate::c::Thing;\n"),
        source("b/leaf.rs", "use super::super::c::Other;\n"),
        source(
            "c.rs",
            "/// [`X`](crate::a::X)\nfn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
    ];
    assert!(cycles(&module_edges(&acyclic)).is_empty());

    let two_up = [
        source("lib.rs", "mod a;\nmod b;\n"),
        source("a.rs", "use crate::b::X;\n"),
        source("b/mod.rs", "mod x;\n"),
        source("b/x.rs", "use super::super::a::Y;\n"),
    ];
    let found = cycles(&module_edges(&two_up));
    assert_eq!(found, ["{a, b}: a -> b (src/a.rs:1) -> a (src/b/x.rs:1)"]);
}

/// Inside a folder module, siblings are checked the same way: `super::sibling` and
/// `crate::folder::sibling` are edges, a `crate::` path out of the folder is not.
#[test]
fn finds_a_cycle_between_the_children_of_a_folder_module() {
    let sources = [
        source("lib.rs", "mod a;\nmod b;\n"),
        source("a.rs", "fn f() {}\n"),
        source(
            "b/mod.rs",
            "mod x;\nmod y;\nmod a;\npub(crate) use y::Thing;\n",
        ),
        source("b/x.rs", "use super::Thing;\nuse crate::a::f;\n"),
        source("b/y.rs", "use crate::b::x::Other;\n"),
        source("b/a.rs", "fn g() {}\n"),
    ];
    assert!(cycles(&module_edges(&sources)).is_empty());
    assert_eq!(
        nested_cycles("", &sources),
        ["b::{x, y}: x -> y (src/b/x.rs:1) -> x (src/b/y.rs:1)"]
    );
}

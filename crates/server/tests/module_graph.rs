//! No crate of the workspace has an import cycle between its top-level modules (issue #13):
//! data flows one way (socket → session → hub → consumers → live edge → HTTP), and settings
//! are a leaf that no module imports back. Run it to see each crate's module graph:
//! `cargo test -p onair-server --test module_graph -- --nocapture`.
//!
//! The graph is read from the sources: module `a` depends on `b` when code of `a` (outside
//! comments and `#[cfg(test)]` modules) names `crate::b…`, including inside
//! `use crate::{b, c::D}` groups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `.rs` files of a top-level module: `src/NAME.rs` and everything under `src/NAME/`.
fn files_of(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// Source without comment lines and without what follows the first `#[cfg(test)]` (test
/// modules close our files).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `text` names through `crate::`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth 1 of the group: after `{` and after each `,` at that depth.
            let mut depth = 1;
            let mut expect = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect = true,
                    c if expect && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&group[j..]));
                        expect = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Module graph of one crate's `src/`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if (p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
            && !matches!(name.as_str(), "lib" | "main" | "bin")
        {
            modules.insert(name);
        }
    }
    let mut g = BTreeMap::new();
    for m in &modules {
        let mut deps = BTreeSet::new();
        for f in files_of(src, m) {
            let text = code(&std::fs::read_to_string(&f).unwrap());
            deps.extend(
                named_modules(&text)
                    .into_iter()
                    .filter(|d| d != m && modules.contains(d)),
            );
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// A cycle in `g`, if there is one (depth-first search with colours).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        v: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_owned(), 1);
        path.push(v.to_owned());
        for w in &g[v] {
            match state.get(w.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| p == w).unwrap();
                    let mut c = path[start..].to_vec();
                    c.push(w.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(g, w, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(v.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in g.keys() {
        if state.get(v.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(g, v, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_reader_sees_grouped_imports() {
    let text =
        code("use crate::{a, b::{X, Y}, c::d::E};\n// crate::commented\nfn f() { crate::g::h(); }");
    assert_eq!(
        named_modules(&text).into_iter().collect::<Vec<_>>(),
        ["a", "b", "c", "g"]
    );
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycle(&g).unwrap().len(), 4);
}

#[test]
fn no_crate_has_a_module_cycle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for e in std::fs::read_dir(&crates).unwrap().flatten() {
        let src = e.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let g = graph(&src);
        println!("crate {name}:");
        for (m, deps) in &g {
            println!(
                "  {m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(c) = cycle(&g) {
            panic!("crate {name} has a module cycle: {}", c.join(" -> "));
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} crates found under {crates:?}");
}

//! The layout holds: no module of the library reaches, through others, back
//! to itself. A cycle means two concepts that cannot be understood (or
//! changed) apart; this test names the first one it finds.
//!
//! What counts: `crate::<module>` paths in code (not comments), between the
//! top-level modules of `src/` (a file or a folder); test-only files and
//! `#[cfg(test)] mod tests` blocks are left out, as is the binary's `cli/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module → the top-level modules its code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        let mut list = Vec::new();
        if p.is_dir() {
            rust_files(&p, &mut list);
        } else {
            list.push(p);
        }
        files.entry(name).or_default().extend(list);
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, list) in &files {
        let mut to = BTreeSet::new();
        for f in list {
            let stem = f.file_stem().unwrap().to_string_lossy();
            if stem.starts_with("tests") || stem == "conformance" {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap();
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for part in line.split("crate::").skip(1) {
                    // `crate::x::…`, or a group: `crate::{x::…, y}`.
                    let group = part
                        .strip_prefix('{')
                        .map(|g| g.split('}').next().unwrap_or(g));
                    let heads: Vec<&str> = match group {
                        Some(g) => g.split(',').map(str::trim).collect(),
                        None => vec![part],
                    };
                    for head in heads {
                        let target: String = head
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if target != *m && names.contains(&target) {
                            to.insert(target);
                        }
                    }
                }
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// A cycle through `start`, as a path, if there is one.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_reaches_back_to_itself() {
    let g = graph();
    assert!(g.len() > 20, "found the modules: {:?}", g.keys());
    assert!(g["pipeline"].contains("store"), "found the edges: {g:?}");
    for m in g.keys() {
        if let Some(path) = cycle_from(&g, m) {
            panic!("module cycle: {}", path.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_owned()].into());
    g.insert("b".into(), ["c".to_owned()].into());
    g.insert("c".into(), ["a".to_owned()].into());
    assert_eq!(cycle_from(&g, "a").unwrap(), ["a", "b", "c", "a"]);
    g.insert("c".into(), BTreeSet::new());
    assert_eq!(cycle_from(&g, "a"), None);
}

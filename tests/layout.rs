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

/// The code of `text` without its `#[cfg(test)] mod tests` block, comment
/// lines, and the bodies of the functions named in `loaders` (they run
/// when the engine is built, before any decision: reading rule files,
/// templates, a holidays file).
fn deciding_code(text: &str, loaders: &[&str]) -> String {
    let code = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut out = String::new();
    let mut skip_until: Option<String> = None;
    for line in code.lines() {
        if let Some(end) = &skip_until {
            if line == end {
                skip_until = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if loaders
            .iter()
            .any(|f| trimmed.contains(&format!("fn {f}(")) || trimmed.contains(&format!("fn {f}<")))
        {
            let indent = &line[..line.len() - trimmed.len()];
            skip_until = Some(format!("{indent}}}"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Deciding reads no file, environment or clock, logs nothing and writes
/// nothing: it is handed `now`, the engine's loaded rules and templates and
/// a read-only view of the store, and returns what to change.
#[test]
fn deciding_touches_no_file_clock_environment_log_or_store_write() {
    // (file under src/, functions in it that load at start-up)
    let deciding: &[(&str, &[&str])] = &[
        ("pipeline/decide.rs", &[]),
        ("pipeline/apply.rs", &[]),
        ("pipeline/answer.rs", &[]),
        ("pipeline/outgoing.rs", &[]),
        ("pipeline/ticket.rs", &[]),
        ("pipeline/timing.rs", &[]),
        ("pipeline/rating.rs", &[]),
        ("rating.rs", &[]),
        // Not deciding, but as pure: the report's figures and its page.
        ("stats/mod.rs", &[]),
        ("stats/html.rs", &[]),
        ("thread.rs", &[]),
        ("classify.rs", &[]),
        ("lang.rs", &[]),
        ("outgoing/locale.rs", &[]),
        ("mail/written/mod.rs", &[]),
        ("mail/written/patterns.rs", &[]),
        ("agent/mod.rs", &[]),
        ("agent/command.rs", &[]),
        ("agent/problem.rs", &[]),
        ("agent/auth.rs", &[]),
        ("pacing.rs", &[]),
        ("sla/mod.rs", &[]),
        ("calendar.rs", &["from_cfg"]),
        ("rules/mod.rs", &["load_dir", "load_lists"]),
        ("rules/facts.rs", &[]),
        ("rules/fold.rs", &[]),
        ("rules/index.rs", &[]),
        ("outgoing/ack.rs", &[]),
        ("outgoing/compose.rs", &[]),
        ("outgoing/render.rs", &["load", "template_files"]),
        ("subject.rs", &[]),
        ("mail/parse.rs", &[]),
        ("mail/html.rs", &[]),
        ("mail/tnef.rs", &[]),
        ("text.rs", &[]),
        ("i18n/mod.rs", &[]),
        ("model.rs", &[]),
        // The timers: `decide` is theirs; `run`/`run_for` apply and log.
        ("autoclose.rs", &["run", "run_for"]),
        ("escalation.rs", &["run", "run_for"]),
    ];
    let forbidden = [
        "std::fs",
        "std::env",
        "File::",
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "tracing::",
        "println!",
        "eprintln!",
        ".commit(",
        ".commit_all(",
        "put_raw(",
        "allocate_ticket_id(",
        "set_meta(",
        "init_meta(",
        "SystemRandom",
        "put_outbox(",
        "set_checkpoint(",
        "flush(",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (file, loaders) in deciding {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let code = deciding_code(&text, loaders);
        assert!(code.len() > 200, "{file}: read {} bytes", code.len());
        for (n, line) in code.lines().enumerate() {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!(
                        "{file}: {f} in {:?} (code line {})",
                        line.trim(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "deciding code does I/O:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_io_check_sees_io_and_skips_loaders() {
    let text = "fn a() {\n    let x = std::fs::read(p);\n}\nfn load(p: &Path) {\n    std::fs::read(p);\n}\n// std::env in a comment\n#[cfg(test)]\nmod tests {\n    std::env::var(\"X\");\n}\n";
    let code = deciding_code(text, &["load"]);
    assert!(code.contains("std::fs::read(p)"), "{code}");
    assert_eq!(code.matches("std::fs").count(), 1, "{code}");
    assert!(!code.contains("std::env"), "{code}");
}

/// The backends' engines are the store's business: nothing outside
/// `src/store/` names the embedded one, in code or in comments, or uses
/// the server one's client or types (a `postgres://` URL in the config is
/// the admin's word, and the store reads it).
#[test]
fn only_the_store_names_its_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let store = src.join("store");
    let mut found = Vec::new();
    let mut read = 0;
    for f in files.iter().filter(|f| !f.starts_with(&store)) {
        read += 1;
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let l = line.to_lowercase();
            if l.contains("sled") || l.contains("postgres::") || l.contains("pgstore") {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(read > 50, "read {read} files");
    assert!(
        found.is_empty(),
        "the engine named outside src/store/:\n{}",
        found.join("\n")
    );
}

//! Thousands of broken messages through `run --once`: the repository's
//! fixtures and the shared corpus of real mail (when it is beside the
//! project), each mutated several ways (truncation, byte flips, duplicated
//! headers, CR/LF/NUL in names, huge headers, deep MIME, junk in the header
//! block, broken encoded words). Nothing may panic (a panic caught and
//! quarantined still fails this test), every message must come out with an
//! outcome and a reason, and the good messages, given first, are all
//! ticketed as they would be alone.

mod common;

use common::Sandbox;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// xorshift64*: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn header_end(m: &[u8]) -> usize {
    m.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| m.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(m.len())
}

/// One mutation of `m`, named.
fn mutate(m: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let head = header_end(m);
    match rng.below(9) {
        0 => ("truncated", m[..rng.below(m.len())].to_vec()),
        1 => {
            let mut v = m.to_vec();
            for _ in 0..1 + rng.below(12) {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
            ("bytes flipped", v)
        }
        2 => {
            // A header line repeated many times.
            let lines: Vec<&[u8]> = m[..head].split(|&b| b == b'\n').collect();
            let pick = lines[rng.below(lines.len())];
            let mut v = Vec::new();
            for _ in 0..2 + rng.below(300) {
                v.extend_from_slice(pick);
                v.push(b'\n');
            }
            v.extend_from_slice(m);
            ("header duplicated", v)
        }
        3 => {
            let evil = [
                "=?utf-8?Q?Eve=0D=0ABcc:_x@evil.example?=",
                "=?utf-8?Q?Nul=00Name?=",
                "=?utf-8?B?RXZlDQpYLUluamVjdGVkOiB5ZXM=?=",
                "Bare\rCR",
                "=?iso-8859-2?Q?Zaz=BF=F3=B3=E6=0A?=",
            ];
            let name = evil[rng.below(evil.len())];
            let mut v = format!(
                "From: {name} <evil@mut.example>\r\nReply-To: {name} <evil2@mut.example>\r\n"
            )
            .into_bytes();
            v.extend_from_slice(m);
            ("control characters in names", v)
        }
        4 => {
            let mut v = if rng.below(2) == 0 {
                let mut refs = String::from("References:");
                for i in 0..20_000 {
                    refs.push_str(&format!(" <r{i}@mut.example>"));
                }
                refs.into_bytes()
            } else {
                format!("X-Big: {}", "y".repeat(300_000)).into_bytes()
            };
            v.extend_from_slice(b"\r\n");
            v.extend_from_slice(m);
            ("huge header", v)
        }
        5 => {
            let depth = 10 + rng.below(200);
            let mut v = b"From: deep@mut.example\r\nSubject: deep\r\n".to_vec();
            for i in 0..depth {
                if rng.below(2) == 0 {
                    v.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
                } else {
                    v.extend_from_slice(
                        format!(
                            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
                        )
                        .as_bytes(),
                    );
                }
            }
            v.extend_from_slice(m);
            ("deep MIME", v)
        }
        6 => {
            let mut v = m.to_vec();
            let at = rng.below(head.max(1));
            let junk: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next() as u8).collect();
            v.splice(at..at, junk);
            ("junk in the header block", v)
        }
        7 => {
            let broken = [
                "=?utf-8?B?////?=",
                "=?unknown-charset?Q?abc?=",
                "=?utf-8?Q?=E2=82?=",
                "=?windows-1255?B?6uXj5A?=",
                "=?",
            ];
            let mut v = format!("Subject: {}\r\n", broken[rng.below(broken.len())]).into_bytes();
            v.extend_from_slice(m);
            ("broken encoded words", v)
        }
        _ => {
            // Line endings mixed up.
            let v: Vec<u8> = m
                .iter()
                .flat_map(|&b| match b {
                    b'\n' if rng.below(3) == 0 => vec![b'\r'],
                    b'\r' => vec![],
                    other => vec![other],
                })
                .collect();
            ("line endings mixed", v)
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let fixtures = Path::new(common::REPO).join("tests/fixtures");
    for e in std::fs::read_dir(&fixtures).unwrap().flatten() {
        out.push((
            e.path().display().to_string(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    let corpus = Path::new(common::REPO).join("../shared/corpus");
    if !corpus.is_dir() {
        eprintln!("the shared corpus is not beside the project: mutating the fixtures only");
        return out;
    }
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus, &mut files);
    files.sort();
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().to_lowercase();
        let skip = [".json", ".yml", ".md", ".html"]
            .iter()
            .any(|s| name.ends_with(s))
            || name.starts_with("license");
        if skip {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&p)
            && bytes.len() <= 200_000
        {
            out.push((p.display().to_string(), bytes));
        }
    }
    out
}

#[test]
fn thousands_of_mutated_messages_never_panic_and_all_get_an_outcome() {
    let sb = Sandbox::new(
        "[ack]\nmax_per_sender_per_hour = 100000\nmax_per_sender_per_day = 100000\n\
         same_text_days = 0\nmax_per_domain_per_day = 100\n",
    );
    let seeds = seeds();
    // The good messages first (the repository's fixtures, as they are).
    let mut n = 0;
    let mut kinds: HashMap<String, &'static str> = HashMap::new();
    let fixtures: Vec<&(String, Vec<u8>)> = seeds
        .iter()
        .filter(|(p, _)| p.contains("tests/fixtures"))
        .collect();
    let mut good = Vec::new();
    for (path, bytes) in &fixtures {
        let f = sb.deliver(n, bytes);
        good.push((f.display().to_string(), path.clone()));
        n += 1;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (_, bytes) in &seeds {
        for _ in 0..3 {
            let (kind, m) = mutate(bytes, &mut rng);
            let f = sb.deliver(n, &m);
            kinds.insert(f.display().to_string(), kind);
            n += 1;
        }
    }
    eprintln!("{} seeds, {} mutated messages", seeds.len(), kinds.len());
    assert!(kinds.len() >= 40, "too few messages to mean anything");

    let out = sb
        .command(&["run", "--once"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run --once failed:\n{}", tail(&log));
    assert!(!log.contains("panicked"), "a panic:\n{}", panics(&log));

    // Every message has exactly one outcome, with a reason.
    let mut outcome: HashMap<String, (String, String)> = HashMap::new();
    for line in log.lines().filter(|l| l.contains(" processed ")) {
        let field = |name: &str| -> String {
            let Some(at) = line.find(&format!(" {name}=")) else {
                return String::new();
            };
            let rest = &line[at + name.len() + 2..];
            let end = [" outcome=", " origin=", " reason=", " ticket="]
                .iter()
                .filter_map(|k| rest.find(k))
                .min()
                .unwrap_or(rest.len());
            rest[..end].trim_matches('"').to_owned()
        };
        outcome.insert(field("origin"), (field("outcome"), field("reason")));
    }
    let mut by_kind: HashMap<(&str, String), usize> = HashMap::new();
    for (file, kind) in &kinds {
        let (o, reason) = outcome
            .get(file)
            .unwrap_or_else(|| panic!("{file} ({kind}) has no outcome"));
        assert!(!reason.is_empty(), "{file} ({kind}): {o} without a reason");
        assert!(
            !reason.starts_with("internal error"),
            "{file} ({kind}) panicked: {reason}"
        );
        *by_kind.entry((kind, o.clone())).or_default() += 1;
    }
    let mut summary: Vec<_> = by_kind.into_iter().collect();
    summary.sort();
    for ((kind, o), count) in &summary {
        eprintln!("  {kind:<28} {o:<11} {count}");
    }
    // The good ones were ticketed as they are alone: people's mail opens
    // or joins a ticket; automatic mail may also be ignored; only the one
    // that is no mail at all is quarantined.
    for (file, fixture) in &good {
        let (o, reason) = &outcome[file];
        let automatic = ["auto-reply", "dsn-bounce", "list-mail"]
            .iter()
            .any(|a| fixture.contains(a));
        let fine = match o.as_str() {
            "created" | "appended" => true,
            "ignored" => automatic,
            "quarantined" => fixture.contains("not-mail"),
            _ => false,
        };
        assert!(fine, "{fixture}: {o} ({reason})");
    }
    // Nothing left half-done.
    let store = ticketbox::store::DiskStore::open(&sb.path("data"), 1000).unwrap();
    assert!(ticketbox::store::View::pending(&store).unwrap().is_empty());
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn panics(log: &str) -> String {
    log.lines()
        .filter(|l| l.contains("panicked"))
        .take(10)
        .collect::<Vec<_>>()
        .join("\n")
}

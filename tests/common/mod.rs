//! Helpers shared by the integration tests: a sandbox directory with a
//! config, a Maildir and the real `ticketbox` binary.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_ticketbox");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A sandbox whose config uses the repository's rules and templates and
    /// keeps data, outbox and Maildir inside the sandbox. `extra` is
    /// appended to the config (TOML).
    pub fn new(extra: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Sandbox { dir };
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(s.maildir().join(sub)).expect("maildir");
        }
        let config = format!(
            "data_dir = {data:?}\nrules_dir = {rules:?}\ntemplates_dir = {templates:?}\n{extra}\n\
             [intake]\nmaildir = {maildir:?}\n[outbox]\ndir = {outbox:?}\n",
            data = s.path("data"),
            rules = Path::new(REPO).join("rules"),
            templates = Path::new(REPO).join("templates"),
            maildir = s.maildir(),
            outbox = s.path("outbox"),
        );
        std::fs::write(s.path("ticketbox.toml"), config).expect("config");
        s
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn maildir(&self) -> PathBuf {
        self.path("Maildir")
    }

    /// Delivers `bytes` into `Maildir/new` under a name that sorts by `n`.
    pub fn deliver(&self, n: usize, bytes: &[u8]) -> PathBuf {
        let tmp = self
            .maildir()
            .join("tmp")
            .join(format!("{:010}.M{n}P1.test", 1_795_800_000 + n));
        std::fs::write(&tmp, bytes).expect("write tmp");
        let new = self
            .maildir()
            .join("new")
            .join(tmp.file_name().expect("name"));
        std::fs::rename(&tmp, &new).expect("rename into new");
        new
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.path("ticketbox.toml"))
            .args(args);
        c.env("RUST_LOG", "warn");
        c
    }

    /// Runs ticketbox and insists it succeeded.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("spawn ticketbox");
        assert!(
            out.status.success(),
            "ticketbox {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// JSON lines (one object per line) from `ingest --json`.
    pub fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let out = self.run(args);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// The `.eml` files the file transport wrote.
    pub fn outbox_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.path("outbox")) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "eml") {
                    out.push(std::fs::read_to_string(e.path()).expect("read outbox file"));
                }
            }
        }
        out
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(REPO).join("tests/fixtures").join(name)).expect("fixture")
}

/// The value of a header in a raw message (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let mut lines = raw.lines();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    while let Some(l) = lines.next() {
        if l.is_empty() {
            return None;
        }
        if l.to_ascii_lowercase().starts_with(&prefix) {
            let mut v = l[prefix.len()..].trim().to_owned();
            for cont in lines.by_ref() {
                if cont.starts_with([' ', '\t']) {
                    v.push(' ');
                    v.push_str(cont.trim());
                } else {
                    break;
                }
            }
            return Some(v);
        }
    }
    None
}

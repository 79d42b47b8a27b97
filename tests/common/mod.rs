//! Helpers shared by the integration tests: a sandbox directory with a
//! config, a Maildir and the real `ticketbox` binary.
#![allow(dead_code)]

pub mod browser;
pub mod fake_imap;
#[allow(dead_code)]
pub mod fake_oauth;
pub mod fake_smtp;
pub mod mailstack;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_ticketbox");

/// Accepts connections on `listener` until `stop` is set, each served by
/// `serve(stream, n)` on a thread of its own (`n` counts from 0): the
/// loop of the fake servers.
pub fn accept_loop(
    listener: std::net::TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    serve: impl Fn(std::net::TcpStream, usize) + Send + Sync + 'static,
) {
    let serve = std::sync::Arc::new(serve);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let Ok(stream) = stream else { continue };
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream, n));
        }
    });
}
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
        let outbox = if extra.contains("[outbox]") {
            String::new()
        } else {
            format!("[outbox]\ndir = {:?}\n", s.path("outbox"))
        };
        // Top-level keys of `extra` must come before any table.
        let split = extra
            .lines()
            .position(|l| l.trim_start().starts_with('['))
            .unwrap_or(extra.lines().count());
        let lines: Vec<&str> = extra.lines().collect();
        let (top, tables) = (lines[..split].join("\n"), lines[split..].join("\n"));
        let config = format!(
            "data_dir = {data:?}\nrules_dir = {rules:?}\ntemplates_dir = {templates:?}\n{top}\n\
             [intake]\nmaildir = {maildir:?}\n{outbox}{tables}\n",
            data = s.path("data"),
            rules = Path::new(REPO).join("rules"),
            templates = Path::new(REPO).join("templates"),
            maildir = s.maildir(),
        );
        std::fs::write(s.path("ticketbox.toml"), config).expect("config");
        s
    }

    /// A sandbox whose store is a fresh PostgreSQL database (its password
    /// in a file, as an admin keeps it), or none when no test server is
    /// configured (see `tests/pg/pg.sh`). The database goes with the
    /// returned handle.
    #[allow(dead_code)]
    pub fn on_server_store(extra: &str) -> Option<(Sandbox, ticketbox::store::TestDatabase)> {
        let db = ticketbox::store::TestDatabase::new()?;
        let (url, password) = db.url_and_password();
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("db-password");
        std::fs::write(&secret, format!("{password}\n")).expect("password file");
        let store = format!("[store]\nurl = {url:?}\npassword_file = {secret:?}\n");
        // `extra` may have a [store] table of its own (lease_seconds …).
        let sb = Sandbox::new(&if extra.contains("[store]\n") {
            extra.replacen("[store]\n", &store, 1)
        } else {
            format!("{extra}\n{store}")
        });
        // The password file lives beside the sandbox's own files.
        std::fs::rename(&secret, sb.path("db-password")).expect("password file");
        let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).expect("config");
        let cfg = cfg.replace(
            &format!("{secret:?}"),
            &format!("{:?}", sb.path("db-password")),
        );
        std::fs::write(sb.path("ticketbox.toml"), cfg).expect("config");
        Some((sb, db))
    }

    /// Another worker's sandbox on the same store, mailboxes and outbox:
    /// this one's config with a data directory of its own (its control
    /// socket).
    #[allow(dead_code)]
    pub fn another_worker(&self) -> Sandbox {
        let b = Sandbox::new("");
        let cfg = std::fs::read_to_string(self.path("ticketbox.toml")).expect("config");
        let cfg = cfg.replace(
            &format!("data_dir = {:?}", self.path("data")),
            &format!("data_dir = {:?}", b.path("data")),
        );
        assert!(cfg.contains(&format!("{:?}", b.path("data"))));
        std::fs::write(b.path("ticketbox.toml"), cfg).expect("config");
        b
    }

    /// Gives the sandbox its own copy of the repository's rules (to edit)
    /// and points the config at it.
    pub fn own_rules(&self) -> PathBuf {
        let dir = self.path("rules");
        copy_dir(&Path::new(REPO).join("rules"), &dir);
        let cfg = std::fs::read_to_string(self.path("ticketbox.toml")).expect("config");
        let old = format!("rules_dir = {:?}", Path::new(REPO).join("rules"));
        let new = format!("rules_dir = {dir:?}");
        std::fs::write(self.path("ticketbox.toml"), cfg.replace(&old, &new)).expect("config");
        dir
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
        c.env("TB_TEST_PASSWORD", mailstack::PASSWORD);
        c
    }

    /// Starts `ticketbox run` in the background, logging to `worker.log`.
    pub fn start_worker(&self, extra_args: &[&str]) -> Running {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("worker.log"))
            .expect("worker log");
        let mut args = vec!["run"];
        args.extend_from_slice(extra_args);
        let child = self
            .command(&args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker");
        Running {
            child: Some(child),
            log: self.path("worker.log"),
        }
    }

    pub fn worker_log(&self) -> String {
        std::fs::read_to_string(self.path("worker.log")).unwrap_or_default()
    }

    /// Runs ticketbox with `input` on its stdin, whatever its exit status.
    #[allow(dead_code)]
    pub fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn ticketbox");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("ticketbox")
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

/// A background `ticketbox run`; killed when dropped.
pub struct Running {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGTERM, then waits (up to 20 s) for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < end {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "worker ignored SIGTERM for 20 s; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

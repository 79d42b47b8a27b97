//! A full disk is survivable: the store and the file outbox on a small
//! tmpfs. Intake stops before the disk is full and says so (the mail stays
//! in the Maildir); read commands on a full disk refuse with a clear error
//! instead of writing; once space is freed the store opens, every message
//! is ticketed once and acknowledged once. With only the outbox's disk
//! full, deliveries wait and `run --once` says so in its exit status.
//!
//! Needs root (to mount a tmpfs); skipped with a message otherwise.

mod common;

use common::Sandbox;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Option<Tmpfs> {
        // SAFETY: geteuid only reads the process's effective user id.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs to fill needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: mount -t tmpfs failed (no privilege in this container?)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Fills the disk but for `leave` bytes (all of it with 0); returns the
    /// filler's path.
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let free = ticketbox::space::free_bytes(self.dir.path()).unwrap();
        let path = self.path(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![7u8; 64 << 10];
        let mut left = free.saturating_sub(leave);
        use std::io::Write;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn message(i: usize) -> String {
    format!(
        "From: Customer {i} <c{i}@d{}.example>\r\nTo: support@example.com\r\n\
         Subject: Order {i} is late\r\nMessage-ID: <full-{i}@d.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n\
         Hello, my order {i} has not arrived. {}\r\n",
        i % 97,
        "Some more words about the order. ".repeat(40)
    )
}

fn run_once(sb: &Sandbox) -> Output {
    sb.command(&["run", "--once"]).output().expect("spawn")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_unfinished_snapshot(data: &Path) {
    for e in std::fs::read_dir(data).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".generating"), "{name} left behind");
    }
}

const N: usize = 1500;

/// A sandbox whose store and outbox are on the tmpfs, with N messages in
/// its Maildir (the config is written whole: the sandbox's own names other
/// directories).
fn on_tmpfs(fs: &Tmpfs, min_free_mib: u64) -> Sandbox {
    let sb = Sandbox::new("");
    let cfg = format!(
        "data_dir = {data:?}\nrules_dir = {rules:?}\ntemplates_dir = {templates:?}\n\
         [ack]\nsame_text_days = 0\n\
         [intake]\nmaildir = {maildir:?}\nmin_free_mib = {min_free_mib}\n\
         [outbox]\ndir = {outbox:?}\nretry_base_seconds = 1\n",
        data = fs.path("data"),
        rules = Path::new(common::REPO).join("rules"),
        templates = Path::new(common::REPO).join("templates"),
        maildir = sb.maildir(),
        outbox = fs.path("outbox"),
    );
    std::fs::write(sb.path("ticketbox.toml"), cfg).unwrap();
    for i in 0..N {
        sb.deliver(i, message(i).as_bytes());
    }
    sb
}

#[test]
fn a_full_disk_pauses_intake_and_nothing_is_lost_or_doubled() {
    let Some(fs) = Tmpfs::mount(64) else {
        return;
    };
    let sb = on_tmpfs(&fs, 8);

    // Room for part of the mail only.
    let filler = fs.fill("filler", 12 << 20);
    let first = run_once(&sb);
    assert!(!first.status.success(), "intake should have paused");
    let why = stderr(&first);
    assert!(why.contains("intake paused"), "{why}");
    assert!(why.contains("KiB free"), "{why}");
    assert!(
        !why.contains("No space left"),
        "the disk filled before intake paused: {why}"
    );
    let partial = sb.json(&["tickets", "--json"]).as_array().unwrap().len();
    assert!(
        partial > 0 && partial < N,
        "{partial} tickets before the disk filled"
    );

    // Now truly full: commands that read refuse, clearly, and write nothing.
    let rest = fs.fill("filler2", 0);
    for args in [&["tickets"][..], &["show", "1000"], &["outbox"]] {
        let out = sb.command(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} on a full disk");
        let e = stderr(&out);
        assert!(e.contains("free some space"), "{args:?}: {e}");
    }
    let full = run_once(&sb);
    assert!(!full.status.success());
    assert!(
        stderr(&full).contains("free some space"),
        "{}",
        stderr(&full)
    );
    no_unfinished_snapshot(&fs.path("data"));

    // Space back: everything is ticketed, each message once.
    std::fs::remove_file(rest).unwrap();
    std::fs::remove_file(filler).unwrap();
    // Acknowledgements that met the full disk are due again a second on.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let last = run_once(&sb);
    assert!(last.status.success(), "{}", stderr(&last));
    let tickets = sb.json(&["tickets", "--json"]);
    let tickets = tickets.as_array().unwrap();
    assert_eq!(tickets.len(), N, "one ticket per message");
    let mut subjects: Vec<&str> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), N, "no message ticketed twice");
    // One acknowledgement per ticket, each delivered once (the file
    // outbox names files after their content: a repeat would replace).
    let outbox = sb.json(&["outbox", "--json"]);
    let acks: Vec<_> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["purpose"] == "acknowledgement")
        .collect();
    assert_eq!(acks.len(), N);
    assert!(acks.iter().all(|e| e["state"] == "sent"));
    let files = std::fs::read_dir(fs.path("outbox")).unwrap().count();
    assert_eq!(files, N);
}

#[test]
fn a_full_outbox_disk_keeps_mail_waiting_and_says_so() {
    let Some(fs) = Tmpfs::mount(8) else {
        return;
    };
    let sb = Sandbox::new(&format!(
        "[ack]\nsame_text_days = 0\n[outbox]\ndir = {:?}\nretry_base_seconds = 1\n",
        fs.path("outbox")
    ));
    for i in 0..20 {
        sb.deliver(i, message(i).as_bytes());
    }
    std::fs::create_dir_all(fs.path("outbox")).unwrap();
    let filler = fs.fill("filler", 0);
    let out = run_once(&sb);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not be delivered yet"));
    let outbox = sb.json(&["outbox", "--json"]);
    let waiting: Vec<_> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"] == "pending")
        .collect();
    assert_eq!(waiting.len(), 20, "every acknowledgement waits");
    let why = waiting[0]["last_error"].as_str().unwrap();
    assert!(why.contains("waits until there is room"), "{why}");
    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let out = run_once(&sb);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(fs.path("outbox")).unwrap().count(), 20);
}

/// The disk filled by someone else, below the intake guard: sled stops
/// taking writes for good, the worker stops with that reason (instead of
/// refusing batch after batch), and a restart once there is room finishes
/// the work with nothing lost or doubled.
#[test]
fn a_store_that_meets_a_full_disk_stops_the_worker_and_recovers_after() {
    let Some(fs) = Tmpfs::mount(64) else {
        return;
    };
    let sb = on_tmpfs(&fs, 0);
    let filler = fs.fill("filler", 5 << 20);
    let worker = sb.start_worker(&[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut worker = Some(worker);
    while worker.as_mut().unwrap().is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker went on after the store failed; log:\n{}",
            sb.worker_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(worker.take());
    let log = sb.worker_log();
    assert!(log.contains("the store takes no more writes"), "{log}");
    assert!(log.contains("free some space"), "{log}");

    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = run_once(&sb);
    assert!(out.status.success(), "{}", stderr(&out));
    let tickets = sb.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), N);
    let outbox = sb.json(&["outbox", "--json"]);
    let acks = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["purpose"] == "acknowledgement")
        .count();
    assert_eq!(acks, N, "one acknowledgement per ticket");
    assert_eq!(std::fs::read_dir(fs.path("outbox")).unwrap().count(), N);
}

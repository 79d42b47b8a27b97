//! Customer mail and secrets stay private: everything the worker writes is
//! its owner's alone whatever the umask it was started with, and a trace-
//! level log never shows a password (the IMAP side, against Dovecot, is in
//! tests/mailstack_faults.rs).

mod common;

use common::Sandbox;
use common::fake_smtp::{Behaviour, FakeSmtp};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn modes_under(dir: &Path, found: &mut Vec<(String, u32)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        found.push((p.display().to_string(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            modes_under(&p, found);
        }
    }
}

/// `ticketbox run --once` started with `umask`.
fn with_umask(umask: &str, sb: &Sandbox) -> std::process::Command {
    let cmd = format!(
        "umask {umask} && exec {} --config {} run --once",
        common::BIN,
        sb.path("ticketbox.toml").display()
    );
    let mut c = std::process::Command::new("sh");
    c.args(["-c", &cmd]);
    c
}

#[test]
fn everything_written_is_the_owners_alone_whatever_the_umask() {
    let fake = FakeSmtp::start(Behaviour::default());
    let sb = Sandbox::new(
        &fake.config("user = \"support@example.com\"\npassword_env = \"TB_SMTP_SECRET\"\n"),
    );
    for i in 0..5 {
        let m = format!(
            "From: c{i}@c.example\r\nTo: support@example.com\r\nSubject: Order {i}\r\n\
             Message-ID: <p{i}@c.example>\r\n\r\nWhere is order {i}?\r\n"
        );
        sb.deliver(i, m.as_bytes());
    }
    // A big one is a file of its own under data/raw.
    let big = format!(
        "From: big@c.example\r\nTo: support@example.com\r\nSubject: Logs\r\n\
         Message-ID: <big@c.example>\r\n\r\n{}\r\n",
        "log line\r\n".repeat(40_000)
    );
    sb.deliver(9, big.as_bytes());
    let password = "Tr4ce-Me-If-You-Can";
    let out = with_umask("022", &sb)
        .env("TB_SMTP_SECRET", password)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fake.received().len(), 6);
    assert!(!fake.auth_seen().is_empty(), "the client authenticated");

    let mut found = Vec::new();
    modes_under(&sb.path("data"), &mut found);
    assert!(found.iter().any(|(p, _)| p.contains("/raw/")), "{found:?}");
    let data_mode = std::fs::metadata(sb.path("data"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(data_mode, 0o700);
    for (p, mode) in &found {
        assert_eq!(mode & 0o077, 0, "{p} has mode {mode:o}");
    }
    // SMTP delivered here, so no outbox files; the file outbox is checked
    // too below.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("TRACE"), "a trace-level log");
    assert!(!log.contains(password), "the password is in the log");
    for blob in fake.auth_seen() {
        assert!(!log.contains(&blob), "the AUTH blob is in the log");
    }

    // The file outbox: directory and files the owner's alone.
    let sb = Sandbox::new("");
    sb.deliver(
        0,
        b"From: a@c.example\r\nSubject: x\r\nMessage-ID: <f@c>\r\n\r\nHello\r\n",
    );
    let cmd = format!(
        "umask 000 && exec {} --config {} run --once",
        common::BIN,
        sb.path("ticketbox.toml").display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found = Vec::new();
    modes_under(&sb.path("outbox"), &mut found);
    modes_under(&sb.path("data"), &mut found);
    assert!(!found.is_empty());
    for (p, mode) in &found {
        assert_eq!(mode & 0o077, 0, "{p} has mode {mode:o}");
    }
    let outbox_mode = std::fs::metadata(sb.path("outbox"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(outbox_mode, 0o700);
}

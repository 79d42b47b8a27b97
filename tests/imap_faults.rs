//! IMAP servers as they are: the real binary reading a fake IMAP server of
//! our own on 127.0.0.1 (tests/common/fake_imap.rs) that goes silent, never
//! greets, refuses one message or every move, has no IDLE, or wants its
//! folder names in modified UTF-7.

mod common;

use common::Sandbox;
use common::fake_imap::{Behaviour, FakeImap};
use std::time::{Duration, Instant};

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: Customer {i} <c{i}@imap.example>\r\nTo: support@example.com\r\n\
         Subject: Question {i}\r\nMessage-ID: <imap-{i}@imap.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello, question {i}.\r\n"
    )
    .into_bytes()
}

fn sandbox(fake: &FakeImap, folder: &str, extra: &str) -> Sandbox {
    Sandbox::new(&fake.mailbox_config(folder, extra))
}

fn tickets(sb: &Sandbox) -> usize {
    sb.json(&["tickets", "--json"]).as_array().unwrap().len()
}

fn wait_for(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ok()
}

/// Starts a worker and waits until it has connected (a command run while
/// a worker creates a new store could meet it half-made).
fn start(sb: &Sandbox) -> common::Running {
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(20, || sb.worker_log().contains("connected")),
        "{}",
        sb.worker_log()
    );
    worker
}

fn run_once(sb: &Sandbox) -> std::process::Output {
    sb.command(&["run", "--once"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

#[test]
fn a_silent_connection_is_noticed_and_intake_resumes_within_a_minute() {
    let fake = FakeImap::start(Behaviour {
        silent_in_idle: 1,
        ..Behaviour::default()
    });
    fake.deliver(&message(1));
    let sb = sandbox(
        &fake,
        "INBOX",
        "idle_renew_seconds = 10\ntimeout_seconds = 10\n",
    );
    let worker = start(&sb);
    assert!(wait_for(20, || tickets(&sb) == 1), "{}", sb.worker_log());
    // The connection is idling now, and the server has gone silent.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    fake.deliver(&message(2));
    assert!(
        wait_for(60, || tickets(&sb) == 2),
        "the new mail was not read within a minute; log:\n{}",
        sb.worker_log()
    );
    let took = sent.elapsed();
    eprintln!("a silent connection noticed and the mail read {took:?} after it arrived");
    assert!(took < Duration::from_secs(60));
    let log = sb.worker_log();
    assert!(log.contains("no answer to DONE"), "{log}");
    assert!(fake.connections() >= 2);
    assert!(worker.stop().success());
}

#[test]
fn a_server_that_never_greets_is_given_up_on_and_tried_again() {
    let fake = FakeImap::start(Behaviour {
        no_greeting: 1,
        ..Behaviour::default()
    });
    fake.deliver(&message(1));
    let sb = sandbox(&fake, "INBOX", "timeout_seconds = 2\n");
    let out = run_once(&sb);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer to the greeting"));
    assert_eq!(tickets(&sb), 1);
}

#[test]
fn sigterm_ends_the_worker_within_seconds_whatever_the_server_does() {
    let fake = FakeImap::start(Behaviour {
        silent_in_idle: 100,
        ..Behaviour::default()
    });
    fake.deliver(&message(1));
    // Long timeouts: only shutdown can end this wait.
    let sb = sandbox(
        &fake,
        "INBOX",
        "idle_renew_seconds = 1\ntimeout_seconds = 600\n",
    );
    let worker = start(&sb);
    assert!(wait_for(20, || tickets(&sb) == 1), "{}", sb.worker_log());
    // Renewed IDLE once: the DONE now hangs on a silent server.
    std::thread::sleep(Duration::from_secs(3));
    let asked = Instant::now();
    assert!(worker.stop().success());
    let took = asked.elapsed();
    eprintln!("SIGTERM on a silent connection: stopped in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn an_unreadable_message_is_quarantined_and_the_rest_flows() {
    let fake = FakeImap::start(Behaviour {
        unreadable: [2].into(),
        ..Behaviour::default()
    });
    for i in 1..=3 {
        fake.deliver(&message(i));
    }
    let sb = sandbox(&fake, "INBOX", "");
    let out = run_once(&sb);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tickets(&sb), 2);
    let q = sb.json(&["quarantine", "--json"]);
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 1);
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains("SERVERBUG"), "{reason}");
    assert_eq!(q[0]["origin"], "imap:fake/2");
    // What was stored is flagged; the unreadable one is left for a person.
    assert_eq!(fake.seen(), [1, 3]);
    // Not asked for again: the checkpoint is past it.
    let before = fake.commands().len();
    let out = run_once(&sb);
    assert!(out.status.success());
    let again: Vec<String> = fake.commands()[before..]
        .iter()
        .filter(|c| c.contains("BODY.PEEK"))
        .cloned()
        .collect();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        sb.json(&["quarantine", "--json"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn a_refused_move_is_reported_and_intake_goes_on() {
    let fake = FakeImap::start(Behaviour {
        refuse_move: true,
        ..Behaviour::default()
    });
    fake.deliver(&message(1));
    fake.deliver(&message(2));
    let sb = sandbox(
        &fake,
        "INBOX",
        "after = \"move\"\nmove_to = \"Processed\"\n",
    );
    let worker = start(&sb);
    assert!(wait_for(20, || tickets(&sb) == 2), "{}", sb.worker_log());
    fake.deliver(&message(3));
    assert!(wait_for(20, || tickets(&sb) == 3), "{}", sb.worker_log());
    let log = sb.worker_log();
    assert!(log.contains("refused to mark or move"), "{log}");
    assert!(
        log.contains("UID MOVE") && log.contains("Processed"),
        "{log}"
    );
    // No reconnect storm: the one connection went on.
    assert_eq!(fake.logins(), 1, "{log}");
    assert!(worker.stop().success());
}

#[test]
fn a_folder_with_non_ascii_letters_is_read() {
    let fake = FakeImap::start(Behaviour {
        folder: "Wsparcie/Zg&AUI-oszenia".into(),
        ..Behaviour::default()
    });
    fake.deliver(&message(1));
    let sb = sandbox(&fake, "Wsparcie/Zgłoszenia", "");
    let out = run_once(&sb);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tickets(&sb), 1);
}

#[test]
fn without_idle_new_mail_is_seen_within_one_poll() {
    let fake = FakeImap::start(Behaviour {
        idle: false,
        ..Behaviour::default()
    });
    let sb = sandbox(&fake, "INBOX", "poll_seconds = 2\n");
    let worker = start(&sb);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    fake.deliver(&message(1));
    assert!(wait_for(20, || tickets(&sb) == 1), "{}", sb.worker_log());
    let took = sent.elapsed();
    eprintln!("polling every 2 s: mail read {took:?} after it arrived");
    // One poll interval, and the time to store and answer.
    assert!(took < Duration::from_millis(3_500), "{took:?}");
    assert!(fake.commands().iter().any(|c| c.starts_with("NOOP")));
    assert!(worker.stop().success());
}

#[test]
fn mail_stored_but_never_flagged_is_flagged_at_the_next_connect() {
    let fake = FakeImap::start(Behaviour::default());
    for i in 1..=3 {
        fake.deliver(&message(i));
    }
    // Stored, never told (as after a crash between the two).
    let sb = sandbox(&fake, "INBOX", "after = \"keep\"\n");
    assert!(run_once(&sb).status.success());
    assert_eq!(tickets(&sb), 3);
    assert!(fake.seen().is_empty());
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    std::fs::write(
        sb.path("ticketbox.toml"),
        cfg.replace("after = \"keep\"", "after = \"seen\""),
    )
    .unwrap();
    assert!(run_once(&sb).status.success());
    assert_eq!(fake.seen(), [1, 2, 3]);
    assert_eq!(tickets(&sb), 3);
}

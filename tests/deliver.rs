//! `ticketbox deliver`: a mail server's pipe transport hands over one
//! message on stdin; exit 0 only once it is stored, 75 (EX_TEMPFAIL) when
//! it cannot be stored now, so the mail server keeps it and retries. The
//! envelope recipient picks the queue.

mod common;

use common::Sandbox;
use std::process::Output;

fn mail(n: usize, subject: &str) -> String {
    format!(
        "From: Dana Customer <dana{n}@customer{n}.example>\r\nTo: support@example.com\r\n\
         Subject: {subject}\r\nMessage-ID: <deliver-{n}@customer.example>\r\n\
         Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, something about {subject}.\r\n"
    )
}

fn deliver(sb: &Sandbox, recipient: &str, message: &str) -> Output {
    sb.with_stdin(&["deliver", "--recipient", recipient], message.as_bytes())
}

fn queue_of(sb: &Sandbox, id: u64) -> String {
    sb.json(&["show", &id.to_string(), "--json"])["queue"]
        .as_str()
        .unwrap()
        .to_owned()
}

const QUEUES: &str = "[queues.billing]\naddress = \"billing@example.com\"\n[queues.technical]\n";

#[test]
fn stored_then_exit_0_and_the_recipient_picks_the_queue() {
    let sb = Sandbox::new(QUEUES);
    for (n, to, queue) in [
        (0, "support+billing@example.com", "billing"),
        (1, "<Billing@Example.com>", "billing"),
        (2, "support+technical@example.com", "technical"),
        (3, "support@example.com", "general"),
    ] {
        let out = deliver(&sb, to, &mail(n, "a delivery question"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(queue_of(&sb, 1000 + n as u64), queue, "{to}");
    }
    // The same message again (the mail server retried): stored once.
    let again = deliver(&sb, "support@example.com", &mail(3, "a delivery question"));
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("duplicate"));
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 4);
}

#[test]
fn through_a_running_worker_which_acknowledges_at_once() {
    let sb = Sandbox::new(QUEUES);
    let worker = sb.start_worker(&[]);
    assert!(
        common::mailstack::wait_for(15, || sb.path("data").join("control.sock").exists()),
        "{}",
        sb.worker_log()
    );
    let out = deliver(&sb, "support+billing@example.com", &mail(7, "an invoice"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(queue_of(&sb, 1000), "billing");
    assert!(
        common::mailstack::wait_for(10, || sb.outbox_files().len() == 1),
        "no acknowledgement; {}",
        sb.worker_log()
    );
    assert!(worker.stop().success());
}

#[test]
fn not_storable_now_is_75_for_the_mail_server_to_retry() {
    // The data directory cannot be made (a file is in its place).
    let sb = Sandbox::new("");
    std::fs::write(sb.path("data"), b"not a directory").unwrap();
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(75));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("try again"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A config that does not load is no reason to bounce mail either.
    std::fs::write(sb.path("ticketbox.toml"), "[support\n").unwrap();
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(75));
    // Once it can be stored, it is.
    let sb = Sandbox::new("");
    let out = deliver(&sb, "support@example.com", &mail(9, "a retry"));
    assert_eq!(out.status.code(), Some(0));
}

//! ticketbox against a real Postfix and Dovecot on 127.0.0.1 (started by
//! tests/run-all.sh through tests/mailstack/mailstack.sh). Every test uses
//! addresses of its own, so they run in parallel on one stack.

mod common;

use common::mailstack::{
    self, IMAP_PORT, IMAPS_PORT, Mailstack, fresh_address, smtp_send, wait_for,
};
use common::{Sandbox, header};
use serde_json::Value;
use ticketbox::store::View;

fn config(ms: &Mailstack, support: &str, extra: &str) -> String {
    ms.worker_config(support, extra)
}

fn customer_mail(
    from: &str,
    to: &str,
    id: &str,
    subject: &str,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: Carla Customer <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn wait_connected(sb: &Sandbox, mailboxes: usize) {
    assert!(
        wait_for(15, || sb.worker_log().matches("connected").count()
            >= mailboxes),
        "worker did not connect; log:\n{}",
        sb.worker_log()
    );
}

fn show(sb: &Sandbox, ticket: u64) -> Value {
    sb.json(&["show", &ticket.to_string(), "--json"])
}

#[test]
fn mail_to_support_is_acknowledged_and_the_reply_threads() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let sb = Sandbox::new(&config(&ms, &support, ""));
    acknowledged_and_threaded(&ms, &support, &sb);
}

/// The same through Dovecot and Postfix with the store on PostgreSQL.
#[test]
fn mail_to_support_is_acknowledged_and_the_reply_threads_on_the_server_store() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let Some((sb, _db)) = Sandbox::on_server_store(&config(&ms, &support, "")) else {
        return;
    };
    acknowledged_and_threaded(&ms, &support, &sb);
}

fn acknowledged_and_threaded(ms: &Mailstack, support: &str, sb: &Sandbox) {
    let support = support.to_owned();
    let customer = fresh_address("customer");
    let worker = sb.start_worker(&[]);
    wait_connected(sb, 1);

    let first_id = format!("first.{customer}");
    smtp_send(
        &customer,
        &[&support],
        &customer_mail(
            &customer,
            &support,
            &first_id,
            "Printer jammed",
            "",
            "The printer is jammed.",
        ),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 1),
        "no acknowledgement in the customer's mailbox; log:\n{}",
        sb.worker_log()
    );
    let ack = &ms.inbox(&customer)[0];
    assert_eq!(
        header(ack, "Subject").as_deref(),
        Some("[#TB-1000] Printer jammed")
    );
    assert_eq!(header(ack, "In-Reply-To"), Some(format!("<{first_id}>")));
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(ack, "From").unwrap().contains(&support));
    assert!(ack.contains("Hello Carla Customer,"), "{ack}");
    assert!(ack.contains("We expect to reply by "), "{ack}");
    let ack_id = header(ack, "Message-ID").unwrap();

    // While the worker holds the store, the CLI goes through its socket.
    let ticket = show(sb, 1000);
    assert_eq!(
        ticket["messages"].as_array().unwrap().len(),
        2,
        "{ticket:#}"
    );

    // The customer answers the acknowledgement from their mail client.
    smtp_send(
        &customer,
        &[&support],
        &customer_mail(
            &customer,
            &support,
            &format!("reply.{customer}"),
            "Re: [#TB-1000] Printer jammed",
            &format!("In-Reply-To: {ack_id}\r\nReferences: <{first_id}> {ack_id}\r\n"),
            "Still jammed.",
        ),
    );
    assert!(
        wait_for(20, || show(sb, 1000)["messages"].as_array().unwrap().len()
            == 3),
        "reply not appended; log:\n{}",
        sb.worker_log()
    );
    let tickets = sb.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets:#}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        ms.inbox(&customer).len(),
        1,
        "a second acknowledgement was sent"
    );

    assert!(worker.stop().success(), "log:\n{}", sb.worker_log());
    assert!(
        sb.worker_log().contains("logged out"),
        "{}",
        sb.worker_log()
    );
    // Both messages were flagged \Seen on the server, after being stored.
    let cur: Vec<_> = std::fs::read_dir(ms.maildir(&support).join("cur"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 2, "{cur:?}");
    assert!(
        cur.iter()
            .all(|n| n.rsplit(',').next().unwrap().contains('S')),
        "{cur:?}"
    );
    // And with the worker gone, the CLI opens the store itself.
    assert_eq!(show(sb, 1000)["messages"].as_array().unwrap().len(), 3);
}

#[test]
fn two_mailboxes_feed_two_queues_and_a_broken_one_does_not_stop_them() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let billing = fresh_address("billing");
    let customer = fresh_address("customer");
    let extra = format!(
        r#"
[[mailbox]]
name = "billing"
host = "127.0.0.1"
port = {IMAPS_PORT}
tls = "implicit"
ca_file = {ca:?}
user = "{billing}"
password_env = "TB_TEST_PASSWORD"
queue = "billing"
after = "move"

[[mailbox]]
name = "broken"
host = "127.0.0.1"
port = 1
tls = "implicit"
user = "nobody@example.test"
password_env = "TB_TEST_PASSWORD"

[queues.billing]
address = "{billing}"
name = "Billing Team"

[queues.technical]
"#,
        ca = ms.ca_file()
    );
    let cfg = config(&ms, &support, &extra);
    let sb = Sandbox::new(&cfg.replace(
        "[[mailbox]]\nname = \"support\"",
        "[[mailbox]]\nname = \"support\"\nqueue = \"technical\"",
    ));
    let worker = sb.start_worker(&[]);
    wait_connected(&sb, 2);

    smtp_send(
        &customer,
        &[&support],
        &customer_mail(
            &customer,
            &support,
            &format!("t.{customer}"),
            "Screen flickers",
            "",
            "It flickers.",
        ),
    );
    smtp_send(
        &customer,
        &[&billing],
        &customer_mail(
            &customer,
            &billing,
            &format!("b.{customer}"),
            "Question about my plan",
            "",
            "Which plan?",
        ),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 2),
        "expected two acknowledgements; log:\n{}",
        sb.worker_log()
    );
    let tickets = sb.json(&["tickets", "--json"]);
    let mut queues: Vec<&str> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["queue"].as_str().unwrap())
        .collect();
    queues.sort();
    assert_eq!(queues, ["billing", "technical"], "{tickets:#}");

    // The billing acknowledgement comes from the billing address.
    let inbox = ms.inbox(&customer);
    let from_billing = inbox
        .iter()
        .find(|m| header(m, "Subject").unwrap().contains("plan"))
        .unwrap();
    assert!(
        header(from_billing, "From")
            .unwrap()
            .contains("Billing Team"),
        "{from_billing}"
    );
    // after = "move": the billing message left INBOX for Processed.
    let count = |dir: &std::path::Path| {
        ["new", "cur"]
            .iter()
            .map(|sub| std::fs::read_dir(dir.join(sub)).map_or(0, |d| d.count()))
            .sum::<usize>()
    };
    let md = ms.maildir(&billing);
    assert!(
        wait_for(5, || count(&md.join(".Processed")) == 1 && count(&md) == 0),
        "billing mail not moved to Processed"
    );

    // The broken mailbox is reported, and did not stop the others.
    let log = sb.worker_log();
    assert!(
        log.contains("mailbox=broken") && log.contains("cannot connect"),
        "{log}"
    );
    assert!(worker.stop().success());
}

#[test]
fn bad_credentials_and_tls_problems_are_clear_errors() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    // A CA that did not sign the server's certificate: TLS must fail.
    let sb = Sandbox::new(&config(&ms, &support, "").replace(
        "tls = \"plain\"\nallow_plaintext = true",
        "tls = \"starttls\"\nca_file = \"/etc/ssl/certs/ca-certificates.crt\"",
    ));
    let out = sb.command(&["run", "--once"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS with 127.0.0.1:1143 failed"), "{err}");
    assert!(
        !err.contains(mailstack::PASSWORD),
        "the password leaked: {err}"
    );

    // Plain text to a non-loopback host is refused by config validation.
    let sb = Sandbox::new(&config(&ms, &support, "").replace(
        "host = \"127.0.0.1\"\nport = 1143",
        "host = \"mail.example.test\"\nport = 1143",
    ));
    let out = sb.command(&["run", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs allow_plaintext = true and a loopback host"),
        "{err}"
    );

    // A wrong password: the login is refused, and said so.
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), "not-the-password\n").unwrap();
    let sb = Sandbox::new(&config(&ms, &support, "").replace(
        "password_env = \"TB_TEST_PASSWORD\"",
        &format!("password_file = {:?}", pw.path()),
    ));
    let out = sb.command(&["run", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("login as {support} refused")),
        "{err}"
    );
    // One clear line, said at once: no Rust debug text, no retry loop.
    let said: Vec<&str> = err.lines().filter(|l| l.contains("refused")).collect();
    assert!(said.len() <= 2, "{err}");
    assert!(
        !err.contains("Response {") && !err.contains("No(") && !err.contains("Some("),
        "{err}"
    );
    eprintln!("login refusal as the admin sees it:\n{err}");
    assert!(
        !err.contains("not-the-password"),
        "the password leaked: {err}"
    );

    // A missing password variable names the variable.
    let sb =
        Sandbox::new(&config(&ms, &support, "").replace("TB_TEST_PASSWORD", "TB_NOT_SET_ANYWHERE"));
    let out = sb.command(&["run", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TB_NOT_SET_ANYWHERE is not set"), "{err}");
}

#[test]
fn fifty_mailboxes_are_watched_at_once() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    const N: usize = 50;
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let boxes: Vec<String> = (0..N).map(|i| fresh_address(&format!("box{i}"))).collect();
    // One customer writes to all: lift the per-sender acknowledgement limit.
    let mut extra = String::from(
        "\n[ack]\nmax_per_sender_per_hour = 1000\nmax_per_sender_per_day = 1000\n[queues.billing]\n[queues.technical]\n",
    );
    for (i, b) in boxes.iter().enumerate() {
        extra.push_str(&format!(
            "\n[[mailbox]]\nname = \"box{i}\"\nhost = \"127.0.0.1\"\nport = {IMAP_PORT}\ntls = \"plain\"\n\
             allow_plaintext = true\nuser = \"{b}\"\npassword_env = \"TB_TEST_PASSWORD\"\nqueue = \"q{i}\"\n\n[queues.q{i}]\n"
        ));
    }
    let sb = Sandbox::new(&config(&ms, &support, &extra));
    let worker = sb.start_worker(&[]);
    wait_connected(&sb, N + 1);

    // One customer mail into every mailbox at once.
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for (i, b) in boxes.iter().enumerate() {
            let customer = &customer;
            s.spawn(move || {
                smtp_send(
                    customer,
                    &[b],
                    &customer_mail(
                        customer,
                        b,
                        &format!("x{i}.{customer}"),
                        &format!("Question {i}"),
                        "",
                        "Hello",
                    ),
                )
            });
        }
    });
    assert!(
        wait_for(30, || ms.inbox(&customer).len() == N),
        "only {} of {N} acknowledgements; log:\n{}",
        ms.inbox(&customer).len(),
        sb.worker_log()
    );
    let all = start.elapsed();
    eprintln!("{N} mailboxes: all {N} acknowledgements {all:?} after the first send");
    // Read one after another, 50 mailboxes would take 50 IDLE wake-ups
    // (500 ms each in Dovecot) at the very least.
    assert!(all < std::time::Duration::from_secs(8), "{all:?}");
    let tickets = sb.json(&["tickets", "--json"]);
    let queues: std::collections::HashSet<&str> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["queue"].as_str().unwrap())
        .collect();
    assert_eq!(queues.len(), N, "each mailbox's queue");
    assert!(worker.stop().success());
}

#[test]
fn a_changed_uidvalidity_rescans_without_new_tickets_and_seen_flags_do_not_hide_mail() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    // after = "keep": nothing is flagged, and one message is already \Seen
    // (a person read it in their mail client): it must still be ticketed.
    let sb = Sandbox::new(&config(&ms, &support, "after = \"keep\""));
    for i in 0..3 {
        ms.deliver_direct(
            &support,
            i,
            &customer_mail(
                &customer,
                &support,
                &format!("u{i}.{customer}"),
                &format!("Topic {i}"),
                "",
                "Hi",
            ),
        );
    }
    let cur = ms.maildir(&support).join("cur");
    let first = std::fs::read_dir(ms.maildir(&support).join("new"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::rename(
        &first,
        cur.join(format!(
            "{}:2,S",
            first.file_name().unwrap().to_string_lossy()
        )),
    )
    .unwrap();

    sb.run(&["run", "--once"]);
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 3);

    // The server renumbered its UIDs (as after a mailbox rebuild).
    {
        let store = ticketbox::store::DiskStore::open(&sb.path("data"), 1000).unwrap();
        use ticketbox::store::Store;
        let at = store.checkpoint("support").unwrap().unwrap();
        assert_eq!(at.last, 3);
        store
            .set_checkpoint(
                "support",
                ticketbox::store::Checkpoint {
                    validity: at.validity + 1,
                    last: at.last,
                },
            )
            .unwrap();
        store.flush().unwrap();
    }
    let out = sb
        .command(&["run", "--once"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("UIDVALIDITY changed"), "{log}");
    assert_eq!(log.matches("outcome=\"duplicate\"").count(), 3, "{log}");
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 3);
    assert_eq!(sb.json(&["outbox", "--json"]).as_array().unwrap().len(), 3);
    assert!(wait_for(10, || ms.inbox(&customer).len() == 3));
}

/// Connecting ticketbox to a mailbox that already holds mail: what arrived
/// there long ago (Dovecot's INTERNALDATE, not the Date header) is imported
/// as history, with no acknowledgement and no escalation; what arrived
/// lately is answered, and its SLA runs.
#[test]
fn a_mailbox_with_old_mail_imports_it_as_history() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let lead = fresh_address("lead");
    // Every hour works, first responses are due within a minute and warned
    // of at 5 %, so the escalation timer has something to say at once.
    let extra = format!(
        r#"
[calendars.default]
days = "mon-sun"
open = "00:00-24:00"

[sla.policies.standard]
first_response = {{ urgent = "1m", high = "1m", normal = "1m", low = "1m" }}
warn_at = 0.05

[queues.general]
escalation = "{lead}"
[queues.billing]
escalation = "{lead}"
[queues.technical]
escalation = "{lead}"
"#
    );
    let sb = Sandbox::new(&config(&ms, &support, &extra));
    let long_ago =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_741_600_000); // March 2025
    for i in 0..3 {
        ms.deliver_direct_at(
            &support,
            i,
            &customer_mail(
                &customer,
                &support,
                &format!("old{i}.{customer}"),
                &format!("Old question {i}"),
                "",
                "Hello, is anyone there?",
            ),
            long_ago,
        );
    }
    for i in 3..5 {
        ms.deliver_direct(
            &support,
            i,
            &customer_mail(
                &customer,
                &support,
                &format!("new{i}.{customer}"),
                &format!("New question {i}"),
                "",
                "Hello, the printer is broken.",
            ),
        );
    }
    sb.run(&["run", "--once"]);
    let tickets = sb.json(&["tickets", "--json"]);
    let tickets = tickets.as_array().unwrap();
    assert_eq!(tickets.len(), 5, "every message stored: {tickets:#?}");
    let new = tickets.iter().filter(|t| t["status"] == "new").count();
    assert_eq!(
        new, 2,
        "the new mail is waiting for an answer: {tickets:#?}"
    );
    let filed = sb.json(&["tickets", "--status", "filed", "--json"]);
    assert_eq!(filed.as_array().unwrap().len(), 3, "{filed:#}");
    assert!(
        filed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["created"].as_str().unwrap().starts_with("2025-03")),
        "dated when they arrived: {filed:#}"
    );

    // The worker's timer runs at start: the new tickets are past 5 % of
    // their minute, the old ones must say nothing.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(20, || ms.inbox(&lead).len() >= 2),
        "escalations for the new tickets; log:\n{}",
        sb.worker_log()
    );
    assert!(wait_for(20, || ms.inbox(&customer).len() >= 2));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let acks = ms.inbox(&customer);
    assert_eq!(acks.len(), 2, "acknowledgements only for the new mail");
    assert!(acks.iter().all(|a| a.contains("New question")));
    let notices = ms.inbox(&lead);
    assert_eq!(notices.len(), 2, "{notices:#?}");
    assert!(notices.iter().all(|n| n.contains("New question")));
    assert!(worker.stop().success());
}

/// `history = "skip"` leaves old mail in the mailbox, unread and unflagged;
/// `history_since` does the same for mail before a day.
#[test]
fn history_can_be_left_in_the_mailbox() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    for extra in ["history = \"skip\"", "history_since = \"2026-01-01\""] {
        let support = fresh_address("support");
        let customer = fresh_address("customer");
        let sb = Sandbox::new(&config(&ms, &support, extra));
        let march_2025 =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_741_600_000);
        for (i, at) in [(0, Some(march_2025)), (1, None)] {
            let mail = customer_mail(
                &customer,
                &support,
                &format!("m{i}.{customer}"),
                &format!("Question {i}"),
                "",
                "Hello",
            );
            match at {
                Some(at) => ms.deliver_direct_at(&support, i, &mail, at),
                None => ms.deliver_direct(&support, i, &mail),
            }
        }
        sb.run(&["run", "--once"]);
        let tickets = sb.json(&["tickets", "--json"]);
        let subjects: Vec<&str> = tickets
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["subject"].as_str().unwrap())
            .collect();
        assert_eq!(subjects, ["Question 1"], "{extra}");
        // The old message is still there, not flagged \Seen.
        let unseen = std::fs::read_dir(ms.maildir(&support).join("cur"))
            .into_iter()
            .flatten()
            .chain(
                std::fs::read_dir(ms.maildir(&support).join("new"))
                    .into_iter()
                    .flatten(),
            )
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.contains(":2,S")
                    && std::fs::read_to_string(e.path())
                        .unwrap()
                        .contains("Question 0")
            })
            .count();
        assert_eq!(unseen, 1, "{extra}: the old mail is left as it was");
        // A second run does not ask for it again.
        sb.run(&["run", "--once"]);
        assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 1);
    }
}

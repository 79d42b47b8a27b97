//! Failures of the real servers and of ticketbox itself: Dovecot restarted
//! under a running worker, Postfix down while acknowledgements are due, and
//! the worker SIGKILLed during a 500-message backlog. These stop and start
//! the shared mail stack, so they run one at a time.

mod common;

use common::mailstack::{self, Mailstack, fresh_address, wait_for};
use common::{Sandbox, header};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use ticketbox::model::MessageKind;
use ticketbox::store::DiskStore;
use ticketbox::store::View;

static SERIAL: Mutex<()> = Mutex::new(());

fn config(ms: &Mailstack, support: &str) -> String {
    ms.worker_config(
        support,
        "fetch_batch = 50\n\n[ack]\nmax_per_sender_per_hour = 10000\nmax_per_sender_per_day = 10000\n\
         shared_domains = [\"example.test\"]\nsame_text_days = 0",
    )
}

fn mail(from: &str, to: &str, id: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nPlease help with {subject}.\r\n"
    )
    .into_bytes()
}

/// Makes sure both daemons run again even if a test fails half-way.
struct Restore<'a>(&'a Mailstack);
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.0.script("start-dovecot");
        self.0.script("start-postfix");
    }
}

#[test]
fn worker_reconnects_after_dovecot_restarts_and_reads_what_arrived_meanwhile() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let _restore = Restore(&ms);
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let sb = Sandbox::new(&config(&ms, &support));
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || sb.worker_log().contains("connected")),
        "{}",
        sb.worker_log()
    );

    mailstack::smtp_send(
        &customer,
        &[&support],
        &mail(&customer, &support, &format!("a.{customer}"), "before"),
    );
    assert!(
        wait_for(20, || ms.inbox(&customer).len() == 1),
        "{}",
        sb.worker_log()
    );

    ms.script("stop-dovecot");
    assert!(
        wait_for(20, || sb.worker_log().contains("reconnecting")),
        "the worker did not notice Dovecot going away; log:\n{}",
        sb.worker_log()
    );
    for i in 0..3 {
        ms.deliver_direct(
            &support,
            i,
            &mail(
                &customer,
                &support,
                &format!("m{i}.{customer}"),
                &format!("during {i}"),
            ),
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ms.script("start-dovecot");

    assert!(
        wait_for(40, || ms.inbox(&customer).len() == 4),
        "mail that arrived while Dovecot was down was not processed; log:\n{}",
        sb.worker_log()
    );
    let log = sb.worker_log();
    assert!(log.contains("reconnecting"), "{log}");
    assert!(log.matches("connected").count() >= 2, "{log}");
    assert!(worker.stop().success());
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 4);
}

#[test]
fn acknowledgements_wait_while_postfix_is_down_and_go_out_when_it_is_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let _restore = Restore(&ms);
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let sb = Sandbox::new(&config(&ms, &support));
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || sb.worker_log().contains("connected")),
        "{}",
        sb.worker_log()
    );

    ms.script("stop-postfix");
    for i in 0..2 {
        ms.deliver_direct(
            &support,
            i,
            &mail(
                &customer,
                &support,
                &format!("p{i}.{customer}"),
                &format!("topic {i}"),
            ),
        );
    }
    // Both are ticketed; their acknowledgements fail and wait for a retry.
    let pending_with_error = || {
        let outbox = sb.json(&["outbox", "--json"]);
        let entries = outbox.as_array().unwrap().clone();
        entries.len() == 2
            && entries.iter().all(|e| {
                e["state"] == "pending"
                    && e["attempts"].as_u64() >= Some(1)
                    && !e["last_error"].is_null()
            })
    };
    assert!(
        wait_for(20, pending_with_error),
        "{}",
        sb.json(&["outbox", "--json"])
    );
    assert!(ms.inbox(&customer).is_empty());

    ms.script("start-postfix");
    assert!(
        wait_for(40, || ms.inbox(&customer).len() == 2),
        "acknowledgements not delivered after Postfix came back; log:\n{}",
        sb.worker_log()
    );
    let outbox = sb.json(&["outbox", "--json"]);
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "sent"),
        "{outbox:#}"
    );
    assert!(worker.stop().success());
}

#[test]
fn sigkill_during_a_500_message_backlog_loses_nothing_and_acknowledges_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    const N: usize = 500;
    let support = fresh_address("support");
    let customers: Vec<String> = (0..25).map(|_| fresh_address("customer")).collect();
    for i in 0..N {
        let c = &customers[i % customers.len()];
        ms.deliver_direct(
            &support,
            i,
            &mail(
                c,
                &support,
                &format!("bl{i}.{c}"),
                &format!("backlog item {i}"),
            ),
        );
    }
    let sb = Sandbox::new(&config(&ms, &support));

    // Kill it part-way through, once it has stored some of the backlog.
    let worker = sb.start_worker(&[]);
    let progressed = wait_for(60, || {
        let n = sb.worker_log().matches("outcome=\"created\"").count();
        n >= 60
    });
    assert!(progressed, "no progress; log:\n{}", sb.worker_log());
    worker.kill9();
    let before = sb.worker_log().matches("outcome=\"created\"").count();
    eprintln!("killed after {before} of {N} messages were logged as stored");
    assert!(
        before < N,
        "the worker finished before the kill; the test proves nothing"
    );

    // Start again and let it finish.
    let worker = sb.start_worker(&[]);
    let all_sent = || {
        let o = sb.json(&["outbox", "--json"]);
        let a = o.as_array().unwrap();
        a.len() == N && a.iter().all(|e| e["state"] == "sent")
    };
    assert!(
        wait_for(120, all_sent),
        "not all acknowledged; log tail:\n{}",
        tail(&sb.worker_log())
    );
    assert!(worker.stop().success());

    let store = DiskStore::open(&sb.path("data"), 1000).unwrap();
    assert!(store.pending().unwrap().is_empty());
    let tickets = store.tickets().unwrap();
    assert_eq!(tickets.len(), N, "one ticket per message");
    let mut seen = HashSet::new();
    for t in &tickets {
        let mut acks = 0;
        for m in &t.messages {
            assert!(seen.insert(m.clone()), "{m} in two tickets");
            if store.message(m).unwrap().unwrap().kind == MessageKind::Outgoing {
                acks += 1;
            }
        }
        assert_eq!(acks, 1, "ticket {} has {acks} acknowledgements", t.id);
    }
    for i in 0..N {
        let c = &customers[i % customers.len()];
        assert!(seen.contains(&format!("bl{i}.{c}")), "message {i} lost");
    }
    let checkpoint = store.checkpoint("support").unwrap().unwrap();
    assert_eq!(checkpoint.last as usize, N, "checkpoint {checkpoint:?}");

    // What the customers received: every acknowledgement, a repeat only in
    // the crash window (sent, not yet marked sent).
    let mut received: HashMap<String, usize> = HashMap::new();
    for c in &customers {
        for m in ms.inbox(c) {
            *received
                .entry(header(&m, "Message-ID").unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(received.len(), N, "distinct acknowledgements received");
    let repeats: usize = received.values().map(|n| n - 1).sum();
    eprintln!("acknowledgements received twice (crash window): {repeats}");
    assert!(repeats <= 50, "{repeats} repeats");
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn big_mail_is_fetched_in_parts_within_fetch_mib() {
    // Other tests here stop and start Dovecot.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    // Five messages of about 600 KB under a 1 MiB budget: fetched in parts.
    let sb = Sandbox::new(&ms.worker_config(&support, "fetch_mib = 1"));
    let line = "The attached log shows the failure again and again.\r\n";
    for i in 0..5 {
        let mut m = mail(
            &customer,
            &support,
            &format!("big{i}.{customer}"),
            &format!("Log {i}"),
        );
        m.extend(line.repeat(600_000 / line.len()).into_bytes());
        ms.deliver_direct(&support, i, &m);
    }
    let out = sb
        .command(&["run", "--once"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("large mail: fetching in parts") && log.contains("parts=5"),
        "{log}"
    );
    let tickets = sb.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().unwrap().len(), 5, "{tickets:#}");
    let store_dir = sb.path("data");
    let store = DiskStore::open(&store_dir, 1000).unwrap();
    let last = store.checkpoint("support").unwrap().unwrap().last;
    assert_eq!(last, 5, "checkpoint at the last message");
}

#[test]
fn a_trace_level_log_never_shows_the_imap_password() {
    // Other tests here stop and start Dovecot.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    ms.deliver_direct(
        &support,
        0,
        &mail(&customer, &support, &format!("t.{customer}"), "trace"),
    );
    let sb = Sandbox::new(&config(&ms, &support));
    let out = sb
        .command(&["run", "--once"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    // The IMAP library logged the LOGIN command it sent…
    let login: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("encode") && l.contains("LOGIN"))
        .collect();
    assert!(!login.is_empty(), "no LOGIN in a trace log?");
    // …without the password (the test stack's password is "secret").
    for l in &login {
        assert!(!l.contains(mailstack::PASSWORD), "{l}");
        assert!(l.contains("[redacted]"), "{l}");
    }
    assert!(!log.contains(&format!("\"{}\"", mailstack::PASSWORD)));
    assert_eq!(sb.json(&["tickets", "--json"]).as_array().unwrap().len(), 1);
}

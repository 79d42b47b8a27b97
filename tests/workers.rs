//! Several `ticketbox run` processes on one PostgreSQL store: one reads a
//! source at a time under its lease, the others stand by, and when the
//! reader is SIGKILLed another takes over within the lease's time and
//! finishes. Every message ends in exactly one ticket, every new ticket
//! gets exactly one acknowledgement.
//!
//! Needs the test PostgreSQL (`tests/pg/pg.sh up`, `TICKETBOX_PG`);
//! skipped with a message without it.

mod common;

use common::Sandbox;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 150;
const REPLIES: usize = 50;

fn first(i: usize) -> String {
    format!(
        "From: Customer {i} <c{i}@people{i}.example>\r\n\
         To: support@example.com\r\n\
         Subject: Order {i} has not arrived\r\n\
         Date: Sat, 05 Dec 2026 10:{:02}:00 +0000\r\n\
         Message-ID: <first-{i}@people{i}.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hello, my order number {i} has not arrived yet. Could you check?\r\n",
        i % 60
    )
}

fn reply(i: usize) -> String {
    format!(
        "From: Customer {i} <c{i}@people{i}.example>\r\n\
         To: support@example.com\r\n\
         Subject: Re: Order {i} has not arrived\r\n\
         Date: Sat, 05 Dec 2026 11:{:02}:00 +0000\r\n\
         Message-ID: <reply-{i}@people{i}.example>\r\n\
         In-Reply-To: <first-{i}@people{i}.example>\r\n\
         References: <first-{i}@people{i}.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         One more thing: the parcel number is {i}{i}.\r\n",
        i % 60
    )
}

fn tickets(sb: &Sandbox) -> Vec<Value> {
    sb.json(&["tickets", "--json"]).as_array().unwrap().clone()
}

/// Waits for `done`; on a timeout the workers' logs say why.
fn wait_for(what: &str, limit: Duration, logs: &[&Sandbox], mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !done() {
        if Instant::now() > end {
            // The end of each log: what happened last.
            let logs: Vec<String> = logs
                .iter()
                .map(|s| {
                    let log = s.worker_log();
                    let lines: Vec<&str> = log.lines().collect();
                    lines[lines.len().saturating_sub(15)..].join("\n")
                })
                .collect();
            panic!(
                "timed out waiting for {what}; logs:\n{}",
                logs.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_worker_killed_mid_run_is_replaced_and_every_message_lands_once() {
    let Some((a, _db)) = Sandbox::on_server_store("[store]\nlease_seconds = 3\n") else {
        return;
    };
    let b = a.another_worker();
    // Customers write; replies come after their first mail (file names
    // sort in delivery order).
    for i in 0..CUSTOMERS {
        a.deliver(i, first(i).as_bytes());
    }
    for i in 0..REPLIES {
        a.deliver(CUSTOMERS + i, reply(i).as_bytes());
    }
    let worker_a = a.start_worker(&[]);
    wait_for(
        "worker a to hold the Maildir",
        Duration::from_secs(20),
        &[&a],
        || a.worker_log().contains("holding the lease"),
    );
    let worker_b = b.start_worker(&[]);
    wait_for(
        "worker b to stand by",
        Duration::from_secs(20),
        &[&a, &b],
        || b.worker_log().contains("another worker holds this source"),
    );
    // Kill a as soon as it has made some tickets, mid-run.
    wait_for(
        "a's first tickets",
        Duration::from_secs(30),
        &[&a, &b],
        || !tickets(&a).is_empty(),
    );
    let killed = Instant::now();
    let at_kill = tickets(&a).len();
    worker_a.kill9();
    wait_for("b to take over", Duration::from_secs(20), &[&a, &b], || {
        b.worker_log().contains("holding the lease")
    });
    let took_over = killed.elapsed();
    wait_for(
        "every message in a ticket",
        Duration::from_secs(60),
        &[&a, &b],
        || {
            let all = tickets(&b);
            all.len() == CUSTOMERS
                && all
                    .iter()
                    .filter(|t| t["messages"].as_u64() == Some(3))
                    .count()
                    == REPLIES
        },
    );
    // Let the outbox drain, then stop cleanly.
    wait_for(
        "the outbox to drain",
        Duration::from_secs(30),
        &[&a, &b],
        || {
            let outbox = b.json(&["outbox", "--json"]);
            let all = outbox.as_array().unwrap();
            all.len() >= CUSTOMERS && all.iter().all(|e| e["state"] == "sent")
        },
    );
    assert!(worker_b.stop().success(), "{}", b.worker_log());

    // Exactly one ticket per customer, each holding that customer's mail.
    let all = tickets(&b);
    let mut per_customer: HashMap<String, usize> = HashMap::new();
    for t in &all {
        *per_customer
            .entry(t["customer"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_customer.len(), CUSTOMERS);
    assert!(per_customer.values().all(|&n| n == 1), "{per_customer:?}");
    // first + ack (+ reply + ack of nothing: replies are not acknowledged)
    let with_reply = all
        .iter()
        .filter(|t| t["messages"].as_u64() == Some(3))
        .count();
    assert_eq!(with_reply, REPLIES, "{all:#?}");
    // One acknowledgement per ticket, in the store and in the outbox dir.
    let outbox = b.json(&["outbox", "--json"]);
    let mut acks: HashMap<u64, usize> = HashMap::new();
    for e in outbox.as_array().unwrap() {
        *acks.entry(e["ticket"].as_u64().unwrap()).or_default() += 1;
    }
    assert_eq!(acks.len(), CUSTOMERS);
    assert!(acks.values().all(|&n| n == 1), "{acks:?}");
    assert_eq!(a.outbox_files().len(), CUSTOMERS);
    eprintln!(
        "two workers: a made {at_kill} tickets before SIGKILL; b took over after {:.1} s (lease 3 s)",
        took_over.as_secs_f64()
    );
}

/// Two `ticketbox ingest` processes at once on one database: one takes
/// each customer's first mail, the other the customer's reply, so the two
/// messages of every thread are decided at the same moment by different
/// processes. Deciding in turn (Store::exclusive) keeps one ticket per
/// thread and the queue's statistics exact.
#[test]
fn two_processes_racing_on_one_thread_make_one_ticket() {
    const THREADS: usize = 60;
    let Some((a, db)) = Sandbox::on_server_store("") else {
        return;
    };
    let b = a.another_worker();
    let (firsts, replies) = (a.path("firsts"), a.path("replies"));
    std::fs::create_dir_all(&firsts).unwrap();
    std::fs::create_dir_all(&replies).unwrap();
    for i in 0..THREADS {
        std::fs::write(firsts.join(format!("{i:03}.eml")), first(i)).unwrap();
        std::fs::write(replies.join(format!("{i:03}.eml")), reply(i)).unwrap();
    }
    let ingest = |sb: &Sandbox, dir: &std::path::Path| {
        sb.command(&["ingest", "--no-deliver", dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let (out_a, out_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| ingest(&a, &firsts));
        let tb = s.spawn(|| ingest(&b, &replies));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for out in [&out_a, &out_b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all = tickets(&a);
    assert_eq!(all.len(), THREADS, "one ticket per thread: {all:#?}");
    for t in &all {
        // The customer's two messages, and at most one acknowledgement.
        let n = t["messages"].as_u64().unwrap();
        assert!((2..=3).contains(&n), "{t:#}");
    }
    use ticketbox::store::View;
    use ticketbox::thread::ThreadView;
    let store = ticketbox::store::open(
        &ticketbox::store::Location::Server {
            url: db.url.clone(),
            password: None,
            ca_file: None,
        },
        1000,
    )
    .unwrap();
    for i in 0..THREADS {
        let first = store
            .ticket_for_message_id(&format!("first-{i}@people{i}.example"))
            .unwrap();
        let reply = store
            .ticket_for_message_id(&format!("reply-{i}@people{i}.example"))
            .unwrap();
        assert!(
            first.is_some() && first == reply,
            "thread {i}: {first:?} {reply:?}"
        );
    }
    // Every ticket counted once among those awaiting a first answer.
    assert_eq!(
        store.queue_stats("general").unwrap().awaiting,
        THREADS as i64
    );
}

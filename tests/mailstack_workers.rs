//! Several `ticketbox run` processes on one PostgreSQL store reading one
//! IMAP mailbox in Dovecot, acknowledging through Postfix: a backlog of
//! 2,000 messages (new requests, replies, automatic replies) lands with
//! every message in exactly one ticket and exactly one acknowledgement in
//! each customer's Maildir; then the same with the reading worker
//! SIGKILLed mid-run, another taking over within the lease time.
//!
//! Needs the mail stack and the test PostgreSQL (tests/run-all.sh starts
//! both); skipped with a message without them.

mod common;

use common::Sandbox;
use common::mailstack::{self, Mailstack, fresh_address, wait_for};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 1_000;
const REPLIES: usize = 600;
const AUTO_REPLIES: usize = 400;

fn customer(tag: &str, i: usize) -> String {
    format!("{tag}-c{i}@example.test")
}

fn first(tag: &str, support: &str, i: usize) -> String {
    let from = customer(tag, i);
    format!(
        "From: Customer {i} <{from}>\r\nTo: <{support}>\r\nSubject: Request {i} about my account\r\n\
         Message-ID: <m{i}.{from}>\r\nDate: Sat, 05 Dec 2026 09:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello, I need help with request {i}.\r\n"
    )
}

fn reply(tag: &str, support: &str, i: usize) -> String {
    let from = customer(tag, i);
    format!(
        "From: Customer {i} <{from}>\r\nTo: <{support}>\r\nSubject: Re: Request {i} about my account\r\n\
         Message-ID: <r{i}.{from}>\r\nIn-Reply-To: <m{i}.{from}>\r\nReferences: <m{i}.{from}>\r\n\
         Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nOne more detail: number {i}{i}.\r\n"
    )
}

fn auto_reply(tag: &str, support: &str, i: usize) -> String {
    let from = customer(tag, i);
    format!(
        "From: Customer {i} <{from}>\r\nTo: <{support}>\r\nSubject: Automatic reply: Request {i}\r\n\
         Message-ID: <a{i}.{from}>\r\nIn-Reply-To: <m{i}.{from}>\r\nAuto-Submitted: auto-replied\r\n\
         Date: Sat, 05 Dec 2026 11:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nI am out of the office.\r\n"
    )
}

/// Puts the backlog into the support mailbox as an MDA would, in order.
fn backlog(ms: &Mailstack, tag: &str, support: &str) -> usize {
    let md = ms.maildir(support);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut n = 0;
    let mut put = |text: String| {
        let name = format!("{}.M{n}P{}.backlog", 1_795_800_000 + n, std::process::id());
        std::fs::write(md.join("new").join(name), text).unwrap();
        n += 1;
    };
    (0..CUSTOMERS).for_each(|i| put(first(tag, support, i)));
    (0..REPLIES).for_each(|i| put(reply(tag, support, i)));
    (0..AUTO_REPLIES).for_each(|i| put(auto_reply(tag, support, i)));
    // Dovecot runs as uid 5000 and moves the files.
    let _ = std::process::Command::new("chown")
        .args(["-R", "5000:5000"])
        .arg(&md)
        .status();
    n
}

fn tickets(sb: &Sandbox) -> usize {
    sb.json(&["tickets", "--json"]).as_array().unwrap().len()
}

/// Runs `workers` workers on one backlog; with `kill`, SIGKILLs the one
/// reading as soon as it has made some tickets. Returns the customers who
/// got more than one acknowledgement (the crash window's repeats).
fn run(workers: usize, kill: bool) -> Option<usize> {
    let ms = mailstack::mailstack()?;
    let support = fresh_address("support");
    let tag = fresh_address("w").replace(['@', '.'], "");
    // Every customer is a different person at one test domain: limits
    // per domain and text must not take them for one robot.
    let cfg = format!(
        "{}\n[ack]\nshared_domains = [\"example.test\"]\n[store]\nlease_seconds = 3\n",
        ms.worker_config(&support, "")
    );
    let (a, _db) = Sandbox::on_server_store(&cfg)?;
    let mut boxes = vec![a];
    for _ in 1..workers {
        let b = boxes[0].another_worker();
        boxes.push(b);
    }
    let total = backlog(&ms, &tag, &support);
    assert_eq!(total, CUSTOMERS + REPLIES + AUTO_REPLIES);
    let started = Instant::now();
    let mut running: Vec<_> = boxes.iter().map(|b| Some(b.start_worker(&[]))).collect();
    let logs = |boxes: &[Sandbox]| {
        boxes
            .iter()
            .map(|b| {
                let log = b.worker_log();
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(12)..].join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    let mut killed_at = None;
    if kill {
        assert!(
            wait_for(60, || tickets(&boxes[0]) >= 50),
            "no tickets; logs:\n{}",
            logs(&boxes)
        );
        let reader = boxes
            .iter()
            .position(|b| {
                b.worker_log()
                    .contains("holding the lease; reading lease=mailbox:support")
            })
            .expect("a worker reads the mailbox");
        running[reader].take().unwrap().kill9();
        killed_at = Some(Instant::now());
        eprintln!(
            "killed worker {reader} with {} tickets made",
            tickets(&boxes[0])
        );
    }
    let everyone_acked = || (0..CUSTOMERS).all(|i| !ms.inbox(&customer(&tag, i)).is_empty());
    assert!(
        wait_for(240, || tickets(&boxes[0]) == CUSTOMERS && everyone_acked()),
        "not every customer acknowledged: {} tickets; logs:\n{}",
        tickets(&boxes[0]),
        logs(&boxes)
    );
    let elapsed = started.elapsed();
    // Anything still to go out would show now.
    std::thread::sleep(Duration::from_secs(2));
    for w in running.into_iter().flatten() {
        assert!(w.stop().success());
    }
    // Every message in one ticket: one per customer, with the customer's
    // mail in it (the request, and the reply and automatic reply when sent).
    let all = boxes[0].json(&["tickets", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), CUSTOMERS);
    let mut per_customer = std::collections::HashMap::new();
    for t in all {
        *per_customer
            .entry(t["customer"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert!(per_customer.values().all(|&n| n == 1));
    // The requests and replies, one acknowledgement per ticket; the
    // automatic replies are dropped by the shipped rules ("vacation
    // replies to our mail are dropped"), once each.
    let messages: u64 = all.iter().map(|t| t["messages"].as_u64().unwrap()).sum();
    assert_eq!(
        messages as usize,
        CUSTOMERS + REPLIES + CUSTOMERS,
        "every request and reply, and one acknowledgement per ticket"
    );
    let repeated = (0..CUSTOMERS)
        .filter(|&i| ms.inbox(&customer(&tag, i)).len() > 1)
        .count();
    eprintln!(
        "{workers} workers, kill: {kill}: {total} messages in {:.1} s{}; customers with a repeated acknowledgement: {repeated}",
        elapsed.as_secs_f64(),
        killed_at
            .map(|k| format!(" ({:.1} s after the kill)", k.elapsed().as_secs_f64()))
            .unwrap_or_default()
    );
    Some(repeated)
}

#[test]
fn two_and_three_workers_on_one_mailbox_acknowledge_each_customer_once() {
    for workers in [2, 3] {
        if let Some(repeated) = run(workers, false) {
            assert_eq!(repeated, 0);
        }
    }
}

#[test]
fn a_killed_reader_is_replaced_and_repeats_stay_within_the_crash_window() {
    for workers in [2, 3] {
        if let Some(repeated) = run(workers, true) {
            // At most what was in flight to Postfix when the worker died.
            assert!(repeated <= 8, "{repeated} customers acknowledged twice");
        }
    }
}

/// Who holds which mailbox now, from the database.
fn holders(url: &str) -> std::collections::BTreeMap<String, usize> {
    let url = url.to_owned();
    // The blocking client may not start inside a test's runtime.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query(
            "SELECT holder, count(*) FROM leases WHERE name LIKE 'mailbox:%' \
             AND until > (extract(epoch from now()) * 1000)::bigint GROUP BY holder",
            &[],
        )
        // No table yet: no worker has opened the store.
        .unwrap_or_default()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize))
        .collect()
    })
    .join()
    .unwrap()
}

/// Four mailboxes: one worker reads them all; a second one started beside
/// it takes two of them over, and mail to every mailbox is answered.
#[test]
fn a_second_worker_takes_its_share_of_the_mailboxes() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let boxes: Vec<String> = (0..4)
        .map(|i| fresh_address(&format!("share{i}")))
        .collect();
    let mut cfg = format!(
        "{}\n[ack]\nshared_domains = [\"example.test\"]\n",
        ms.worker_config(&boxes[0], "")
    );
    for (i, b) in boxes.iter().enumerate().skip(1) {
        cfg.push_str(&format!(
            "\n[[mailbox]]\nname = \"box{i}\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"plain\"\n\
             allow_plaintext = true\nuser = \"{b}\"\npassword_env = \"TB_TEST_PASSWORD\"\n",
            mailstack::IMAP_PORT
        ));
    }
    cfg.push_str("\n[store]\nlease_seconds = 3\n");
    let Some((a, db)) = Sandbox::on_server_store(&cfg) else {
        return;
    };
    let b = a.another_worker();
    let _wa = a.start_worker(&[]);
    assert!(
        wait_for(20, || holders(&db.url).values().sum::<usize>() == 4),
        "the first worker did not take the four mailboxes: {:?}\n{}",
        holders(&db.url),
        a.worker_log()
    );
    assert_eq!(holders(&db.url).len(), 1);
    let _wb = b.start_worker(&[]);
    assert!(
        wait_for(30, || {
            let h = holders(&db.url);
            h.len() == 2 && h.values().all(|&n| n == 2)
        }),
        "not two each: {:?}\n{}\n----\n{}",
        holders(&db.url),
        a.worker_log(),
        b.worker_log()
    );
    // Both read: mail to every mailbox is acknowledged.
    let customer = fresh_address("customer");
    for (i, to) in boxes.iter().enumerate() {
        mailstack::smtp_send(
            &customer,
            &[to],
            format!(
                "From: <{customer}>\r\nTo: <{to}>\r\nSubject: Question {i}\r\nMessage-ID: <q{i}.{customer}>\r\n\
                 Content-Type: text/plain\r\n\r\nQuestion number {i} for this mailbox.\r\n"
            )
            .as_bytes(),
        );
    }
    assert!(
        wait_for(30, || ms.inbox(&customer).len() == 4),
        "{} of 4 acknowledged\n{}\n----\n{}",
        ms.inbox(&customer).len(),
        a.worker_log(),
        b.worker_log()
    );
}

//! Crash safety: SIGKILL the worker again and again in the middle of a large
//! ingest, then let it finish. Every message must be in exactly one ticket,
//! no ticket twice, and every new ticket acknowledged exactly once.

mod common;

use common::Sandbox;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use ticketbox::model::MessageKind;
use ticketbox::store::Location;
use ticketbox::store::View;
use ticketbox::thread::ThreadView;

const NEW: usize = 2000;
const REPLIES: usize = 1000;

/// Every 50th new message is big (kept as a file, not inside sled).
fn is_big(i: usize) -> bool {
    i % 50 == 7
}

fn new_message(i: usize) -> String {
    let attachment = if is_big(i) {
        "Log line from the failing device, repeated.\r\n".repeat(7_000)
    } else {
        String::new()
    };
    format!(
        "From: Customer {c} <customer{c}@load.example>\r\nTo: support@example.com\r\n\
         Subject: Order {i} has a problem\r\nMessage-ID: <new-{i}@load.example>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, order {i} arrived damaged. Zamówienie uszkodzone. ההזמנה הגיעה פגומה.\r\n{attachment}",
        c = i % 500
    )
}

fn reply_message(j: usize, parent: usize) -> String {
    format!(
        "From: Customer {c} <customer{c}@load.example>\r\nTo: support@example.com\r\n\
         Subject: Re: Order {parent} has a problem\r\nMessage-ID: <reply-{j}@load.example>\r\n\
         In-Reply-To: <new-{parent}@load.example>\r\nReferences: <new-{parent}@load.example>\r\n\
         Date: Mon, 23 Nov 2026 11:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Any news about order {parent}?\r\n",
        c = parent % 500
    )
}

/// Many customers of one domain writing alike: no robot bounds here.
const NO_ROBOT_BOUNDS: &str = "[ack]\nmax_per_sender_per_hour = 100000\nmax_per_sender_per_day = 100000\n\
     shared_domains = [\"load.example\"]\nsame_text_days = 0\n";

#[test]
fn sigkill_during_ingest_loses_nothing_and_duplicates_nothing() {
    let sb = Sandbox::new(NO_ROBOT_BOUNDS);
    let at = Location::Embedded {
        dir: sb.path("data"),
        cache_bytes: 8 << 20,
    };
    sigkills(&sb, &at);
}

/// The same with the store on PostgreSQL: a killed worker's uncommitted
/// mail is read again from the Maildir by the next run.
#[test]
fn sigkill_on_the_server_store_loses_nothing_and_duplicates_nothing() {
    // A short lease: each run after a kill waits out the killed run's.
    let Some((sb, db)) =
        Sandbox::on_server_store(&format!("{NO_ROBOT_BOUNDS}[store]\nlease_seconds = 3\n"))
    else {
        return;
    };
    let at = Location::Server {
        url: db.url.clone(),
        password: None,
        ca_file: None,
    };
    sigkills(&sb, &at);
}

fn sigkills(sb: &Sandbox, at: &Location) {
    // New tickets, each followed later by replies to every second one.
    let mut n = 0;
    let mut parent_of = HashMap::new();
    for i in 0..NEW {
        sb.deliver(n, new_message(i).as_bytes());
        n += 1;
        if i % 2 == 1 {
            let j = i / 2;
            let parent = i - 1;
            sb.deliver(n, reply_message(j, parent).as_bytes());
            parent_of.insert(
                format!("reply-{j}@load.example"),
                format!("new-{parent}@load.example"),
            );
            n += 1;
        }
    }
    assert_eq!(n, NEW + REPLIES);

    // Kill at growing delays; count how many kills hit a running worker.
    let mut kills_mid_run = 0;
    for delay_ms in [150, 400, 700, 1000, 1500] {
        let mut child = sb
            .command(&["run", "--once"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(delay_ms) {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
            kills_mid_run += 1;
        }
        child.wait().expect("reap");
        // Progress so far, as the next run will find it.
        let store = ticketbox::store::open(at, 1000).expect("open store");
        eprintln!(
            "after {delay_ms} ms: {} tickets, {} pending raw, {} outbox entries",
            store.tickets().unwrap().len(),
            store.pending().unwrap().len(),
            store.outbox().unwrap().len()
        );
    }
    eprintln!("{kills_mid_run} of 5 kills hit a running worker");
    assert!(
        kills_mid_run >= 2,
        "the worker finished too fast for the kills to test anything"
    );

    // Let it finish.
    sb.run(&["run", "--once"]);

    let store = ticketbox::store::open(at, 1000).expect("open store");
    assert!(
        store.pending().unwrap().is_empty(),
        "raw messages left pending"
    );
    {
        let q = store.quarantined().unwrap();
        assert!(q.is_empty(), "quarantined: {q:?}");
    }
    let tickets = store.tickets().unwrap();
    assert_eq!(tickets.len(), NEW, "one ticket per new message");

    let mut home: HashMap<String, u64> = HashMap::new();
    let mut acks_per_ticket: HashMap<u64, usize> = HashMap::new();
    for t in &tickets {
        for m in &t.messages {
            assert!(
                home.insert(m.clone(), t.id).is_none(),
                "{m} is in two tickets"
            );
            let rec = store.message(m).unwrap().expect("message record");
            if rec.kind == MessageKind::Outgoing {
                *acks_per_ticket.entry(t.id).or_default() += 1;
            }
        }
    }
    for i in 0..NEW {
        let id = format!("new-{i}@load.example");
        assert!(home.contains_key(&id), "new-{i} lost");
        if is_big(i) {
            let rec = store.message(&id).unwrap().unwrap();
            let raw = store
                .raw(&rec.raw_hash)
                .unwrap()
                .expect("big raw message kept");
            assert_eq!(raw, new_message(i).into_bytes(), "new-{i} stored whole");
        }
    }
    for (reply, parent) in &parent_of {
        assert_eq!(
            home.get(reply),
            home.get(parent),
            "{reply} not with {parent}"
        );
    }
    assert_eq!(acks_per_ticket.len(), NEW);
    assert!(
        acks_per_ticket.values().all(|&n| n == 1),
        "a ticket with two acknowledgements"
    );

    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), NEW, "exactly one outbox entry per ticket");
    let ids: HashSet<&str> = outbox.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), NEW);
    assert!(
        outbox
            .iter()
            .all(|e| e.state == ticketbox::outbox::OutboxState::Sent)
    );
    for e in &outbox {
        assert_eq!(store.ticket_for_message_id(&e.id).unwrap(), Some(e.ticket));
    }

    // Files written: every entry at least once; a repeat only for entries
    // caught in the crash window between delivery and the `sent` mark.
    let mut written: HashMap<String, usize> = HashMap::new();
    for f in sb.outbox_files() {
        let id = common::header(&f, "Message-ID").expect("Message-ID");
        *written
            .entry(id.trim_matches(['<', '>']).to_owned())
            .or_default() += 1;
    }
    assert!(
        ids.iter().all(|id| written.contains_key(*id)),
        "an acknowledgement was never written"
    );
    let repeats: usize = written.values().map(|n| n - 1).sum();
    eprintln!("acknowledgement files written twice (crash window): {repeats}");
    assert!(
        repeats <= kills_mid_run * 200,
        "{repeats} repeats for {kills_mid_run} kills"
    );
}

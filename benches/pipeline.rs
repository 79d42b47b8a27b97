//! The core pipeline without network: parse → classify → thread → rules →
//! SLA → acknowledgement → commit, on a real sled store in a temporary
//! directory, group-committed in batches like the worker does.
//!
//! `cargo bench --bench pipeline` (`TB_BENCH_MESSAGES`, default 5000;
//! a third of the messages are replies to earlier ones).

use std::time::Instant;

// The allocator the binary ships with (src/main.rs says why).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use ticketbox::clock::FixedClock;
use ticketbox::committer::isolate::process_all;
use ticketbox::config::Config;
use ticketbox::intake::RawMail;
use ticketbox::pipeline::Engine;
use ticketbox::store::View;
use ticketbox::store::{DiskStore, Staged, Store};

fn message(i: usize) -> Vec<u8> {
    let c = i % 300;
    let reply = i % 3 == 2;
    let (subject, headers) = if reply {
        (
            format!("Re: Order {} arrived damaged", i - 2),
            format!(
                "In-Reply-To: <m{}@load.example>\r\nReferences: <m{}@load.example>\r\n",
                i - 2,
                i - 2
            ),
        )
    } else {
        (format!("Order {i} arrived damaged"), String::new())
    };
    format!(
        "From: Customer {c} <customer{c}@load.example>\r\nTo: support@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <m{i}@load.example>\r\n{headers}Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, my order {i} arrived damaged. Zamówienie uszkodzone. ההזמנה הגיעה פגומה.\r\n\
         Could you send a replacement? I need it for a customer meeting on Friday.\r\n\r\nThanks,\r\nCustomer {c}\r\n"
    )
    .into_bytes()
}

fn main() {
    let n: usize = std::env::var("TB_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config {
        rules_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/rules").into(),
        templates_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/templates").into(),
        ..Config::default()
    };
    // Every new ticket acknowledged, as in the mail benchmark.
    cfg.ack.max_per_sender_per_hour = 1_000_000;
    cfg.ack.max_per_sender_per_day = 1_000_000;
    // Many customers of one domain writing alike: no robot bounds (their
    // keys are still computed and written).
    cfg.ack.shared_domains = vec!["load.example".into()];
    cfg.ack.same_text_days = 0;
    let batch = cfg.intake.batch_size;
    let engine = Engine::new(cfg, "bench".into()).expect("engine");
    let store = DiskStore::open(&dir.path().join("data"), 1000).expect("store");
    let mails: Vec<RawMail> = (0..n)
        .map(|i| RawMail::new(message(i), format!("bench#{i}"), None))
        .collect();
    let clock = FixedClock::new(chrono::Utc::now());

    let start = Instant::now();
    let mut per_batch = Vec::new();
    for chunk in mails.chunks(batch) {
        let t = Instant::now();
        // As the worker's committer does: the batch's raw mail stored and
        // its tries counted (one flush), each message processed in
        // isolation, the commits held and written in chunks (on a thread
        // of their own when the batch is big enough), one flush.
        let refs: Vec<&RawMail> = chunk.iter().collect();
        Staged::for_batches(&store, refs.len(), |staged| {
            process_all(&engine, staged, &clock, &refs).expect("process");
            staged.flush().expect("flush");
        });
        per_batch.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let secs = start.elapsed().as_secs_f64();
    let tickets = store.tickets().expect("tickets").len();
    let outbox = store.outbox().expect("outbox").len();
    println!(
        "pipeline: {n} messages ({tickets} tickets, {outbox} acknowledgements queued) in {secs:.2} s = {:.0} messages/s, {:.0} µs/message",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
    per_batch.sort_by(f64::total_cmp);
    println!(
        "  batches of {batch} with one flush each: median {:.1} ms, max {:.1} ms",
        per_batch[per_batch.len() / 2],
        per_batch.last().copied().unwrap_or(0.0)
    );
    println!(
        "  store on disk: {} KiB",
        store.size_on_disk().unwrap_or(0) / 1024
    );
}

//! SIGKILL during SMTP delivery rounds: each result is recorded as it comes,
//! so a kill repeats at most `smtp.concurrency` sends (the ones in flight),
//! however many a round holds; nothing is lost.

mod common;

use common::Sandbox;
use common::fake_smtp::{Behaviour, FakeSmtp};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MESSAGES: usize = 400;
const CONCURRENCY: usize = 4;

#[test]
fn sigkill_during_delivery_repeats_at_most_the_sends_in_flight() {
    // Each message takes the server ~15 ms to accept: rounds last seconds.
    let fake = FakeSmtp::start(Behaviour {
        dot_delay: Duration::from_millis(15),
        ..Behaviour::default()
    });
    let sb = Sandbox::new(&fake.config(&format!("concurrency = {CONCURRENCY}\n")));
    for i in 0..MESSAGES {
        let m = format!(
            "From: c{i}@d{i}.example\r\nTo: support@example.com\r\nSubject: Order {i}\r\n\
             Message-ID: <kill-{i}@d{i}.example>\r\n\r\nWhere is order {i}?\r\n"
        );
        sb.deliver(i, m.as_bytes());
    }
    let mut kills = 0;
    for delay_ms in [250u64, 350, 300, 250, 300] {
        let worker = sb.start_worker(&[]);
        let started = Instant::now();
        // Wait until deliveries are under way, then a little longer.
        while fake.received().is_empty() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let before = fake.received().len();
        worker.kill9();
        if before < MESSAGES {
            kills += 1;
        }
    }
    // Let it finish.
    let out = sb.command(&["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in fake.received() {
        *per_id.entry(r.message_id()).or_default() += 1;
    }
    assert_eq!(per_id.len(), MESSAGES, "every acknowledgement arrived");
    let repeats: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!("{kills} kills during delivery, {repeats} acknowledgements sent twice");
    assert!(kills >= 4, "the kills did not hit delivery rounds");
    assert!(
        repeats <= kills * CONCURRENCY,
        "{repeats} repeats for {kills} kills at concurrency {CONCURRENCY}"
    );
}

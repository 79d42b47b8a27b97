//! Arrival-to-acknowledgement latency of a running worker: writes N new
//! customer requests into a Maildir one at a time (as an MDA delivers:
//! tmp, then rename into new) and times each until its acknowledgement
//! file appears in the file outbox. Prints the median, p90 and p99.
//!
//! `cargo run --release --example ack_latency -- MAILDIR OUTBOX_DIR N`
//! (the worker must be running on that Maildir with the file transport).

use std::collections::HashSet;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [maildir, outbox, n] = args.as_slice() else {
        eprintln!("usage: ack_latency MAILDIR OUTBOX_DIR N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let (maildir, outbox) = (std::path::Path::new(maildir), std::path::Path::new(outbox));
    let files = |dir: &std::path::Path| -> HashSet<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    let stamp = std::process::id();
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let before = files(outbox);
        let text = format!(
            "From: Latency {i} <lat{i}.{stamp}@probe{i}.example>\r\nTo: support@example.com\r\n\
             Subject: Probe {i} of {stamp}\r\nMessage-ID: <probe{i}.{stamp}@probe.example>\r\n\
             Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello, this is request {i} of run {stamp}; please confirm it arrived.\r\n"
        );
        let name = format!("{stamp}.{i}.latency");
        let tmp = maildir.join("tmp").join(&name);
        std::fs::write(&tmp, text).expect("write into tmp");
        let start = Instant::now();
        std::fs::rename(&tmp, maildir.join("new").join(&name)).expect("rename into new");
        loop {
            if files(outbox).len() > before.len() {
                took.push(start.elapsed());
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                eprintln!("probe {i}: no acknowledgement within 30 s");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // Apart, so each probe meets an idle worker.
        std::thread::sleep(Duration::from_millis(50));
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{n} acknowledgements: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

//! Benchmarks through the real Postfix and Dovecot (start them with
//! `bash tests/mailstack/mailstack.sh up`; `bash benches/run.sh` does it):
//!
//! 1. **Latency**, one message at a time (default 200, `TB_BENCH_N`):
//!    - end to end: the customer's SMTP send until the acknowledgement file
//!      appears in the customer's Maildir (watched with inotify; a second
//!      IDLE client would add Dovecot's own 500 ms);
//!    - our share: the worker's IDLE wake-up until Postfix accepted the
//!      acknowledgement (both from the worker's log timestamps).
//! 2. **Backlog throughput**: 5,000 messages already in the mailbox;
//!    `ticketbox run --once` until every acknowledgement is accepted by
//!    Postfix; also peak memory of the worker.
//!
//! Reports what it measured: median, p90, p99, max, and the conditions.

#[allow(dead_code)]
#[path = "../tests/common/mailstack.rs"]
mod mailstack;

use mailstack::{IMAP_PORT, Mailstack, fresh_address, smtp_send};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_ticketbox");

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let n: usize = std::env::var("TB_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let backlog: usize = std::env::var("TB_BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    println!("machine: {} cores, {}", num_cpus(), uname());
    println!("build: release (cargo bench); Postfix and Dovecot on 127.0.0.1, same machine\n");
    if n > 0 {
        wait_quiet(&ms);
        latency(&ms, n);
    }
    if backlog > 0 {
        wait_quiet(&ms);
        throughput(&ms, backlog);
    }
    let big: usize = std::env::var("TB_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    if big > 0 {
        big_mail(&ms, big);
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn uname() -> String {
    Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(ms: &Mailstack, support: &str) -> Bench {
        Bench::with_transport(ms, support, "smtp")
    }

    /// `transport`: "smtp" (through Postfix) or "file" (acknowledgements
    /// written as .eml files: ticketbox's own share, without the MTA).
    fn with_transport(ms: &Mailstack, support: &str, transport: &str) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            r#"data_dir = {data:?}
rules_dir = {rules:?}
templates_dir = {templates:?}

[support]
address = "{support}"

[ack]
max_per_sender_per_hour = 100000
max_per_sender_per_day = 100000
shared_domains = ["example.test"]
same_text_days = 0

[outbox]
transport = "{transport}"
dir = {outbox:?}

[smtp]
host = "127.0.0.1"
port = 2525
tls = "plain"
allow_plaintext = true
concurrency = 16

[intake]
batch_size = 500

[[mailbox]]
name = "support"
host = "127.0.0.1"
port = {IMAP_PORT}
tls = "plain"
allow_plaintext = true
user = "{support}"
password_env = "TB_TEST_PASSWORD"
fetch_batch = 500
"#,
            data = dir.path().join("data"),
            outbox = dir.path().join("outbox"),
            rules = Path::new(REPO).join("rules"),
            templates = Path::new(REPO).join("templates"),
        );
        std::fs::write(dir.path().join("ticketbox.toml"), config).expect("config");
        let _ = ms;
        Bench { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.dir.path().join("ticketbox.toml"))
            .args(args);
        c.env("TB_TEST_PASSWORD", mailstack::PASSWORD);
        c.env("RUST_LOG", "info,ticketbox::imap=debug");
        c
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("worker.log")
    }
}

fn mail(from: &str, to: &str, id: &str, i: usize) -> Vec<u8> {
    format!(
        "From: Customer {i} <{from}>\r\nTo: <{to}>\r\nSubject: Order {i} arrived damaged\r\n\
         Message-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, my order {i} arrived damaged. Could you send a replacement?\r\nThanks\r\n"
    )
    .into_bytes()
}

/// Creates `address`'s Maildir as Dovecot would (owned by its uid).
fn prepare_maildir(ms: &Mailstack, address: &str) -> PathBuf {
    let md = ms.maildir(address);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).expect("maildir");
    }
    chown(&md);
    if let Some(domain) = md.parent().and_then(Path::parent) {
        let _ = Command::new("chown").arg("5000:5000").arg(domain).status();
    }
    md
}

fn chown(path: &Path) {
    let _ = Command::new("chown")
        .args(["-R", "5000:5000"])
        .arg(path)
        .status();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    let name = format!("{name:<48}");
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    println!(
        "{name} n={:<4} median {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  mean {:>7.1} ms",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
        mean
    );
}

/// Log timestamps (UTC, from tracing's default format) of lines containing
/// `needle`.
fn log_times(log: &str, needle: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| chrono::DateTime::parse_from_rfc3339(l.split_whitespace().next()?).ok())
        .collect()
}

fn wait_log(path: &Path, needle: &str, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if std::fs::read_to_string(path).is_ok_and(|l| l.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn latency(ms: &Mailstack, n: usize) {
    use notify::{EventKind, RecursiveMode, Watcher};
    const WARMUP: usize = 5;
    let support = fresh_address("support");
    let customer = fresh_address("customer");
    let b = Bench::new(ms, &support);
    let md = prepare_maildir(ms, &customer);

    let (tx, rx) = mpsc::channel::<(Instant, PathBuf)>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && matches!(ev.kind, EventKind::Create(_) | EventKind::Modify(_))
        {
            let at = Instant::now();
            for p in ev.paths {
                let _ = tx.send((at, p));
            }
        }
    })
    .expect("watcher");
    watcher
        .watch(&md.join("new"), RecursiveMode::NonRecursive)
        .expect("watch");

    let log = std::fs::File::create(b.log()).expect("log");
    let mut worker = b
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("worker");
    assert!(
        wait_log(&b.log(), "connected", 20),
        "worker did not connect"
    );

    let mut e2e = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..n + WARMUP {
        let id = format!("lat{i}.{customer}");
        let t0 = Instant::now();
        smtp_send(&customer, &[&support], &mail(&customer, &support, &id, i));
        let arrived = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok((at, p)) if p.exists() && seen.insert(p.file_name().map(|f| f.to_owned())) => {
                    break at;
                }
                Ok(_) => continue,
                Err(_) => panic!("no acknowledgement for message {i} within 10 s"),
            }
        };
        if i >= WARMUP {
            e2e.push((arrived - t0).as_secs_f64() * 1000.0);
        }
        // Let the worker finish the round (the `sent` mark) before the next.
        std::thread::sleep(Duration::from_millis(30));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = worker.wait();

    let text = std::fs::read_to_string(b.log()).expect("log");
    let woke = log_times(&text, "idle woke");
    let stored = log_times(&text, "outcome=\"created\"");
    let sent = log_times(&text, "ticketbox::outbox::deliver: sent");
    let ms_between = |a: &chrono::DateTime<chrono::FixedOffset>,
                      b: &chrono::DateTime<chrono::FixedOffset>| {
        (*b - *a).num_microseconds().unwrap_or(0) as f64 / 1000.0
    };
    // Each acknowledgement pairs with the latest wake-up and store before it.
    let (mut ours, mut fetch_store, mut deliver) = (Vec::new(), Vec::new(), Vec::new());
    for s in sent.iter().skip(WARMUP) {
        let w = woke.iter().rev().find(|w| *w <= s);
        let c = stored.iter().rev().find(|c| *c <= s);
        if let (Some(w), Some(c)) = (w, c) {
            ours.push(ms_between(w, s));
            fetch_store.push(ms_between(w, c));
            deliver.push(ms_between(c, s));
        }
    }
    println!("latency, {n} messages sent one at a time ({WARMUP} warm-up messages not counted):");
    summary("  end to end (SMTP send → ack in Maildir)", e2e);
    summary("  our share (IDLE wake → Postfix accepted ack)", ours);
    summary("    of which IDLE wake → stored and flushed", fetch_store);
    summary("    of which stored → Postfix accepted ack", deliver);
    println!(
        "  (Dovecot waits a fixed 500 ms before waking IDLE clients; it is inside 'end to end')\n"
    );
}

/// Makes Dovecot index a Maildir filled behind its back, as normal LMTP
/// delivery would have, so the backlog run measures ticketbox.
fn imap_select(user: &str) {
    let s = std::net::TcpStream::connect(("127.0.0.1", IMAP_PORT)).expect("imap");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line).expect("greeting");
    for (tag, cmd) in [
        ("a", format!("LOGIN {user} {}", mailstack::PASSWORD)),
        ("b", "SELECT INBOX".into()),
        ("c", "LOGOUT".into()),
    ] {
        w.write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .expect("write");
        loop {
            line.clear();
            if r.read_line(&mut line).expect("read") == 0 || line.starts_with(tag) {
                break;
            }
        }
    }
}

/// Puts `backlog` messages from 100 customers into a fresh support
/// mailbox and lets Dovecot index them.
fn fill_backlog(ms: &Mailstack, backlog: usize) -> (String, Vec<String>) {
    let support = fresh_address("support");
    let customers: Vec<String> = (0..100).map(|_| fresh_address("customer")).collect();
    for c in &customers {
        prepare_maildir(ms, c);
    }
    let md = prepare_maildir(ms, &support);
    for i in 0..backlog {
        let c = &customers[i % customers.len()];
        let name = format!("{}.M{i}P1.bench", 1_795_800_000 + i);
        std::fs::write(
            md.join("tmp").join(&name),
            mail(c, &support, &format!("bl{i}.{c}"), i),
        )
        .expect("write");
        std::fs::rename(md.join("tmp").join(&name), md.join("new").join(&name)).expect("rename");
    }
    chown(&md);
    imap_select(&support);
    (support, customers)
}

fn field<'a>(log: &'a str, key: &str) -> &'a str {
    log.split(key)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("?")
}

/// Waits (up to two minutes) until Postfix has delivered everything queued,
/// so one measurement does not pay for the previous one's deliveries.
fn wait_quiet(ms: &Mailstack) {
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(ms.root.join("postfix"))
            .arg("-p")
            .output();
        if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Mail queue is empty")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `ticketbox run --once` over the backlog; returns seconds taken.
fn run_backlog(ms: &Mailstack, support: &str, transport: &str, backlog: usize) -> f64 {
    wait_quiet(ms);
    let b = Bench::with_transport(ms, support, transport);
    let log = std::fs::File::create(b.log()).expect("log");
    let start = Instant::now();
    let status = b
        .command(&["run", "--once"])
        .env(
            "RUST_LOG",
            std::env::var("TB_BENCH_LOG")
                .unwrap_or_else(|_| "warn,ticketbox::runtime::worker=info".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .expect("worker");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "worker failed: {}",
        std::fs::read_to_string(b.log()).unwrap_or_default()
    );
    let out = b.command(&["outbox", "--json"]).output().expect("outbox");
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let sent = entries
        .as_array()
        .map_or(0, |a| a.iter().filter(|e| e["state"] == "sent").count());
    let text = std::fs::read_to_string(b.log()).unwrap_or_default();
    println!(
        "  acks via {transport:<4}: {backlog} messages → {sent} acknowledgements delivered in {elapsed:.2} s = {:.0} messages/s \
         (worker peak RSS {} KiB, CPU {} s)",
        backlog as f64 / elapsed,
        field(&text, "peak_rss_kib="),
        field(&text, "cpu_seconds="),
    );
    if let Ok(keep) = std::env::var("TB_BENCH_KEEP_LOG") {
        let _ = std::fs::copy(b.log(), keep);
    }
    assert_eq!(sent, backlog, "not every message was acknowledged");
    elapsed
}

fn throughput(ms: &Mailstack, backlog: usize) {
    println!(
        "backlog throughput, {backlog} messages already in the IMAP mailbox, `ticketbox run --once` from start to exit:"
    );
    let (support, _) = fill_backlog(ms, backlog);
    run_backlog(ms, &support, "file", backlog);
    let (support, customers) = fill_backlog(ms, backlog);
    let start = Instant::now();
    let smtp = run_backlog(ms, &support, "smtp", backlog);

    // How long Postfix then needs to put the acknowledgements in Maildirs.
    let all_in = Instant::now() + Duration::from_secs(300);
    loop {
        let n: usize = customers
            .iter()
            .map(|c| {
                ["new", "cur"]
                    .iter()
                    .map(|sub| std::fs::read_dir(ms.maildir(c).join(sub)).map_or(0, |d| d.count()))
                    .sum::<usize>()
            })
            .sum();
        if n >= backlog || Instant::now() > all_in {
            println!(
                "  (Postfix had all {n} acknowledgements in customers' Maildirs {:.1} s after the worker started)",
                start.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // The ceiling: how fast this Postfix accepts mail at all, measured with
    // its own load generator under the same conditions (deliveries on).
    if Command::new("smtp-source").arg("-h").output().is_ok() {
        wait_quiet(ms);
        let t = Instant::now();
        let ok = Command::new("smtp-source")
            .args([
                "-d",
                "-s",
                "16",
                "-m",
                &backlog.to_string(),
                "-f",
                "bench@example.test",
                "-t",
                "sink@example.test",
                "127.0.0.1:2525",
            ])
            .status()
            .is_ok_and(|s| s.success());
        let secs = t.elapsed().as_secs_f64();
        if ok {
            println!(
                "  Postfix's own smtp-source, 16 sessions, {backlog} tiny messages: {secs:.2} s = {:.0} messages/s accepted \
                 (ticketbox through Postfix reached {:.0}% of it)",
                backlog as f64 / secs,
                100.0 * secs / smtp
            );
        }
    }
}

/// Peak memory with big attachments: `n` messages of about 5 MB each.
fn big_mail(ms: &Mailstack, n: usize) {
    println!("\nbig mail, {n} messages of about 5 MB each already in the IMAP mailbox:");
    let support = fresh_address("support");
    let md = prepare_maildir(ms, &support);
    // Base64 lines of varied bytes, as an attachment would be.
    let line: String = (0..76u8)
        .map(|i| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [usize::from(i) % 64],
            )
        })
        .collect();
    let blob = format!("{line}\r\n").repeat(5 * 1024 * 1024 / 78);
    for i in 0..n {
        let c = fresh_address("customer");
        let m = format!(
            "From: Customer {i} <{c}>\r\nTo: <{support}>\r\nSubject: Logs {i}\r\nMessage-ID: <big{i}.{c}>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nLogs attached.\r\n--b\r\n\
             Content-Type: application/octet-stream; name=log.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {blob}--b--\r\n"
        );
        let name = format!("{}.M{i}P1.big", 1_795_800_000 + i);
        std::fs::write(md.join("tmp").join(&name), m).expect("write");
        std::fs::rename(md.join("tmp").join(&name), md.join("new").join(&name)).expect("rename");
    }
    chown(&md);
    imap_select(&support);
    run_backlog(ms, &support, "file", n);
}

//! Mail through the site's MTA into a worker over LMTP, measured from the
//! customer's side (benches/lmtp.sh runs it against the test mail stack's
//! Postfix and Dovecot and a `ticketbox run` listening for LMTP).
//!
//! `lmtp_bench latency N SUPPORT MAILSTACK_ROOT`: N customers write one at
//! a time through Postfix (SMTP, 127.0.0.1:2525) to SUPPORT; each is timed
//! from the start of its SMTP session until ticketbox's acknowledgement,
//! sent back through Postfix, is a file in the customer's Maildir.
//! Prints the median, p90, p99 and max.
//!
//! `lmtp_bench burst N SUPPORT WORKER_LOG [TAG]`: N messages from N
//! customers over 8 SMTP connections at once; prints how fast Postfix
//! took them and how fast the worker stored them (its log's "processed"
//! lines) and sent the acknowledgements ("sent" lines).
//!
//! `lmtp_bench direct N 127.0.0.1:PORT SUPPORT`: N messages straight to
//! the worker's LMTP port over 8 connections, no Postfix in between: what
//! the listener itself takes per second (each `250` waits for its flush).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SMTP: (&str, u16) = ("127.0.0.1", 2525);
const CONNECTIONS: usize = 8;

struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    /// A session with Postfix, as a customer's server opens one.
    fn connect() -> Smtp {
        Smtp::open(SMTP, "EHLO")
    }

    /// Connects to `addr`, reads the greeting and says `hello`.
    fn open(addr: impl std::net::ToSocketAddrs + std::fmt::Debug, hello: &str) -> Smtp {
        let s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr:?}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut c = Smtp {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        };
        c.expect("220");
        c.command(&format!("{hello} bench.example"), "250");
        c
    }

    fn expect(&mut self, code: &str) {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read a reply");
            assert!(line.starts_with(code), "expected {code}, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }

    fn command(&mut self, line: &str, code: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        self.expect(code);
    }

    fn send(&mut self, from: &str, to: &str, message: &str) {
        self.command(&format!("MAIL FROM:<{from}>"), "250");
        self.command(&format!("RCPT TO:<{to}>"), "250");
        self.command("DATA", "354");
        // The bodies here have no line starting with a dot.
        self.writer
            .write_all(format!("{message}.\r\n").as_bytes())
            .expect("write data");
        self.expect("250");
    }

    fn quit(mut self) {
        self.command("QUIT", "221");
    }
}

fn message(from: &str, to: &str, tag: &str, i: usize) -> String {
    format!(
        "From: Customer {i} <{from}>\r\nTo: {to}\r\nSubject: Order {i} of {tag} has not arrived\r\n\
         Message-ID: <{tag}.{i}@customers.example>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\n\r\nmy order {i} was due on Friday and has not arrived. Could you check where it is?\r\n\r\n\
         Thank you,\r\nCustomer {i}\r\n"
    )
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| rd.count())
}

fn maildir_new(root: &Path, address: &str) -> PathBuf {
    let (local, domain) = address.split_once('@').expect("address");
    root.join("vmail")
        .join(domain)
        .join(local)
        .join("Maildir/new")
}

fn latency(n: usize, support: &str, root: &Path) {
    let tag = format!("lat{}", std::process::id());
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let customer = format!("{tag}-{i}@example.test");
        let inbox = maildir_new(root, &customer);
        let start = Instant::now();
        let mut c = Smtp::connect();
        c.send(&customer, support, &message(&customer, support, &tag, i));
        c.quit();
        while files_in(&inbox) == 0 {
            if start.elapsed() > Duration::from_secs(30) {
                eprintln!("customer {i}: no acknowledgement within 30 s");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_micros(250));
        }
        took.push(start.elapsed());
        // Apart, so each message meets an idle system.
        std::thread::sleep(Duration::from_millis(20));
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "send to acknowledgement in the customer's Maildir, {n} messages through Postfix and LMTP: \
         median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

fn count(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.matches(needle).count())
}

/// Sends `n` messages from `n` customers over `CONNECTIONS` sessions that
/// `open` makes, side by side; returns when all are taken.
fn spread(n: usize, support: &str, tag: &str, open: impl Fn() -> Smtp + Clone + Send + 'static) {
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|k| {
            let (support, tag, open) = (support.to_owned(), tag.to_owned(), open.clone());
            std::thread::spawn(move || {
                let mut c = open();
                for i in (k..n).step_by(CONNECTIONS) {
                    let customer = format!("{tag}-{i}@example.test");
                    c.send(&customer, &support, &message(&customer, &support, &tag, i));
                }
                c.quit();
            })
        })
        .collect();
    for s in senders {
        s.join().expect("a sender");
    }
}

fn burst(n: usize, support: &str, log: &Path, tag: &str) {
    let (stored0, sent0) = (count(log, ": processed "), count(log, ": sent "));
    let start = Instant::now();
    spread(n, support, tag, Smtp::connect);
    let accepted = start.elapsed();
    println!(
        "burst: Postfix accepted {n} messages in {:.1} s ({:.0} messages/s over {CONNECTIONS} connections)",
        accepted.as_secs_f64(),
        n as f64 / accepted.as_secs_f64()
    );
    let (mut stored_at, mut sent_at) = (None, None);
    while stored_at.is_none() || sent_at.is_none() {
        if start.elapsed() > Duration::from_secs(1800) {
            eprintln!("burst: not done within 30 minutes");
            std::process::exit(1);
        }
        if stored_at.is_none() && count(log, ": processed ") - stored0 >= n {
            stored_at = Some(start.elapsed());
        }
        if sent_at.is_none() && count(log, ": sent ") - sent0 >= n {
            sent_at = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stored, sent) = (stored_at.unwrap_or_default(), sent_at.unwrap_or_default());
    println!(
        "burst: ticketbox stored all {n} {:.1} s after the first was sent ({:.0} messages/s end to end) \
         and had sent every acknowledgement after {:.1} s ({:.0}/s)",
        stored.as_secs_f64(),
        n as f64 / stored.as_secs_f64(),
        sent.as_secs_f64(),
        n as f64 / sent.as_secs_f64()
    );
}

/// An LMTP client session: the MTA's side.
fn lmtp_session(addr: &str) -> Smtp {
    Smtp::open(addr, "LHLO")
}

fn direct(n: usize, addr: &str, support: &str) {
    let tag = format!("direct{}", std::process::id());
    let start = Instant::now();
    let addr = addr.to_owned();
    spread(n, support, &tag, move || lmtp_session(&addr));
    let took = start.elapsed().as_secs_f64();
    println!(
        "direct LMTP: {n} messages stored (each 250 after its flush) in {took:.1} s = {:.0} messages/s over {CONNECTIONS} connections",
        n as f64 / took
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: lmtp_bench latency N SUPPORT MAILSTACK_ROOT | burst N SUPPORT WORKER_LOG [TAG] \
             | direct N 127.0.0.1:PORT SUPPORT"
        );
        std::process::exit(2);
    };
    let n = |s: &str| s.parse::<usize>().unwrap_or_else(|_| usage());
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["latency", count, support, root] => latency(n(count), support, Path::new(root)),
        ["burst", count, support, log] => burst(
            n(count),
            support,
            Path::new(log),
            &format!("burst{}", std::process::id()),
        ),
        ["burst", count, support, log, tag] => burst(n(count), support, Path::new(log), tag),
        ["direct", count, addr, support] => direct(n(count), addr, support),
        _ => usage(),
    }
}

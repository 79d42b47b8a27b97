//! LMTP: the site's MTA hands mail straight to `ticketbox run`.
//!
//! Without the mail stack: a session over TCP and over a unix socket, the
//! ticket in the queue the recipient names, the acknowledgement at once.
//! Through the real Postfix (tests/mailstack/mailstack.sh routes
//! `*@p<PORT>.lmtp.test` over LMTP to 127.0.0.1:<PORT>): customer SMTP →
//! Postfix → LMTP → ticketbox → acknowledgement through Postfix → the
//! customer's Maildir; a store that cannot take mail answers 451 and
//! Postfix delivers again once it can; a worker killed during a burst
//! loses nothing and duplicates nothing.

mod common;

use common::Sandbox;
use common::mailstack::{self, Mailstack, fresh_address, smtp_send, wait_for};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

const QUEUES: &str = "[queues.billing]\naddress = \"billing@example.com\"\n[queues.technical]\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A blocking LMTP client, as an MTA talks.
struct Lmtp<S: Read + Write> {
    reader: BufReader<S>,
    writer: S,
}

impl<S: Read + Write> Lmtp<S> {
    fn new(read: S, write: S) -> Lmtp<S> {
        let mut c = Lmtp {
            reader: BufReader::new(read),
            writer: write,
        };
        let greeting = c.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        c
    }

    fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read a reply");
            assert!(!line.is_empty(), "the server closed after {out:?}");
            out.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return out;
            }
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        self.reply()
    }

    /// One transaction; the replies after DATA, one per recipient.
    fn send(&mut self, from: &str, to: &[&str], message: &str) -> Vec<String> {
        assert!(
            self.command(&format!("MAIL FROM:<{from}>"))
                .starts_with("250")
        );
        for r in to {
            assert!(self.command(&format!("RCPT TO:<{r}>")).starts_with("250"));
        }
        assert!(self.command("DATA").starts_with("354"));
        let mut data = String::new();
        for line in message.split_inclusive('\n') {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
        }
        data.push_str(".\r\n");
        self.writer.write_all(data.as_bytes()).expect("write data");
        to.iter().map(|_| self.reply()).collect()
    }
}

fn mail(from: &str, to: &str, n: usize, subject: &str) -> String {
    format!(
        "From: Dana Customer <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <lmtp-{n}-{}@customer.example>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello, {subject}.\r\n.hidden dot line\r\n",
        std::process::id()
    )
}

fn tickets(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.json(&["tickets", "--json"])
        .as_array()
        .expect("a list")
        .clone()
}

fn wait_listening(sb: &Sandbox, port: u16) {
    assert!(
        wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()),
        "the worker does not listen on {port}: {}",
        sb.worker_log()
    );
}

#[test]
fn an_lmtp_session_stores_acknowledges_and_routes_by_recipient() {
    let port = free_port();
    let sb = Sandbox::new(&format!("{QUEUES}[lmtp]\nlisten = \"127.0.0.1:{port}\"\n"));
    let worker = sb.start_worker(&[]);
    wait_listening(&sb, port);
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut c = Lmtp::new(stream.try_clone().expect("clone"), stream);
    let lhlo = c.command("LHLO mta.example.com");
    assert!(
        lhlo.contains("PIPELINING") && lhlo.contains("SIZE"),
        "{lhlo}"
    );
    let replies = c.send(
        "dana@customer.example",
        &["support+billing@example.com"],
        &mail(
            "dana@customer.example",
            "support@example.com",
            1,
            "an invoice question",
        ),
    );
    assert_eq!(
        replies,
        ["250 2.0.0 <support+billing@example.com> Stored, ticket 1000\r\n"]
    );
    // Stored and flushed before the 250: the ticket is there, in the queue
    // the recipient named, and the acknowledgement follows at once.
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["queue"], "billing", "{t}");
    assert!(
        wait_for(10, || sb.outbox_files().len() == 1),
        "no acknowledgement: {}",
        sb.worker_log()
    );
    let raw = sb.run(&["show", "1000", "--full"]);
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(
        text.contains("hidden dot line") && !text.contains("..hidden"),
        "{text}"
    );

    // The same message again (an MTA retrying after a lost reply): 250,
    // and still one ticket.
    let again = c.send(
        "dana@customer.example",
        &["support@example.com"],
        &mail(
            "dana@customer.example",
            "support@example.com",
            1,
            "an invoice question",
        ),
    );
    assert!(again[0].starts_with("250 2.0.0"), "{again:?}");
    // The queue's own address routes too.
    c.send(
        "eve@other.example",
        &["Billing@Example.com"],
        &mail("eve@other.example", "billing@example.com", 2, "a refund"),
    );
    assert!(c.command("QUIT").starts_with("221"));
    let all = tickets(&sb);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|t| t["queue"] == "billing"), "{all:?}");
    assert!(worker.stop().success());
}

#[test]
fn over_a_unix_socket_with_the_mode_the_admin_set() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let sb = Sandbox::new("");
    let socket = sb.path("lmtp.sock");
    // A socket left behind by a process that died is taken over.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
    std::fs::write(
        sb.path("ticketbox.toml"),
        format!(
            "{cfg}\n[lmtp]\nlisten = \"unix:{}\"\nsocket_mode = 0o620\n",
            socket.display()
        ),
    )
    .unwrap();
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(20, || std::os::unix::net::UnixStream::connect(&socket)
            .is_ok()),
        "{}",
        sb.worker_log()
    );
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o620);
    let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let mut c = Lmtp::new(stream.try_clone().unwrap(), stream);
    c.command("LHLO postfix");
    let r = c.send(
        "",
        &["support@example.com"],
        "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <bounce-1@mx.example>\r\n\r\nThe mail could not be delivered.\r\n",
    );
    assert!(r[0].starts_with("250 2.0.0"), "{r:?}");
    assert!(worker.stop().success());
    // The null envelope sender reached the store as Return-Path: <>, so
    // the bounce was read as one and not answered (RFC 3834).
    let log = sb.worker_log();
    let line = log
        .lines()
        .find(|l| l.contains("bounce-1@mx.example"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("empty Return-Path"), "{line}");
    assert!(sb.outbox_files().is_empty(), "a bounce was answered");
    assert!(!socket.exists(), "the socket is removed at a clean stop");
}

#[test]
fn a_taken_port_stops_run_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let sb = Sandbox::new(&format!("[lmtp]\nlisten = \"127.0.0.1:{port}\"\n"));
    let out = sb.command(&["run"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("lmtp.listen 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    let bad = Sandbox::new("[lmtp]\nlisten = \"0.0.0.0:2424\"\n");
    let out = bad.command(&["config", "check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("LMTP has no authentication"),
        "{err}"
    );
}

// ---- through the real Postfix ----

/// A port Postfix routes to (see mailstack.sh: 24100 to 24399), free now.
fn routed_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 300) as u16;
    for _ in 0..300 {
        let port = 24100 + (start + NEXT.fetch_add(7, Ordering::Relaxed)) % 300;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 24100-24399");
}

/// A worker whose support address Postfix routes to its LMTP port, and
/// which sends through Postfix.
fn postfix_worker(stack: &Mailstack, port: u16, extra_intake: &str) -> Sandbox {
    let sb = Sandbox::new(&format!(
        "{}\n[lmtp]\nlisten = \"127.0.0.1:{port}\"\n",
        stack.sending_config(&format!("support@p{port}.lmtp.test"))
    ));
    if !extra_intake.is_empty() {
        let cfg = std::fs::read_to_string(sb.path("ticketbox.toml")).unwrap();
        let cfg = cfg.replacen("[intake]\n", &format!("[intake]\n{extra_intake}\n"), 1);
        std::fs::write(sb.path("ticketbox.toml"), cfg).unwrap();
    }
    sb
}

/// Asks Postfix to deliver its deferred mail now.
fn postfix_flush(stack: &Mailstack) {
    let _ = std::process::Command::new("postqueue")
        .arg("-c")
        .arg(stack.root.join("postfix"))
        .arg("-f")
        .status();
}

/// The acknowledgements in `customer`'s Maildir.
fn acks(stack: &Mailstack, customer: &str) -> Vec<String> {
    stack
        .inbox(customer)
        .into_iter()
        .filter(|m| m.contains("Auto-Submitted: auto-replied"))
        .collect()
}

#[test]
fn customer_mail_through_postfix_is_ticketed_over_lmtp_and_acknowledged() {
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let port = routed_port();
    let sb = postfix_worker(&stack, port, "");
    let worker = sb.start_worker(&[]);
    wait_listening(&sb, port);
    let customer = fresh_address("lmtp-customer");
    let support = format!("support+billing@p{port}.lmtp.test");
    let sent = Instant::now();
    smtp_send(
        &customer,
        &[&support],
        mail(&customer, &support, 10, "the printer jams").as_bytes(),
    );
    assert!(
        wait_for(30, || !acks(&stack, &customer).is_empty()),
        "no acknowledgement in {customer}'s mailbox: {}",
        sb.worker_log()
    );
    eprintln!(
        "send to acknowledgement in the customer's Maildir: {:?}",
        sent.elapsed()
    );
    let ack = &acks(&stack, &customer)[0];
    assert!(
        ack.contains("Subject: [#TB-1000] the printer jams"),
        "{ack}"
    );
    let t = sb.json(&["show", "1000", "--json"]);
    assert_eq!(t["queue"], "billing", "the plus tag named the queue: {t}");
    // Postfix's own Received line came along; the envelope sender too.
    let full = String::from_utf8_lossy(&sb.run(&["show", "1000", "--full"]).stdout).into_owned();
    assert!(full.contains("the printer jams"), "{full}");
    assert!(worker.stop().success());
}

#[test]
fn a_store_that_cannot_take_mail_answers_451_and_postfix_delivers_later() {
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let port = routed_port();
    // More free space asked for than any disk has: every batch is refused
    // (as on a full disk), and the LMTP reply says to try later.
    let full = postfix_worker(&stack, port, "min_free_mib = 1000000000");
    let worker = full.start_worker(&[]);
    wait_listening(&full, port);
    let customer = fresh_address("lmtp-later");
    let to = format!("support@p{port}.lmtp.test");
    smtp_send(
        &customer,
        &[&to],
        mail(&customer, &to, 20, "a later question").as_bytes(),
    );
    assert!(
        wait_for(30, || full.worker_log().contains("could not be stored")),
        "no refused delivery: {}",
        full.worker_log()
    );
    let postfix_log =
        std::fs::read_to_string(stack.root.join("log/postfix.log")).unwrap_or_default();
    assert!(
        wait_for(10, || std::fs::read_to_string(
            stack.root.join("log/postfix.log")
        )
        .unwrap_or_default()
        .contains(&format!("to=<{to}>"))),
        "{postfix_log}"
    );
    assert!(tickets(&full).is_empty());
    assert!(worker.stop().success());

    // Room again: the same data directory, the usual setting.
    let cfg = std::fs::read_to_string(full.path("ticketbox.toml")).unwrap();
    std::fs::write(
        full.path("ticketbox.toml"),
        cfg.replace("min_free_mib = 1000000000\n", ""),
    )
    .unwrap();
    let worker = full.start_worker(&[]);
    wait_listening(&full, port);
    assert!(
        wait_for(60, || {
            postfix_flush(&stack);
            !acks(&stack, &customer).is_empty()
        }),
        "Postfix did not deliver again: {}",
        full.worker_log()
    );
    let all = tickets(&full);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(worker.stop().success());
}

#[test]
fn a_worker_killed_during_a_burst_loses_nothing_and_duplicates_nothing() {
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    const N: usize = 240;
    let port = routed_port();
    let sb = postfix_worker(&stack, port, "");
    let worker = sb.start_worker(&[]);
    wait_listening(&sb, port);
    let to = format!("support@p{port}.lmtp.test");
    let sender = {
        let to = to.clone();
        std::thread::spawn(move || {
            for n in 0..N {
                let customer = fresh_address("lmtp-burst");
                let subject = format!("burst question {n}");
                smtp_send(
                    &customer,
                    &[&to],
                    mail(&customer, &to, 1000 + n, &subject).as_bytes(),
                );
            }
        })
    };
    // Killed once some mail is in, with more on its way.
    let count = || sb.worker_log().matches(": processed").count();
    assert!(
        wait_for(60, || count() >= N / 4),
        "too slow to start: {}",
        sb.worker_log()
    );
    worker.kill9();
    let at_kill = count();
    eprintln!("killed after {at_kill} of {N} messages");
    // The sender may well have handed every message to Postfix by now
    // (submission is faster than delivery); what matters is that Postfix
    // still had mail queued for the worker when it died.
    assert!(at_kill < N, "every message was processed before the kill");
    sender.join().expect("sending");
    let worker = sb.start_worker(&[]);
    wait_listening(&sb, port);
    let subjects = || -> Vec<String> {
        tickets(&sb)
            .iter()
            .map(|t| t["subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(
        wait_for(120, || {
            postfix_flush(&stack);
            std::thread::sleep(Duration::from_millis(500));
            subjects().len() >= N
        }),
        "{} of {N} ticketed: {}",
        subjects().len(),
        sb.worker_log()
    );
    let mut all = subjects();
    all.sort();
    let total = all.len();
    all.dedup();
    assert_eq!(total, N, "one ticket per message");
    assert_eq!(all.len(), N, "no message ticketed twice");
    assert!(worker.stop().success());
}

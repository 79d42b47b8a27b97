//! Monitoring a running worker: `/metrics` scraped while mail flows (from a
//! Maildir, and through the real Postfix and Dovecot) shows the counters
//! move; `/healthz` answers; `/readyz` turns unready while Dovecot is down
//! and ready again once it is back.

mod common;

use common::Sandbox;
use common::mailstack::{self, fresh_address, smtp_send, wait_for};
use std::io::{Read, Write};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path`: (status code, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_owned())
}

/// The value of the sample `name{labels}` (exactly as written), or 0.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn mail(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Customer {n} <c{n}@customer.example>\r\nTo: support@example.com\r\n\
         Subject: {subject} {n}\r\nMessage-ID: <metrics-{n}@customer.example>\r\n\r\n\
         Hello, {subject} number {n}, please help.\r\n"
    )
    .into_bytes()
}

#[test]
fn counters_move_as_maildir_mail_flows() {
    let port = free_port();
    let sb = Sandbox::new(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(15, || get(port, "/healthz").0 == 200),
        "{}",
        sb.worker_log()
    );
    assert_eq!(get(port, "/readyz"), (200, "ready\n".to_owned()));
    let (code, before) = get(port, "/metrics");
    assert_eq!(code, 200, "{before}");
    assert!(before.ends_with("# EOF\n"), "{before}");
    let created = "ticketbox_messages_in_total{source=\"maildir\",outcome=\"created\"}";
    assert_eq!(sample(&before, created), 0.0, "{before}");

    for n in 0..5 {
        sb.deliver(n, &mail(n, "Printer jams"));
    }
    let sent = "ticketbox_mail_out_total{purpose=\"acknowledgement\",result=\"sent\"}";
    assert!(
        wait_for(20, || {
            let (_, text) = get(port, "/metrics");
            sample(&text, created) == 5.0 && sample(&text, sent) == 5.0
        }),
        "{}\n{}",
        get(port, "/metrics").1,
        sb.worker_log()
    );
    let (_, after) = get(port, "/metrics");
    assert_eq!(
        sample(
            &after,
            "ticketbox_tickets_open{queue=\"general\",priority=\"normal\"}"
        ),
        5.0,
        "{after}"
    );
    assert_eq!(sample(&after, "ticketbox_ack_latency_seconds_count"), 5.0);
    assert!(sample(&after, "ticketbox_commit_seconds_count") >= 1.0);
    assert!(sample(&after, "ticketbox_delivery_attempts_total") >= 5.0);
    assert_eq!(sample(&after, "ticketbox_outbox_pending"), 0.0);
    let maildir = format!("{}", sb.maildir().display());
    assert!(
        after.contains(&format!(
            "ticketbox_source_state{{source=\"maildir:{maildir}\",phase=\"idle\"}} 1"
        )),
        "{after}"
    );
    assert_eq!(get(port, "/nowhere").0, 404);
    assert!(worker.stop().success());
}

#[test]
fn through_the_mail_servers_and_unready_while_dovecot_is_down() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let port = free_port();
    let support = fresh_address("metrics-support");
    let cfg = format!(
        "{}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n[health]\nfailing_after_seconds = 1\n",
        ms.worker_config(&support, "")
    );
    let sb = Sandbox::new(&cfg);
    let worker = sb.start_worker(&[]);
    assert!(
        wait_for(20, || get(port, "/readyz").0 == 200
            && sb.worker_log().contains("connected")),
        "{:?}\n{}",
        get(port, "/readyz"),
        sb.worker_log()
    );
    let customer = fresh_address("metrics-customer");
    smtp_send(
        &customer,
        &[&support],
        format!(
            "From: Dana <{customer}>\r\nTo: {support}\r\nSubject: Invoice twice\r\n\
             Message-ID: <metrics-imap.{support}>\r\n\r\nI was billed twice.\r\n"
        )
        .as_bytes(),
    );
    let created = "ticketbox_messages_in_total{source=\"imap:support\",outcome=\"created\"}";
    let sent = "ticketbox_mail_out_total{purpose=\"acknowledgement\",result=\"sent\"}";
    assert!(
        wait_for(30, || {
            let (_, text) = get(port, "/metrics");
            sample(&text, created) == 1.0 && sample(&text, sent) == 1.0
        }),
        "{}\n{}",
        get(port, "/metrics").1,
        sb.worker_log()
    );
    let (_, text) = get(port, "/metrics");
    assert!(
        text.contains("ticketbox_source_state{source=\"mailbox:support\",phase=\"idle\"} 1"),
        "{text}"
    );

    // Dovecot goes away: the mailbox fails, and the worker says it is not
    // ready; back, and it is.
    struct Restore<'a>(&'a mailstack::Mailstack);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            self.0.script("start-dovecot");
        }
    }
    let restore = Restore(&ms);
    ms.script("stop-dovecot");
    assert!(
        wait_for(40, || get(port, "/readyz").0 == 503),
        "{:?}\n{}",
        get(port, "/readyz"),
        sb.worker_log()
    );
    let (_, why) = get(port, "/readyz");
    assert!(why.contains("mailbox:support failing"), "{why}");
    assert_eq!(get(port, "/healthz").0, 200, "alive all along");
    let (_, text) = get(port, "/metrics");
    assert!(
        text.contains("ticketbox_source_state{source=\"mailbox:support\",phase=\"failing\"} 1"),
        "{text}"
    );
    ms.script("start-dovecot");
    drop(restore);
    assert!(
        wait_for(60, || get(port, "/readyz").0 == 200),
        "{:?}\n{}",
        get(port, "/readyz"),
        sb.worker_log()
    );
    assert!(worker.stop().success());
}

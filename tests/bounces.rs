//! Real bounces, end to end, from the test stack's Postfix:
//! - a DSN after the fact: mail to `*@loop.test` is accepted, goes round
//!   until Postfix gives up ("too many hops") and sends its delivery report
//!   to the support mailbox, where ticketbox reads it onto the ticket;
//! - a refusal while sending: mail to `*@nowhere.invalid` is refused at
//!   RCPT (5.1.1), which ticketbox books as a bounce would.
//!
//! Either way the address is held, so the next mail to it waits in the
//! outbox with the reason instead of bouncing again, until `unsuppress`.

mod common;

use common::Sandbox;
use common::mailstack::{self, fresh_address, smtp_send, wait_for};
use serde_json::Value;

#[test]
fn a_delivery_report_holds_further_mail_to_the_address() {
    bounced(
        &format!("ghost-{}@loop.test", std::process::id()),
        "too many hops",
        true,
    );
}

#[test]
fn a_refusal_while_sending_holds_further_mail_to_the_address() {
    bounced(
        &format!("ghost-{}@nowhere.invalid", std::process::id()),
        "outbound mail disabled in test stack",
        false,
    );
}

/// A customer at `ghost` writes; the acknowledgement bounces with
/// `words` (as a delivery report read onto the ticket when `report`).
fn bounced(ghost: &str, words: &str, report: bool) {
    let Some(stack) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("bounce-support");
    let sb = Sandbox::new(&stack.worker_config(&support, ""));
    let worker = sb.start_worker(&[]);
    let ghost = ghost.to_owned();
    let request = |n: u32, subject: &str| {
        format!(
            "From: Ghost Customer <{ghost}>\r\nTo: {support}\r\nSubject: {subject}\r\n\
             Message-ID: <bounce-{n}-{}@nowhere.invalid>\r\n\r\nHello, {subject}.\r\n",
            std::process::id()
        )
    };
    smtp_send(&ghost, &[&support], request(1, "my parcel").as_bytes());
    // (Until the worker has made its store, the command says there is none.)
    let suppressed = || -> Value {
        let out = sb.command(&["suppressed", "--json"]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    assert!(
        wait_for(60, || suppressed()
            .as_array()
            .is_some_and(|a| !a.is_empty())),
        "the bounce was not read: {}",
        sb.worker_log()
    );
    let held = suppressed();
    let entry = &held[0];
    assert_eq!(entry["address"], ghost, "{held}");
    assert_eq!(entry["ticket"], 1000, "{held}");
    assert!(entry["status"].as_str().unwrap().starts_with('5'), "{held}");
    assert!(
        entry["diagnostic"].as_str().unwrap().contains(words),
        "Postfix's words: {held}"
    );
    if report {
        // On the ticket: the bounce, with what it said.
        let show = sb.json(&["show", "1000", "--json"]);
        let text = show.to_string();
        assert!(text.contains(&format!("{ghost} bounced: 5.")), "{show}");
    }

    // The customer writes again: the acknowledgement of the new ticket
    // waits in the outbox, held, instead of bouncing.
    smtp_send(
        &ghost,
        &[&support],
        request(2, "my other parcel").as_bytes(),
    );
    let waiting = || -> Option<Value> {
        sb.json(&["outbox", "--json"])
            .as_array()?
            .iter()
            .find(|e| {
                e["ticket"] == 1001
                    && e["last_error"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("held: "))
            })
            .cloned()
    };
    assert!(
        wait_for(60, || waiting().is_some()),
        "the second acknowledgement was not held: {}\n{}",
        sb.json(&["outbox", "--json"]),
        sb.worker_log()
    );
    let entry = waiting().unwrap();
    assert_eq!(entry["state"], "pending", "{entry}");
    assert!(
        entry["last_error"].as_str().unwrap().contains("unsuppress"),
        "{entry}"
    );

    // Lifted: it goes out at once (and bounces again, being undeliverable).
    let out = sb.run(&["unsuppress", &ghost]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 held message(s) go out now"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        wait_for(30, || waiting().is_none()),
        "the held acknowledgement did not go: {}",
        sb.json(&["outbox", "--json"])
    );
    assert!(worker.stop().success());
}

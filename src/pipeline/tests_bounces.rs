//! Bounces of a ticket's mail: read for who failed and why, recorded on
//! the ticket, the ticket's agents told; a permanent failure (or
//! temporary ones adding up) holds further mail to the address in the
//! outbox until `unsuppress`.

use super::tests::{Setup, mail, setup, t0};
use super::*;
use crate::outbox::{OutboxEntry, OutboxState, SendFuture, Sent, Transport};
use crate::store::View;

/// A DSN for the message `about` to `to`, as Postfix writes one.
fn dsn(to: &str, about: &str, status: &str, words: &str, n: u32) -> RawMail {
    let text = format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\nTo: support@example.com\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx.example.net>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n<{to}>: {words}\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; {to}\r\nAction: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {words}\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\nMessage-ID: <{about}>\r\n\r\n--B--\r\n",
        action = if status.starts_with('5') {
            "failed"
        } else {
            "delayed"
        },
    );
    RawMail::new(text.into_bytes(), format!("test:dsn-{n}"), None)
}

fn ack_to(s: &Setup, address: &str) -> OutboxEntry {
    s.store
        .outbox()
        .unwrap()
        .into_iter()
        .find(|e| e.purpose == "acknowledgement" && e.recipients.iter().any(|r| r == address))
        .expect("an acknowledgement")
}

/// A transport that takes everything and remembers to whom.
#[derive(Default)]
struct Taking(std::sync::Mutex<Vec<Vec<String>>>);

impl Transport for Taking {
    fn send<'a>(&'a self, _from: &'a str, to: &'a [String], _raw: &'a [u8]) -> SendFuture<'a> {
        self.0.lock().unwrap().push(to.to_vec());
        Box::pin(async { Ok(Sent::default()) })
    }
}

fn deliver(s: &Setup, t: &Taking, at: chrono::DateTime<chrono::Utc>) {
    let clock = crate::clock::FixedClock::new(at);
    let policy = crate::outbox::Policy::from_config(&s.engine.cfg);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crate::outbox::deliver_due(&s.store, t, &clock, &policy))
        .unwrap();
}

#[test]
fn a_hard_bounce_is_recorded_on_the_ticket_and_mail_to_the_address_is_held() {
    // The queue's agents are told of its tickets' mail.
    let s = setup(|c| {
        c.queues.insert(
            "general".into(),
            crate::config::QueueCfg {
                notify: vec!["agent@example.com".into()],
                ..Default::default()
            },
        );
    });
    let o = s.process(
        &mail(
            "Dana <dana@gone.example>",
            "d1@gone",
            "Printer",
            "",
            "It jams.",
        ),
        t0(),
    );
    let ticket = o.ticket.unwrap();
    let ack = ack_to(&s, "dana@gone.example");
    let b = s.process(
        &dsn(
            "dana@gone.example",
            &ack.id,
            "5.1.1",
            "550 5.1.1 <dana@gone.example>: User unknown",
            1,
        ),
        t0() + chrono::Duration::minutes(1),
    );
    assert_eq!(b.ticket, Some(ticket), "{}", b.reason);
    assert!(
        b.reason.contains(
            "dana@gone.example bounced: 5.1.1 (550 5.1.1 <dana@gone.example>: User unknown)"
        ),
        "{}",
        b.reason
    );
    assert!(b.reason.contains("held from now on"), "{}", b.reason);
    // The ticket's agents hear of it.
    let told: Vec<OutboxEntry> = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|e| e.recipients.iter().any(|r| r == "agent@example.com"))
        .collect();
    assert!(
        !told.is_empty(),
        "no agent told: {:?}",
        s.store.outbox().unwrap()
    );
    let book = s.store.bounces().unwrap();
    assert_eq!(
        book.suppressed("dana@gone.example").unwrap().ticket,
        Some(ticket)
    );
    // Nothing goes to the address now: the acknowledgement, still in the
    // outbox, is held with the reason; so is anything later.
    let t = Taking::default();
    deliver(&s, &t, t0() + chrono::Duration::minutes(2));
    let sent = t.0.lock().unwrap().clone();
    assert!(
        sent.iter()
            .all(|to| !to.contains(&"dana@gone.example".to_string())),
        "{sent:?}"
    );
    let held = s.store.outbox_entry(&ack.id).unwrap().unwrap();
    assert_eq!(held.state, OutboxState::Pending);
    let why = held.last_error.unwrap_or_default();
    assert!(
        why.starts_with("held: dana@gone.example bounced earlier (5.1.1"),
        "{why}"
    );
    // Lifted: the held mail goes out at once.
    let note = crate::ops::unsuppress(
        &s.store,
        "Dana@gone.example",
        t0() + chrono::Duration::minutes(3),
    )
    .unwrap();
    assert!(note.contains("1 held message(s) go out now"), "{note}");
    deliver(&s, &t, t0() + chrono::Duration::minutes(3));
    let sent = t.0.lock().unwrap().clone();
    assert_eq!(
        sent.iter()
            .filter(|to| to.contains(&"dana@gone.example".to_string()))
            .count(),
        1,
        "{sent:?}"
    );
    assert!(crate::ops::unsuppress(&s.store, "dana@gone.example", t0()).is_err());
}

#[test]
fn temporary_bounces_hold_mail_only_when_they_add_up() {
    let s = setup(|c| c.bounces.soft_limit = 2);
    let o = s.process(
        &mail("ann@full.example", "a1@full", "Invoice", "", "Where is it?"),
        t0(),
    );
    let ack = ack_to(&s, "ann@full.example");
    let first = s.process(
        &dsn(
            "ann@full.example",
            &ack.id,
            "4.2.2",
            "452 4.2.2 Mailbox full",
            1,
        ),
        t0() + chrono::Duration::hours(1),
    );
    assert_eq!(first.ticket, o.ticket);
    assert!(
        first.reason.contains("temporary (1 of 2"),
        "{}",
        first.reason
    );
    assert!(
        s.store
            .bounces()
            .unwrap()
            .suppressed("ann@full.example")
            .is_none()
    );
    let second = s.process(
        &dsn(
            "ann@full.example",
            &ack.id,
            "4.2.2",
            "452 4.2.2 Mailbox full",
            2,
        ),
        t0() + chrono::Duration::hours(2),
    );
    assert!(
        second.reason.contains("2 temporary failures within 7 days"),
        "{}",
        second.reason
    );
    assert!(
        s.store
            .bounces()
            .unwrap()
            .suppressed("ann@full.example")
            .is_some()
    );
}

#[test]
fn a_bounce_of_mail_we_never_sent_changes_nothing() {
    let s = setup(|_| {});
    let o = s.process(
        &dsn(
            "stranger@else.example",
            "not-ours@spam.example",
            "5.1.1",
            "550 5.1.1 no such user",
            1,
        ),
        t0(),
    );
    assert_eq!(o.ticket, None, "{}", o.reason);
    assert!(s.store.bounces().unwrap().addresses.is_empty());
}

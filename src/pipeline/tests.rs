//! The pipeline against the in-memory store (held to the same invariants
//! as the embedded store by `store/conformance.rs`), on a fixed clock.

use super::*;
use crate::config::Config;
use crate::model::Priority;
use crate::store::MemoryStore;
use crate::store::View;
use crate::thread::ThreadView;
use crate::{model::Status, store::Commit};
use chrono::TimeZone;

pub(super) struct Setup {
    pub store: MemoryStore,
    pub engine: Engine,
}

pub(super) fn setup(tweak: impl FnOnce(&mut Config)) -> Setup {
    let mut cfg = Config {
        // No files: the built-in templates and no rules.
        rules_dir: "/nonexistent/ticketbox-rules".into(),
        templates_dir: "/nonexistent/ticketbox-templates".into(),
        agents: vec!["agent@example.com".into()],
        ..Config::default()
    };
    tweak(&mut cfg);
    let store = MemoryStore::new(cfg.tickets.first_number);
    let engine = Engine::new(cfg, "test-instance".into()).unwrap();
    Setup { store, engine }
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

pub(super) fn mail(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> RawMail {
    let text = format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}\r\n{body}\r\n"
    );
    RawMail::new(text.into_bytes(), format!("test:{id}"), None)
}

impl Setup {
    pub(super) fn process(&self, raw: &RawMail, at: DateTime<Utc>) -> Outcome {
        process(&self.engine, &self.store, raw, at).unwrap()
    }
}

#[test]
fn new_ticket_gets_sla_due_and_one_acknowledgement() {
    let s = setup(|_| {});
    let o = s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Broken", "", "Help me"),
        t0(),
    );
    assert_eq!(
        (o.outcome, o.ticket, o.acknowledged),
        (OutcomeKind::Created, Some(1000), true)
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.priority, Priority::Normal);
    // Normal priority: one business day (Mon–Fri 09:00–17:00 UTC) from
    // Monday 09:00.
    assert_eq!(t.response_due, Some(t0() + Duration::hours(8)));
    assert_eq!(t.sla_policy.as_deref(), Some("standard"));
    assert_eq!(t.messages.len(), 2, "incoming + acknowledgement");
    let outbox = s.store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0].raw.is_empty(), "listings leave the message out");
    let raw = s.store.outbox_entry(&outbox[0].id).unwrap().unwrap().raw;
    let ack = crate::mail::parse::parse(raw.as_bytes(), "x").unwrap();
    assert!(ack.text.contains("Hello Ann,"), "{}", ack.text);
    assert!(
        ack.text.contains("Monday, 23 November, 17:00"),
        "{}",
        ack.text
    );
    assert_eq!(s.store.next_ticket_id().unwrap(), 1001);
}

#[test]
fn redelivery_with_other_transport_headers_is_a_duplicate() {
    let s = setup(|_| {});
    let first = mail("ann@c.example", "a1@c", "Broken", "", "Help me");
    s.process(&first, t0());
    let again = RawMail::new(
        [
            b"Received: from mx2 by mx3; Mon, 23 Nov 2026 09:00:05 +0000\r\n".as_slice(),
            &first.bytes,
        ]
        .concat(),
        "test:again".into(),
        None,
    );
    let o = s.process(&again, t0());
    assert_eq!(o.outcome, OutcomeKind::Duplicate, "{o:?}");
    assert_eq!(o.ticket, Some(1000));
    assert_eq!(s.store.outbox().unwrap().len(), 1);
    assert!(s.store.pending().unwrap().is_empty());
}

#[test]
fn a_reused_message_id_with_other_content_is_kept() {
    let s = setup(|_| {});
    s.process(&mail("ann@c.example", "same@c", "First", "", "one"), t0());
    let o = s.process(&mail("bob@d.example", "same@c", "Second", "", "two"), t0());
    assert_eq!(o.outcome, OutcomeKind::Created, "{o:?}");
    assert!(o.message_id.unwrap().starts_with("same@c#"));
    assert_eq!(s.store.tickets().unwrap().len(), 2);
}

#[test]
fn replies_reopen_recently_closed_tickets_and_link_old_ones() {
    let s = setup(|_| {});
    s.process(&mail("ann@c.example", "a1@c", "Broken", "", "x"), t0());
    let close = |at: DateTime<Utc>| {
        let mut t = s.store.ticket(1000).unwrap().unwrap();
        t.status = Status::Closed;
        t.closed = Some(at);
        s.store
            .commit(&Commit {
                ticket: Some(t),
                ..Commit::default()
            })
            .unwrap();
    };
    close(t0());
    let o = s.process(
        &mail(
            "ann@c.example",
            "a2@c",
            "Re: Broken",
            "In-Reply-To: <a1@c>\r\n",
            "again",
        ),
        t0() + Duration::days(2),
    );
    assert_eq!((o.outcome, o.ticket), (OutcomeKind::Appended, Some(1000)));
    assert_eq!(s.store.ticket(1000).unwrap().unwrap().status, Status::Open);

    close(t0() + Duration::days(2));
    let late = t0() + Duration::days(40);
    let o = s.process(
        &mail(
            "ann@c.example",
            "a3@c",
            "Re: Broken",
            "In-Reply-To: <a2@c>\r\n",
            "still",
        ),
        late,
    );
    assert_eq!(o.outcome, OutcomeKind::Created, "{o:?}");
    let t = s.store.ticket(o.ticket.unwrap()).unwrap().unwrap();
    assert_eq!(t.links, vec![1000]);
}

#[test]
fn acknowledgements_are_rate_limited_per_sender() {
    let s = setup(|c| c.ack.max_per_sender_per_hour = 3);
    let mut acked = 0;
    for i in 0..5 {
        let o = s.process(
            &mail(
                "ann@c.example",
                &format!("r{i}@c"),
                &format!("Topic {i}"),
                "",
                "x",
            ),
            t0() + Duration::minutes(i),
        );
        acked += usize::from(o.acknowledged);
        if i >= 3 {
            assert!(o.reason.contains("rate limit"), "{o:?}");
        }
    }
    assert_eq!(acked, 3);
    // An hour later the sender is acknowledged again.
    let o = s.process(
        &mail("ann@c.example", "later@c", "Another", "", "x"),
        t0() + Duration::minutes(70),
    );
    assert!(o.acknowledged, "{o:?}");
}

#[test]
fn agents_and_automatic_mail_get_no_acknowledgement() {
    let s = setup(|_| {});
    let o = s.process(
        &mail("agent@example.com", "ag@x", "Internal note", "", "x"),
        t0(),
    );
    assert!(!o.acknowledged && o.reason.contains("agent"), "{o:?}");
    let o = s.process(
        &mail(
            "shop@c.example",
            "n1@c",
            "Your order",
            "Precedence: bulk\r\n",
            "x",
        ),
        t0(),
    );
    assert!(
        !o.acknowledged && o.reason.contains("Precedence: bulk"),
        "{o:?}"
    );
    let o = s.process(
        &mail("no-reply@c.example", "n2@c", "Receipt", "", "x"),
        t0(),
    );
    assert!(
        !o.acknowledged && o.reason.contains("does not take replies"),
        "{o:?}"
    );
    assert!(s.store.outbox().unwrap().is_empty());
}

#[test]
fn our_own_mail_is_ignored_and_replies_to_our_ack_thread() {
    let s = setup(|_| {});
    s.process(&mail("ann@c.example", "a1@c", "Broken", "", "x"), t0());
    let listed = s.store.outbox().unwrap().remove(0);
    let ack = s.store.outbox_entry(&listed.id).unwrap().unwrap();
    // Our acknowledgement delivered back to us (e.g. a Bcc to the mailbox).
    let own = RawMail::new(ack.raw.clone().into_bytes(), "test:own".into(), None);
    let o = s.process(&own, t0());
    assert_eq!(o.outcome, OutcomeKind::Ignored, "{o:?}");
    // A reply to the ack without the tag still threads by In-Reply-To.
    let o = s.process(
        &mail(
            "ann@c.example",
            "a2@c",
            "Re: Broken",
            &format!("In-Reply-To: <{}>\r\n", ack.id),
            "thanks",
        ),
        t0(),
    );
    assert_eq!(
        (o.outcome, o.ticket, o.acknowledged),
        (OutcomeKind::Appended, Some(1000), false)
    );
}

#[test]
fn pending_raw_mail_is_recovered_after_a_crash() {
    let s = setup(|_| {});
    let raw = mail("ann@c.example", "a1@c", "Broken", "", "x");
    // A crash after storing the raw bytes and before the commit.
    s.store.put_raw(&raw.hash, &raw.bytes, &raw.origin).unwrap();
    assert_eq!(s.store.pending().unwrap().len(), 1);
    let n =
        crate::runtime::worker::recover(&s.engine, &s.store, &crate::clock::FixedClock::new(t0()))
            .unwrap();
    assert_eq!(n, 1);
    assert!(s.store.pending().unwrap().is_empty());
    assert_eq!(s.store.tickets().unwrap().len(), 1);
    assert_eq!(s.store.outbox().unwrap().len(), 1);
}

#[test]
fn oversized_and_unreadable_mail_is_quarantined_with_its_reason() {
    let s = setup(|c| c.intake.max_message_bytes = 100);
    let big = mail("ann@c.example", "big@c", "Big", "", &"x".repeat(200));
    let o = s.process(&big, t0());
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(o.reason.contains("max_message_bytes"), "{o:?}");
    let q = s.store.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].raw_hash, big.hash);
    assert!(s.store.raw(&big.hash).unwrap().is_some(), "raw bytes kept");
    assert_eq!(s.process(&big, t0()).outcome, OutcomeKind::Duplicate);
}

/// Held commits (the worker's way) give exactly what committing each
/// message at once gives: replies later in a batch find tickets opened
/// earlier in it, duplicates are recognised, numbering and acknowledgement
/// limits carry on, across the chunk boundaries where holding writes out.
#[test]
fn held_commits_match_direct_commits() {
    let mut mails: Vec<RawMail> = (0..300)
        .map(|i| {
            let from = format!("Customer {} <c{}@example.net>", i % 7, i % 7);
            match i {
                _ if i % 3 == 2 => mail(
                    &from,
                    &format!("m{i}@x"),
                    "Re: Question",
                    &format!("In-Reply-To: <m{}@x>\r\n", i - 1),
                    "Thanks, one more thing",
                ),
                _ if i % 13 == 0 => mail(
                    &from,
                    &format!("m{i}@x"),
                    "Out of office",
                    "Auto-Submitted: auto-replied\r\n",
                    "Away",
                ),
                _ => mail(
                    &from,
                    &format!("m{i}@x"),
                    &format!("Question {i}"),
                    "",
                    "Help",
                ),
            }
        })
        .collect();
    // The same message delivered again, a few messages later.
    for i in (9..mails.len()).step_by(10) {
        mails[i] = mails[i - 5].clone();
    }
    let direct = setup(|c| c.ack.max_per_sender_per_hour = 20);
    let held = setup(|c| c.ack.max_per_sender_per_hour = 20);
    let staged = crate::store::Staged::new(&held.store);
    let mut outcomes = (Vec::new(), Vec::new());
    for (i, raw) in mails.iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        let a = direct.process(raw, at);
        let b = process(&held.engine, &staged, raw, at).unwrap();
        outcomes.0.push((a.outcome, a.ticket, a.acknowledged));
        outcomes.1.push((b.outcome, b.ticket, b.acknowledged));
    }
    staged.flush().unwrap();
    assert_eq!(outcomes.0, outcomes.1);
    for k in [
        OutcomeKind::Created,
        OutcomeKind::Appended,
        OutcomeKind::Duplicate,
    ] {
        assert!(
            outcomes.0.iter().any(|o| o.0 == k),
            "the sequence exercises {k:?}"
        );
    }
    let json = |s: &Setup| serde_json::to_string(&s.store.tickets().unwrap()).unwrap();
    assert_eq!(json(&direct), json(&held));
    let ids = |s: &Setup| {
        let mut v: Vec<_> = s
            .store
            .outbox()
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&direct), ids(&held));
    assert_eq!(
        direct.store.acks_to("c1@example.net").unwrap(),
        held.store.acks_to("c1@example.net").unwrap()
    );
    assert!(held.store.pending().unwrap().is_empty());
}

//! Connecting a mailbox that already holds mail: what arrived long before
//! it is read is history, filed without acknowledgement, notification or
//! escalation; what arrived lately is a new request.

use super::tests::{mail, setup, t0};
use super::*;
use crate::model::Status;
use crate::store::View;
use crate::thread::ThreadView;
use chrono::Duration;

fn notifying(cfg: &mut crate::config::Config) {
    cfg.agents = vec!["ola@example.com".into()];
    cfg.queues.insert(
        "general".into(),
        crate::config::QueueCfg {
            notify: vec!["ola@example.com".into()],
            escalation: Some("lead@example.com".into()),
            ..Default::default()
        },
    );
}

#[test]
fn old_mail_is_filed_history_and_new_mail_is_a_request() {
    let s = setup(notifying);
    let march = t0() - Duration::days(260);
    // A request from March 2025 sitting in the mailbox; its Date header
    // claims yesterday, which is not what counts.
    let old = mail(
        "Ann <ann@c.example>",
        "old1@c",
        "Printer broken",
        "Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n",
        "Help",
    )
    .arrived_at(Some(march));
    let o = s.process(&old, t0());
    assert_eq!(o.outcome, OutcomeKind::Created);
    assert!(!o.acknowledged);
    assert!(o.reason.contains("history: it arrived"), "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Filed);
    assert_eq!(t.created, march);
    assert_eq!(t.response_due, None);
    // A reply of hers from the same backlog joins it, and still nobody is told.
    let reply = mail(
        "Ann <ann@c.example>",
        "old2@c",
        "Re: Printer broken",
        "In-Reply-To: <old1@c>\r\n",
        "Still broken",
    )
    .arrived_at(Some(march + Duration::days(1)));
    let o = s.process(&reply, t0());
    assert_eq!((o.outcome, o.ticket), (OutcomeKind::Appended, Some(1000)));
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Filed);
    assert_eq!(t.messages.len(), 2);
    assert!(s.store.outbox().unwrap().is_empty(), "nothing to anyone");
    // And the minute timer never escalates it.
    let notices = crate::escalation::pending_notices(&s.engine, &t, t0() + Duration::days(3));
    assert!(notices.is_empty());

    // Mail that arrived an hour ago is a request like any other.
    let fresh = mail("Bob <bob@c.example>", "new1@c", "Login fails", "", "Help")
        .arrived_at(Some(t0() - Duration::hours(1)));
    let o = s.process(&fresh, t0());
    assert!(o.acknowledged, "{}", o.reason);
    let purposes: Vec<String> = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|e| e.purpose)
        .collect();
    assert_eq!(purposes, ["acknowledgement", "notification"]);

    // A new mail of Ann's on the filed ticket opens it, with an SLA from now.
    let now = t0() + Duration::hours(2);
    let again = mail(
        "Ann <ann@c.example>",
        "new2@c",
        "Re: Printer broken",
        "In-Reply-To: <old2@c>\r\n",
        "Any news?",
    )
    .arrived_at(Some(now));
    s.process(&again, now);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Open);
    assert!(
        t.response_due.is_some_and(|d| d > now),
        "{:?}",
        t.response_due
    );
}

#[test]
fn with_history_hours_zero_every_message_is_new() {
    let s = setup(|cfg| cfg.intake.history_hours = 0);
    let old = mail(
        "Ann <ann@c.example>",
        "old1@c",
        "Printer broken",
        "",
        "Help",
    )
    .arrived_at(Some(t0() - Duration::days(260)));
    assert!(s.process(&old, t0()).acknowledged);
}

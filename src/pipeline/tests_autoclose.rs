//! A ticket left pending by an agent is closed after the configured days,
//! once, with a notice to the customer in their language.

use super::tests::{mail, setup};
use super::tests_agent::{opened, reply_to, sent, team};
use super::*;
use crate::thread::ThreadView;
use crate::{mail::parse, model::Status};

#[test]
fn a_long_pending_ticket_is_closed_once_and_the_customer_told() {
    let s = setup(|c| {
        team(c);
        c.tickets.close_pending_after_days = 7;
    });
    let note = opened(&s);
    let t0 = super::tests::t0();
    s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#pending\r\nCzy może Pani przesłać zdjęcie?",
            None,
        ),
        t0 + Duration::hours(1),
    );
    assert_eq!(
        s.store.ticket(1000).unwrap().unwrap().status,
        Status::Pending
    );

    // Six days later: still waiting.
    crate::autoclose::run(&s.engine, &s.store, t0 + Duration::days(6)).unwrap();
    assert_eq!(
        s.store.ticket(1000).unwrap().unwrap().status,
        Status::Pending
    );
    assert!(sent(&s, "closed").is_empty());

    let at = t0 + Duration::days(7) + Duration::hours(2);
    let summary = crate::autoclose::run(&s.engine, &s.store, at).unwrap();
    assert_eq!(summary, "1 pending tickets closed");
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!((t.status, t.closed), (Status::Closed, Some(at)));
    let notices = sent(&s, "closed");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].recipients, ["anna@c.example"]);
    let raw = &notices[0].raw;
    assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
    assert!(raw.contains("Content-Language: pl"), "{raw}");
    let text = parse::parse(raw.as_bytes(), "n").unwrap().text;
    assert!(
        text.contains("Dzień dobry, Anna Nowak,") && text.contains("zamknęliśmy"),
        "{text}"
    );

    // The timer again: nothing more.
    crate::autoclose::run(&s.engine, &s.store, at + Duration::days(1)).unwrap();
    assert_eq!(sent(&s, "closed").len(), 1);

    // The customer answers the notice: the ticket opens again.
    s.process(
        &mail(
            "anna@c.example",
            "a9@c",
            "Re: [#TB-1000] Ładowarka",
            &format!("In-Reply-To: <{}>\r\n", notices[0].id),
            "Przepraszam, oto zdjęcie.",
        ),
        at + Duration::days(2),
    );
    assert_eq!(s.store.ticket(1000).unwrap().unwrap().status, Status::Open);
}

#[test]
fn auto_close_is_off_by_default() {
    let s = setup(team);
    let note = opened(&s);
    let t0 = super::tests::t0();
    s.process(&reply_to(&note, "r1@example.com", "#pending", None), t0);
    let summary = crate::autoclose::run(&s.engine, &s.store, t0 + Duration::days(365)).unwrap();
    assert_eq!(summary, "auto-close off");
    assert_eq!(
        s.store.ticket(1000).unwrap().unwrap().status,
        Status::Pending
    );
}

//! Threading tests: fixtures from `tests/fixtures/` placed against an
//! in-memory view holding ticket 1000 (Alice's printer) and 1001 (Bob's VPN).

use super::*;
use crate::model::{Party, Priority, Status};
use chrono::TimeZone;
use std::collections::HashMap;
use std::convert::Infallible;

#[derive(Default)]
struct Map {
    tickets: HashMap<TicketId, Ticket>,
    ids: HashMap<String, TicketId>,
    convs: HashMap<String, TicketId>,
}

impl ThreadView for Map {
    type Error = Infallible;
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, Infallible> {
        Ok(self.tickets.get(&id).cloned())
    }
    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>, Infallible> {
        Ok(self.ids.get(id).copied())
    }
    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>, Infallible> {
        Ok(self.convs.get(key).copied())
    }
    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>, Infallible> {
        Ok(self
            .tickets
            .values()
            .filter(|t| t.customer.address == address)
            .map(|t| t.id)
            .collect())
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn ticket(id: TicketId, customer: &str, subject: &str) -> Ticket {
    let mut t = Ticket::new(
        id,
        subject.into(),
        "general".into(),
        Priority::Normal,
        Party::new(None, customer),
        now() - Duration::days(1),
    );
    t.status = Status::Open;
    t
}

fn view() -> Map {
    let mut m = Map::default();
    m.tickets.insert(
        1000,
        ticket(
            1000,
            "alice@customer.example",
            "Printer on 3rd floor is jammed",
        ),
    );
    m.tickets.insert(
        1001,
        ticket(1001, "bob@corp.example", "VPN drops every hour"),
    );
    m.ids
        .insert("CAF1234567890abcdef@mail.gmail.com".into(), 1000);
    m.ids.insert("tb.1000.ack.fixture@example.com".into(), 1000);
    m.ids.insert(
        "AM0PR01MB0000FIRST@AM0PR01MB1234.eurprd01.prod.outlook.com".into(),
        1001,
    );
    m
}

fn cfg() -> ThreadConfig {
    ThreadConfig {
        tags: TagFormat::new("[#TB-{n}]").unwrap(),
        subject_fallback_days: 14,
        generic_subjects: vec!["help".into(), "question".into()],
        agents: vec!["agent@example.com".into()],
    }
}

fn fixture(name: &str) -> Envelope {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap();
    crate::mail::parse::parse(&raw, &crate::intake::content_hash(&raw)).unwrap()
}

fn place_fixture(name: &str, class: Class, v: &Map) -> Placement {
    place(&fixture(name), class, &cfg(), v, now()).unwrap()
}

fn existing(p: &Placement) -> (TicketId, &str) {
    match p {
        Placement::Existing { ticket, via } => (*ticket, via.as_str()),
        other => panic!("expected an existing ticket, got {other:?}"),
    }
}

#[test]
fn gmail_reply_threads_by_tag() {
    let p = place_fixture("gmail-reply.eml", Class::Normal, &view());
    assert_eq!(existing(&p), (1000, "tag [#TB-1000]"));
}

#[test]
fn gmail_reply_without_tag_threads_by_references() {
    let mut e = fixture("gmail-reply.eml");
    e.subject = "Re: Printer on 3rd floor is jammed".into();
    let p = place(&e, Class::Normal, &cfg(), &view(), now()).unwrap();
    assert_eq!(
        existing(&p),
        (1000, "reference <tb.1000.ack.fixture@example.com>")
    );
}

#[test]
fn reply_that_keeps_tag_but_lost_references() {
    let p = place_fixture("tag-without-references.eml", Class::Normal, &view());
    assert_eq!(existing(&p).0, 1000);
}

#[test]
fn outlook_reply_threads_by_in_reply_to() {
    let p = place_fixture("outlook-reply.eml", Class::Normal, &view());
    assert_eq!(existing(&p).0, 1001);
}

#[test]
fn outlook_thread_index_alone_links_a_known_sender() {
    let mut v = view();
    let key = conversation_key(&fixture("outlook-reply.eml")).unwrap();
    v.convs.insert(key, 1001);
    // The second mail's Thread-Index extends the first: same conversation.
    let p = place_fixture("outlook-reply-thread-index-only.eml", Class::Normal, &v);
    assert_eq!(existing(&p), (1001, "Outlook Thread-Index"));
}

#[test]
fn subject_fallback_needs_a_reply_prefix_and_same_sender() {
    // outlook-reply-thread-index-only has "RE: VPN drops every hour" from Bob.
    let p = place_fixture(
        "outlook-reply-thread-index-only.eml",
        Class::Normal,
        &view(),
    );
    assert_eq!(existing(&p).0, 1001);
    assert!(existing(&p).1.contains("same sender and subject"));

    // Same subject without a prefix: a new message (rt's 8859-15 series case).
    let mut e = fixture("outlook-reply-thread-index-only.eml");
    e.subject = "VPN drops every hour".into();
    assert!(matches!(
        place(&e, Class::Normal, &cfg(), &view(), now()).unwrap(),
        Placement::New { .. }
    ));

    // A stranger with the same subject does not join Bob's ticket.
    e.subject = "RE: VPN drops every hour".into();
    e.from = Some(Party::new(None, "eve@other.example"));
    assert!(matches!(
        place(&e, Class::Normal, &cfg(), &view(), now()).unwrap(),
        Placement::New { .. }
    ));

    // Closed or stale tickets are not matched; nor is a generic subject.
    let mut v = view();
    v.tickets.get_mut(&1001).unwrap().status = Status::Closed;
    let p = place_fixture("outlook-reply-thread-index-only.eml", Class::Normal, &v);
    assert!(matches!(p, Placement::New { .. }));
    let mut v = view();
    v.tickets.get_mut(&1001).unwrap().updated = now() - Duration::days(30);
    assert!(matches!(
        place_fixture("outlook-reply-thread-index-only.eml", Class::Normal, &v),
        Placement::New { .. }
    ));
    let mut v = view();
    v.tickets.get_mut(&1001).unwrap().subject = "Help".into();
    let mut e = fixture("outlook-reply-thread-index-only.eml");
    e.subject = "Re: help".into();
    assert!(matches!(
        place(&e, Class::Normal, &cfg(), &v, now()).unwrap(),
        Placement::New { .. }
    ));
}

#[test]
fn stranger_with_a_tag_gets_a_new_linked_ticket() {
    let p = place_fixture("stranger-with-tag.eml", Class::Normal, &view());
    match p {
        Placement::New { linked, reason } => {
            assert_eq!(linked, Some(1000));
            assert!(reason.contains("mallory@attacker.example"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stranger_tag_is_accepted_with_a_matching_reference_or_as_participant() {
    let mut e = fixture("stranger-with-tag.eml");
    e.in_reply_to = vec!["tb.1000.ack.fixture@example.com".into()];
    let p = place(&e, Class::Normal, &cfg(), &view(), now()).unwrap();
    assert_eq!(existing(&p).0, 1000);

    let mut v = view();
    v.tickets
        .get_mut(&1000)
        .unwrap()
        .participants
        .insert("mallory@attacker.example".into());
    let p = place_fixture("stranger-with-tag.eml", Class::Normal, &v);
    assert_eq!(existing(&p).0, 1000);
}

#[test]
fn a_message_whose_reply_came_first_joins_the_reply_ticket() {
    let mut v = view();
    // Alice's reply arrived first and indexed the message it answers.
    v.ids.insert("first-words@customer.example".into(), 1000);
    let mut e = fixture("gmail-reply.eml");
    e.subject = "Printer on 3rd floor is jammed".into();
    e.message_id = "first-words@customer.example".into();
    e.in_reply_to.clear();
    e.references.clear();
    let p = place(&e, Class::Normal, &cfg(), &v, now()).unwrap();
    assert_eq!(existing(&p), (1000, "a reply to it arrived first"));

    // Whoever wrote it: the ticket's own mail named this id (a colleague's
    // reply-all that overtook the original), so the claim is the ticket's,
    // not the sender's.
    e.from = Some(Party::new(None, "colleague@elsewhere.example"));
    assert_eq!(
        existing(&place(&e, Class::Normal, &cfg(), &v, now()).unwrap()),
        (1000, "a reply to it arrived first")
    );
}

#[test]
fn agents_may_use_any_tag() {
    let mut e = fixture("stranger-with-tag.eml");
    e.from = Some(Party::new(None, "agent@example.com"));
    assert_eq!(
        existing(&place(&e, Class::Normal, &cfg(), &view(), now()).unwrap()).0,
        1000
    );
}

#[test]
fn forward_opens_a_new_ticket() {
    let p = place_fixture("forward.eml", Class::Normal, &view());
    assert!(matches!(p, Placement::New { linked: None, .. }));
}

#[test]
fn auto_reply_to_our_ack_joins_the_ticket() {
    let p = place_fixture("auto-reply.eml", Class::AutoReply, &view());
    assert_eq!(existing(&p).0, 1000);
}

#[test]
fn dsn_bounce_finds_the_ticket_of_the_bounced_ack() {
    let p = place_fixture("dsn-bounce.eml", Class::Bounce, &view());
    assert_eq!(
        existing(&p),
        (1000, "reference <tb.1000.ack.fixture@example.com>")
    );
    // Not for normal mail: a forwarded message's id is no reply link.
    let p = place_fixture("dsn-bounce.eml", Class::Normal, &view());
    assert!(matches!(p, Placement::New { .. }));
}

#[test]
fn unknown_tag_number_is_ignored() {
    let mut e = fixture("tag-without-references.eml");
    e.subject = "Re: [#TB-4242] hello again".into();
    let p = place(&e, Class::Normal, &cfg(), &view(), now()).unwrap();
    assert!(matches!(p, Placement::New { linked: None, .. }));
}

#[test]
fn a_retyped_tag_threads_for_the_tickets_people_only() {
    for subject in [
        "[#TB 1000] still jammed",
        "#TB-1000 still jammed",
        "[TB-1000]",
        "[#TB–1000] still",
    ] {
        let e = Envelope {
            subject: subject.into(),
            from: Some(Party::new(None, "alice@customer.example")),
            message_id: "new-1@customer.example".into(),
            ..Envelope::default()
        };
        let p = place(&e, Class::Normal, &cfg(), &view(), now()).unwrap();
        assert_eq!(existing(&p).0, 1000, "{subject}");
        // A stranger retyping it opens their own ticket.
        let stranger = Envelope {
            from: Some(Party::new(None, "mallory@attacker.example")),
            ..e
        };
        match place(&stranger, Class::Normal, &cfg(), &view(), now()).unwrap() {
            Placement::New { .. } => {}
            other => panic!("{subject}: {other:?}"),
        }
    }
}

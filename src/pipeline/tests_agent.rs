//! Agents working by email: notified of customers' mail, their replies
//! passed on to the customer from the support address, commands changing
//! the ticket, mistakes changing nothing.

use super::tests::{Setup, mail, setup, t0};
use super::*;
use crate::config::{Config, QueueCfg};
use crate::model::Priority;
use crate::outbox::OutboxEntry;
use crate::store::View;
use crate::thread::ThreadView;
use crate::{mail::parse, model::Status};
use mail_parser::MimeHeaders;

pub(super) fn team(cfg: &mut Config) {
    cfg.agents = vec!["ola@example.com".into(), "ben@example.com".into()];
    cfg.queues.insert(
        "general".into(),
        QueueCfg {
            notify: vec!["ola@example.com".into(), "ben@example.com".into()],
            ..Default::default()
        },
    );
}

/// Outbox entries (with their raw mail) for `purpose`, oldest first.
pub(super) fn sent(s: &Setup, purpose: &str) -> Vec<OutboxEntry> {
    let mut v: Vec<OutboxEntry> = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == purpose)
        .map(|e| s.store.outbox_entry(&e.id).unwrap().unwrap())
        .collect();
    v.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    v
}

/// The attachments of a parsed mail: (file name, bytes).
pub(super) fn attached(msg: &mail_parser::Message<'_>) -> Vec<(String, Vec<u8>)> {
    msg.attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect()
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines()
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .map(|l| l.split_once(':').map_or("", |(_, v)| v.trim()))
}

/// Ann opens ticket 1000 in Polish; returns the notification Ola got.
pub(super) fn opened(s: &Setup) -> OutboxEntry {
    let o = s.process(
        &mail(
            "Anna Nowak <anna@c.example>",
            "a1@c",
            "Ładowarka nie działa",
            "",
            "Dzień dobry, ładowarka przestała działać po tygodniu. Proszę o wymianę.",
        ),
        t0(),
    );
    assert_eq!(o.ticket, Some(1000));
    let notes = sent(s, "notification");
    let mut told: Vec<String> = notes.iter().map(|e| e.recipients.join(",")).collect();
    told.sort();
    assert_eq!(
        told,
        ["ben@example.com", "ola@example.com"],
        "the queue's agents are told, each once"
    );
    notes
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap()
}

/// Ola's reply to `note`: `top` above a quote of the notification.
pub(super) fn reply_to(
    note: &OutboxEntry,
    id: &str,
    top: &str,
    extra_parts: Option<&str>,
) -> RawMail {
    let parent = header(&note.raw, "Message-ID").unwrap();
    let quoted: String = parse::parse(note.raw.as_bytes(), "n")
        .unwrap()
        .text
        .lines()
        .map(|l| format!("> {l}\r\n"))
        .collect();
    let text = format!(
        "{top}\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\r\n{quoted}"
    );
    let (ctype, body) = match extra_parts {
        None => ("text/plain; charset=utf-8".to_owned(), text),
        Some(attachment) => (
            "multipart/mixed; boundary=\"b1\"".to_owned(),
            format!(
                "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b1\r\n\
                 Content-Type: text/plain; name=\"label.txt\"\r\n\
                 Content-Disposition: attachment; filename=\"label.txt\"\r\n\r\n{attachment}\r\n--b1--\r\n"
            ),
        ),
    };
    let raw = format!(
        "From: Ola Kowalska <ola@example.com>\r\nTo: support@example.com\r\n\
         Subject: Re: {}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {parent}\r\n\
         MIME-Version: 1.0\r\nContent-Type: {ctype}\r\n\r\n{body}",
        note.subject
    );
    RawMail::new(raw.into_bytes(), format!("test:{id}"), None)
}

#[test]
fn an_agents_answer_reaches_the_customer_from_the_support_address() {
    let s = setup(team);
    let note = opened(&s);
    assert_eq!(
        header(&note.raw, "From"),
        Some("\"Example Support\" <support@example.com>")
    );
    let text = parse::parse(note.raw.as_bytes(), "n").unwrap().text;
    assert!(
        text.contains("przestała działać"),
        "the customer's words: {text}"
    );
    assert!(text.contains(crate::agent::REPLY_ABOVE));

    let o = s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#pending\r\nDzień dobry Pani Anno,\r\nwysłaliśmy nową ładowarkę.\r\n\r\nOla",
            Some("DHL 123456"),
        ),
        t0() + Duration::hours(1),
    );
    assert_eq!((o.outcome, o.ticket), (OutcomeKind::Appended, Some(1000)));
    assert!(
        o.reason.contains("answer sent to anna@c.example"),
        "{}",
        o.reason
    );

    let replies = sent(&s, "reply");
    assert_eq!(replies.len(), 1);
    let r = &replies[0];
    assert_eq!(r.recipients, ["anna@c.example"], "only the customer");
    assert_eq!(r.envelope_from, "support@example.com");
    let from = parse::parse(r.raw.as_bytes(), "r").unwrap().from.unwrap();
    assert_eq!(
        from.to_string(),
        "Ola Kowalska (Example Support) <support@example.com>"
    );
    assert_eq!(header(&r.raw, "Auto-Submitted"), None, "a person's answer");
    assert_eq!(header(&r.raw, "Content-Language"), Some("pl"));
    let ack_id = sent(&s, "acknowledgement")[0].id.clone();
    assert_eq!(
        header(&r.raw, "In-Reply-To"),
        Some(format!("<{ack_id}>").as_str())
    );
    let refs = header(&r.raw, "References").unwrap();
    assert!(
        refs.contains("<a1@c>") && !refs.contains("r1@example.com") && !refs.contains(".notify."),
        "{refs}"
    );

    let msg = mail_parser::MessageParser::default()
        .parse(r.raw.as_bytes())
        .unwrap();
    let body = msg.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(
        body.starts_with("Dzień dobry Pani Anno,\nwysłaliśmy nową ładowarkę.\n\nOla"),
        "{body}"
    );
    assert!(
        !body.contains("#pending") && !body.contains("przestała") && !body.contains("priority"),
        "no command, no quote: {body}"
    );
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains("<p>Dzień dobry Pani Anno,<br>wysłaliśmy nową ładowarkę.</p>"),
        "{html}"
    );
    let files = attached(&msg);
    assert_eq!(files, [("label.txt".to_owned(), b"DHL 123456".to_vec())]);

    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Pending);
    assert_eq!(
        t.assignee.as_deref(),
        Some("ola@example.com"),
        "who answers, owns"
    );
    assert_eq!(t.first_response_at, Some(t0() + Duration::hours(1)));
    // Processing the same reply again sends nothing more.
    let again = s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#pending\r\nDzień dobry Pani Anno,\r\nwysłaliśmy nową ładowarkę.\r\n\r\nOla",
            Some("DHL 123456"),
        ),
        t0() + Duration::hours(2),
    );
    assert_eq!(again.outcome, OutcomeKind::Duplicate);
    assert_eq!(sent(&s, "reply").len(), 1);

    // The customer answers: the ticket reopens and only the assignee hears.
    let before = sent(&s, "notification").len();
    s.process(
        &mail(
            "anna@c.example",
            "a2@c",
            "Re: [#TB-1000] Ładowarka",
            &format!("In-Reply-To: <{}>\r\n", r.id),
            "Dziękuję, dotarła.",
        ),
        t0() + Duration::hours(3),
    );
    let notes = sent(&s, "notification");
    assert_eq!(notes.len(), before + 1);
    assert_eq!(notes.last().unwrap().recipients, ["ola@example.com"]);
    assert_eq!(s.store.ticket(1000).unwrap().unwrap().status, Status::Open);
}

#[test]
fn commands_alone_change_the_ticket_and_send_nothing() {
    let s = setup(team);
    let note = opened(&s);
    s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#priority urgent #tag refund\r\n#assign ben@example.com",
            None,
        ),
        t0() + Duration::minutes(5),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.priority, Priority::Urgent);
    assert_eq!(
        t.response_due,
        Some(t0() + Duration::hours(1)),
        "urgent: one business hour"
    );
    assert!(t.tags.contains("refund"));
    assert_eq!(t.assignee.as_deref(), Some("ben@example.com"));
    assert_eq!(
        t.first_response_at, None,
        "the customer has not heard from us"
    );
    assert!(sent(&s, "reply").is_empty());

    s.process(
        &reply_to(&note, "r2@example.com", "#close", None),
        t0() + Duration::minutes(9),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        (t.status, t.closed),
        (Status::Closed, Some(t0() + Duration::minutes(9)))
    );
    assert!(sent(&s, "reply").is_empty());
}

#[test]
fn a_note_stays_inside() {
    let s = setup(team);
    let note = opened(&s);
    let o = s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#note\r\nCalled her, a courier is on the way.",
            None,
        ),
        t0() + Duration::minutes(5),
    );
    assert!(o.reason.contains("internal note"), "{}", o.reason);
    assert!(sent(&s, "reply").is_empty());
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.first_response_at, None);
    assert!(
        t.messages.contains(&"r1@example.com".to_owned()),
        "kept with the ticket"
    );
}

#[test]
fn a_mistyped_command_changes_nothing_and_tells_the_agent() {
    let s = setup(team);
    let note = opened(&s);
    let before = s.store.ticket(1000).unwrap().unwrap();
    let o = s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#clsoe #queue sales\r\nWe refunded you.",
            None,
        ),
        t0() + Duration::minutes(5),
    );
    assert!(o.reason.contains("refused"), "{}", o.reason);
    assert!(sent(&s, "reply").is_empty(), "nothing reaches the customer");
    let after = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        (after.status, &after.queue, after.first_response_at),
        (before.status, &before.queue, None)
    );
    let errors = sent(&s, "notification")
        .into_iter()
        .filter(|e| e.recipients == ["ola@example.com"] && e.subject.contains("not sent"))
        .collect::<Vec<_>>();
    assert_eq!(errors.len(), 1);
    let text = parse::parse(errors[0].raw.as_bytes(), "e").unwrap().text;
    assert!(
        text.contains("line 1: #clsoe: unknown command; did you mean #close?"),
        "{text}"
    );
    assert!(
        text.contains("line 1: #queue: no queue named \"sales\""),
        "{text}"
    );
    assert!(
        text.contains("We refunded you."),
        "their answer is given back: {text}"
    );
}

#[test]
fn a_polish_team_is_told_every_mistake_in_polish_with_its_line() {
    let s = setup(|cfg| {
        team(cfg);
        cfg.support.team_language = "pl".into();
    });
    let note = opened(&s);
    s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#oczekuje\r\n#zamnkij #kolejka sprzedaz\r\n#przypisz adam@example.com\r\nDzień dobry, wysłaliśmy nową ładowarkę.",
            None,
        ),
        t0() + Duration::minutes(5),
    );
    let errors: Vec<_> = sent(&s, "notification")
        .into_iter()
        .filter(|e| e.recipients == ["ola@example.com"] && e.subject.contains("nie wysłano"))
        .collect();
    assert_eq!(errors.len(), 1);
    let text = parse::parse(errors[0].raw.as_bytes(), "e").unwrap().text;
    for line in [
        "wiersz 2: #zamnkij: nieznane polecenie; czy chodziło o #zamknij?",
        "wiersz 2: #kolejka: nie ma kolejki \"sprzedaz\" (kolejki: billing, general, technical)",
        "wiersz 3: #przypisz: adam@example.com nie jest agentem",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(!text.contains("unknown command"), "{text}");
    assert!(sent(&s, "reply").is_empty());
}

#[test]
fn queue_notify_must_name_agents() {
    let err = Config::parse(
        "agents = [\"ola@example.com\"]\n[queues.general]\nnotify = [\"boss@example.com\"]\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("queues.general.notify: \"boss@example.com\" is not in `agents`"),
        "{err}"
    );
}

#[test]
fn a_forged_agent_address_is_quarantined_when_authentication_is_required() {
    let s = setup(|c| {
        team(c);
        c.agents_authserv_id = "mx.example.com".into();
    });
    let note = opened(&s);
    let forged = reply_to(
        &note,
        "r1@evil.example",
        "#close\r\nYour account is closed.",
        None,
    );
    let o = s.process(&forged, t0() + Duration::minutes(5));
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(
        o.reason.contains("from agent address ola@example.com but not authenticated: no Authentication-Results from mx.example.com"),
        "{}",
        o.reason
    );
    assert!(sent(&s, "reply").is_empty());
    assert_eq!(s.store.ticket(1000).unwrap().unwrap().status, Status::New);

    // The same reply as our mail server vouched for it goes through.
    let real = reply_to(
        &note,
        "r2@example.com",
        "Hello, a courier is on the way.",
        None,
    );
    let mut bytes =
        b"Authentication-Results: mx.example.com; dkim=pass (ok) header.d=example.com\r\n".to_vec();
    bytes.extend_from_slice(&real.bytes);
    let o = s.process(
        &RawMail::new(bytes, "test:r2".into(), None),
        t0() + Duration::minutes(6),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended, "{}", o.reason);
    assert_eq!(sent(&s, "reply").len(), 1);
}

#[test]
fn an_admin_releases_quarantined_mail() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("spam.toml"),
        "[[rule]]\nname = \"casino\"\nwhen = { subject = \"casino\" }\nthen = { spam = true }\n",
    )
    .unwrap();
    let s = setup(|c| {
        team(c);
        c.rules_dir = rules.path().to_owned();
        c.agents_authserv_id = "mx.example.com".into();
    });
    let staged = crate::store::Staged::new(&s.store);
    let casino = mail(
        "Kim <kim@c.example>",
        "k1@c",
        "Casino night for our team",
        "",
        "Can we book the hall?",
    );
    let o = process(&s.engine, &staged, &casino, t0()).unwrap();
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    let unreadable = RawMail::new(b"no header block at all".to_vec(), "test:bad".into(), None);
    assert_eq!(
        process(&s.engine, &staged, &unreadable, t0())
            .unwrap()
            .outcome,
        OutcomeKind::Quarantined
    );

    // Released from the held batch and from the store alike.
    let o = crate::ops::release(&s.engine, &staged, &casino.hash[..8], t0()).unwrap();
    assert_eq!(
        (o.outcome, o.ticket, o.acknowledged),
        (OutcomeKind::Created, Some(1000), true),
        "{}",
        o.reason
    );
    assert!(!staged.is_quarantined(&casino.hash).unwrap());
    staged.write_out().unwrap();
    assert!(!s.store.is_quarantined(&casino.hash).unwrap());
    assert_eq!(
        s.store.quarantined().unwrap().len(),
        1,
        "the unreadable one stays"
    );
    let again = crate::ops::release(&s.engine, &s.store, &casino.hash[..8], t0()).unwrap_err();
    assert!(
        again.to_string().starts_with("no quarantined message"),
        "{again}"
    );

    // Mail that still cannot be read stays quarantined, with its reason.
    let o = crate::ops::release(&s.engine, &s.store, &unreadable.hash, t0()).unwrap();
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(s.store.is_quarantined(&unreadable.hash).unwrap());
    assert!(
        crate::ops::release(&s.engine, &s.store, "abc", t0()).is_err(),
        "too short a prefix"
    );

    // An agent's mail the mail server did not vouch for, released by an
    // admin who checked it, is acted on.
    let note = sent(&s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap();
    let unsigned = reply_to(
        &note,
        "r1@example.com",
        "We have booked the hall for you.",
        None,
    );
    assert_eq!(s.process(&unsigned, t0()).outcome, OutcomeKind::Quarantined);
    let o = crate::ops::release(&s.engine, &s.store, &unsigned.hash[..10], t0()).unwrap();
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Appended, Some(1000)),
        "{}",
        o.reason
    );
    assert_eq!(sent(&s, "reply").len(), 1);
}

#[test]
fn an_agent_who_wrote_to_the_customer_directly_is_not_passed_on_twice() {
    let s = setup(team);
    let note = opened(&s);
    // Reply-all: the customer in To, support in Cc.
    let mut raw = String::from_utf8(
        reply_to(&note, "r1@example.com", "A courier comes tomorrow.", None).bytes,
    )
    .unwrap();
    raw = raw.replacen(
        "To: support@example.com",
        "To: anna@c.example\r\nCc: support@example.com",
        1,
    );
    let o = s.process(
        &RawMail::new(raw.into_bytes(), "test:r1".into(), None),
        t0() + Duration::hours(1),
    );
    assert!(
        o.reason.contains("answered anna@c.example directly"),
        "{}",
        o.reason
    );
    assert!(sent(&s, "reply").is_empty(), "the customer has it already");
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.first_response_at, Some(t0() + Duration::hours(1)));
    assert_eq!(t.assignee.as_deref(), Some("ola@example.com"));
}

//! Satisfaction ratings: the closing mail (an agent's closing answer, an
//! agent's bare #close, the auto-close timer) asks in the customer's
//! language; a number in reply, or a signed link, is recorded once per
//! ticket, never reopens it and gets no acknowledgement; a low one reaches
//! the queue's agents; a link edited for another ticket is refused.

use super::tests::{Setup, mail, setup, t0};
use super::tests_agent::{opened, reply_to, sent, team};
use super::*;
use crate::model::{RatedVia, Status};
use crate::outbox::OutboxEntry;
use crate::store::View;
use crate::thread::ThreadView;

const UTF8: &str = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n";

fn text_of(e: &OutboxEntry) -> String {
    crate::mail::parse::parse(e.raw.as_bytes(), "x")
        .unwrap()
        .text
        .replace("\r\n", "\n")
}

fn html_of(e: &OutboxEntry) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(e.raw.as_bytes())
        .unwrap();
    msg.body_html(0).map(|h| h.into_owned()).unwrap_or_default()
}

/// The subject the link for `score` in `e`'s HTML opens a mail with.
fn link_subject(e: &OutboxEntry, score: u8) -> String {
    let html = html_of(e);
    let hrefs: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("mailto:"))
        .collect();
    assert_eq!(hrefs.len(), 5, "one link per score: {html}");
    let href = hrefs[usize::from(score) - 1];
    let (to, query) = href.trim_start_matches("mailto:").split_once('?').unwrap();
    assert_eq!(to, "support@example.com", "{href}");
    let subject = query.strip_prefix("subject=").unwrap();
    // Percent-decoded as a mail client does.
    let mut bytes = Vec::new();
    let mut it = subject.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next().unwrap(), it.next().unwrap()];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// The customer's reply to `e` (quoting it, as clients do).
fn answer(from: &str, id: &str, e: &OutboxEntry, top: &str) -> RawMail {
    let quoted: String = text_of(e).lines().map(|l| format!("> {l}\r\n")).collect();
    mail(
        from,
        id,
        &format!("Re: {}", e.subject),
        &format!(
            "{UTF8}In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
            e.id, e.id
        ),
        &format!(
            "{top}\r\n\r\nOn Mon, 30 Nov 2026, Support <support@example.com> wrote:\r\n{quoted}"
        ),
    )
}

fn acks(s: &Setup) -> usize {
    sent(s, "acknowledgement").len()
}

#[test]
fn a_closing_answer_asks_and_a_number_in_reply_is_recorded_without_reopening() {
    let s = setup(team);
    let note = opened(&s);
    let at = t0() + Duration::hours(2);
    s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#close\r\nDzień dobry, wysłaliśmy nową ładowarkę.",
            None,
        ),
        at,
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Closed);
    assert_eq!(t.rating_asked, Some(at));
    // The answer itself asks, in Polish; no second mail does.
    let replies = sent(&s, "reply");
    assert_eq!(replies.len(), 1);
    let text = text_of(&replies[0]);
    assert!(
        text.contains("wysłaliśmy nową ładowarkę") && text.contains("Jak nam poszło?"),
        "{text}"
    );
    assert!(sent(&s, "closed").is_empty());
    assert!(link_subject(&replies[0], 4).starts_with("Ocena 4 [#TB-1000] csat-1000-4-"));

    let before = acks(&s);
    let later = at + Duration::days(1);
    let o = s.process(
        &answer(
            "Anna Nowak <anna@c.example>",
            "a2@c",
            &replies[0],
            "5 dziękuję, szybko i konkretnie!",
        ),
        later,
    );
    assert_eq!(
        (o.outcome, o.ticket, o.acknowledged),
        (OutcomeKind::Appended, Some(1000), false),
        "{}",
        o.reason
    );
    assert!(o.reason.contains("rating 5 of 5 recorded"), "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Closed, "a rating never reopens");
    let r = t.rating.unwrap();
    assert_eq!(
        (r.score, r.words.as_str(), r.via, r.by.as_str()),
        (
            5,
            "dziękuję, szybko i konkretnie!",
            RatedVia::Reply,
            "anna@c.example"
        )
    );
    assert!(
        t.messages.contains(&"a2@c".to_owned()),
        "kept in the history"
    );
    assert_eq!(acks(&s), before, "no acknowledgement");
    assert!(
        sent(&s, "notification")
            .iter()
            .all(|e| !e.subject.contains("rated"))
    );
}

#[test]
fn a_bare_close_mails_the_customer_and_a_low_rating_reaches_the_agents() {
    let s = setup(team);
    s.process(
        &mail(
            "Dana Smith <dana@c.example>",
            "d1@c",
            "Printer jams on every page",
            UTF8,
            "Hello, our office printer jams on every page since Monday. Can you help?",
        ),
        t0(),
    );
    let note = sent(&s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap();
    let at = t0() + Duration::hours(3);
    s.process(&reply_to(&note, "r1@example.com", "#close", None), at);
    let closed = sent(&s, "closed");
    assert_eq!(closed.len(), 1, "the customer hears it was closed");
    assert_eq!(closed[0].recipients, ["dana@c.example"]);
    let text = text_of(&closed[0]);
    assert!(
        text.contains("we have closed [#TB-1000]")
            && !text.contains("not heard back")
            && text.contains("from 1 (poor) to 5 (very good)"),
        "{text}"
    );

    let o = s.process(
        &answer(
            "Dana Smith <dana@c.example>",
            "d2@c",
            &closed[0],
            "2 - nobody read my second mail.\r\nThe printer still jams.",
        ),
        at + Duration::hours(1),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended, "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Closed);
    assert_eq!(t.rating.as_ref().map(|r| r.score), Some(2));
    let told: Vec<OutboxEntry> = sent(&s, "notification")
        .into_iter()
        .filter(|e| e.subject.contains("rated 2 of 5"))
        .collect();
    let mut to: Vec<String> = told.iter().map(|e| e.recipients.join(",")).collect();
    to.sort();
    assert_eq!(to, ["ben@example.com", "ola@example.com"], "{}", o.reason);
    let words = text_of(&told[0]);
    assert!(
        words.contains("nobody read my second mail.\nThe printer still jams."),
        "{words:?}"
    );

    // A later rating replaces it (and a good one tells nobody).
    let o = s.process(
        &answer("dana@c.example", "d3@c", &closed[0], "4"),
        at + Duration::days(1),
    );
    assert!(o.reason.contains("replaces 2"), "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        t.rating.map(|r| (r.score, r.words)),
        Some((4, String::new()))
    );
    assert_eq!(
        sent(&s, "notification")
            .iter()
            .filter(|e| e.subject.contains("rated"))
            .count(),
        2
    );
}

#[test]
fn a_link_rates_its_ticket_and_a_link_edited_for_another_is_refused() {
    let s = setup(team);
    for (who, id, subject) in [
        ("dana@c.example", "d1@c", "Printer jams"),
        ("eve@e.example", "e1@e", "Invoice twice"),
    ] {
        s.process(&mail(who, id, subject, UTF8, "Please help."), t0());
    }
    let note = |ticket: u64| {
        sent(&s, "notification")
            .into_iter()
            .find(|e| {
                e.recipients == ["ola@example.com"] && e.subject.contains(&format!("#TB-{ticket}"))
            })
            .unwrap()
    };
    let (n0, n1) = (note(1000), note(1001));
    s.process(&reply_to(&n0, "r1@example.com", "#close", None), t0());
    s.process(&reply_to(&n1, "r2@example.com", "#close", None), t0());
    let closed = sent(&s, "closed");
    let dana = closed
        .iter()
        .find(|e| e.recipients == ["dana@c.example"])
        .unwrap();

    // Her client opens a new mail with the link's subject (no reference).
    let subject = link_subject(dana, 4);
    let o = s.process(
        &mail(
            "dana@c.example",
            "d2@c",
            &subject,
            UTF8,
            "Quick and friendly, thank you.",
        ),
        t0() + Duration::hours(1),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended, "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    let r = t.rating.unwrap();
    assert_eq!(
        (r.score, r.via, r.words.as_str(), t.status),
        (
            4,
            RatedVia::Link,
            "Quick and friendly, thank you.",
            Status::Closed
        )
    );

    // The same token with Eve's ticket number, or another score: refused.
    let tickets = s.store.tickets().unwrap().len();
    let forged = [
        subject.replace("csat-1000-", "csat-1001-"),
        subject.replace("-4-", "-1-"),
    ];
    for (i, f) in forged.iter().enumerate() {
        let o = s.process(
            &mail("mallory@m.example", &format!("m{i}@m"), f, UTF8, "1"),
            t0() + Duration::hours(2),
        );
        assert_eq!(o.outcome, OutcomeKind::Ignored, "{f}: {}", o.reason);
        assert!(o.reason.contains("rating refused"), "{}", o.reason);
    }
    let eve = s.store.ticket(1001).unwrap().unwrap();
    assert_eq!((eve.rating, eve.status), (None, Status::Closed));
    assert_eq!(
        s.store.ticket(1000).unwrap().unwrap().rating.unwrap().score,
        4
    );
    assert_eq!(
        s.store.tickets().unwrap().len(),
        tickets,
        "no ticket opened"
    );
}

#[test]
fn the_timer_asks_in_hebrew_and_a_hebrew_rating_is_read() {
    let s = setup(|c| {
        team(c);
        c.tickets.close_pending_after_days = 5;
    });
    s.process(
        &mail(
            "דנה כהן <dana@c.example>",
            "h1@c",
            "המדפסת לא מדפיסה",
            UTF8,
            "שלום, המדפסת במשרד הפסיקה להדפיס מאז יום שני. אשמח לעזרה בהקדם.",
        ),
        t0(),
    );
    let note = sent(&s, "notification")
        .into_iter()
        .find(|e| e.recipients == ["ola@example.com"])
        .unwrap();
    s.process(
        &reply_to(
            &note,
            "r1@example.com",
            "#pending\r\nהאם אפשר לשלוח צילום?",
            None,
        ),
        t0() + Duration::hours(1),
    );
    let at = t0() + Duration::days(6);
    crate::autoclose::run(&s.engine, &s.store, at).unwrap();
    let closed = sent(&s, "closed");
    assert_eq!(closed.len(), 1);
    let text = text_of(&closed[0]);
    assert!(
        text.contains("לא קיבלנו ממך תשובה") && text.contains("מ-1 (גרוע) עד 5 (טוב מאוד)"),
        "{text}"
    );
    let html = html_of(&closed[0]);
    assert!(html.contains("dir=\"rtl\""), "{html}");
    assert!(link_subject(&closed[0], 5).starts_with("דירוג 5 [#TB-1000] csat-1000-5-"));

    let o = s.process(
        &answer("dana@c.example", "h2@c", &closed[0], "5 תודה רבה"),
        at + Duration::hours(1),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended, "{}", o.reason);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Closed);
    assert_eq!(
        t.rating.map(|r| (r.score, r.words)),
        Some((5, "תודה רבה".into()))
    );
}

#[test]
fn what_is_not_a_rating_reopens_as_before() {
    let s = setup(team);
    let note = opened(&s);
    s.process(&reply_to(&note, "r1@example.com", "#close", None), t0());
    let closed = sent(&s, "closed");
    // A letter that starts with a number is about something else.
    let o = s.process(
        &answer(
            "anna@c.example",
            "a2@c",
            &closed[0],
            "2 ładowarki nadal nie działają, czy mogą Państwo sprawdzić jeszcze raz? Próbowaliśmy wszystkiego.",
        ),
        t0() + Duration::hours(1),
    );
    assert_eq!(o.outcome, OutcomeKind::Appended);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!((t.status, t.rating), (Status::Open, None));
}

#[test]
fn only_the_customer_or_someone_they_copied_rates_by_reply() {
    let s = setup(team);
    let note = opened(&s);
    s.process(&reply_to(&note, "r1@example.com", "#close", None), t0());
    let closed = sent(&s, "closed");
    s.process(
        &answer("stranger@x.example", "x1@x", &closed[0], "1"),
        t0() + Duration::hours(1),
    );
    assert_eq!(s.store.ticket(1000).unwrap().unwrap().rating, None);
}

#[test]
fn a_queue_without_ratings_closes_quietly_as_before() {
    let s = setup(|c| {
        team(c);
        if let Some(q) = c.queues.get_mut("general") {
            q.csat = Some(false);
        }
        c.tickets.close_pending_after_days = 5;
    });
    let note = opened(&s);
    s.process(&reply_to(&note, "r1@example.com", "#close", None), t0());
    assert!(
        sent(&s, "closed").is_empty(),
        "an agent's close stays silent"
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.rating_asked, None);
    // A "4" is then an ordinary reply: it opens the ticket again.
    s.process(
        &mail(
            "anna@c.example",
            "a2@c",
            "Re: [#TB-1000] Ładowarka nie działa",
            UTF8,
            "4",
        ),
        t0() + Duration::hours(1),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!((t.status, t.rating), (Status::Open, None));
}

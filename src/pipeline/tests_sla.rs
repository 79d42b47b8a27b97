//! Acknowledgements in the customer's language with honest due times, and
//! the SLA life of a ticket, on a fixed clock.

use super::tests::{Setup, mail, setup, t0};
use super::*;
use crate::calendar::CalendarCfg;
use crate::config::Config;
use crate::store::View;
use crate::thread::ThreadView;
use crate::{mail::parse, model::Status};

fn warsaw(cfg: &mut Config) {
    cfg.calendars.insert(
        "default".into(),
        CalendarCfg {
            timezone: "Europe/Warsaw".into(),
            ..CalendarCfg::default()
        },
    );
    cfg.queues.insert(
        "general".into(),
        crate::config::QueueCfg {
            escalation: Some("lead@example.com".into()),
            ..Default::default()
        },
    );
}

fn fixture(name: &str) -> RawMail {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    RawMail::new(std::fs::read(path).unwrap(), name.into(), None)
}

/// The acknowledgement queued for ticket `id`, parsed.
fn ack_of(s: &Setup, id: u64) -> (Envelope, String, String) {
    let e = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .find(|e| e.ticket == id && e.purpose == "acknowledgement")
        .expect("an acknowledgement");
    let e = s.store.outbox_entry(&e.id).unwrap().unwrap();
    let mut env = parse::parse(e.raw.as_bytes(), "x").unwrap();
    env.text = env.text.replace("\r\n", "\n");
    let html = mail_parser::MessageParser::default()
        .parse(e.raw.as_bytes())
        .and_then(|m| m.body_html(0).map(|h| h.into_owned()))
        .unwrap_or_default();
    (env, e.raw, html)
}

#[test]
fn hebrew_polish_english_acknowledgements_with_due_times() {
    // Monday 23 Nov 2026 09:00 UTC = 10:00 in Warsaw; the team works
    // Mon–Fri 09–17 Warsaw time; normal priority = one working day (8h):
    // due Tuesday 10:00 Warsaw.
    let s = setup(warsaw);
    crate::ops::set_customer(
        &s.store,
        "dana@example.co.il",
        None,
        Some("Asia/Jerusalem".into()),
    )
    .unwrap();

    s.process(&fixture("hebrew-windows-1255.eml"), t0());
    let (he, raw, html) = ack_of(&s, 1000);
    assert!(raw.contains("Content-Language: he"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(he.text.contains("שלום דנה כהן,"), "{}", he.text);
    // In the customer's zone: 10:00 Warsaw = 11:00 Jerusalem.
    assert!(
        he.text.contains("נשיב עד יום שלישי, 24 בנובמבר, 11:00."),
        "{}",
        he.text
    );
    assert!(html.contains(r#"<html lang="he" dir="rtl">"#), "{html}");
    assert!(
        html.contains("דנה כהן"),
        "names are escaped, not lost: {html}"
    );

    s.process(&fixture("polish-iso-8859-2.eml"), t0());
    let (pl, raw, html) = ack_of(&s, 1001);
    assert!(raw.contains("Content-Language: pl"));
    assert!(
        pl.text.contains("Dzień dobry, Łukasz Żółkiewski,"),
        "{}",
        pl.text
    );
    assert!(
        pl.text
            .contains("Odpowiemy do wtorku, 24 listopada, 10:00 (UTC+1)."),
        "{}",
        pl.text
    );
    assert!(html.contains(r#"dir="ltr""#));

    s.process(&fixture("english-new.eml"), t0());
    let (en, raw, _) = ack_of(&s, 1002);
    assert!(raw.contains("Content-Language: en"));
    assert!(en.text.contains("Hello Alice Walker,"), "{}", en.text);
    assert!(
        en.text
            .contains("We expect to reply by Tuesday, 24 November, 09:00 (UTC)."),
        "{}",
        en.text
    );
}

#[test]
fn promised_times_are_in_the_customers_zone_or_say_theirs() {
    // The team works Mon–Fri 09–17 in Warsaw; due Tuesday 24 November 10:00
    // Warsaw = 09:00 UTC = 04:00 in New York.
    let s = setup(warsaw);
    // Outlook in New York: Date carries -0500. They are told their own
    // clock's time, and which clock that is.
    s.process(
        &mail(
            "Nora <nora@ny.example>",
            "ny1@x",
            "Invoice question",
            "Date: Mon, 23 Nov 2026 04:00:00 -0500\r\n",
            "Hello",
        ),
        t0(),
    );
    let (ny, _, html) = ack_of(&s, 1000);
    assert!(
        ny.text
            .contains("We expect to reply by Tuesday, 24 November, 04:00 (UTC-5)."),
        "{}",
        ny.text
    );
    assert!(html.contains("04:00 (UTC-5)"), "{html}");

    // Their next mail comes from a phone in another zone: the agent's later
    // mail to them follows their latest clock.
    s.process(
        &mail(
            "Nora <nora@ny.example>",
            "ny2@x",
            "Re: [#TB-1000] Invoice question",
            "Date: Mon, 23 Nov 2026 02:00:00 -0700\r\nIn-Reply-To: <ny1@x>\r\n",
            "More",
        ),
        t0(),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.customer_offset, Some(-7 * 60));

    // No Date header and no stated zone: the team's zone, named.
    s.process(
        &mail(
            "Olek <olek@c.example>",
            "o1@x",
            "Faktura",
            "",
            "Dzień dobry",
        ),
        t0(),
    );
    let (pl, _, _) = ack_of(&s, 1001);
    assert!(pl.text.contains("(UTC+1)"), "{}", pl.text);

    // A zone the customer stated is theirs: no label.
    crate::ops::set_customer(
        &s.store,
        "zed@c.example",
        None,
        Some("America/Chicago".into()),
    )
    .unwrap();
    s.process(
        &mail(
            "Zed <zed@c.example>",
            "z1@x",
            "Help",
            "Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n",
            "Hi",
        ),
        t0(),
    );
    let (zed, _, _) = ack_of(&s, 1002);
    assert!(
        zed.text
            .contains("We expect to reply by Tuesday, 24 November, 03:00."),
        "{}",
        zed.text
    );
}

#[test]
fn customer_text_is_escaped_in_html() {
    let s = setup(|_| {});
    s.process(
        &mail(
            "\"<script>alert(1)</script>\" <x@c.example>",
            "x1@c",
            "<b>bold</b> & more",
            "",
            "hi",
        ),
        t0(),
    );
    let (_, _, html) = ack_of(&s, 1000);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;b&gt;bold&lt;&#x2f;b&gt; &amp; more"),
        "{html}"
    );
    assert!(html.contains("Hello &lt;script&gt;"), "{html}");
}

#[test]
fn the_stored_language_preference_wins() {
    let s = setup(|_| {});
    crate::ops::set_customer(&s.store, "alice@customer.example", Some("pl".into()), None).unwrap();
    s.process(&fixture("english-new.eml"), t0());
    let (env, _, _) = ack_of(&s, 1000);
    assert!(
        env.text.starts_with("Dzień dobry, Alice Walker,"),
        "{}",
        env.text
    );
}

#[test]
fn other_open_tickets_and_a_recent_follow_up_are_mentioned() {
    let s = setup(|_| {});
    s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Printer broken", "", "x"),
        t0(),
    );
    s.process(
        &mail("Ann <ann@c.example>", "a2@c", "Invoice wrong", "", "x"),
        t0(),
    );
    crate::ops::set_status(
        &s.engine,
        &s.store,
        1001,
        Status::Closed,
        t0() + Duration::hours(1),
    )
    .unwrap();
    s.process(
        &mail("Ann <ann@c.example>", "a3@c", "Another thing", "", "x"),
        t0() + Duration::days(2),
    );
    let (env, _, _) = ack_of(&s, 1002);
    assert!(
        env.text
            .contains("Your other open requests:\n  [#TB-1000] Printer broken"),
        "{}",
        env.text
    );
    assert!(
        env.text.contains(
            "follow up on [#TB-1001] \"Invoice wrong\",\nclosed on Monday, 23 November, 10:00"
        ),
        "{}",
        env.text
    );
    assert_eq!(s.store.ticket(1002).unwrap().unwrap().links, vec![1001]);
}

#[test]
fn first_agent_answer_records_whether_the_target_was_met() {
    let s = setup(|c| c.agents = vec!["agent@example.com".into()]);
    s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Printer", "", "x"),
        t0(),
    );
    s.process(&mail("Bob <bob@c.example>", "b1@c", "VPN", "", "x"), t0());
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.response_due, Some(t0() + Duration::hours(8)));
    // The agent answers 1000 within the day, 1001 two days later.
    s.process(
        &mail(
            "agent@example.com",
            "r1@x",
            "Re: [#TB-1000] Printer",
            "",
            "On it",
        ),
        t0() + Duration::hours(2),
    );
    s.process(
        &mail(
            "agent@example.com",
            "r2@x",
            "Re: [#TB-1001] VPN",
            "",
            "Sorry",
        ),
        t0() + Duration::days(2),
    );
    let a = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        (a.first_response_at, a.first_response_met),
        (Some(t0() + Duration::hours(2)), Some(true))
    );
    let b = s.store.ticket(1001).unwrap().unwrap();
    assert_eq!(b.first_response_met, Some(false));
    // The queue's statistics know both, and nobody waits any more.
    let stats = s.store.queue_stats("general").unwrap();
    assert_eq!(stats.samples.len(), 2);
    assert_eq!(stats.awaiting, 0);
}

#[test]
fn a_slow_queue_makes_the_promise_later_than_the_sla() {
    let s = setup(|c| c.agents = vec!["agent@example.com".into()]);
    // Six tickets, each answered two working days (16 h) after it came in.
    for i in 0..6u64 {
        let at = t0() + Duration::days(7 * i as i64);
        s.process(
            &mail(
                &format!("c{i}@c.example"),
                &format!("m{i}@c"),
                &format!("Topic {i}"),
                "",
                "x",
            ),
            at,
        );
        let answered =
            crate::sla::add_business(&s.engine.calendar, at, Duration::hours(16)).unwrap();
        s.process(
            &mail(
                "agent@example.com",
                &format!("r{i}@x"),
                &format!("Re: [#TB-{}] Topic", 1000 + i),
                "",
                "ok",
            ),
            answered,
        );
    }
    let now = t0() + Duration::days(70);
    s.process(
        &mail("Zed <zed@c.example>", "z@c", "Help with setup", "", "x"),
        now,
    );
    let (env, _, _) = ack_of(&s, 1006);
    let t = s.store.ticket(1006).unwrap().unwrap();
    let sla_due = t.response_due.unwrap();
    assert_eq!(sla_due, now + Duration::hours(8));
    // We say two working days, not the one the SLA would claim.
    assert!(env.text.contains("busier than usual"), "{}", env.text);
    assert!(
        env.text
            .contains("reply\nby Tuesday, 2 February, 17:00 (UTC)."),
        "{}",
        env.text
    );
}

#[test]
fn pending_pauses_the_clock() {
    let s = setup(|_| {});
    s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Printer", "", "x"),
        t0(),
    );
    let due = s.store.ticket(1000).unwrap().unwrap().response_due.unwrap();
    // Waiting on the customer for 3 working hours…
    crate::ops::set_status(
        &s.engine,
        &s.store,
        1000,
        Status::Pending,
        t0() + Duration::hours(1),
    )
    .unwrap();
    // …until she replies.
    s.process(
        &mail(
            "Ann <ann@c.example>",
            "a2@c",
            "Re: [#TB-1000] Printer",
            "",
            "here",
        ),
        t0() + Duration::hours(4),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Open);
    assert_eq!(t.paused_secs, 3 * 3600);
    // The 8-hour target now ends 3 working hours later: Tuesday 12:00.
    assert_eq!(due, t0() + Duration::hours(8));
    assert_eq!(
        t.response_due,
        crate::sla::add_business(&s.engine.calendar, t0(), Duration::hours(11))
    );
    assert_eq!(t.response_due, Some(t0() + Duration::hours(27)));
}

#[test]
fn escalations_warn_then_breach_once_each() {
    let s = setup(warsaw);
    s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Printer", "", "x"),
        t0(),
    );
    let t = s.store.ticket(1000).unwrap().unwrap();
    let run = |at| crate::escalation::run(&s.engine, &s.store, at).unwrap();
    // Nothing early on.
    assert_eq!(run(t0() + Duration::hours(1)), "0 escalation notices");
    // 80 % of the 8-hour target: 6.4 working hours → a warning.
    let near =
        crate::sla::add_business(&s.engine.calendar, t0(), Duration::minutes(6 * 60 + 24)).unwrap();
    assert_eq!(run(near), "1 escalation notices");
    assert_eq!(
        run(near + Duration::minutes(5)),
        "0 escalation notices",
        "sent once"
    );
    assert_eq!(run(t.response_due.unwrap()), "1 escalation notices");
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(
        t.escalations,
        ["first_response:near", "first_response:breach"]
    );
    let notices: Vec<_> = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == "escalation")
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().all(|e| e.recipients == ["lead@example.com"]));
    assert!(
        notices[1].subject.contains("BREACHED"),
        "{}",
        notices[1].subject
    );
}

#[test]
fn a_ticket_answered_after_the_scan_gets_no_notice() {
    let s = setup(|c| {
        warsaw(c);
        c.agents = vec!["agent@example.com".into()];
    });
    s.process(
        &mail("Ann <ann@c.example>", "a1@c", "Printer", "", "x"),
        t0(),
    );
    let due = s.store.ticket(1000).unwrap().unwrap().response_due.unwrap();
    // The timer's scan, off the committer, finds it overdue …
    let snapshot = s.store.open_tickets().unwrap();
    let ids = crate::escalation::candidates(&s.engine, &snapshot, due);
    assert_eq!(ids, [1000]);
    // … the agent's answer is committed before the committer gets to it …
    s.process(
        &mail(
            "agent@example.com",
            "r1@x",
            "Re: [#TB-1000] Printer",
            "",
            "On it",
        ),
        due - Duration::minutes(1),
    );
    // … so reading it again, nothing is sent.
    assert_eq!(
        crate::escalation::run_for(&s.engine, &s.store, &ids, due).unwrap(),
        "0 escalation notices"
    );
}

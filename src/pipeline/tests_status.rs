//! Status by mail: "status" (and the Polish and Hebrew words) as the whole
//! subject or first line lists the customer's open tickets in their
//! language; no ticket is opened; only the From address is answered; with
//! an authserv-id only authenticated mail; robots are bounded.

use super::tests::{mail, setup, t0};
use crate::outbox::OutboxEntry;
use crate::store::View;

fn answers(s: &super::tests::Setup) -> Vec<OutboxEntry> {
    s.store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|e| e.purpose == "status")
        .map(|e| s.store.outbox_entry(&e.id).unwrap().unwrap())
        .collect()
}

fn body(e: &OutboxEntry) -> String {
    crate::mail::parse::parse(e.raw.as_bytes(), "x")
        .unwrap()
        .text
}

#[test]
fn status_lists_the_open_tickets_and_opens_none() {
    let s = setup(|_| {});
    s.process(
        &mail(
            "Dana <dana@c.example>",
            "d1@c",
            "Printer jams",
            "",
            "It jams.",
        ),
        t0(),
    );
    s.process(
        &mail(
            "Dana <dana@c.example>",
            "d2@c",
            "Invoice wrong",
            "",
            "Twice billed.",
        ),
        t0(),
    );
    // Someone else's ticket is not hers.
    s.process(
        &mail("eve@c.example", "e1@c", "Eve's own", "", "Hello"),
        t0(),
    );
    let before = s.store.open_tickets().unwrap().len();
    let o = s.process(
        &mail(
            "Dana <dana@c.example>",
            "d3@c",
            "Status",
            "Reply-To: attacker@evil.example\r\n",
            "",
        ),
        t0() + chrono::Duration::minutes(5),
    );
    assert_eq!(o.ticket, None, "{}", o.reason);
    assert!(
        o.reason.contains("answered with 2 open ticket(s) (en)"),
        "{}",
        o.reason
    );
    assert_eq!(
        s.store.open_tickets().unwrap().len(),
        before,
        "no ticket opened"
    );
    let a = answers(&s);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].recipients, ["dana@c.example"], "From, never Reply-To");
    let text = body(&a[0]);
    assert!(text.contains("[#TB-1000] Printer jams"), "{text}");
    assert!(text.contains("[#TB-1001] Invoice wrong"), "{text}");
    assert!(!text.contains("Eve's own"), "{text}");
    assert!(text.contains("expected answer"), "{text}");
    assert!(a[0].raw.contains("Auto-Submitted: auto-replied"));
    assert!(a[0].raw.contains("In-Reply-To: <d3@c>"), "{}", a[0].raw);
}

#[test]
fn polish_and_hebrew_words_answer_in_polish_and_hebrew() {
    let s = setup(|_| {});
    s.process(
        &mail(
            "anna@c.example",
            "a1@c",
            "Drukarka",
            "",
            "Drukarka nie drukuje od rana, proszę o pomoc.",
        ),
        t0(),
    );
    s.process(
        &mail(
            "anna@c.example",
            "a2@c",
            "",
            "",
            "Stan zgłoszeń\r\n\r\nAnna",
        ),
        t0(),
    );
    s.process(&mail("noa@c.example", "n1@c", "סטטוס", "", ""), t0());
    let a = answers(&s);
    assert_eq!(a.len(), 2);
    let pl = a
        .iter()
        .find(|e| e.recipients == ["anna@c.example"])
        .unwrap();
    assert!(pl.subject.contains("Twoje zgłoszenia"), "{}", pl.subject);
    assert!(body(pl).contains("[#TB-1000] Drukarka"), "{}", body(pl));
    let he = a
        .iter()
        .find(|e| e.recipients == ["noa@c.example"])
        .unwrap();
    assert!(he.subject.contains("הפניות שלך"), "{}", he.subject);
    assert!(
        body(he).contains("אין לך אצלנו פניות פתוחות"),
        "{}",
        body(he)
    );
}

#[test]
fn with_an_authserv_id_only_authenticated_mail_is_answered() {
    let s = setup(|c| c.agents_authserv_id = "mx.example.com".into());
    s.process(
        &mail("dana@c.example", "d1@c", "Printer", "", "It jams."),
        t0(),
    );
    let forged = s.process(&mail("dana@c.example", "d2@c", "status", "", ""), t0());
    assert!(forged.reason.contains("not answered"), "{}", forged.reason);
    let signed = s.process(
        &mail(
            "dana@c.example",
            "d3@c",
            "status",
            "Authentication-Results: mx.example.com; dkim=pass header.d=c.example; spf=pass smtp.mailfrom=c.example\r\n",
            "",
        ),
        t0(),
    );
    assert!(
        signed.reason.contains("answered with 1"),
        "{}",
        signed.reason
    );
    assert_eq!(answers(&s).len(), 1);
}

#[test]
fn a_robot_asking_again_and_again_is_bounded() {
    let s = setup(|_| {});
    let mut n = 0;
    for i in 0..30 {
        let o = s.process(
            &mail("bot@robots.example", &format!("b{i}@r"), "status", "", ""),
            t0() + chrono::Duration::minutes(i),
        );
        n += usize::from(o.reason.contains("answered with"));
    }
    assert!(n <= 5, "{n} answers in half an hour");
    assert_eq!(answers(&s).len(), n);
}

//! What customers and agents read: names of queues, priorities and statuses
//! in the reader's language, right-to-left mail that keeps Latin names in
//! their order, and bulk mail kept out of the queue.

use super::tests::{Setup, mail, setup, t0};
use super::*;
use crate::config::Config;
use crate::model::Status;
use crate::store::View;
use crate::thread::ThreadView;

fn fixture(name: &str) -> RawMail {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    RawMail::new(std::fs::read(path).unwrap(), name.into(), None)
}

/// The mail queued for ticket `id` with `purpose`: subject, text, HTML.
fn queued(s: &Setup, id: u64, purpose: &str) -> (String, String, String) {
    let e = s
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .find(|e| e.ticket == id && e.purpose == purpose)
        .unwrap_or_else(|| panic!("a {purpose} for {id}"));
    let e = s.store.outbox_entry(&e.id).unwrap().unwrap();
    let m = mail_parser::MessageParser::default()
        .parse(e.raw.as_bytes())
        .unwrap();
    (
        m.subject().unwrap_or_default().to_owned(),
        m.body_text(0)
            .map(|t| t.replace("\r\n", "\n"))
            .unwrap_or_default(),
        m.body_html(0).map(|h| h.into_owned()).unwrap_or_default(),
    )
}

fn polish_billing(cfg: &mut Config) {
    cfg.support.team_language = "pl".into();
    cfg.agents = vec!["ola@example.com".into()];
    cfg.queues.insert(
        "billing".into(),
        crate::config::QueueCfg {
            notify: vec!["ola@example.com".into()],
            ..Default::default()
        },
    );
    cfg.queues.insert("sales".into(), Default::default());
    cfg.display.0.insert(
        "pl".into(),
        crate::config::DisplayNames {
            queue: [("sales".to_owned(), "Sprzedaż".to_owned())].into(),
            ..Default::default()
        },
    );
}

fn invoice_rule(s: &Setup, queue: &str) {
    let text = format!(
        "[[rule]]\nname = \"faktury\"\nwhen = {{ subject = [\"faktura\"] }}\nthen = {{ queue = \"{queue}\", priority = \"high\" }}\n"
    );
    let rules =
        crate::rules::RuleSet::from_sources(&[("test.toml".into(), text)], &s.engine.known())
            .unwrap();
    s.engine.set_rules(rules);
}

#[test]
fn polish_mail_names_queue_and_priority_in_polish() {
    let s = setup(polish_billing);
    invoice_rule(&s, "billing");
    s.process(
        &mail(
            "Jan Nowak <jan@firma.pl>",
            "pl1@x",
            "Faktura za listopad",
            "Content-Language: pl\r\n",
            "Dzień dobry, proszę o korektę faktury.",
        ),
        t0(),
    );
    let (_, ack, html) = queued(&s, 1000, "acknowledgement");
    assert!(ack.contains("kolejki „Rozliczenia”"), "{ack}");
    assert!(!ack.contains("billing"), "{ack}");
    assert!(html.contains("Rozliczenia"), "{html}");
    // The team's notification, in the team's language.
    let (_, notify, _) = queued(&s, 1000, "notification");
    assert!(notify.contains("priorytet wysoki"), "{notify}");
    assert!(notify.contains("nowe"), "{notify}");
    assert!(!notify.contains(" high"), "{notify}");
}

#[test]
fn a_queue_named_in_the_config_is_shown_by_that_name() {
    let s = setup(polish_billing);
    invoice_rule(&s, "sales");
    s.process(
        &mail(
            "Jan Nowak <jan@firma.pl>",
            "pl2@x",
            "Faktura pro forma",
            "Content-Language: pl\r\n",
            "Dzień dobry, proszę o fakturę pro forma.",
        ),
        t0(),
    );
    let (_, ack, _) = queued(&s, 1000, "acknowledgement");
    assert!(ack.contains("kolejki „Sprzedaż”"), "{ack}");
}

#[test]
fn hebrew_html_isolates_latin_names() {
    let s = setup(|cfg| {
        cfg.support.name = "Example Support".into();
    });
    s.process(
        &mail(
            "Dana Levi <dana@example.co.il>",
            "he1@x",
            "Printer HP LaserJet לא מדפיסה",
            "Content-Language: he\r\n",
            "שלום, המדפסת לא מדפיסה מאז אתמול.",
        ),
        t0(),
    );
    let (_, text, html) = queued(&s, 1000, "acknowledgement");
    assert!(text.contains("שלום Dana Levi"), "{text}");
    for latin in [
        "<bdi>Dana Levi</bdi>",
        "<bdi>Example Support</bdi>",
        "<bdi>שירות לקוחות</bdi>",
    ] {
        assert!(html.contains(latin), "{latin} not isolated: {html}");
    }
}

#[test]
fn bulk_mail_is_filed_out_of_the_queue_and_the_sla() {
    let s = setup(|_| {});
    let o = s.process(&fixture("list-mail.eml"), t0());
    assert_eq!(o.ticket, Some(1000));
    assert!(!o.acknowledged);
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::Filed);
    assert_eq!((t.response_due, t.resolution_due), (None, None));
    // Searchable, but not waiting on anyone: no escalation, ever.
    let later = t0() + chrono::Duration::days(30);
    assert!(crate::escalation::pending_notices(&s.engine, &t, later).is_empty());

    // Configured to queue it, it is an open ticket with an SLA.
    let s = setup(|cfg| cfg.tickets.file_bulk_mail = false);
    s.process(&fixture("list-mail.eml"), t0());
    let t = s.store.ticket(1000).unwrap().unwrap();
    assert_eq!(t.status, Status::New);
    assert!(t.response_due.is_some());
}

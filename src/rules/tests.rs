//! Rule tests: every matcher, field, combinator and action; error messages
//! for typical mistakes, with file:line:column; property tests that
//! loading and evaluation never panic.

use super::*;
use crate::mail::parse::Envelope;
use crate::model::{AttachmentInfo, Party};
use chrono::{TimeZone, Utc};

pub(super) fn known() -> Known {
    Known {
        queues: ["general", "billing", "technical"].map(String::from).into(),
        agents: ["agent@example.com"].map(String::from).into(),
        templates: ["ack", "vip-ack", "notify"].map(String::from).into(),
        sla_policies: ["default", "vip"].map(String::from).into(),
        lists: [(
            "vip-domains".to_owned(),
            ["bigcorp.example", "vip.example"].map(String::from).into(),
        )]
        .into(),
    }
}

fn set(text: &str) -> RuleSet {
    RuleSet::from_sources(&[("t.toml".into(), text.into())], &known())
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn errors(text: &str) -> Vec<String> {
    match RuleSet::from_sources(&[("rules/t.toml".into(), text.into())], &known()) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

pub(super) fn env() -> Envelope {
    Envelope {
        message_id: "m@x".into(),
        from: Some(Party::new(
            Some("Łukasz Żółkiewski"),
            "lukasz@mail.bigcorp.example",
        )),
        to: vec![Party::new(None, "support@example.com")],
        cc: vec![Party::new(None, "boss@bigcorp.example")],
        subject: "Reklamacja: ZWRÓT pieniędzy".into(),
        text: "Proszę o zwrot. Error 500 przy płatności.\nשָׁלוֹם".into(),
        headers: vec![("x-priority".into(), "1 (Highest)".into())],
        attachments: vec![AttachmentInfo {
            name: "Faktura.PDF".into(),
            content_type: "application/pdf".into(),
            size: 120_000,
        }],
        ..Envelope::default()
    }
}

pub(super) fn now() -> chrono::DateTime<Utc> {
    // Tuesday 24 November 2026, 10:30 UTC.
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 30, 0).unwrap()
}

/// Whether a one-rule set with condition `when` matches `env()`.
fn matches(when: &str) -> bool {
    matches_with(when, |_| {})
}

fn matches_with(when: &str, tweak: impl FnOnce(&mut Facts<'_>)) -> bool {
    let rules = set(&format!(
        "[[rule]]\nname = \"r\"\nwhen = {when}\nthen = {{ add_tags = [\"hit\"] }}\n"
    ));
    let e = env();
    let mut f = Facts::new(&e, now());
    f.language = Some("pl".into());
    tweak(&mut f);
    rules.evaluate(&f).fired == ["r"]
}

#[test]
fn text_matchers() {
    // contains: case- and diacritics-insensitive, string or list
    assert!(matches(r#"{ subject = "zwrot" }"#));
    assert!(matches(r#"{ subject = "REKLAMACJA" }"#));
    assert!(matches(r#"{ subject = ["nothing", "pieniedzy"] }"#));
    assert!(!matches(r#"{ subject = "invoice" }"#));
    assert!(matches(r#"{ subject = { contains = "zwrót" } }"#));
    // equals / starts_with / ends_with
    assert!(matches(
        r#"{ from_address = { equals = "LUKASZ@mail.bigcorp.example" } }"#
    ));
    assert!(!matches(r#"{ from_address = { equals = "lukasz" } }"#));
    assert!(matches(r#"{ subject = { starts_with = "reklamacja" } }"#));
    assert!(matches(r#"{ from_domain = { ends_with = ".example" } }"#));
    assert!(!matches(r#"{ from_domain = { starts_with = "bigcorp" } }"#));
    // regex sees the text as written
    assert!(matches(r#"{ body = { regex = "Error \\d{3}" } }"#));
    assert!(!matches(r#"{ body = { regex = "error \\d{3}" } }"#));
    assert!(matches(r#"{ body = { regex = "(?i)error \\d{3}" } }"#));
    // lists, with parent domains
    assert!(matches(r#"{ from_domain = { in_list = "vip-domains" } }"#));
    assert!(matches(r#"{ from_address = { in_list = "vip-domains" } }"#));
    assert!(!matches(
        r#"{ to = { in_list = "vip-domains" } , subject = "nope" }"#
    ));
}

#[test]
fn hebrew_matches_with_or_without_niqqud() {
    assert!(matches(r#"{ body = "שלום" }"#));
    assert!(matches(r#"{ body = "שָׁלוֹם" }"#));
}

#[test]
fn every_field() {
    assert!(matches(r#"{ from = "Żółkiewski" }"#));
    assert!(matches(r#"{ from_name = "lukasz" }"#));
    assert!(matches(r#"{ to = "boss@" }"#), "Cc counts as a recipient");
    assert!(matches(r#"{ to = { equals = "support@example.com" } }"#));
    assert!(matches(r#"{ language = { equals = "pl" } }"#));
    assert!(!matches(r#"{ language = { equals = "he" } }"#));
    assert!(matches(
        r#"{ header = { X-Priority = { starts_with = "1" } } }"#
    ));
    assert!(!matches(r#"{ header = { X-Mailer = "outlook" } }"#));
    assert!(matches(r#"{ attachment_name = { ends_with = ".pdf" } }"#));
    assert!(matches(
        r#"{ attachment_type = { equals = "application/pdf" } }"#
    ));
    assert!(matches(
        r#"{ attachment_size = { gt = 100000, lt = 200000 } }"#
    ));
    assert!(!matches(r#"{ attachment_size = { gt = 1000000 } }"#));
    assert!(matches(r#"{ attachment_count = 1 }"#));
    assert!(matches(r#"{ has_attachments = true }"#));
    assert!(matches(r#"{ body_length = { gte = 10 } }"#));
    assert!(matches(r#"{ weekday = ["tue", "wed"] }"#));
    assert!(matches(r#"{ hour = { gte = 9, lt = 17 } }"#));
    assert!(matches(r#"{ business_hours = true }"#));
    assert!(!matches_with(r#"{ business_hours = true }"#, |f| f
        .business_hours =
        false));
    assert!(matches(r#"{ kind = "new" }"#));
    assert!(matches_with(r#"{ kind = "reply" }"#, |f| f.kind = Kind::Reply));
    assert!(matches(r#"{ author = "customer" }"#));
    assert!(matches_with(r#"{ author = "agent" }"#, |f| f.author = Author::Agent));
    assert!(!matches(r#"{ auto_reply = true }"#));
    assert!(matches_with(r#"{ auto_reply = true }"#, |f| f.auto_reply = true));
}

#[test]
fn history_conditions() {
    let with_history = |f: &mut Facts<'_>| {
        f.history.tickets = vec![
            (now() - chrono::Duration::days(2), true),
            (now() - chrono::Duration::days(10), true),
            (now() - chrono::Duration::days(60), false),
        ];
    };
    assert!(matches_with(
        r#"{ open_tickets = { gte = 2 } }"#,
        with_history
    ));
    assert!(!matches_with(
        r#"{ open_tickets = { gte = 3 } }"#,
        with_history
    ));
    assert!(matches_with(
        r#"{ tickets_in_days = { days = 30, eq = 2 } }"#,
        with_history
    ));
    assert!(matches_with(
        r#"{ tickets_in_days = { days = 90, gte = 3 } }"#,
        with_history
    ));
    assert!(
        set("[[rule]]\nname = \"h\"\nwhen = { open_tickets = 1 }\nthen = { add_tags = [\"x\"] }\n")
            .needs_history()
    );
    assert!(
        !set("[[rule]]\nname = \"h\"\nwhen = { subject = \"a\" }\nthen = { add_tags = [\"x\"] }\n")
            .needs_history()
    );
}

#[test]
fn combinators_nest() {
    assert!(
        matches(r#"{ subject = "zwrot", body = "error" }"#),
        "keys of a table all hold"
    );
    assert!(!matches(r#"{ subject = "zwrot", body = "nothing" }"#));
    assert!(matches(
        r#"{ any = [{ subject = "nothing" }, { body = "zwrot" }] }"#
    ));
    assert!(!matches(
        r#"{ any = [{ subject = "nothing" }, { body = "nada" }] }"#
    ));
    assert!(matches(
        r#"{ all = [{ subject = "zwrot" }, { from_domain = "bigcorp" }] }"#
    ));
    assert!(matches(r#"{ not = { subject = "invoice" } }"#));
    assert!(!matches(r#"{ not = { subject = "zwrot" } }"#));
    assert!(matches(
        r#"{ any = [{ not = { subject = "zwrot" } }, { all = [{ body = "error" }, { not = { kind = "reply" } }] }] }"#
    ));
    assert!(matches("{}"), "no condition: always");
}

#[test]
fn actions_accumulate_in_order_and_stop() {
    let rules = set(r#"
[[rule]]
name = "route"
when = { subject = "zwrot" }
then = { queue = "billing", add_tags = ["money", "pl"], template = "vip-ack", fields = { tier = "silver" } }

[[rule]]
name = "raise"
when = { body = "error" }
then = { raise_priority = 2, add_tags = ["error"], remove_tags = ["pl"], notify = ["boss@example.com"] }

[[rule]]
name = "vip"
when = { from_domain = { in_list = "vip-domains" } }
then = { queue = "technical", assign = "agent@example.com", sla = "vip", fields = { tier = "gold" }, ack = false }
stop = true

[[rule]]
name = "never"
when = {}
then = { queue = "general" }
"#);
    let e = env();
    let d = rules.evaluate(&Facts::new(&e, now()));
    assert_eq!(d.fired, ["route", "raise", "vip"]);
    assert_eq!(d.queue.as_deref(), Some("technical"), "last queue wins");
    assert_eq!(
        d.final_priority(Priority::Normal),
        Priority::Urgent,
        "normal + 2 steps"
    );
    assert_eq!(
        d.final_priority(Priority::High),
        Priority::Urgent,
        "capped at urgent"
    );
    assert_eq!(d.add_tags, ["money", "error"]);
    assert_eq!(d.remove_tags, ["pl"]);
    assert_eq!(d.assign.as_deref(), Some("agent@example.com"));
    assert_eq!(d.sla.as_deref(), Some("vip"));
    assert_eq!(d.template.as_deref(), Some("vip-ack"));
    assert_eq!(d.ack, Some(false));
    assert_eq!(d.notify, ["boss@example.com"]);
    assert_eq!(d.fields["tier"], "gold");
}

#[test]
fn priority_set_then_raised() {
    let rules = set(r#"
[[rule]]
name = "a"
then = { priority = "low" }
[[rule]]
name = "b"
then = { raise_priority = 1 }
"#);
    let e = env();
    let d = rules.evaluate(&Facts::new(&e, now()));
    assert_eq!(
        d.final_priority(Priority::Urgent),
        Priority::Normal,
        "low raised one step"
    );
}

#[test]
fn spam_drop_and_disabled_rules() {
    let rules = set(r#"
[[rule]]
name = "off"
enabled = false
when = {}
then = { spam = true }

[[rule]]
name = "drop bulk"
when = { auto_reply = true }
then = { drop = true }

[[rule]]
name = "casino"
when = { subject = "casino" }
then = { spam = true }
"#);
    let e = env();
    let mut f = Facts::new(&e, now());
    assert_eq!(rules.evaluate(&f), Decision::default());
    f.auto_reply = true;
    assert_eq!(rules.evaluate(&f).drop.as_deref(), Some("drop bulk"));
    let mut spam = env();
    spam.subject = "Best CASINO bonus".into();
    assert_eq!(
        rules.evaluate(&Facts::new(&spam, now())).spam.as_deref(),
        Some("casino")
    );
}

#[test]
fn explain_says_which_condition_failed() {
    let rules = set(r#"
[[rule]]
name = "billing"
when = { subject = "zwrot", body = "invoice" }
then = { queue = "billing" }

[[rule]]
name = "either"
when = { any = [{ subject = "a-b-c" }, { hour = { gt = 20 } }] }
then = { queue = "billing" }
"#);
    let e = env();
    let (_, trace) = rules.explain(&Facts::new(&e, now()));
    assert!(!trace[0].matched);
    assert_eq!(trace[0].why, "body contains [\"invoice\"]");
    assert_eq!(trace[0].line, 2);
    assert_eq!(
        trace[1].why,
        "none of: subject contains [\"a-b-c\"]; hour > 20"
    );
}

#[test]
fn raise_caps_and_steps() {
    assert_eq!(raise(Priority::Low, 1), Priority::Normal);
    assert_eq!(raise(Priority::Low, 3), Priority::Urgent);
    assert_eq!(raise(Priority::Urgent, 1), Priority::Urgent);
}

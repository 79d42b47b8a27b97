//! Rule tests: every matcher, field, combinator and action; error messages
//! for typical mistakes, with file:line:column; property tests that
//! loading and evaluation never panic.

use super::*;
use crate::model::{AttachmentInfo, Party};
use crate::parse::Envelope;
use chrono::{TimeZone, Utc};

fn known() -> Known {
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

fn errors(text: &str) -> Vec<String> {
    match RuleSet::from_sources(&[("rules/t.toml".into(), text.into())], &known()) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn env() -> Envelope {
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

fn now() -> chrono::DateTime<Utc> {
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
fn typical_mistakes_are_reported_with_file_line_column() {
    let cases: &[(&str, &str)] = &[
        // 1. typo in a condition key
        (
            "[[rule]]\nname = \"a\"\nwhen = { subjetc = \"x\" }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:10: unknown key `subjetc` in `when`; did you mean `subject`?",
        ),
        // 2. typo in an action key
        (
            "[[rule]]\nname = \"a\"\nthen = { queu = \"billing\" }\n",
            "rules/t.toml:3:10: unknown key `queu` in `then`; did you mean `queue`?",
        ),
        // 3. bad regex
        (
            "[[rule]]\nname = \"a\"\nwhen = { body = { regex = \"[a-\" } }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:27: invalid regex \"[a-\"",
        ),
        // 4. unknown queue
        (
            "[[rule]]\nname = \"a\"\nthen = { queue = \"sales\" }\n",
            "rules/t.toml:3:18: unknown queue \"sales\"",
        ),
        // 5. wrong type
        (
            "[[rule]]\nname = \"a\"\nthen = { add_tags = 5 }\n",
            "rules/t.toml:3:21: add_tags must be a string or a list of strings, found an integer",
        ),
        // 6. unknown priority
        (
            "[[rule]]\nname = \"a\"\nthen = { priority = \"asap\" }\n",
            "rules/t.toml:3:21: unknown priority \"asap\"",
        ),
        // 7. unknown agent
        (
            "[[rule]]\nname = \"a\"\nthen = { assign = \"bob@example.com\" }\n",
            "rules/t.toml:3:19: unknown agent \"bob@example.com\"",
        ),
        // 8. unknown template
        (
            "[[rule]]\nname = \"a\"\nthen = { template = \"fancy\" }\n",
            "rules/t.toml:3:21: unknown template \"fancy\"",
        ),
        // 9. unknown list
        (
            "[[rule]]\nname = \"a\"\nwhen = { from_domain = { in_list = \"vips\" } }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:36: unknown list \"vips\"",
        ),
        // 10. conflicting actions
        (
            "[[rule]]\nname = \"a\"\nthen = { priority = \"high\", raise_priority = 1 }\n",
            "rules/t.toml:3:46: a rule cannot both set `priority` and `raise_priority`",
        ),
        // 11. missing name
        (
            "[[rule]]\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:1:1: this rule has no `name`",
        ),
        // 12. TOML syntax error
        (
            "[[rule]]\nname = \"a\nthen = {}\n",
            "rules/t.toml:2:10: invalid basic string",
        ),
        // 13. two operators in one matcher
        (
            "[[rule]]\nname = \"a\"\nwhen = { subject = { contains = \"a\", regex = \"b\" } }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:20: the matcher for `subject` has several operators",
        ),
        // 14. `any` not a list
        (
            "[[rule]]\nname = \"a\"\nwhen = { any = { subject = \"x\" } }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:16: `any` must be a list of condition tables",
        ),
        // 15. bad kind value
        (
            "[[rule]]\nname = \"a\"\nwhen = { kind = \"answer\" }\nthen = { queue = \"billing\" }\n",
            "rules/t.toml:3:17: kind must be one of new or reply",
        ),
        // 16. unknown SLA policy
        (
            "[[rule]]\nname = \"a\"\nthen = { sla = \"gold\" }\n",
            "rules/t.toml:3:16: unknown SLA policy \"gold\"",
        ),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = errors(text);
        if !got.iter().any(|e| e.starts_with(want)) {
            failures.push(format!("wanted `{want}`, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn all_errors_at_once_and_duplicate_names() {
    let text = "[[rule]]\nname = \"a\"\nwhen = { subjct = \"x\" }\nthen = { queue = \"nope\" }\n\n\
                [[rule]]\nname = \"b\"\nthen = { priority = \"meh\" }\n";
    assert_eq!(errors(text).len(), 3, "{:#?}", errors(text));
    let dup = RuleSet::from_sources(
        &[
            (
                "a.toml".into(),
                "[[rule]]\nname = \"x\"\nthen = { queue = \"billing\" }\n".into(),
            ),
            (
                "b.toml".into(),
                "[[rule]]\nname = \"x\"\nthen = { queue = \"billing\" }\n".into(),
            ),
        ],
        &known(),
    )
    .unwrap_err();
    assert!(
        dup.to_string()
            .contains("b.toml:1:1: a rule named \"x\" already exists at a.toml:1"),
        "{dup}"
    );
}

#[test]
fn raise_caps_and_steps() {
    assert_eq!(raise(Priority::Low, 1), Priority::Normal);
    assert_eq!(raise(Priority::Low, 3), Priority::Urgent);
    assert_eq!(raise(Priority::Urgent, 1), Priority::Urgent);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 @.:-]{0,40}",
            "\\PC{0,60}",
            Just("Zwrót pieniędzy שָׁלוֹם".to_owned()),
        ]
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        (
            text(),
            text(),
            text(),
            text(),
            proptest::collection::vec((text(), text(), 0usize..10_000_000), 0..3),
        )
            .prop_map(|(from, subject, body, header, atts)| Envelope {
                from: Some(Party::new(
                    Some(&from),
                    &format!("{}@x.example", from.len()),
                )),
                subject,
                text: body,
                headers: vec![("x-custom".into(), header)],
                attachments: atts
                    .into_iter()
                    .map(|(name, content_type, size)| AttachmentInfo {
                        name,
                        content_type,
                        size,
                    })
                    .collect(),
                ..Envelope::default()
            })
    }

    fn matcher() -> impl Strategy<Value = String> {
        let s = "[a-zA-Z ]{0,8}";
        prop_oneof![
            s.prop_map(|v| format!("{v:?}")),
            s.prop_map(|v| format!("{{ equals = {v:?} }}")),
            s.prop_map(|v| format!("{{ starts_with = {v:?} }}")),
            "[a-z.*+?()|\\[\\]\\\\]{0,10}".prop_map(|v| format!("{{ regex = {v:?} }}")),
            Just("{ in_list = \"vip-domains\" }".to_owned()),
        ]
    }

    fn condition(depth: u32) -> BoxedStrategy<String> {
        let field = prop_oneof![
            Just("subject"),
            Just("body"),
            Just("from"),
            Just("from_domain"),
            Just("to"),
            Just("attachment_name"),
            Just("language")
        ];
        let leaf = prop_oneof![
            (field, matcher()).prop_map(|(f, m)| format!("{f} = {m}")),
            (0i64..200).prop_map(|n| format!("attachment_size = {{ gte = {n} }}")),
            any::<bool>().prop_map(|b| format!("auto_reply = {b}")),
            (0i64..24).prop_map(|n| format!("hour = {{ lt = {n} }}")),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        prop_oneof![
            leaf,
            proptest::collection::vec(condition(depth - 1), 1..3).prop_map(|cs| format!(
                "any = [{}]",
                cs.iter()
                    .map(|c| format!("{{ {c} }}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            condition(depth - 1).prop_map(|c| format!("not = {{ {c} }}")),
        ]
        .boxed()
    }

    fn rule_file() -> impl Strategy<Value = String> {
        proptest::collection::vec((condition(2), any::<bool>()), 1..6).prop_map(|rules| {
            rules
                .iter()
                .enumerate()
                .map(|(i, (c, stop))| {
                    format!("[[rule]]\nname = \"r{i}\"\nwhen = {{ {c} }}\nthen = {{ add_tags = [\"t{i}\"], raise_priority = 1 }}\nstop = {stop}\n")
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn evaluation_never_panics(file in rule_file(), e in envelope(), hour in 0u32..24) {
            // Some generated regexes are invalid: then loading reports
            // errors instead, which is fine; it must not panic either.
            if let Ok(rules) = RuleSet::from_sources(&[("p.toml".into(), file)], &known()) {
                let mut f = Facts::new(&e, now());
                f.hour = hour;
                let d = rules.evaluate(&f);
                let (d2, trace) = rules.explain(&f);
                prop_assert_eq!(d, d2);
                prop_assert!(trace.len() <= rules.rules.len());
            }
        }

        #[test]
        fn loading_arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = RuleSet::from_sources(&[("x.toml".into(), text)], &known());
        }

        #[test]
        fn loading_mangled_rules_never_panics(file in rule_file(), cut in 0usize..400, junk in "[\\[\\]{}=\",a-z ]{0,5}") {
            let mut mangled = file.clone();
            let at = cut.min(mangled.len());
            if mangled.is_char_boundary(at) {
                mangled.insert_str(at, &junk);
            }
            let _ = RuleSet::from_sources(&[("x.toml".into(), mangled)], &known());
        }
    }
}

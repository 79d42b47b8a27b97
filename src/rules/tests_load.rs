//! Loading: the error messages admins see for typical mistakes, and
//! property tests that loading and evaluating never panic.

use super::tests::{errors, known, now};
use super::*;
use crate::mail::parse::Envelope;
use crate::model::{AttachmentInfo, Party};

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
        // correlate: a pattern without a group, a bad one, a bad window
        (
            "[[rule]]\nname = \"a\"\nthen = { correlate = \"PROBLEM .*\" }\n",
            "rules/t.toml:3:22: correlate pattern \"PROBLEM .*\" has no group",
        ),
        (
            "[[rule]]\nname = \"a\"\nthen = { correlate = { key = \"(a\" } }\n",
            "rules/t.toml:3:30: correlate pattern \"(a\"",
        ),
        (
            "[[rule]]\nname = \"a\"\nthen = { correlate = { key = \"(a)\", window_minutes = 0 } }\n",
            "rules/t.toml:3:54: correlate.window_minutes must be 1 to 43200",
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

mod properties {
    use super::*;
    use crate::rules::tests::known;
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

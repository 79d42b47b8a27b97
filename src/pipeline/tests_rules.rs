//! The shipped rules through the pipeline: a rule shapes a ticket once, a
//! refused agent mail changes nothing, and `rules test` (on a stored
//! message, and `--replay`) agrees with what live processing did.

use super::tests::{Setup, mail, setup, t0};
use super::tests_agent::team;
use super::*;
use crate::model::Priority;
use crate::store::View;
use crate::thread::ThreadView;

fn shipped() -> Setup {
    setup(|cfg| {
        team(cfg);
        cfg.rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    })
}

fn ticket(s: &Setup) -> crate::model::Ticket {
    s.store.ticket(1000).unwrap().unwrap()
}

#[test]
fn an_urgent_subject_raises_the_priority_once_per_ticket() {
    let s = shipped();
    s.process(
        &mail(
            "ann@c.example",
            "a1@c",
            "URGENT printer down",
            "",
            "It is down.",
        ),
        t0(),
    );
    let first = ticket(&s);
    assert_eq!(first.priority, Priority::High);
    let tag = s.engine.threading.tags.format(1000);
    for (i, id) in ["a2@c", "a3@c"].into_iter().enumerate() {
        s.process(
            &mail(
                "ann@c.example",
                id,
                &format!("Re: {tag} URGENT printer down"),
                "In-Reply-To: <a1@c>\r\n",
                "Still down, this is urgent!",
            ),
            t0() + Duration::minutes(10 * (i as i64 + 1)),
        );
        let t = ticket(&s);
        assert_eq!(t.priority, Priority::High, "reply {id}");
        assert_eq!(t.response_due, first.response_due, "reply {id}");
    }
}

#[test]
fn a_rule_first_matching_a_reply_applies_once() {
    let s = shipped();
    s.process(
        &mail("ann@c.example", "a1@c", "Printer", "", "It is down."),
        t0(),
    );
    assert_eq!(ticket(&s).priority, Priority::Normal);
    let angry = |id: &str, minutes| {
        s.process(
            &mail(
                "ann@c.example",
                id,
                "Re: Printer",
                "In-Reply-To: <a1@c>\r\n",
                "This is unacceptable.",
            ),
            t0() + Duration::minutes(minutes),
        )
    };
    angry("a2@c", 5);
    assert_eq!(ticket(&s).priority, Priority::High, "first angry reply");
    angry("a3@c", 10);
    assert_eq!(ticket(&s).priority, Priority::High, "second angry reply");
}

#[test]
fn a_refused_agent_mail_changes_nothing() {
    let s = shipped();
    s.process(
        &mail("ann@c.example", "a1@c", "Printer", "", "It is down."),
        t0(),
    );
    let before = ticket(&s);
    let tag = s.engine.threading.tags.format(1000);
    let o = s.process(
        &mail(
            "Ola <ola@example.com>",
            "o1@example.com",
            &format!("Re: {tag} URGENT Printer"),
            "In-Reply-To: <a1@c>\r\nCc: boss@elsewhere.example\r\n",
            "#clsoe\n\nWe replaced the toner, this is unacceptable.",
        ),
        t0() + Duration::minutes(5),
    );
    assert!(o.reason.contains("refused"), "{o:?}");
    let after = ticket(&s);
    let mut expected = before.clone();
    expected.messages.clone_from(&after.messages);
    assert_eq!(after, expected, "only the message list grew");
    assert_eq!(
        after.messages.len(),
        before.messages.len() + 2,
        "mail + notice"
    );
    assert!(s.store.message("o1@example.com").unwrap().unwrap().refused);
}

#[test]
fn replay_agrees_with_live_processing_and_reports_real_changes() {
    let s = shipped();
    let tag = s.engine.threading.tags.format(1000);
    let steps = [
        mail("ann@c.example", "a1@c", "URGENT printer", "", "Down."),
        mail(
            "ann@c.example",
            "a2@c",
            &format!("Re: {tag} URGENT printer"),
            "In-Reply-To: <a1@c>\r\n",
            "Our invoice is wrong too, this is unacceptable.",
        ),
        mail(
            "ola@example.com",
            "o1@example.com",
            &format!("Re: {tag} URGENT printer"),
            "In-Reply-To: <a2@c>\r\n",
            "#clsoe\nurgent",
        ),
        mail(
            "ola@example.com",
            "o2@example.com",
            &format!("Re: {tag} URGENT printer"),
            "In-Reply-To: <a2@c>\r\n",
            "#priority low\n\nWe are on it.",
        ),
        mail(
            "bob@d.example",
            "b1@d",
            "Refund please",
            "",
            "Charged twice.",
        ),
    ];
    for (i, m) in steps.iter().enumerate() {
        s.process(m, t0() + Duration::minutes(i as i64));
    }
    let t = ticket(&s);
    assert_eq!(t.priority, Priority::Low, "the agent's command stands");
    assert_eq!(t.queue, "billing", "routed by the reply");
    let rules = s.engine.rules();
    let (seen, changes) = crate::dryrun::replay(&s.engine, &rules, &s.store, None).unwrap();
    assert_eq!(seen, 2);
    assert!(changes.is_empty(), "{changes:?}");

    // Without the routing rules, both tickets would stay in general.
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    for f in [
        "00-automatic.toml",
        "20-priority.toml",
        "lists/no-reply-senders.txt",
    ] {
        std::fs::copy(shipped.join(f), dir.path().join(f)).unwrap();
    }
    let cut = crate::rules::RuleSet::load_dir(dir.path(), &s.engine.known()).unwrap();
    let (_, changes) = crate::dryrun::replay(&s.engine, &cut, &s.store, None).unwrap();
    let lines: Vec<(u64, Vec<String>)> =
        changes.into_iter().map(|c| (c.ticket, c.changes)).collect();
    assert_eq!(
        lines,
        vec![
            (
                1000,
                vec![
                    "queue: billing → general".to_owned(),
                    "tags: -billing ".to_owned()
                ]
            ),
            (
                1001,
                vec![
                    "queue: billing → general".to_owned(),
                    "tags: -billing ".to_owned()
                ]
            ),
        ]
    );
}

#[test]
fn rules_test_on_a_stored_message_shows_what_happened_to_it() {
    let s = shipped();
    let tag = s.engine.threading.tags.format(1000);
    let first = mail("ann@c.example", "a1@c", "URGENT printer", "", "Down.");
    let reply = mail(
        "ann@c.example",
        "a2@c",
        &format!("Re: {tag} URGENT printer"),
        "In-Reply-To: <a1@c>\r\n",
        "Still down.",
    );
    s.process(&first, t0());
    s.process(&reply, t0() + Duration::minutes(3));
    let rules = s.engine.rules();
    let later = t0() + Duration::days(3);
    let test = |raw: &RawMail| {
        crate::dryrun::test_message(&s.engine, &rules, Some(&s.store), &raw.bytes, later).unwrap()
    };
    let r = test(&first);
    assert_eq!((r.kind, r.decision.priority.as_str()), ("new", "high"));
    assert!(r.notes[0].contains("opened"), "{:?}", r.notes);
    let r = test(&reply);
    assert_eq!(r.kind, "reply");
    assert!(r.notes[0].contains("joined"), "{:?}", r.notes);
    let urgent = r
        .rules
        .iter()
        .find(|t| t.name == "urgent or angry customers")
        .unwrap();
    assert!(urgent.matched && urgent.why.contains("once per ticket"));
    // The ticket after the reply: raised once, not twice.
    assert_eq!(r.decision.priority, "high");
    assert_eq!(r.decision.template, None, "replies are not acknowledged");
}

/// Live processing and the dry run agree on every fixture: the dry run
/// before a message arrives predicts what live processing then does, and
/// the dry run after it reports the same.
#[test]
fn the_dry_run_and_live_processing_decide_alike_on_every_fixture() {
    let s = shipped();
    let rules = s.engine.rules();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let mut compared = 0;
    for (i, path) in names.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let now = t0() + Duration::minutes(i as i64);
        let before = crate::dryrun::test_message(&s.engine, &rules, Some(&s.store), &bytes, now);
        let raw = RawMail::new(bytes.clone(), path.display().to_string(), None);
        // The decision a dry run makes (nothing written, the next number
        // only looked at) is the one live processing then commits.
        let ask = super::Ask {
            rules: &rules,
            released: false,
            explain: false,
            numbers: super::Numbers::Peek,
        };
        let predicted = super::decide(
            &s.engine,
            &s.store,
            &ask,
            &raw,
            super::prepare(&s.engine, &raw),
            now,
        )
        .unwrap();
        let o = s.process(&raw, now);
        assert_eq!(predicted.outcome, o, "{path:?}");
        if let Some(t) = &predicted.commit.ticket {
            let stored = s.store.ticket(t.id).unwrap().unwrap();
            assert_eq!(format!("{t:?}"), format!("{stored:?}"), "{path:?}");
        }
        let Ok(before) = before else {
            // Only what live processing cannot read either.
            assert_eq!(o.outcome, OutcomeKind::Quarantined, "{path:?}");
            continue;
        };
        let after =
            crate::dryrun::test_message(&s.engine, &rules, Some(&s.store), &bytes, now).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        match o.outcome {
            OutcomeKind::Created => {
                let t = s.store.ticket(o.ticket.unwrap()).unwrap().unwrap();
                assert_eq!(before.kind, "new", "{name}");
                for (what, r) in [("before", &before), ("after", &after)] {
                    let d = &r.decision;
                    assert_eq!(
                        (d.queue.as_str(), d.priority.as_str(), d.sla.as_str()),
                        (
                            t.queue.as_str(),
                            t.priority.as_str(),
                            t.sla_policy.as_deref().unwrap_or("")
                        ),
                        "{name}: dry run {what} vs live"
                    );
                    assert_eq!(d.fired, t.rules_fired, "{name}: {what}");
                }
                assert!(
                    after.notes[0].contains("opened"),
                    "{name}: {:?}",
                    after.notes
                );
                compared += 1;
            }
            OutcomeKind::Appended => {
                let tag = s.engine.threading.tags.format(o.ticket.unwrap());
                assert_eq!(before.kind, "reply", "{name}");
                assert!(
                    before
                        .notes
                        .iter()
                        .any(|n| n.contains(&format!("would join {tag}"))),
                    "{name}: {:?}",
                    before.notes
                );
                assert!(
                    after
                        .notes
                        .iter()
                        .any(|n| n.contains(&format!("joined {tag}"))),
                    "{name}: {:?}",
                    after.notes
                );
                compared += 1;
            }
            _ => {}
        }
    }
    assert!(compared >= 10, "{compared} fixtures compared");
}

/// A reply whose rule moves the ticket to another queue before anyone
/// answered moves its place in the backlog too: the queues' waiting
/// counts (behind the honest estimates) follow the ticket.
#[test]
fn a_ticket_moved_by_a_reply_waits_in_its_new_queue() {
    let s = shipped();
    s.process(
        &mail("ann@c.example", "q1@c", "Printer", "", "It is down."),
        t0(),
    );
    let queue = ticket(&s).queue;
    assert_ne!(queue, "billing");
    assert_eq!(s.store.queue_stats(&queue).unwrap().awaiting, 1);
    s.process(
        &mail(
            "ann@c.example",
            "q2@c",
            "Re: Printer",
            "In-Reply-To: <q1@c>\r\n",
            "Also, I was charged twice on the last invoice.",
        ),
        t0() + Duration::minutes(5),
    );
    assert_eq!(ticket(&s).queue, "billing");
    assert_eq!(s.store.queue_stats(&queue).unwrap().awaiting, 0);
    assert_eq!(s.store.queue_stats("billing").unwrap().awaiting, 1);
}

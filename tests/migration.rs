//! A store written by the previous release (schema 1, see
//! `tests/stores/README.md`) opens in this one: it is migrated to
//! the current schema once, and every ticket, message, preference,
//! statistic and quarantined message is still there; numbering goes on
//! where it stopped.

use chrono::{TimeZone, Utc};
use std::path::Path;
use std::process::Command;
use ticketbox::config::Config;
use ticketbox::intake::RawMail;
use ticketbox::pipeline::{self, Engine, OutcomeKind};
use ticketbox::store::{DiskStore, SCHEMA_VERSION, View};
use ticketbox::thread::ThreadView;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn unpack(into: &Path) {
    let archive = Path::new(REPO).join("tests/stores/v1-f4a3952.tar.gz");
    std::fs::create_dir_all(into).unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {archive:?}");
}

#[test]
fn a_store_of_the_previous_release_opens_migrated_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    unpack(&data);

    let store = DiskStore::open(&data, 1000).unwrap();
    assert_eq!(
        store.meta("schema_version").unwrap().as_deref(),
        Some(SCHEMA_VERSION.to_string().as_str())
    );
    // The string-kept state is gone from the named values: it moved.
    assert_eq!(store.meta("customer:dana@example.com").unwrap(), None);
    assert_eq!(store.meta("stats:billing").unwrap(), None);

    let tickets = store.tickets().unwrap();
    assert_eq!(tickets.len(), 8, "{tickets:?}");
    let ids: Vec<u64> = tickets.iter().map(|t| t.id).collect();
    assert_eq!(ids, (1000..1008).collect::<Vec<_>>());
    // 30 messages from customers and 8 acknowledgements.
    let recorded: usize = tickets.iter().map(|t| t.messages.len()).sum();
    assert_eq!(recorded, 38);
    for t in &tickets {
        for id in &t.messages {
            let rec = store.message(id).unwrap().expect("its message record");
            assert_eq!(rec.ticket, Some(t.id));
            if rec.kind != ticketbox::model::MessageKind::Outgoing {
                assert!(store.raw(&rec.raw_hash).unwrap().is_some(), "raw of {id}");
            }
            assert_eq!(store.ticket_for_message_id(id).unwrap(), Some(t.id));
        }
    }
    let prefs = store.customer_prefs("dana@example.com").unwrap();
    assert_eq!(prefs.language.as_deref(), Some("he"));
    assert_eq!(prefs.timezone.as_deref(), Some("Asia/Jerusalem"));
    // Queue backlogs moved with the rest (the exact values of a
    // migration are checked in the sled backend's tests, on a schema 1
    // layout written by hand).
    let waiting = |s: &DiskStore| -> i64 {
        ["general", "billing", "technical"]
            .map(|q| s.queue_stats(q).unwrap().awaiting)
            .iter()
            .sum()
    };
    let before = waiting(&store);
    assert!(before > 0, "the queue statistics were lost");
    let quarantined = store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(
        quarantined[0].reason.contains("no sender"),
        "{quarantined:?}"
    );
    assert_eq!(store.outbox().unwrap().len(), 8);
    assert!(store.pending().unwrap().is_empty());

    // Work goes on: a reply joins its ticket, a new request gets the next
    // number, the preference is applied.
    let cfg = Config {
        rules_dir: Path::new(REPO).join("rules"),
        templates_dir: Path::new(REPO).join("templates"),
        ..Config::default()
    };
    let engine = Engine::new(cfg, "migration".into()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
    let first = &tickets[0];
    let reply = format!(
        "From: {}\r\nTo: support@example.com\r\nSubject: Re: {}\r\nMessage-ID: <after-1@c.example>\r\nIn-Reply-To: <{}>\r\n\r\nStill broken.\r\n",
        first.customer.address, first.subject, first.messages[0]
    );
    let o = pipeline::process(
        &engine,
        &store,
        &RawMail::new(reply.into_bytes(), "after".into(), None),
        now,
    )
    .unwrap();
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Appended, Some(first.id))
    );
    let new = "From: Dana <dana@example.com>\r\nTo: support@example.com\r\nSubject: \u{5e9}\u{5d0}\u{5dc}\u{5d4}\r\nMessage-ID: <after-2@c.example>\r\n\r\nHello, the printer is broken again.\r\n";
    let o = pipeline::process(
        &engine,
        &store,
        &RawMail::new(new.as_bytes().to_vec(), "after".into(), None),
        now,
    )
    .unwrap();
    assert_eq!((o.outcome, o.ticket), (OutcomeKind::Created, Some(1008)));
    assert!(o.reason.contains("(he)"), "{}", o.reason);
    ticketbox::store::Store::flush(&store).unwrap();
    drop(store);

    // Opened again: already current, nothing migrated twice.
    let store = DiskStore::open(&data, 1000).unwrap();
    assert_eq!(store.tickets().unwrap().len(), 9);
    assert_eq!(
        store
            .customer_prefs("dana@example.com")
            .unwrap()
            .language
            .as_deref(),
        Some("he")
    );
    assert_eq!(waiting(&store), before + 1);
}

//! Every message of the shared real-world corpus (`../shared/corpus`, when
//! present) goes through `ticketbox ingest`: no panic, and each ends
//! created, appended, duplicate, ignored or quarantined, with a reason.
//! Bounces and vacation replies from sisimai must not be taken for people.

mod common;

use common::Sandbox;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(common::REPO).join("../shared/corpus");
    dir.is_dir().then_some(dir)
}

/// Message files: `.eml`, `.box`, and rt's extension-less files.
fn message_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            message_files(&p, out);
            continue;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let in_rt = p.components().any(|c| c.as_os_str() == "rt");
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if matches!(ext, "eml" | "box") || (in_rt && ext.is_empty() && name != "README") {
            out.push(p);
        }
    }
}

#[test]
fn every_corpus_message_gets_an_outcome_with_a_reason() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: ../shared/corpus is not present");
        return;
    };
    let mut files = Vec::new();
    message_files(&dir, &mut files);
    assert!(
        files.len() > 800,
        "found only {} message files",
        files.len()
    );

    let sb = Sandbox::new("[ack]\nmax_per_sender_per_hour = 1000\nmax_per_sender_per_day = 1000\n");
    let mut lines: Vec<Value> = Vec::new();
    for chunk in files.chunks(150) {
        let mut args = vec!["ingest", "--json", "--no-deliver"];
        let paths: Vec<String> = chunk.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        // `run` asserts a zero exit: a panic would exit 101.
        lines.extend(sb.json_lines(&args));
    }
    assert!(
        lines.len() >= files.len(),
        "{} outcomes for {} files",
        lines.len(),
        files.len()
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let outcome = l["outcome"].as_str().unwrap();
        assert!(
            ["created", "appended", "duplicate", "ignored", "quarantined"].contains(&outcome),
            "{l}"
        );
        assert!(!l["reason"].as_str().unwrap().is_empty(), "no reason: {l}");
        *counts.entry(outcome.to_owned()).or_default() += 1;
    }
    eprintln!("corpus outcomes: {counts:?}");

    // sisimai/bounces: bounces and vacation replies, never a person's mail
    // that deserves an acknowledgement.
    let bounces: Vec<&Value> = lines
        .iter()
        .filter(|l| l["origin"].as_str().unwrap().contains("sisimai/bounces/"))
        .collect();
    let acked: Vec<&str> = bounces
        .iter()
        .filter(|l| l["acknowledged"] == true)
        .map(|l| l["origin"].as_str().unwrap())
        .collect();
    eprintln!(
        "sisimai bounces acknowledged as if from a person: {} of {}: {acked:#?}",
        acked.len(),
        bounces.len()
    );
    assert!(bounces.len() > 500);
    assert!(
        acked.len() * 100 <= bounces.len(),
        "more than 1% of sisimai bounces were acknowledged"
    );
}

/// On every corpus message, the dry run (`rules test`) predicts what live
/// processing then does: the same queue, priority, SLA policy and rules
/// for a new ticket, the same ticket for a reply. Run on the in-memory
/// store with the shipped rules, message by message.
#[test]
fn the_dry_run_predicts_live_processing_on_the_whole_corpus() {
    use ticketbox::pipeline::{Engine, OutcomeKind, process};
    use ticketbox::store::MemoryStore;
    use ticketbox::thread::ThreadView;
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: ../shared/corpus is not present");
        return;
    };
    let mut files = Vec::new();
    message_files(&dir, &mut files);
    let cfg = ticketbox::config::Config {
        rules_dir: Path::new(common::REPO).join("rules"),
        templates_dir: Path::new(common::REPO).join("templates"),
        agents: vec!["agent@example.com".into()],
        ..Default::default()
    };
    let engine = Engine::new(cfg, "corpus".into()).unwrap();
    let rules = engine.rules();
    let store = MemoryStore::new(1000);
    let now = chrono::Utc::now();
    let (mut created, mut appended) = (0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let Ok(before) =
            ticketbox::dryrun::test_message(&engine, &rules, Some(&store), &bytes, now)
        else {
            continue;
        };
        let raw = ticketbox::intake::RawMail::new(bytes, path.display().to_string(), None);
        let o = process(&engine, &store, &raw, now).unwrap();
        match o.outcome {
            OutcomeKind::Created => {
                let t = store.ticket(o.ticket.unwrap()).unwrap().unwrap();
                let d = &before.decision;
                assert_eq!(
                    (
                        d.queue.as_str(),
                        d.priority.as_str(),
                        d.sla.as_str(),
                        &d.fired
                    ),
                    (
                        t.queue.as_str(),
                        t.priority.as_str(),
                        t.sla_policy.as_deref().unwrap_or(""),
                        &t.rules_fired
                    ),
                    "{}: {} {:?} {}",
                    path.display(),
                    before.kind,
                    before.notes,
                    o.reason
                );
                created += 1;
            }
            OutcomeKind::Appended => {
                let tag = engine.threading.tags.format(o.ticket.unwrap());
                assert!(
                    before
                        .notes
                        .iter()
                        .any(|n| n.contains(&format!("would join {tag}"))),
                    "{}: {:?}",
                    path.display(),
                    before.notes
                );
                appended += 1;
            }
            _ => {}
        }
    }
    eprintln!("compared {created} new tickets and {appended} replies");
    assert!(
        created >= 200 && appended >= 5,
        "{created} new tickets, {appended} replies compared"
    );
}

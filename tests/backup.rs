//! A backup taken while a worker takes in 5,000 messages from the real
//! Dovecot: every message the server had been told about (flagged \Seen
//! after its commit) before the backup is in it; restored into a new store,
//! a worker reading the same mailbox fetches the rest again from the
//! backup's checkpoint, and the store ends with 5,000 tickets, each message
//! once.

mod common;

use common::Sandbox;
use common::mailstack::{self, IMAP_PORT, fresh_address, wait_for};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const MESSAGES: usize = 5_000;

fn mail(i: usize) -> Vec<u8> {
    format!(
        "From: Customer {i} <c{i}@shop{}.example>\r\nTo: support@example.com\r\n\
         Subject: Order {i} is late\r\nMessage-ID: <bk{i}@shop.example>\r\n\r\n\
         Hello, order {i} has not arrived yet.\r\n",
        i % 97
    )
    .into_bytes()
}

/// Message-IDs of the messages the server has been told about.
fn seen(maildir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for e in std::fs::read_dir(maildir.join("cur"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let flags = name.rsplit_once(":2,").map(|(_, f)| f).unwrap_or("");
        if !flags.contains('S') {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(e.path())
            && let Some(id) = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .and_then(|l| l.strip_suffix('>'))
        {
            ids.insert(id.to_owned());
        }
    }
    ids
}

/// Message-IDs of the customers' messages in an export, with how often.
fn exported_messages(sb: &Sandbox) -> BTreeMap<String, usize> {
    let path = sb.path("check.jsonl");
    sb.run(&["export", "-o", path.to_str().unwrap()]);
    let mut ids = BTreeMap::new();
    for line in std::fs::read_to_string(&path).unwrap().lines().skip(1) {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "message" && v["kind"] == "customer" {
            *ids.entry(v["message_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    ids
}

#[test]
fn a_backup_during_intake_restores_without_loss_or_duplicates() {
    let Some(ms) = mailstack::mailstack() else {
        return;
    };
    let support = fresh_address("backup-support");
    ms.deliver_many(&support, (0..MESSAGES).map(mail));
    let cfg = format!(
        "[support]\naddress = \"{support}\"\n\n[[mailbox]]\nname = \"support\"\nhost = \"127.0.0.1\"\n\
         port = {IMAP_PORT}\ntls = \"plain\"\nallow_plaintext = true\nuser = \"{support}\"\n\
         password_env = \"TB_TEST_PASSWORD\"\n"
    );
    let a = Sandbox::new(&cfg);
    let worker = a.start_worker(&[]);
    let processed = |sb: &Sandbox| sb.worker_log().matches(" processed ").count();
    assert!(wait_for(120, || processed(&a) >= 500), "{}", a.worker_log());
    // What the server was told before the backup was asked for: all of it
    // must be in the backup.
    let told = seen(&ms.maildir(&support));
    let backup = a.path("backup");
    let out = a.run(&["backup", backup.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backup in"),
        "{out:?}"
    );
    assert!(
        wait_for(300, || processed(&a) >= MESSAGES),
        "{} of {MESSAGES}",
        processed(&a)
    );
    assert!(worker.stop().success());

    let b = Sandbox::new(&cfg);
    b.run(&["restore", backup.to_str().unwrap()]);
    let restored = exported_messages(&b);
    let missing: Vec<&String> = told
        .iter()
        .filter(|id| !restored.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} told to the server before the backup are not in it: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        restored.len() < MESSAGES,
        "the backup was taken after the whole intake ({} messages): nothing left to fetch again",
        restored.len()
    );
    eprintln!(
        "told before the backup: {}; in the backup: {}",
        told.len(),
        restored.len()
    );

    // The restored store reads the mailbox from its checkpoint: the rest
    // comes again, nothing twice.
    b.run(&["run", "--once"]);
    let after = exported_messages(&b);
    assert_eq!(after.len(), MESSAGES);
    assert!(after.values().all(|n| *n == 1));
    let tickets = b.json(&["tickets", "--json"]);
    assert_eq!(tickets.as_array().map(Vec::len), Some(MESSAGES));
}

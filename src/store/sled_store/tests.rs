//! The sled store's own behaviour: what the trait promises beyond plain
//! reads and writes.

use super::*;
use crate::store::Checkpoint;

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("data"), 1000).unwrap();
    (dir, store)
}

#[test]
fn pending_comes_back_in_arrival_order() {
    let (_dir, store) = open();
    // Hashes in reverse key order: key order would invert arrival.
    for (i, hash) in ["ff", "cc", "99", "33", "00"].iter().enumerate() {
        store.put_raw(hash, b"x", &format!("origin-{i}")).unwrap();
    }
    let origins: Vec<String> = store
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| p.origin)
        .collect();
    assert_eq!(
        origins,
        ["origin-0", "origin-1", "origin-2", "origin-3", "origin-4"]
    );
    // A commit clears the mark.
    store
        .commit(&Commit {
            raw_hash: "99".into(),
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(store.pending().unwrap().len(), 4);
}

#[test]
fn pending_written_by_older_versions_is_still_read() {
    let (_dir, store) = open();
    store.pending.insert("aa", "maildir:/old/origin").unwrap();
    // Version 0: NUL, arrival number, origin.
    let mut v0 = vec![0u8];
    v0.extend_from_slice(&(1u64 << 40).to_be_bytes());
    v0.extend_from_slice(b"imap:support/7");
    store.pending.insert("cc", v0).unwrap();
    store.put_raw("bb", b"x", "new-origin").unwrap();
    store.count_attempts(&["bb", "cc"], false).unwrap();
    let got: Vec<(String, String, u32)> = store
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| (p.hash, p.origin, p.attempts.total))
        .collect();
    let want = [
        ("aa", "maildir:/old/origin", 0),
        ("bb", "new-origin", 1),
        ("cc", "imap:support/7", 1),
    ];
    assert_eq!(got, want.map(|(h, o, n)| (h.to_owned(), o.to_owned(), n)));
}

#[test]
fn tries_are_counted_and_a_second_put_keeps_them() {
    let (_dir, store) = open();
    store.put_raw("aa", b"x", "first").unwrap();
    store.count_attempts(&["aa"], false).unwrap();
    store.count_attempts(&["aa"], true).unwrap();
    // The same mail fetched again (a restart) keeps its mark and tries.
    store.put_raw("aa", b"x", "again").unwrap();
    let p = store.pending().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].origin, "first");
    assert_eq!(p[0].attempts, Attempts { total: 2, alone: 1 });
    assert_eq!(store.attempts("aa").unwrap(), p[0].attempts);
    // Not pending: no tries, and counting does not make it pending.
    store.count_attempts(&["zz"], true).unwrap();
    assert_eq!(store.attempts("zz").unwrap(), Attempts::default());
    assert_eq!(store.pending().unwrap().len(), 1);
}

#[test]
fn commits_written_together_keep_every_acknowledgement_time() {
    let (_dir, store) = open();
    let at = |m| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 9, m, 0).unwrap();
    let ack = |m| Commit {
        acked: vec![crate::store::Acked {
            key: "ann@example.net".into(),
            at: at(m),
            keep: 20,
        }],
        ..Commit::default()
    };
    store.commit(&ack(0)).unwrap();
    store.commit_all(&[ack(1), ack(2), ack(3)]).unwrap();
    assert_eq!(
        store.acks_to("ann@example.net").unwrap(),
        [at(0), at(1), at(2), at(3)]
    );
}

#[test]
fn big_messages_live_in_files_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let big = vec![b'a'; raw_files::INLINE_MAX + 1];
    let hash = crate::intake::content_hash(&big);
    let file = data.join("raw").join(&hash[..2]).join(&hash);
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store.put_raw(&hash, &big, "big").unwrap();
        store.put_raw("abc123", b"small", "small").unwrap();
        store.flush().unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), big.len() as u64);
        assert_eq!(store.raw(&hash).unwrap().as_deref(), Some(&big[..]));
        assert_eq!(store.raw("abc123").unwrap().as_deref(), Some(&b"small"[..]));
    }
    // Reopened: still there. A file lost (power failure before a sync)
    // comes back when the mail is stored again.
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(store.raw(&hash).unwrap().map(|b| b.len()), Some(big.len()));
    std::fs::write(&file, b"short").unwrap();
    store.put_raw(&hash, &big, "again").unwrap();
    assert_eq!(store.raw(&hash).unwrap().as_deref(), Some(&big[..]));
    // Not a hash, not a path.
    assert!(store.blobs.files.read("../../etc/passwd").is_err());
}

#[test]
fn small_blobs_live_in_the_log_and_a_lost_one_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hash = crate::intake::content_hash(b"From: a@x\r\n\r\nhi\r\n");
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store
            .put_raw(&hash, b"From: a@x\r\n\r\nhi\r\n", "one")
            .unwrap();
        store
            .blobs
            .put(BlobKind::Outgoing, "ack@x", b"an acknowledgement")
            .unwrap();
        store.flush().unwrap();
        // Only where the bytes are is in sled.
        assert_eq!(store.blobs.raw_at.get(&hash).unwrap().unwrap().len(), 20);
        assert!(store.blobs.raw.is_empty());
        assert!(store.blobs.outbox_raw.is_empty());
    }
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(
        store.raw(&hash).unwrap().as_deref(),
        Some(&b"From: a@x\r\n\r\nhi\r\n"[..])
    );
    assert_eq!(
        store.blob(BlobKind::Outgoing, "ack@x").unwrap().as_deref(),
        Some(&b"an acknowledgement"[..])
    );
    // The log lost its bytes (a power failure before its sync, while
    // sled kept the location): reading says so, and storing the mail
    // again (it is fetched again) writes it anew.
    let segment = data.join("log").join("00000000.seg");
    std::fs::write(&segment, b"").unwrap();
    let e = store.raw(&hash).unwrap_err().to_string();
    assert!(e.contains("blob file"), "{e}");
    store
        .put_raw(&hash, b"From: a@x\r\n\r\nhi\r\n", "again")
        .unwrap();
    assert_eq!(
        store.raw(&hash).unwrap().as_deref(),
        Some(&b"From: a@x\r\n\r\nhi\r\n"[..])
    );
    // The same when a batch is taken in (its small mail in one write):
    // the lost one is written anew, the one still whole is left as it is.
    store.flush().unwrap();
    std::fs::write(&segment, b"").unwrap();
    let other = b"From: b@x\r\n\r\nhello\r\n".as_slice();
    let other_hash = crate::intake::content_hash(other);
    store
        .put_raws_tried(&[(other_hash.as_str(), other, "b")], false)
        .unwrap();
    let kept = store.blobs.raw_at.get(&other_hash).unwrap().unwrap();
    store
        .put_raws_tried(
            &[
                (hash.as_str(), b"From: a@x\r\n\r\nhi\r\n", "again"),
                (other_hash.as_str(), other, "b"),
                (hash.as_str(), b"From: a@x\r\n\r\nhi\r\n", "again"),
            ],
            false,
        )
        .unwrap();
    assert_eq!(
        store.raw(&hash).unwrap().as_deref(),
        Some(&b"From: a@x\r\n\r\nhi\r\n"[..])
    );
    assert_eq!(store.raw(&other_hash).unwrap().as_deref(), Some(other));
    assert_eq!(store.blobs.raw_at.get(&other_hash).unwrap().unwrap(), kept);
}

#[test]
fn the_open_index_follows_status_and_is_built_for_old_stores() {
    use crate::model::{Party, Priority, Status, Ticket};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ticket = |id, status| {
        let mut t = Ticket::new(
            id,
            format!("t{id}"),
            "general".into(),
            Priority::Normal,
            Party::new(None, "c@x.example"),
            chrono::Utc::now(),
        );
        t.status = status;
        t
    };
    let ids =
        |s: &SledStore| -> Vec<u64> { s.open_tickets().unwrap().iter().map(|t| t.id).collect() };
    {
        let store = SledStore::open(&data, 1000).unwrap();
        let held = crate::store::Staged::new(&store);
        for (id, status) in [
            (1000, Status::New),
            (1001, Status::Closed),
            (1002, Status::Pending),
        ] {
            held.commit(&Commit {
                ticket: Some(ticket(id, status)),
                ..Commit::default()
            })
            .unwrap();
        }
        // Held commits are seen before they are written.
        let held_ids: Vec<u64> = held.open_tickets().unwrap().iter().map(|t| t.id).collect();
        assert_eq!(held_ids, [1000, 1002]);
        held.flush().unwrap();
        assert_eq!(ids(&store), [1000, 1002]);
        store
            .commit(&Commit {
                ticket: Some(ticket(1000, Status::Closed)),
                ..Commit::default()
            })
            .unwrap();
        assert_eq!(ids(&store), [1002]);
        // As a store from before the index would be.
        store.open.clear().unwrap();
        store.meta.remove(OPEN_INDEX).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(ids(&store), [1002], "rebuilt when opened");
}

#[test]
fn big_outgoing_mail_lives_in_a_file_too() {
    use crate::store::OutboxState;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = chrono::Utc::now();
    let raw = format!("Subject: logs\r\n\r\n{}", "x".repeat(raw_files::INLINE_MAX));
    let entry = |id: &str, raw: &str| outgoing(id, raw, now);
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store
            .commit(&Commit {
                outbox: vec![
                    entry("big@x", &raw),
                    entry("small@x", "Subject: hi\r\n\r\nhi"),
                ],
                ..Commit::default()
            })
            .unwrap();
        store.flush().unwrap();
        // A delivery round rewrites the entry (without its message).
        let mut sent = entry("big@x", "");
        sent.state = OutboxState::Sent;
        store.put_outbox(&sent).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(&data, 1000).unwrap();
    let big = store.outbox_entry("big@x").unwrap().unwrap();
    assert_eq!((big.state, big.raw.len()), (OutboxState::Sent, raw.len()));
    assert_eq!(big.raw, raw);
    assert_eq!(
        store.outbox_entry("small@x").unwrap().unwrap().raw,
        "Subject: hi\r\n\r\nhi"
    );
    let in_sled = store.blobs.outbox_raw.get("big@x").unwrap().unwrap();
    assert!(in_sled.is_empty(), "the big message is not inside sled");
}

#[test]
fn an_unfinished_snapshot_does_not_keep_the_store_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store.set_meta("kept", "yes").unwrap();
        store.flush().unwrap();
    }
    // What a full disk leaves: a snapshot cut short. sled reads the newest
    // `snap.*` file, and this name sorts after every finished one.
    std::fs::write(data.join("snap.FFFFFFFFFFFFFFFF.generating"), b"\0\0\0cut").unwrap();
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(store.meta("kept").unwrap().as_deref(), Some("yes"));
    assert!(!data.join("snap.FFFFFFFFFFFFFFFF.generating").exists());
}

#[test]
fn the_store_is_the_owners_alone_whatever_the_umask_was() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(SledStore::open(&data, 1000).unwrap());
    // Files an older version left readable by all.
    std::fs::set_permissions(data.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(SledStore::open(&data, 1000).unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    // What was there is closed; what sled writes later follows the
    // process's umask, which the binary sets to 077 (tests/file_modes.rs).
    assert_eq!(mode(&data.join("db")), 0o600);
    assert_eq!(mode(&data.join("conf")), 0o600);
}

#[test]
fn a_schema_1_store_has_its_string_kept_state_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        // Schema 1's layout: typed state as strings among the named values.
        let store = SledStore::open(&data, 1000).unwrap();
        store.set_meta("schema_version", "1").unwrap();
        store.set_meta("imap:support", "7:42").unwrap();
        store.set_meta("imap:broken", "seven").unwrap();
        store
            .set_meta(
                "stats:billing",
                r#"{"samples":[["high",3600,2]],"awaiting":3}"#,
            )
            .unwrap();
        store
            .set_meta(
                "customer:ann@c.example",
                r#"{"language":"pl","timezone":"Europe/Warsaw"}"#,
            )
            .unwrap();
        store
            .set_meta("customer:bad@c.example", "{not json")
            .unwrap();
        store.set_meta("instance_id", "tb-1").unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(store.meta("schema_version").unwrap().as_deref(), Some("2"));
    assert_eq!(
        store.checkpoint("support").unwrap(),
        Some(Checkpoint {
            validity: 7,
            last: 42
        })
    );
    assert_eq!(store.checkpoint("broken").unwrap(), None);
    let stats = store.queue_stats("billing").unwrap();
    assert_eq!(stats.awaiting, 3);
    assert_eq!(stats.samples, [(crate::model::Priority::High, 3600, 2)]);
    let prefs = store.customer_prefs("ann@c.example").unwrap();
    assert_eq!(prefs.language.as_deref(), Some("pl"));
    assert_eq!(prefs.timezone.as_deref(), Some("Europe/Warsaw"));
    assert_eq!(
        store.customer_prefs("bad@c.example").unwrap(),
        Default::default()
    );
    // Moved, not copied; what is not state stays.
    for key in [
        "imap:support",
        "imap:broken",
        "stats:billing",
        "customer:ann@c.example",
    ] {
        assert_eq!(store.meta(key).unwrap(), None, "{key}");
    }
    assert_eq!(store.instance_id().unwrap().as_deref(), Some("tb-1"));
    // A value written after the migration is not undone by a second open.
    let mut c = Commit::default();
    c.checkpoint(
        "support",
        Checkpoint {
            validity: 7,
            last: 50,
        },
    );
    store.commit(&c).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(
        store.checkpoint("support").unwrap().map(|c| c.last),
        Some(50)
    );
}

#[test]
fn unreadable_state_is_no_state() {
    let (_dir, store) = open();
    let key = state_key(&StateKey::Prefs("ann@c.example".into()));
    store.state.insert(key, &b"{not json"[..]).unwrap();
    assert_eq!(
        store.customer_prefs("ann@c.example").unwrap(),
        Default::default()
    );
}

/// The embedded store admits one process: claims on record when it opens
/// belong to a process that is gone, so its outbox is free again at once.
#[test]
fn claims_do_not_outlive_the_process_that_made_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = chrono::Utc::now();
    {
        let store = SledStore::open(&data, 1000).unwrap();
        let mut c = Commit::default();
        c.outbox.push(outgoing("a@x", "mail", now));
        store.commit(&c).unwrap();
        let until = now + chrono::Duration::hours(1);
        assert_eq!(
            store
                .claim_due("old", now, until, 10)
                .unwrap()
                .claimed
                .len(),
            1
        );
        assert!(
            store
                .claim_due("new", now, until, 10)
                .unwrap()
                .claimed
                .is_empty()
        );
        store.flush().unwrap();
    }
    let store = SledStore::open(&data, 1000).unwrap();
    let until = now + chrono::Duration::hours(1);
    let due = store.claim_due("new", now, until, 10).unwrap();
    assert_eq!(due.claimed.len(), 1, "the dead process's claim was dropped");
}

/// An outgoing mail due at `now`.
fn outgoing(id: &str, raw: &str, now: DateTime<Utc>) -> crate::store::OutboxEntry {
    crate::store::OutboxEntry {
        id: id.into(),
        ticket: 1000,
        purpose: "notification".into(),
        envelope_from: "support@example.com".into(),
        recipients: vec!["ola@example.com".into()],
        subject: "logs".into(),
        raw: raw.into(),
        ..crate::store::OutboxEntry::queued(now)
    }
}

#[test]
fn claiming_reads_only_what_is_due_and_the_index_follows_every_write() {
    use crate::store::OutboxState;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store
            .commit(&Commit {
                outbox: vec![
                    outgoing("a@x", "Subject: a\r\n\r\na", now),
                    outgoing("b@x", "Subject: b\r\n\r\nb", now),
                    outgoing("c@x", "Subject: c\r\n\r\nc", now),
                ],
                ..Commit::default()
            })
            .unwrap();
        // One waits for a retry in an hour, one is delivered.
        let mut retry = outgoing("b@x", "", later);
        retry.attempts = 1;
        retry.created = now;
        let mut sent = outgoing("c@x", "", now);
        sent.state = OutboxState::Sent;
        store.put_outbox_all(&[retry, sent]).unwrap();
        assert_eq!(
            store.outbox_due.len(),
            2,
            "one key per entry still to deliver"
        );

        let due = store.claim_due("me", now, later, 10).unwrap();
        let ids: Vec<&str> = due.claimed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a@x"]);
        let next = due.next.unwrap();
        assert_eq!(next.timestamp_millis(), later.timestamp_millis());
        // Claiming leaves the due time as it was.
        assert_eq!(store.outbox_due.len(), 2);
        // An hour on, the retry is due.
        let due = store.claim_due("me", later, later, 10).unwrap();
        assert!(due.claimed.iter().any(|e| e.id == "b@x"));
        store.flush().unwrap();
    }
    // A store from before the index: built once when opened.
    {
        let store = SledStore::open(&data, 1000).unwrap();
        store.outbox_due.clear().unwrap();
        store.meta.remove(DUE_INDEX).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(&data, 1000).unwrap();
    assert_eq!(store.outbox_due.len(), 2);
    let due = store.claim_due("me", later, later, 10).unwrap();
    assert_eq!(due.claimed.len(), 2);
}

#[test]
fn leases_of_a_process_that_is_gone_are_dropped_at_open() {
    // One process at a time opens an embedded store: a lease on record
    // when it opens is a dead process's, and a restart must not wait for
    // it to run out.
    let (dir, s) = open();
    let now = Utc::now();
    assert!(
        s.lease(
            "mailbox:support",
            "old",
            now,
            now + chrono::Duration::hours(1)
        )
        .unwrap()
    );
    s.set_instance_id("abc").unwrap();
    s.flush().unwrap();
    drop(s);
    let s = SledStore::open(&dir.path().join("data"), 1000).unwrap();
    assert!(
        s.lease(
            "mailbox:support",
            "new",
            now,
            now + chrono::Duration::seconds(30)
        )
        .unwrap()
    );
    assert_eq!(
        s.instance_id().unwrap().as_deref(),
        Some("abc"),
        "named values stay as they were"
    );
}

/// A commit touching every kind of record the journal covers.
fn full_commit(store: &SledStore) -> Commit {
    use crate::store::conformance::{at, entry, record, ticket};
    store.put_raw("h1", b"raw mail", "maildir:cur/1").unwrap();
    let mut t = ticket(1000, "ann@c.example", 9);
    t.messages.push("<m1@c.example>".into());
    Commit {
        raw_hash: "h1".into(),
        source_key: Some("maildir:cur/1".into()),
        messages: vec![record("<m1@c.example>", Some(1000))],
        ticket: Some(t),
        index: vec![
            ("<m1@c.example>".into(), 1000),
            ("<earlier@c.example>".into(), 1000),
        ],
        conversation: Some(("conv-1".into(), 1000)),
        outbox: vec![entry("<ack1@example.com>", "raw ack", 9)],
        acked: vec![crate::store::Acked {
            key: "ann@c.example".into(),
            at: at(9),
            keep: 5,
        }],
        state: vec![State::Prefs {
            address: "ann@c.example".into(),
            prefs: crate::model::CustomerPrefs {
                language: Some("pl".into()),
                ..Default::default()
            },
        }],
        ..Commit::default()
    }
}

/// Everything a commit can change, as the store reads it.
fn seen(store: &SledStore) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?} {:?} {:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?} {:?}",
        store.tickets().unwrap(),
        store.message("<m1@c.example>").unwrap(),
        store.pending().unwrap(),
        store.ticket_for_message_id("<m1@c.example>").unwrap(),
        store.ticket_for_message_id("<earlier@c.example>").unwrap(),
        store.ticket_for_conversation("conv-1").unwrap(),
        store.outbox().unwrap(),
        store.acks_to("ann@c.example").unwrap(),
        store
            .state(&StateKey::Prefs("ann@c.example".into()))
            .unwrap(),
        store.customer_tickets("ann@c.example").unwrap(),
        store.source_seen("maildir:cur/1").unwrap(),
        store.open_tickets().unwrap().len(),
    )
}

#[test]
fn a_commit_cut_short_by_a_crash_is_completed_at_open() {
    // As the commit leaves the store when nothing interrupts it.
    let (_whole_dir, whole) = open();
    let c = full_commit(&whole);
    let before = seen(&whole);
    whole.commit(&c).unwrap();
    let after = seen(&whole);
    assert_ne!(before, after);

    let writes = whole.commit_writes(&c).len();
    assert!(writes > 10, "{writes} writes");
    for applied in 0..=writes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let store = SledStore::open(&path, 1000).unwrap();
        let c = full_commit(&store);
        let g = store.commit_writes(&c);
        store.cut_short(&g, applied);
        drop(store);
        let store = SledStore::open(&path, 1000).unwrap();
        assert_eq!(
            seen(&store),
            after,
            "cut after {applied} of {writes} writes"
        );
        // Replayed once: the record is gone.
        assert!(store.journal.is_empty(), "cut after {applied}");
    }
}

#[test]
fn writes_from_several_threads_each_land_whole() {
    // The writer thread's commits, the intake's marks and the outbox's
    // results at once: each commit's index entries and its outbox entry
    // with exactly one due-time key.
    let (_dir, store) = open();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..200 {
                let mut e = crate::store::conformance::entry(&format!("<a{i}@x>"), "raw", 9);
                e.ticket = i;
                store
                    .commit(&Commit {
                        index: vec![(format!("<m{i}@x>"), i)],
                        outbox: vec![e],
                        ..Commit::default()
                    })
                    .unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..200 {
                store
                    .put_raws_tried(
                        &[(&format!("h{i}"), b"x", "o"), ("shared", b"y", "o")],
                        false,
                    )
                    .unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..200 {
                let mut e = crate::store::conformance::entry(&format!("<a{i}@x>"), "", 10);
                e.state = crate::store::OutboxState::Sent;
                // Until the commit queued it, this moves nothing it finds.
                store.put_outbox(&e).unwrap();
            }
        });
    });
    assert_eq!(store.attempts("shared").unwrap().total, 200);
    for i in 0..200 {
        assert_eq!(
            store.ticket_for_message_id(&format!("<m{i}@x>")).unwrap(),
            Some(i)
        );
    }
    // Every active entry has its one due-time key, and no key is left
    // naming an entry that is not active.
    let active = store.outbox_active().unwrap();
    let due: Vec<Vec<u8>> = store
        .outbox_due
        .iter()
        .keys()
        .map(|k| k.unwrap().to_vec())
        .collect();
    let mut want: Vec<Vec<u8>> = active
        .iter()
        .map(|e| due_key(e.next_attempt, &e.id))
        .collect();
    want.sort();
    assert_eq!(due, want);
    assert!(store.journal.is_empty());
}

#[test]
fn a_tickets_subject_is_read_from_the_start_of_its_record() {
    use crate::store::conformance::ticket;
    let (_dir, store) = open();
    for (id, subject) in [
        (0, "plain"),
        (
            1000,
            "Re: \"quoted\", a back\\slash, a tab\t and a line\nbreak",
        ),
        (u64::MAX, "Zamówienie uszkodzone / ההזמנה הגיעה פגומה 🙂"),
        (7, ""),
    ] {
        let mut t = ticket(id, "ann@c.example", 9);
        t.subject = subject.into();
        let record = enc(&t);
        assert_eq!(leading_subject(&record).as_deref(), Some(subject));
        store
            .commit(&Commit {
                ticket: Some(t),
                ..Commit::default()
            })
            .unwrap();
        assert_eq!(store.ticket_subject(id).unwrap().as_deref(), Some(subject));
    }
    // A record laid out otherwise (another writer, another field order) is
    // read whole instead.
    let other = br#"{"subject":"moved","id":5}"#;
    assert_eq!(leading_subject(other), None);
    store.tickets.insert(id_key(5), other.as_slice()).unwrap();
    assert_eq!(store.ticket_subject(5).unwrap().as_deref(), Some("moved"));
    assert_eq!(store.ticket_subject(6).unwrap(), None);
    assert_eq!(leading_subject(br#"{"id":5,"subject":"cut"#), None);
}

#[test]
fn after_a_group_failed_halfway_nothing_more_is_written_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let store = SledStore::open(&path, 1000).unwrap();
    let c = full_commit(&store);
    let before = seen(&store);
    // What a failed write in the middle of a group leaves: its record,
    // some of its writes, and the store told so.
    let g = store.commit_writes(&c);
    store.cut_short(&g, 3);
    store
        .cut_short
        .store(true, std::sync::atomic::Ordering::Release);
    let refused = store.commit(&Commit {
        index: vec![("<later@c.example>".into(), 1000)],
        ..Commit::default()
    });
    assert!(
        refused.as_ref().is_err_and(StoreError::is_fatal),
        "{refused:?}"
    );
    assert_eq!(
        store.ticket_for_message_id("<later@c.example>").unwrap(),
        None
    );
    assert_ne!(seen(&store), before, "three of its writes are there");
    drop(store);
    // The restart completes the group and takes writes again.
    let store = SledStore::open(&path, 1000).unwrap();
    let whole = {
        let (_d, other) = open();
        let c = full_commit(&other);
        other.commit(&c).unwrap();
        seen(&other)
    };
    assert_eq!(seen(&store), whole);
    store
        .commit(&Commit {
            index: vec![("<later@c.example>".into(), 1000)],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(
        store.ticket_for_message_id("<later@c.example>").unwrap(),
        Some(1000)
    );
}

#[test]
fn a_subject_read_before_a_commit_changed_it_is_not_kept_over_the_change() {
    let (_dir, store) = open();
    let mut t = crate::store::conformance::ticket(1000, "ann@c.example", 9);
    t.subject = "Printer".into();
    store
        .commit(&Commit {
            ticket: Some(t.clone()),
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(
        store.ticket_subject(1000).unwrap().as_deref(),
        Some("Printer")
    );
    t.subject = "Printer on floor 3".into();
    store
        .commit(&Commit {
            ticket: Some(t),
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(
        store.ticket_subject(1000).unwrap().as_deref(),
        Some("Printer on floor 3")
    );
    // A reader that found nothing kept, read the old subject from the
    // store, and keeps it only after a commit set the new one.
    let kept = Subjects::default();
    let asked = kept.get(7).unwrap_err();
    kept.put(7, "new");
    kept.put_read(7, "old", asked);
    assert_eq!(kept.get(7).as_deref(), Ok("new"));
    // ... or after the map was emptied (full) and the commit's subject
    // went with it.
    let asked = kept.get(8).unwrap_err();
    kept.put(8, "new");
    for id in 100..100 + SUBJECTS_KEPT as u64 {
        kept.put(id, "filler");
    }
    assert!(kept.get(8).is_err(), "emptied when full");
    kept.put_read(8, "old", asked);
    assert!(kept.get(8).is_err(), "a read from before the emptying");
    let asked = kept.get(8).unwrap_err();
    kept.put_read(8, "now", asked);
    assert_eq!(kept.get(8).as_deref(), Ok("now"));
}

#[test]
fn acknowledgement_times_read_back_to_the_nanosecond() {
    let (_dir, store) = open();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00.123456789Z")
        .unwrap()
        .with_timezone(&Utc);
    store
        .commit(&Commit {
            acked: vec![crate::store::Acked {
                key: "ann@c.example".into(),
                at,
                keep: 3,
            }],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(store.acks_to("ann@c.example").unwrap(), [at]);
    // Written another way (an offset instead of Z): read the general way.
    store
        .senders
        .insert(
            "bob@c.example",
            br#"["2026-11-23 11:00:00+02:00"]"#.as_slice(),
        )
        .unwrap();
    assert_eq!(
        store.acks_to("bob@c.example").unwrap(),
        [chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)]
    );
}

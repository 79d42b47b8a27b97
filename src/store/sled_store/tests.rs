//! The sled store's own behaviour: what the trait promises beyond plain
//! reads and writes.

use super::*;

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
    let origins: Vec<String> = store.pending().unwrap().into_iter().map(|p| p.1).collect();
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
    store.put_raw("bb", b"x", "new-origin").unwrap();
    assert_eq!(
        store.pending().unwrap(),
        [
            ("aa".to_owned(), "maildir:/old/origin".to_owned()),
            ("bb".to_owned(), "new-origin".to_owned())
        ]
    );
}

#[test]
fn commits_written_together_keep_every_acknowledgement_time() {
    let (_dir, store) = open();
    let at = |m| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 9, m, 0).unwrap();
    let ack = |m| Commit {
        acked: Some(("ann@example.net".into(), at(m))),
        ..Commit::default()
    };
    store.commit(&ack(0)).unwrap();
    store.commit_all(&[ack(1), ack(2), ack(3)]).unwrap();
    assert_eq!(
        store.acks_to("ann@example.net").unwrap(),
        [at(0), at(1), at(2), at(3)]
    );
}

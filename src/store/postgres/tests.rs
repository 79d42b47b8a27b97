//! What only a server store has to show: several processes on one
//! database (each `PgStore` is one worker's connections), and its own
//! schema versions. The invariants every backend keeps are in
//! `store/conformance.rs`.

use super::testdb::TestDb;
use super::*;
use crate::model::{Party, Priority};
use crate::store::Commit;
use chrono::TimeZone;
use std::collections::BTreeSet;

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
}

fn workers(db: &TestDb, n: usize) -> Vec<PgStore> {
    (0..n)
        .map(|_| PgStore::connect(&db.url, None, None, 1000).unwrap())
        .collect()
}

#[test]
fn workers_on_one_database_never_share_a_ticket_number_or_a_mail() {
    let Some(db) = TestDb::new() else { return };
    let ws = workers(&db, 3);
    // Numbers: three workers, four threads each.
    let taken: Vec<TicketId> = std::thread::scope(|scope| {
        let hs: Vec<_> = ws
            .iter()
            .flat_map(|w| (0..4).map(move |_| w))
            .map(|w| {
                scope.spawn(move || {
                    (0..25)
                        .map(|_| w.allocate_ticket_id().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let unique: BTreeSet<TicketId> = taken.iter().copied().collect();
    assert_eq!(unique.len(), 300, "no number twice across workers");
    assert_eq!(ws[1].next_ticket_id().unwrap(), 1300);
    // Mail: 90 entries drained by three workers claiming at once, again
    // and again until none is left; every entry to exactly one of them.
    let mut c = Commit::default();
    for i in 0..90 {
        c.outbox.push(OutboxEntry {
            id: format!("m{i:02}@x"),
            recipients: vec!["ann@c.example".into()],
            raw: format!("Subject: {i}\r\n\r\nbody"),
            ..OutboxEntry::queued(at(9))
        });
    }
    ws[0].commit(&c).unwrap();
    let got: Vec<Vec<String>> = std::thread::scope(|scope| {
        let hs: Vec<_> = ws
            .iter()
            .enumerate()
            .map(|(i, w)| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let due = w.claim_due(&format!("w{i}"), at(10), at(11), 7).unwrap();
                        if due.claimed.is_empty() {
                            break mine;
                        }
                        for mut e in due.claimed {
                            // Sent: the result ends the claim.
                            e.state = crate::store::OutboxState::Sent;
                            e.claim = None;
                            w.put_outbox(&e).unwrap();
                            mine.push(e.id);
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut owner = std::collections::BTreeMap::new();
    for (w, ids) in got.iter().enumerate() {
        for id in ids {
            assert_eq!(owner.insert(id.clone(), w), None, "{id} sent twice");
        }
    }
    assert_eq!(owner.len(), 90, "every mail sent");
    assert!(ws[2].outbox_active().unwrap().is_empty());
    assert_eq!(
        ws[2].outbox_entry("m42@x").unwrap().unwrap().raw,
        "Subject: 42\r\n\r\nbody",
        "any worker reads any message"
    );
}

#[test]
fn racing_commits_keep_the_first_reference_and_count_every_acknowledgement() {
    let Some(db) = TestDb::new() else { return };
    let ws = workers(&db, 2);
    let commit = |t: TicketId, h: u32| Commit {
        ticket: Some(Ticket::new(
            t,
            "s".into(),
            "general".into(),
            Priority::Normal,
            Party::new(None, "ann@c.example"),
            at(h),
        )),
        index: vec![("root@c.example".into(), t)],
        acked: vec![crate::store::Acked {
            key: "ann@c.example".into(),
            at: at(h),
            keep: 50,
        }],
        ..Commit::default()
    };
    std::thread::scope(|scope| {
        for (i, w) in ws.iter().enumerate() {
            scope.spawn(move || {
                for n in 0..20u64 {
                    w.commit(&commit(2000 + n * 2 + i as u64, 1)).unwrap();
                }
            });
        }
    });
    let first = ws[0].ticket_for_message_id("root@c.example").unwrap();
    assert!(first.is_some_and(|t| (2000..2040).contains(&t)));
    assert_eq!(ws[1].tickets().unwrap().len(), 40);
    assert_eq!(ws[1].customer_tickets("ann@c.example").unwrap().len(), 40);
    // Every acknowledgement counted, none lost to the race.
    assert_eq!(ws[0].acks_to("ann@c.example").unwrap().len(), 40);
    assert_eq!(ws[0].next_ticket_id().unwrap(), 2040);
}

#[test]
fn a_database_written_by_a_newer_ticketbox_is_refused() {
    let Some(db) = TestDb::new() else { return };
    let s = PgStore::connect(&db.url, None, None, 1000).unwrap();
    s.set_meta(
        "schema_version",
        &(crate::store::SCHEMA_VERSION + 1).to_string(),
    )
    .unwrap();
    drop(s);
    match PgStore::connect(&db.url, None, None, 1000) {
        Err(StoreError::TooNew { found }) => assert_eq!(found, crate::store::SCHEMA_VERSION + 1),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a newer database was opened"),
    }
}

#[test]
fn a_wrong_password_is_a_clear_error_without_the_password() {
    let Some(db) = TestDb::new() else { return };
    let err = match PgStore::connect(&db.url, Some("not-the-password-4711"), None, 1000) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected with a wrong password"),
    };
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("4711"), "the password leaked: {err}");
    let bad = PgStore::connect("postgres://[bad", None, None, 1000)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(bad.contains("database URL"), "{bad}");
}

#[test]
fn a_dead_workers_claims_are_taken_over_when_its_sign_of_life_runs_out() {
    let Some(db) = TestDb::new() else { return };
    let ws = workers(&db, 2);
    let mut c = Commit::default();
    for i in 0..3 {
        c.outbox.push(OutboxEntry {
            id: format!("m{i}@x"),
            raw: "Subject: s\r\n\r\nb".into(),
            ..OutboxEntry::queued(at(9))
        });
    }
    ws[0].commit(&c).unwrap();
    // w1 lives (its sign of life runs to 10:00) and claims for long.
    let alive = crate::store::alive_lease("w1");
    assert!(ws[0].lease(&alive, "w1", at(9), at(10)).unwrap());
    assert_eq!(
        ws[0]
            .claim_due("w1", at(9), at(20), 10)
            .unwrap()
            .claimed
            .len(),
        3
    );
    // While it lives its claims hold, and the others know when to look
    // again: when its sign of life would run out.
    let wait = ws[1].claim_due("w2", at(9), at(20), 10).unwrap();
    assert!(wait.claimed.is_empty());
    assert_eq!(wait.next, Some(at(10)));
    // It stops renewing (killed): at 10:00 its claims are free, long
    // before they would run out.
    let took = ws[1].claim_due("w2", at(10), at(21), 10).unwrap();
    assert_eq!(took.claimed.len(), 3);
    // A holder that never gave a sign of life keeps its claims to their
    // end (no record is not a death).
    assert!(
        ws[0]
            .claim_due("w3", at(11), at(22), 10)
            .unwrap()
            .claimed
            .is_empty()
    );
}

#[test]
fn tls_to_the_database_when_the_url_asks_for_it() {
    let Some(db) = TestDb::new() else { return };
    let Some(ca) = TestDb::ca_file() else { return };
    let url = match db.url.split_once('?') {
        Some((base, _)) => format!("{base}?sslmode=require"),
        None => format!("{}?sslmode=require", db.url),
    };
    let s = PgStore::connect(&url, None, Some(&ca), 1000).unwrap();
    let ssl: bool = s
        .with(|c| {
            Ok(c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .map_err(pg_err)?
            .get(0))
        })
        .unwrap();
    assert!(ssl, "the connection is not encrypted");
    drop(s);
    // A server whose certificate nobody vouches for is refused, saying so.
    let err = match PgStore::connect(&url, None, None, 1000) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected to an untrusted server"),
    };
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

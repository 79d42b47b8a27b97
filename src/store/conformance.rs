//! The store's invariants, run against every backend: whatever keeps the
//! data, the core must be able to rely on the same things.

use super::OutboxState;
use super::*;
use crate::model::{MessageKind, Party, Priority, Status};
use chrono::TimeZone;

pub(super) fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap()
}

pub(super) fn ticket(id: TicketId, customer: &str, h: u32) -> Ticket {
    Ticket::new(
        id,
        format!("Ticket {id}"),
        "general".into(),
        Priority::Normal,
        Party::new(None, customer),
        at(h),
    )
}

pub(super) fn record(id: &str, ticket: Option<TicketId>) -> MessageRecord {
    MessageRecord {
        message_id: id.into(),
        raw_hash: format!("hash-{id}"),
        fingerprint: String::new(),
        ticket,
        kind: MessageKind::Customer,
        from: None,
        to: Vec::new(),
        cc: Vec::new(),
        subject: "s".into(),
        date: None,
        received: at(9),
        attachments: Vec::new(),
        reason: String::new(),
        refused: false,
    }
}

pub(super) fn entry(id: &str, raw: &str, h: u32) -> OutboxEntry {
    OutboxEntry {
        id: id.into(),
        ticket: 1000,
        purpose: "acknowledgement".into(),
        envelope_from: "support@example.com".into(),
        recipients: vec!["ann@c.example".into()],
        subject: "s".into(),
        raw: raw.into(),
        ..OutboxEntry::queued(at(h))
    }
}

fn ticket_numbers_only_go_up<S: Store>(s: &S) {
    assert_eq!(s.next_ticket_id().unwrap(), 1000);
    s.commit(&Commit {
        ticket: Some(ticket(1000, "a@x", 9)),
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.next_ticket_id().unwrap(), 1001);
    // Rewriting an older ticket never hands its number out again.
    s.commit(&Commit {
        ticket: Some(ticket(1005, "a@x", 9)),
        ..Commit::default()
    })
    .unwrap();
    s.commit(&Commit {
        ticket: Some(ticket(1000, "a@x", 9)),
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.next_ticket_id().unwrap(), 1006);
    let ids: Vec<TicketId> = s.tickets().unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ids, [1000, 1005], "in id order, each once");
}

fn ticket_numbers_are_taken_once_by_any_number_of_takers<S: Store>(s: &S) {
    assert_eq!(s.allocate_ticket_id().unwrap(), 1000);
    assert_eq!(s.next_ticket_id().unwrap(), 1001);
    // Taken and never committed: skipped, not given again.
    assert_eq!(s.allocate_ticket_id().unwrap(), 1001);
    s.commit(&Commit {
        ticket: Some(ticket(1000, "a@x", 9)),
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.next_ticket_id().unwrap(), 1002);
    let taken: Vec<TicketId> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .map(|_| s.allocate_ticket_id().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: std::collections::BTreeSet<TicketId> = taken.iter().copied().collect();
    assert_eq!(unique.len(), 200, "no number twice");
    assert_eq!(unique.first(), Some(&1002));
    assert_eq!(unique.last(), Some(&1201));
}

fn one_record_per_message_id<S: Store>(s: &S) {
    s.commit(&Commit {
        messages: vec![record("m1@x", None)],
        ..Commit::default()
    })
    .unwrap();
    s.commit(&Commit {
        messages: vec![record("m1@x", Some(1000))],
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.message("m1@x").unwrap().unwrap().ticket, Some(1000));
    assert!(s.message("m2@x").unwrap().is_none());
}

fn the_first_reference_wins_and_a_message_leads_to_its_ticket<S: Store>(s: &S) {
    s.commit(&Commit {
        index: vec![("ref@x".into(), 1000), ("conv-only@x".into(), 1000)],
        conversation: Some(("conv".into(), 1000)),
        ..Commit::default()
    })
    .unwrap();
    s.commit(&Commit {
        index: vec![("ref@x".into(), 1001)],
        conversation: Some(("conv".into(), 1001)),
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.ticket_for_message_id("ref@x").unwrap(), Some(1000));
    assert_eq!(s.ticket_for_conversation("conv").unwrap(), Some(1000));
    // The message itself arrives, in ticket 1001: its own id leads there.
    s.commit(&Commit {
        placed: vec![("ref@x".into(), 1001)],
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.ticket_for_message_id("ref@x").unwrap(), Some(1001));
    assert_eq!(s.ticket_for_message_id("nobody@x").unwrap(), None);
}

fn an_outbox_entry_is_there_once_with_its_message<S: Store>(s: &S) {
    s.commit(&Commit {
        outbox: vec![
            entry("late@x", "Subject: b\r\n\r\nb", 11),
            entry("ack@x", "Subject: a\r\n\r\na", 10),
        ],
        ..Commit::default()
    })
    .unwrap();
    let ids = |v: Vec<OutboxEntry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(s.outbox().unwrap()), ["ack@x", "late@x"], "by creation");
    assert!(
        s.outbox().unwrap().iter().all(|e| e.raw.is_empty()),
        "listings carry no message"
    );
    // Delivered: the entry moves to done, once, and keeps its message.
    let mut sent = entry("ack@x", "", 10);
    sent.state = OutboxState::Sent;
    sent.sent = Some(at(12));
    s.put_outbox(&sent).unwrap();
    assert_eq!(ids(s.outbox_active().unwrap()), ["late@x"]);
    assert_eq!(ids(s.outbox().unwrap()), ["ack@x", "late@x"]);
    let got = s.outbox_entry("ack@x").unwrap().unwrap();
    assert_eq!(
        (got.state, got.raw.as_str()),
        (OutboxState::Sent, "Subject: a\r\n\r\na")
    );
    // A retry written later carries its state, never a new message.
    let mut retry = entry("late@x", "Subject: other\r\n\r\nother", 11);
    retry.attempts = 1;
    s.put_outbox_all(&[retry]).unwrap();
    let got = s.outbox_entry("late@x").unwrap().unwrap();
    assert_eq!((got.attempts, got.raw.as_str()), (1, "Subject: b\r\n\r\nb"));
    assert!(s.outbox_entry("nobody@x").unwrap().is_none());
}

fn blobs_are_written_once_per_kind<S: Store>(s: &S) {
    s.put_blob(BlobKind::Mail, "abc1", b"first").unwrap();
    // The same key again (mail fetched twice): the blob stays as it was.
    s.put_blob(BlobKind::Mail, "abc1", b"first").unwrap();
    s.put_blob(BlobKind::Outgoing, "abc1", b"other kind")
        .unwrap();
    assert_eq!(
        s.blob(BlobKind::Mail, "abc1").unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(s.raw("abc1").unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(
        s.blob(BlobKind::Outgoing, "abc1").unwrap().as_deref(),
        Some(&b"other kind"[..]),
        "each kind is its own key space"
    );
    assert!(s.blob(BlobKind::Mail, "abc2").unwrap().is_none());
    // A blob alone is not pending mail: only put_raw marks it.
    assert!(s.pending().unwrap().is_empty());
    // An outgoing message committed with its entry is its blob.
    s.commit(&Commit {
        outbox: vec![entry("ack@x", "Subject: a\r\n\r\na", 10)],
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(
        s.blob(BlobKind::Outgoing, "ack@x").unwrap().as_deref(),
        Some(&b"Subject: a\r\n\r\na"[..])
    );
}

fn pending_mail_comes_back_in_arrival_order<S: Store>(s: &S) {
    for (i, hash) in ["ff", "cc", "99", "33"].iter().enumerate() {
        s.put_raw(hash, format!("mail {i}").as_bytes(), &format!("origin-{i}"))
            .unwrap();
    }
    // Stored again (a second delivery): keeps its place and its tries.
    s.count_attempts(&["cc"], true).unwrap();
    s.put_raw("cc", b"mail 1", "origin-again").unwrap();
    let pending = s.pending().unwrap();
    let origins: Vec<&str> = pending.iter().map(|p| p.origin.as_str()).collect();
    assert_eq!(origins, ["origin-0", "origin-1", "origin-2", "origin-3"]);
    assert_eq!(s.attempts("cc").unwrap(), Attempts { total: 1, alone: 1 });
    assert_eq!(s.raw("99").unwrap().as_deref(), Some(&b"mail 2"[..]));
    // Its commit clears the mark, and marks its source as read, together.
    let mut covered = Commit {
        raw_hash: "99".into(),
        source_key: Some("maildir:new/3".into()),
        ..Commit::default()
    };
    covered.checkpoint(
        "support",
        Checkpoint {
            validity: 7,
            last: 42,
        },
    );
    s.commit(&covered).unwrap();
    assert_eq!(s.pending().unwrap().len(), 3);
    assert!(s.source_seen("maildir:new/3").unwrap());
    assert!(!s.source_seen("maildir:new/4").unwrap());
    assert_eq!(s.checkpoint("support").unwrap().map(|c| c.last), Some(42));
    assert_eq!(
        s.raw("99").unwrap().as_deref(),
        Some(&b"mail 2"[..]),
        "raw mail stays"
    );
}

fn taking_in_stores_the_mail_and_counts_a_try<S: Store>(s: &S) {
    // A batch with one message twice: stored once, one try counted.
    s.put_raws_tried(
        &[
            ("a1", b"mail a", "o-a"),
            ("b2", b"mail b", "o-b"),
            ("a1", b"mail a", "o-a"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(s.attempts("a1").unwrap(), Attempts { total: 1, alone: 0 });
    assert_eq!(s.attempts("b2").unwrap(), Attempts { total: 1, alone: 0 });
    assert_eq!(s.raw("b2").unwrap().as_deref(), Some(&b"mail b"[..]));
    // Again, alone: the mark keeps its place and its tries, and adds one.
    s.put_raws_tried(&[("b2", b"mail b", "o-again")], true)
        .unwrap();
    assert_eq!(s.attempts("b2").unwrap(), Attempts { total: 2, alone: 1 });
    let origins: Vec<String> = s.pending().unwrap().into_iter().map(|p| p.origin).collect();
    assert_eq!(origins, ["o-a", "o-b"]);
    // Quarantined mail is stored again but not pending, nor counted.
    s.commit(&Commit {
        raw_hash: "a1".into(),
        quarantine: Some(Quarantined {
            raw_hash: "a1".into(),
            reason: "crashed alone".into(),
            received: at(9),
            origin: "o-a".into(),
            size: 6,
            spam_rule: None,
        }),
        ..Commit::default()
    })
    .unwrap();
    s.put_raws_tried(&[("a1", b"mail a", "o-a")], true).unwrap();
    assert_eq!(s.attempts("a1").unwrap(), Attempts::default());
    let origins: Vec<String> = s.pending().unwrap().into_iter().map(|p| p.origin).collect();
    assert_eq!(origins, ["o-b"]);
}

fn quarantine_holds_until_released<S: Store>(s: &S) {
    s.put_raw("bad", b"garbage", "stdin").unwrap();
    let q = Quarantined {
        raw_hash: "bad".into(),
        reason: "unreadable".into(),
        received: at(9),
        origin: "stdin".into(),
        size: 7,
        spam_rule: None,
    };
    s.commit(&Commit {
        raw_hash: "bad".into(),
        quarantine: Some(q.clone()),
        ..Commit::default()
    })
    .unwrap();
    assert!(s.is_quarantined("bad").unwrap());
    assert!(s.pending().unwrap().is_empty());
    // Stored again: quarantined mail is not pending again.
    s.put_raw("bad", b"garbage", "stdin").unwrap();
    assert!(s.pending().unwrap().is_empty());
    assert_eq!(s.quarantined().unwrap(), [q]);
    s.commit(&Commit {
        raw_hash: "bad".into(),
        released: true,
        ..Commit::default()
    })
    .unwrap();
    assert!(!s.is_quarantined("bad").unwrap());
}

fn a_customers_tickets_and_the_open_ones<S: Store>(s: &S) {
    let mut closed = ticket(1001, "ann@c.example", 10);
    closed.status = Status::Closed;
    closed.closed = Some(at(11));
    let mut filed = ticket(1002, "ann@c.example", 11);
    filed.status = Status::Filed;
    for t in [
        ticket(1000, "ann@c.example", 9),
        closed,
        filed,
        ticket(1003, "bob@c.example", 12),
    ] {
        s.commit(&Commit {
            ticket: Some(t),
            ..Commit::default()
        })
        .unwrap();
    }
    let ann = s.customer_tickets("ann@c.example").unwrap();
    let glance: Vec<(TicketId, bool)> = ann.iter().map(|c| (c.id, c.open)).collect();
    assert_eq!(glance, [(1000, true), (1001, false), (1002, false)]);
    assert_eq!(ann[1].closed, Some(at(11)));
    assert_eq!(s.tickets_of_customer("bob@c.example").unwrap(), [1003]);
    assert!(
        s.customer_tickets("an@c.example").unwrap().is_empty(),
        "not a prefix match"
    );
    let open: Vec<TicketId> = s.open_tickets().unwrap().iter().map(|t| t.id).collect();
    assert_eq!(open, [1000, 1003]);
    // Closing a ticket takes it off the open list.
    let mut t = s.ticket(1000).unwrap().unwrap();
    t.status = Status::Closed;
    s.commit(&Commit {
        ticket: Some(t),
        ..Commit::default()
    })
    .unwrap();
    let open: Vec<TicketId> = s.open_tickets().unwrap().iter().map(|t| t.id).collect();
    assert_eq!(open, [1003]);
    let glance = |who: &str| -> Vec<(TicketId, bool)> {
        let all = s.customer_tickets(who).unwrap();
        all.iter().map(|c| (c.id, c.open)).collect()
    };
    assert_eq!(
        glance("ann@c.example"),
        [(1000, false), (1001, false), (1002, false)]
    );
    // A look before a commit (a decision reads first) is not what the
    // look after it answers.
    assert!(glance("cy@c.example").is_empty());
    let mut t = s.ticket(1002).unwrap().unwrap();
    t.status = Status::Open;
    for t in [ticket(1004, "cy@c.example", 13), t] {
        s.commit(&Commit {
            ticket: Some(t),
            ..Commit::default()
        })
        .unwrap();
    }
    assert_eq!(glance("cy@c.example"), [(1004, true)]);
    assert_eq!(
        glance("ann@c.example"),
        [(1000, false), (1001, false), (1002, true)]
    );
}

fn acknowledgement_times_keep_the_latest<S: Store>(s: &S) {
    for h in 1..=5 {
        s.commit(&Commit {
            acked: vec![Acked {
                key: "ann@c.example".into(),
                at: at(h),
                keep: 3,
            }],
            ..Commit::default()
        })
        .unwrap();
    }
    assert_eq!(s.acks_to("ann@c.example").unwrap(), [at(3), at(4), at(5)]);
    assert!(s.acks_to("bob@c.example").unwrap().is_empty());
    // A look before a commit (a decision reads the times first) is not
    // what the look after it answers.
    s.commit(&Commit {
        acked: vec![Acked {
            key: "bob@c.example".into(),
            at: at(6),
            keep: 3,
        }],
        ..Commit::default()
    })
    .unwrap();
    assert_eq!(s.acks_to("bob@c.example").unwrap(), [at(6)]);
}

fn an_outbox_entry_is_claimed_by_one_drainer_at_a_time<S: Store>(s: &S) {
    let mut c = Commit::default();
    for (i, h) in [(1, 3), (2, 1), (3, 2)] {
        c.outbox.push(entry(&format!("e{i}"), "mail", h));
    }
    let mut later = entry("later", "mail", 1);
    later.next_attempt = at(20);
    c.outbox.push(later);
    let mut sent = entry("sent", "mail", 1);
    sent.state = OutboxState::Sent;
    c.outbox.push(sent);
    s.commit(&c).unwrap();
    let lease = |h| at(h);
    // Oldest first, at most the limit; what is not due, or done, is not
    // taken; the next due time counts what was left.
    let a = s.claim_due("a", at(10), lease(11), 2).unwrap();
    let ids: Vec<&str> = a.claimed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2", "e3"]);
    assert!(a.claimed.iter().all(|e| e.raw.is_empty()));
    // Another drainer gets only what is left, and waits for the rest.
    let b = s.claim_due("b", at(10), lease(11), 10).unwrap();
    let ids: Vec<&str> = b.claimed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e1"]);
    assert_eq!(b.next, Some(at(11)), "a's claims run out at 11");
    assert!(
        s.claim_due("b", at(10), lease(11), 10)
            .unwrap()
            .claimed
            .len()
            == 1
    );
    assert!(
        s.claim_due("c", at(10), lease(11), 10)
            .unwrap()
            .claimed
            .is_empty()
    );
    // Many takers at once: each entry to one of them.
    let mut c = Commit::default();
    for i in 0..40 {
        c.outbox.push(entry(&format!("m{i}"), "mail", 5));
    }
    s.commit(&c).unwrap();
    let taken: Vec<Vec<String>> = std::thread::scope(|scope| {
        let takers: Vec<_> = (0..4)
            .map(|t| {
                let s = &s;
                scope.spawn(move || {
                    let due = s
                        .claim_due(&format!("t{t}"), at(10), lease(12), 10)
                        .unwrap();
                    due.claimed.into_iter().map(|e| e.id).collect::<Vec<_>>()
                })
            })
            .collect();
        takers.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut owner = std::collections::BTreeMap::new();
    for (t, ids) in taken.iter().enumerate() {
        for id in ids {
            assert_eq!(owner.insert(id.clone(), t), None, "{id} to two takers");
        }
    }
    // What the racing takers left, a latecomer gets: every entry once.
    let rest = s.claim_due("late", at(10), lease(12), 100).unwrap();
    for e in &rest.claimed {
        assert_eq!(owner.insert(e.id.clone(), 9), None, "{} taken twice", e.id);
    }
    assert_eq!(owner.len(), 40);
    // Claims that ran out (their holders died) can be taken over.
    let took_over = s.claim_due("c", at(11), lease(13), 10).unwrap();
    let ids: Vec<&str> = took_over.claimed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2", "e3", "e1"]);
    // A result on record ends the claim: the entry is free for its retry.
    let mut done = took_over.claimed[0].clone();
    done.claim = None;
    done.attempts = 1;
    s.put_outbox(&done).unwrap();
    let again = s.claim_due("d", at(11), lease(14), 10).unwrap();
    let ids: Vec<&str> = again.claimed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2"]);
    assert_eq!(s.outbox_entry("e2").unwrap().unwrap().raw, "mail");
}

fn small_values_and_preferences<S: Store>(s: &S) {
    assert_eq!(s.instance_id().unwrap(), None);
    s.set_instance_id("abc").unwrap();
    assert_eq!(s.instance_id().unwrap().as_deref(), Some("abc"));
    // A value made once: the first one stays, whoever asks later.
    assert_eq!(s.init_meta("secret", "first").unwrap(), "first");
    assert_eq!(s.init_meta("secret", "second").unwrap(), "first");
    assert_eq!(s.meta("secret").unwrap().as_deref(), Some("first"));
    // Checkpoints: set with the mail they cover, or alone; read back typed.
    assert_eq!(s.checkpoint("support").unwrap(), None);
    let mut c = Commit::default();
    c.checkpoint(
        "support",
        Checkpoint {
            validity: 1_700_000_000,
            last: 42,
        },
    );
    s.commit(&c).unwrap();
    assert_eq!(
        s.checkpoint("support").unwrap(),
        Some(Checkpoint {
            validity: 1_700_000_000,
            last: 42
        })
    );
    s.set_checkpoint(
        "support",
        Checkpoint {
            validity: 7,
            last: 43,
        },
    )
    .unwrap();
    assert_eq!(s.checkpoint("support").unwrap().map(|c| c.last), Some(43));
    assert_eq!(s.checkpoint("other").unwrap(), None);
    // Queue statistics: empty until written, then as written.
    assert_eq!(s.queue_stats("billing").unwrap().awaiting, 0);
    let mut c = Commit::default();
    let stats = crate::model::QueueStats {
        samples: vec![(Priority::High, 3600, 2)],
        awaiting: 3,
    };
    c.queue_stats("billing", &stats);
    s.commit(&c).unwrap();
    assert_eq!(s.queue_stats("billing").unwrap(), stats);
    assert_eq!(s.queue_stats("general").unwrap().awaiting, 0);
    let mut c = Commit::default();
    c.customer_prefs(
        "ann@c.example",
        &crate::model::CustomerPrefs {
            language: Some("pl".into()),
            timezone: Some("Europe/Warsaw".into()),
        },
    );
    s.commit(&c).unwrap();
    let p = s.customer_prefs("ann@c.example").unwrap();
    assert_eq!(p.language.as_deref(), Some("pl"));
    assert_eq!(
        s.customer_prefs("bob@c.example").unwrap(),
        Default::default()
    );
    // The kinds keep apart: a queue and a source of one name.
    let mut c = Commit::default();
    c.queue_stats("ann@c.example", &stats);
    s.commit(&c).unwrap();
    assert_eq!(
        s.customer_prefs("ann@c.example")
            .unwrap()
            .language
            .as_deref(),
        Some("pl")
    );
    // Within one commit the later value wins.
    let mut c = Commit::default();
    c.customer_prefs("ann@c.example", &Default::default());
    c.customer_prefs(
        "ann@c.example",
        &crate::model::CustomerPrefs {
            language: Some("he".into()),
            timezone: None,
        },
    );
    s.commit(&c).unwrap();
    assert_eq!(
        s.customer_prefs("ann@c.example")
            .unwrap()
            .language
            .as_deref(),
        Some("he")
    );
    // An intake incident, kept apart from a checkpoint of the same source
    // name, and replaced when it clears.
    let incident = crate::health::Incident {
        source: "support".into(),
        kind: crate::health::IncidentKind::Failing,
        began: at(9),
        raised: at(10),
        problem: Some(crate::health::Problem::Auth),
        error: Some("login refused".into()),
        cleared: None,
    };
    let key = StateKey::Incident("support".into());
    let mut c = Commit::default();
    c.state.push(State::Incident {
        source: "support".into(),
        incident: incident.clone(),
    });
    s.commit(&c).unwrap();
    assert_eq!(
        s.state(&key).unwrap(),
        Some(State::Incident {
            source: "support".into(),
            incident: incident.clone()
        })
    );
    assert_eq!(s.checkpoint("support").unwrap().map(|c| c.last), Some(43));
    let cleared = crate::health::Incident {
        cleared: Some(at(11)),
        ..incident
    };
    let mut c = Commit::default();
    c.state.push(State::Incident {
        source: "support".into(),
        incident: cleared.clone(),
    });
    s.commit(&c).unwrap();
    assert!(matches!(
        s.state(&key).unwrap(),
        Some(State::Incident { incident, .. }) if incident == cleared
    ));
}

fn a_lease_has_one_holder_until_it_runs_out<S: Store>(s: &S) {
    // Free: taken; the holder renews; another waits while it runs.
    assert!(s.lease("mailbox:support", "w1", at(9), at(10)).unwrap());
    assert!(s.lease("mailbox:support", "w1", at(9), at(11)).unwrap());
    assert!(!s.lease("mailbox:support", "w2", at(10), at(12)).unwrap());
    // Other names are other leases.
    assert!(s.lease("timers", "w2", at(10), at(12)).unwrap());
    // Run out (the holder died): the next asker takes it over, and the
    // old holder no longer holds it.
    assert!(s.lease("mailbox:support", "w2", at(11), at(13)).unwrap());
    assert!(!s.lease("mailbox:support", "w1", at(12), at(14)).unwrap());
    // Released by its holder only; then anyone may take it at once.
    s.release("mailbox:support", "w1").unwrap();
    assert!(!s.lease("mailbox:support", "w3", at(12), at(14)).unwrap());
    s.release("mailbox:support", "w2").unwrap();
    assert!(s.lease("mailbox:support", "w3", at(12), at(14)).unwrap());
    // Many askers at once: exactly one holds it.
    let won: usize = std::thread::scope(|scope| {
        let askers: Vec<_> = (0..8)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    usize::from(s.lease("race", &format!("a{i}"), at(9), at(10)).unwrap())
                })
            })
            .collect();
        askers.into_iter().map(|a| a.join().unwrap()).sum()
    });
    assert_eq!(won, 1);
    // Leases are not named values.
    assert_eq!(s.meta("mailbox:support").unwrap(), None);
}

/// Every invariant, each on a fresh store from `make` (none: the backend
/// is not reachable here, and the test says so and passes).
macro_rules! conformance {
    ($backend:ident, $make:expr) => {
        mod $backend {
            // A maker may name its backend by full path.
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn ticket_numbers_only_go_up() {
                let Some((_keep, s)) = $make() else { return };
                super::ticket_numbers_only_go_up(&s);
            }
            #[test]
            fn ticket_numbers_are_taken_once_by_any_number_of_takers() {
                let Some((_keep, s)) = $make() else { return };
                super::ticket_numbers_are_taken_once_by_any_number_of_takers(&s);
            }
            #[test]
            fn one_record_per_message_id() {
                let Some((_keep, s)) = $make() else { return };
                super::one_record_per_message_id(&s);
            }
            #[test]
            fn the_first_reference_wins_and_a_message_leads_to_its_ticket() {
                let Some((_keep, s)) = $make() else { return };
                super::the_first_reference_wins_and_a_message_leads_to_its_ticket(&s);
            }
            #[test]
            fn an_outbox_entry_is_there_once_with_its_message() {
                let Some((_keep, s)) = $make() else { return };
                super::an_outbox_entry_is_there_once_with_its_message(&s);
            }
            #[test]
            fn blobs_are_written_once_per_kind() {
                let Some((_keep, s)) = $make() else { return };
                super::blobs_are_written_once_per_kind(&s);
            }
            #[test]
            fn pending_mail_comes_back_in_arrival_order() {
                let Some((_keep, s)) = $make() else { return };
                super::pending_mail_comes_back_in_arrival_order(&s);
            }
            #[test]
            fn taking_in_stores_the_mail_and_counts_a_try() {
                let Some((_keep, s)) = $make() else { return };
                super::taking_in_stores_the_mail_and_counts_a_try(&s);
            }
            #[test]
            fn quarantine_holds_until_released() {
                let Some((_keep, s)) = $make() else { return };
                super::quarantine_holds_until_released(&s);
            }
            #[test]
            fn a_customers_tickets_and_the_open_ones() {
                let Some((_keep, s)) = $make() else { return };
                super::a_customers_tickets_and_the_open_ones(&s);
            }
            #[test]
            fn acknowledgement_times_keep_the_latest() {
                let Some((_keep, s)) = $make() else { return };
                super::acknowledgement_times_keep_the_latest(&s);
            }
            #[test]
            fn an_outbox_entry_is_claimed_by_one_drainer_at_a_time() {
                let Some((_keep, s)) = $make() else { return };
                super::an_outbox_entry_is_claimed_by_one_drainer_at_a_time(&s);
            }
            #[test]
            fn a_lease_has_one_holder_until_it_runs_out() {
                let Some((_keep, s)) = $make() else { return };
                super::a_lease_has_one_holder_until_it_runs_out(&s);
            }
            #[test]
            fn small_values_and_preferences() {
                let Some((_keep, s)) = $make() else { return };
                super::small_values_and_preferences(&s);
            }
        }
    };
}

conformance!(memory, || Some(((), MemoryStore::new(1000))));
conformance!(sled, || {
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(&dir.path().join("data"), 1000).unwrap();
    Some((dir, s))
});
conformance!(staged_over_memory, || {
    // A batch's overlay answers as the store would.
    let base: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(1000)));
    Some(((), Staged::new(base)))
});
conformance!(staged_behind_over_memory, || {
    // Every commit on its way to the store on another thread while the
    // next is read and decided: the overlay still answers as the store.
    let base: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new(1000)));
    Some(((), Staged::behind_every_commit(base)))
});
conformance!(server, || {
    // A database of its own on the test server (tests/pg/pg.sh).
    let db = crate::store::postgres::testdb::TestDb::new()?;
    let s = crate::store::postgres::PgStore::connect(&db.url, None, None, 1000).unwrap();
    Some((db, s))
});

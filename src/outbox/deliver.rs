//! Draining the outbox: what is due goes to the transport, several at a
//! time, and each result is recorded as it comes.

use super::{
    OutboxEntry, OutboxState, Policy, RefusedRecipient, SendError, Sent, Transport, backoff,
};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use tokio::sync::{Notify, watch};

/// What one delivery round did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// When the earliest pending entry is due next.
    pub next_due: Option<DateTime<Utc>>,
    /// Entries with recipients refused for good in this round whose
    /// `notify` address should hear of it (as recorded).
    pub to_tell: Vec<OutboxEntry>,
}

/// Delivers every entry that is due, up to `limit`, `policy.concurrency`
/// at a time, and records each result as soon as it is known: one flush per
/// batch of results that came in together, never one at the end of the
/// round, so a crash repeats at most `concurrency` sends. Entries are marked
/// `sending` (flushed) before their send begins. A transport whose repeat
/// leaves one copy ([`Transport::repeat_is_harmless`]) gets no marks, and
/// its results are written [`RESULTS_TOGETHER`] at a time and flushed once
/// per round: a crash repeats the round's sends, to no effect, and the
/// store is not asked for a write per message (on a server store each one
/// is a round trip).
pub async fn deliver_due<S: Store + ?Sized, T: Transport + ?Sized>(
    store: &S,
    transport: &T,
    clock: &dyn Clock,
    policy: &Policy,
) -> Result<Round, StoreError> {
    let now = clock.now();
    let mut round = Round::default();
    // This round's entries, taken so no other drainer sends them too.
    let due = store.claim_due(&policy.holder, now, now + policy.lease, policy.limit)?;
    round.next_due = due.next;
    if due.claimed.is_empty() {
        return Ok(round);
    }
    // Addresses that bounced for good get nothing more: an entry only for
    // them is held (see `hold`), and the others of an entry go without them.
    let book = store.bounces()?;
    let mut claimed = Vec::with_capacity(due.claimed.len());
    let mut held = Vec::new();
    for e in due.claimed {
        match hold(e, &book, now) {
            Held::Send(e) => claimed.push(e),
            Held::Whole(e) => held.push(e),
        }
    }
    if !held.is_empty() {
        store.put_outbox_all(&held)?;
        store.flush()?;
    }
    // A repeat that leaves one copy needs no mark before each send, and
    // its results need not be durable one by one: they are written in
    // groups and made durable once, at the round's end.
    let careless = transport.repeat_is_harmless();
    let together = if careless { RESULTS_TOGETHER } else { 1 };
    let mut waiting = claimed.into_iter();
    let mut in_flight = FuturesUnordered::new();
    let mut finished: Vec<(OutboxEntry, Result<Sent, SendError>)> = Vec::new();
    let mut writes = Vec::new();
    loop {
        // Record what came back and mark what starts next, in one write.
        for (e, result) in finished.drain(..) {
            writes.push(record(e, result, clock.now(), policy, &mut round));
        }
        let mut starting = Vec::new();
        while in_flight.len() + starting.len() < policy.concurrency.max(1) {
            let Some(mut e) = waiting.next() else { break };
            if e.state == OutboxState::Sending {
                tracing::warn!(id = %e.id, "delivering again after an interrupted attempt: the recipient may get it twice");
            }
            e.state = OutboxState::Sending;
            e.attempts += 1;
            if !careless {
                writes.push(e.clone());
            }
            starting.push(e);
        }
        if writes.len() >= together {
            store.put_outbox_all(&writes)?;
            writes.clear();
            if !careless {
                store.flush()?;
            }
        }
        // Only now, marked and flushed, do the sends begin.
        for e in starting {
            in_flight.push(send_one(store, transport, e));
        }
        let Some(first) = in_flight.next().await else {
            if careless {
                if !writes.is_empty() {
                    store.put_outbox_all(&writes)?;
                }
                store.flush()?;
            }
            break;
        };
        finished.push(first);
        while let Some(Some(more)) = in_flight.next().now_or_never() {
            finished.push(more);
        }
    }
    Ok(round)
}

/// How many results of a transport whose repeat is harmless are written
/// together (a crash before they are written repeats their sends, to no
/// effect).
pub const RESULTS_TOGETHER: usize = 64;

/// How long a held entry waits before it is looked at again (a lifted
/// hold makes it due at once: `ops::unsuppress`).
pub const HELD_FOR: chrono::Duration = chrono::Duration::days(30);
/// How a held entry's `last_error` begins.
pub const HELD: &str = "held: ";

enum Held {
    Send(OutboxEntry),
    Whole(OutboxEntry),
}

/// An entry with the recipients whose address bounced for good taken out:
/// when none is left it is held, waiting with the reason (not failed:
/// `ticketbox unsuppress` sends it); otherwise the others get it, and the
/// bounced ones are recorded as refused with the reason.
fn hold(mut e: OutboxEntry, book: &crate::bounces::Book, now: DateTime<Utc>) -> Held {
    let mut why = Vec::new();
    e.recipients.retain(|a| match book.suppressed(a) {
        Some(entry) => {
            why.push((a.clone(), entry.status.clone(), entry.diagnostic.clone()));
            false
        }
        None => true,
    });
    if why.is_empty() {
        return Held::Send(e);
    }
    let said = |(a, status, diag): &(String, String, String)| {
        format!(
            "{a} bounced earlier ({status}{}{diag})",
            if diag.is_empty() { "" } else { ": " }
        )
    };
    if e.recipients.is_empty() {
        e.recipients = why.iter().map(|(a, ..)| a.clone()).collect();
        e.state = OutboxState::Pending;
        e.next_attempt = now + HELD_FOR;
        e.last_error = Some(format!(
            "{HELD}{}; `ticketbox unsuppress ADDRESS` sends it",
            why.iter().map(said).collect::<Vec<_>>().join("; ")
        ));
        tracing::warn!(id = %e.id, ticket = e.ticket, reason = e.last_error.as_deref().unwrap_or(""), "held: the address bounced");
        return Held::Whole(e);
    }
    for w in &why {
        e.refused.push(RefusedRecipient {
            address: w.0.clone(),
            reason: format!("not sent: {}", said(w)),
        });
    }
    Held::Send(e)
}

/// Sends one entry (its message read from the store only now, so a round
/// holds `concurrency` messages, not all of them).
async fn send_one<S: Store + ?Sized, T: Transport + ?Sized>(
    store: &S,
    transport: &T,
    mut e: OutboxEntry,
) -> (OutboxEntry, Result<Sent, SendError>) {
    let raw = if e.raw.is_empty() {
        match store.outbox_entry(&e.id) {
            Ok(found) => found.map(|x| x.raw).unwrap_or_default(),
            Err(err) => {
                let message = format!("reading the message from the store: {err}");
                return (e, Err(SendError::temporary(message)));
            }
        }
    } else {
        std::mem::take(&mut e.raw)
    };
    crate::metrics::delivery_attempt();
    let r = transport
        .send(&e.envelope_from, &e.recipients, raw.as_bytes())
        .await;
    (e, r)
}

/// The entry after its send: recipients who took it move to `delivered`,
/// those refused for good to `refused`, those refused for now stay for a
/// retry.
fn record(
    mut e: OutboxEntry,
    result: Result<Sent, SendError>,
    now: DateTime<Utc>,
    policy: &Policy,
    round: &mut Round,
) -> OutboxEntry {
    match result {
        Ok(sent) => {
            let mut later = Vec::new();
            let mut newly_refused = false;
            let mut retry_after = None;
            let mut notes = Vec::new();
            for r in &sent.refused {
                notes.push(format!("{}: {}", r.address, r.reason));
                if r.permanent {
                    newly_refused = true;
                    e.refused.push(RefusedRecipient {
                        address: r.address.clone(),
                        reason: r.reason.clone(),
                    });
                } else {
                    later.push(r.address.clone());
                    retry_after = retry_after.max(r.retry_after);
                }
            }
            let took: Vec<String> = e
                .recipients
                .iter()
                .filter(|a| !sent.refused.iter().any(|r| &r.address == *a))
                .cloned()
                .collect();
            tracing::info!(id = %e.id, ticket = e.ticket, to = ?took, "sent");
            e.delivered.extend(took);
            e.recipients = later;
            e.last_error = (!notes.is_empty()).then(|| format!("refused {}", notes.join("; ")));
            if e.recipients.is_empty() {
                e.state = OutboxState::Sent;
                e.sent = Some(now);
                round.sent += 1;
                crate::metrics::mail_out(&e.purpose, "sent");
                if e.purpose == "acknowledgement" {
                    // The entry was made in the commit that stored the
                    // message: its age is the customer's wait.
                    crate::metrics::ack_took((now - e.created).num_milliseconds() as f64 / 1000.0);
                }
            } else {
                crate::metrics::mail_out(&e.purpose, "retry");
                retry(&mut e, now, retry_after, policy, round);
            }
            if newly_refused {
                tracing::warn!(id = %e.id, ticket = e.ticket, refused = ?e.refused, "recipients refused");
                // Its agent is told, and refused addresses may go in the
                // bounce book.
                round.to_tell.push(e.clone());
            }
        }
        Err(err) if err.permanent || e.attempts >= policy.max_attempts => {
            e.state = OutboxState::Failed;
            let why = if err.permanent {
                err.message
            } else {
                format!("gave up after {} attempts: {}", e.attempts, err.message)
            };
            for a in std::mem::take(&mut e.recipients) {
                e.refused.push(RefusedRecipient {
                    address: a,
                    reason: why.clone(),
                });
            }
            e.last_error = Some(why);
            round.failed += 1;
            crate::metrics::mail_out(&e.purpose, "failed");
            tracing::error!(id = %e.id, ticket = e.ticket, error = ?e.last_error, "delivery failed for good");
            round.to_tell.push(e.clone());
        }
        Err(err) => {
            tracing::warn!(id = %e.id, attempt = e.attempts, error = %err.message, "delivery failed, will retry");
            crate::metrics::mail_out(&e.purpose, "retry");
            e.last_error = Some(err.message);
            retry(&mut e, now, err.retry_after, policy, round);
        }
    }
    // Its result is on record: the claim ends.
    e.claim = None;
    e
}

/// Back to pending, due after the backoff, or just after the server's own
/// `retry_after` when it named one (greylisting: before its minimum a
/// retry is refused again, and long after it the mail is late for no
/// reason).
fn retry(
    e: &mut OutboxEntry,
    now: DateTime<Utc>,
    retry_after: Option<std::time::Duration>,
    policy: &Policy,
    round: &mut Round,
) {
    let wait = match retry_after.and_then(|d| Duration::from_std(d).ok()) {
        Some(server) => server + Duration::seconds(2),
        None => backoff(e.attempts, &e.id, policy.retry_base_seconds),
    };
    e.state = OutboxState::Pending;
    e.next_attempt = now + wait;
    round.retrying += 1;
    round.next_due = earliest(round.next_due, e.next_attempt);
}

fn earliest(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Called with the entries some of whose recipients were refused: the
/// worker tells the entry's `notify` agent, and books addresses refused
/// as unknown.
pub type OnRefused = Arc<dyn Fn(Vec<OutboxEntry>) + Send + Sync>;

/// Delivers due entries whenever woken (after each commit) or when a retry
/// falls due; after `stop` turns true, finishes what is due and returns
/// how many entries still wait (after a temporary failure, now or before).
pub async fn send_loop<S: Store + ?Sized>(
    store: Arc<S>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    on_refused: Option<OnRefused>,
) -> Result<usize, StoreError> {
    loop {
        let mut round = deliver_due(&*store, &*transport, &*clock, &policy).await?;
        if let Some(tell) = &on_refused
            && !round.to_tell.is_empty()
        {
            tell(std::mem::take(&mut round.to_tell));
        }
        let worked = round.sent + round.retrying + round.failed > 0;
        if *stop.borrow() {
            if round.retrying > 0 || !worked {
                // What still waits is what a caller reports.
                return Ok(store.outbox_active()?.len());
            }
            continue;
        }
        // More due right now (the round hit its limit): go again.
        if worked && round.next_due.is_some_and(|d| d <= clock.now()) {
            continue;
        }
        let sleep = round
            .next_due
            .and_then(|d| (d - clock.now()).to_std().ok())
            .unwrap_or(policy.idle)
            .min(policy.idle);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::outbox::transport::SendFuture;
    use crate::store::{Commit, DiskStore, View};
    use chrono::TimeZone;
    use std::sync::Mutex;

    /// Answers each send with the next scripted result (Ok when none left).
    #[derive(Default)]
    struct Scripted {
        results: Mutex<Vec<Result<(), SendError>>>,
        sent: Mutex<Vec<String>>,
    }

    impl Transport for Scripted {
        fn send<'a>(&'a self, _from: &'a str, to: &'a [String], _raw: &'a [u8]) -> SendFuture<'a> {
            Box::pin(async move {
                let mut r = self.results.lock().unwrap();
                let result = if r.is_empty() { Ok(()) } else { r.remove(0) };
                if result.is_ok() {
                    self.sent.lock().unwrap().push(to.join(","));
                }
                result.map(|()| Sent::default())
            })
        }
    }

    fn entry(id: &str, at: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            id: id.into(),
            ticket: 1000,
            purpose: "acknowledgement".into(),
            envelope_from: "support@example.com".into(),
            recipients: vec![format!("{id}@c.example")],
            subject: "s".into(),
            raw: "Subject: s\r\n\r\nx\r\n".into(),
            ..OutboxEntry::queued(at)
        }
    }

    fn policy(max_attempts: u32) -> Policy {
        Policy {
            max_attempts,
            ..Policy::default()
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn retries_temporary_failures_with_backoff_and_gives_up_on_permanent_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1000).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let clock = FixedClock::new(t0);
        store
            .commit(&Commit {
                outbox: vec![entry("a", t0), entry("b", t0)],
                ..Commit::default()
            })
            .unwrap();
        let transport = Scripted::default();
        *transport.results.lock().unwrap() = vec![
            Err(SendError::temporary("421 try later")),
            Err(SendError::permanent("550 no such user")),
        ];
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, &policy(5)))
            .unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (0, 1, 1));
        let a = store.outbox_entry("a").unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (OutboxState::Pending, 1));
        assert_eq!(a.last_error.as_deref(), Some("421 try later"));
        assert!(a.next_attempt >= t0 + chrono::Duration::seconds(30));
        assert_eq!(r.next_due, Some(a.next_attempt));
        let b = store.outbox_entry("b").unwrap().unwrap();
        assert_eq!(b.state, OutboxState::Failed);
        assert_eq!(store.outbox_active().unwrap().len(), 1);

        // Not due yet: nothing happens.
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, &policy(5)))
            .unwrap();
        assert_eq!(r.sent + r.retrying + r.failed, 0);
        clock.set(a.next_attempt);
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, &policy(5)))
            .unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(
            store.outbox_entry("a").unwrap().unwrap().state,
            OutboxState::Sent
        );
        assert_eq!(*transport.sent.lock().unwrap(), vec!["a@c.example"]);
        assert!(store.outbox_active().unwrap().is_empty());
    }

    #[test]
    fn temporary_failures_become_final_after_max_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1000).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let clock = FixedClock::new(t0);
        store.put_outbox(&entry("a", t0)).unwrap();
        let transport = Scripted::default();
        *transport.results.lock().unwrap() = (0..3)
            .map(|_| Err(SendError::temporary("connection refused")))
            .collect();
        for _ in 0..3 {
            rt().block_on(deliver_due(&store, &transport, &clock, &policy(3)))
                .unwrap();
            clock.advance(chrono::Duration::hours(2));
        }
        let a = store.outbox_entry("a").unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (OutboxState::Failed, 3));
        assert!(
            a.last_error
                .unwrap()
                .starts_with("gave up after 3 attempts")
        );
    }

    #[test]
    fn an_interrupted_attempt_is_delivered_again_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        {
            let store = DiskStore::open(dir.path(), 1000).unwrap();
            let mut e = entry("a", t0);
            e.state = OutboxState::Sending; // crashed mid-send
            e.attempts = 1;
            store.put_outbox(&e).unwrap();
            store.flush().unwrap();
        }
        let store = DiskStore::open(dir.path(), 1000).unwrap();
        let transport = Scripted::default();
        let r = rt()
            .block_on(deliver_due(
                &store,
                &transport,
                &FixedClock::new(t0),
                &policy(5),
            ))
            .unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(store.outbox_entry("a").unwrap().unwrap().attempts, 2);
    }

    /// Answers from a fixed table: per recipient address, refuse for good
    /// (`5`) or for now (`4`); a message whose recipients are all refused
    /// is an error, as with a real server.
    struct PerRecipient {
        refuse: Vec<(&'static str, bool)>,
        got: Mutex<Vec<Vec<String>>>,
    }

    impl Transport for PerRecipient {
        fn send<'a>(&'a self, _from: &'a str, to: &'a [String], _raw: &'a [u8]) -> SendFuture<'a> {
            Box::pin(async move {
                let refused: Vec<crate::outbox::Refusal> = to
                    .iter()
                    .filter_map(|a| {
                        self.refuse
                            .iter()
                            .find(|(r, _)| r == a)
                            .map(|(_, permanent)| crate::outbox::Refusal {
                                address: a.clone(),
                                permanent: *permanent,
                                reason: if *permanent {
                                    "550 5.1.1 user unknown".into()
                                } else {
                                    "450 4.7.1 greylisted, try again in 120 seconds".into()
                                },
                                retry_after: (!permanent)
                                    .then(|| std::time::Duration::from_secs(120)),
                            })
                    })
                    .collect();
                if refused.len() == to.len() {
                    return Err(SendError::permanent("every recipient refused"));
                }
                self.got.lock().unwrap().push(
                    to.iter()
                        .filter(|a| !refused.iter().any(|r| &r.address == *a))
                        .cloned()
                        .collect(),
                );
                Ok(Sent { refused })
            })
        }
    }

    #[test]
    fn each_recipient_has_its_own_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1000).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let clock = FixedClock::new(t0);
        let mut e = entry("answer", t0);
        e.recipients = vec![
            "ann@c.example".into(),
            "gone@c.example".into(),
            "grey@d.example".into(),
        ];
        e.notify = Some("ola@example.com".into());
        store.put_outbox(&e).unwrap();
        let transport = PerRecipient {
            refuse: vec![("gone@c.example", true), ("grey@d.example", false)],
            got: Mutex::default(),
        };
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, &policy(5)))
            .unwrap();
        let a = store.outbox_entry("answer").unwrap().unwrap();
        assert_eq!(a.delivered, ["ann@c.example"]);
        assert_eq!(a.refused.len(), 1);
        assert_eq!(a.refused[0].address, "gone@c.example");
        assert!(a.refused[0].reason.starts_with("550 5.1.1"));
        // Greylisted: waiting, alone, until just after the server's wait.
        assert_eq!(a.state, OutboxState::Pending);
        assert_eq!(a.recipients, ["grey@d.example"]);
        assert!(a.next_attempt >= t0 + chrono::Duration::seconds(120));
        assert!(a.next_attempt <= t0 + chrono::Duration::seconds(125));
        // The agent is to hear of the refusal.
        assert_eq!(r.to_tell.len(), 1);
        assert_eq!(r.to_tell[0].refused, a.refused);

        clock.set(a.next_attempt);
        let transport2 = PerRecipient {
            refuse: Vec::new(),
            got: Mutex::default(),
        };
        let r = rt()
            .block_on(deliver_due(&store, &transport2, &clock, &policy(5)))
            .unwrap();
        assert_eq!(
            *transport2.got.lock().unwrap(),
            vec![vec!["grey@d.example".to_owned()]]
        );
        assert!(r.to_tell.is_empty(), "nothing new to tell");
        let a = store.outbox_entry("answer").unwrap().unwrap();
        assert_eq!(a.state, OutboxState::Sent);
        assert_eq!(a.delivered, ["ann@c.example", "grey@d.example"]);
    }

    /// Holds one message's send until released; the others go at once.
    struct Holding {
        hold: &'static str,
        release: tokio::sync::Notify,
        done: Mutex<Vec<String>>,
    }

    impl Transport for Holding {
        fn send<'a>(&'a self, _from: &'a str, to: &'a [String], _raw: &'a [u8]) -> SendFuture<'a> {
            Box::pin(async move {
                if to[0].starts_with(self.hold) {
                    self.release.notified().await;
                }
                self.done.lock().unwrap().push(to[0].clone());
                Ok(Sent::default())
            })
        }
    }

    #[test]
    fn results_are_recorded_as_they_come_not_at_the_end_of_the_round() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(DiskStore::open(dir.path(), 1000).unwrap());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        for (i, id) in ["a", "b", "slow", "c", "d", "e"].iter().enumerate() {
            store
                .put_outbox(&entry(id, t0 + chrono::Duration::seconds(i as i64)))
                .unwrap();
        }
        let transport = std::sync::Arc::new(Holding {
            hold: "slow",
            release: tokio::sync::Notify::new(),
            done: Mutex::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let policy = Policy {
            concurrency: 2,
            ..policy(5)
        };
        let round = {
            let (store, transport) = (store.clone(), transport.clone());
            rt.spawn(async move {
                let clock = FixedClock::new(t0 + chrono::Duration::seconds(10));
                deliver_due(&*store, &*transport, &clock, &policy).await
            })
        };
        // Wait until everything but the held message went through.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while transport.done.lock().unwrap().len() < 5 {
            assert!(std::time::Instant::now() < deadline, "sends stalled");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        // The round is not over, yet each finished send is already on disk:
        // a crash now would repeat only the one still in flight.
        let state = |id: &str| store.outbox_entry(id).unwrap().unwrap().state;
        for id in ["a", "b", "c", "d", "e"] {
            assert_eq!(state(id), OutboxState::Sent, "{id}");
        }
        assert_eq!(state("slow"), OutboxState::Sending);
        transport.release.notify_one();
        let r = rt.block_on(round).unwrap().unwrap();
        assert_eq!(r.sent, 6);
        assert_eq!(state("slow"), OutboxState::Sent);
    }

    /// A transport whose repeat is harmless, which looks at the store as
    /// each send begins.
    struct Harmless<'s> {
        store: &'s DiskStore,
        ids: Vec<String>,
        /// Per send, how many entries the store had as sent.
        seen_sent: Mutex<Vec<usize>>,
    }

    impl Transport for Harmless<'_> {
        fn repeat_is_harmless(&self) -> bool {
            true
        }
        fn send<'a>(&'a self, _from: &'a str, _to: &'a [String], _raw: &'a [u8]) -> SendFuture<'a> {
            Box::pin(async move {
                let mut sent = 0;
                for id in &self.ids {
                    let e = self.store.outbox_entry(id).unwrap().unwrap();
                    assert_ne!(e.state, OutboxState::Sending, "{id} was marked");
                    sent += usize::from(e.state == OutboxState::Sent);
                }
                self.seen_sent.lock().unwrap().push(sent);
                Ok(Sent::default())
            })
        }
    }

    #[test]
    fn a_harmless_repeat_is_not_marked_and_its_results_are_written_in_groups() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1000).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let ids: Vec<String> = (0..150).map(|i| format!("m{i:03}")).collect();
        store
            .commit(&Commit {
                outbox: ids.iter().map(|id| entry(id, t0)).collect(),
                ..Commit::default()
            })
            .unwrap();
        let transport = Harmless {
            store: &store,
            ids: ids.clone(),
            seen_sent: Mutex::default(),
        };
        let p = Policy {
            concurrency: 1,
            ..policy(5)
        };
        let r = rt()
            .block_on(deliver_due(&store, &transport, &FixedClock::new(t0), &p))
            .unwrap();
        assert_eq!(r.sent, 150);
        // The k-th send saw the results before it in whole groups only.
        let seen = transport.seen_sent.into_inner().unwrap();
        let groups: Vec<usize> = (0..150)
            .map(|k| k / RESULTS_TOGETHER * RESULTS_TOGETHER)
            .collect();
        assert_eq!(seen, groups);
        for id in &ids {
            let e = store.outbox_entry(id).unwrap().unwrap();
            assert_eq!((e.state, e.attempts), (OutboxState::Sent, 1), "{id}");
        }
    }
}

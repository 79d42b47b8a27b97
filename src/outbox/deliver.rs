//! Draining the outbox: what is due goes to the transport, several at a
//! time, and each result is recorded.

use super::{OutboxEntry, OutboxState, Policy, SendError, Transport, backoff};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What one delivery round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// When the earliest pending entry is due next.
    pub next_due: Option<DateTime<Utc>>,
}

/// Delivers every entry that is due, up to `limit`, and records results.
/// Two flushes per round, not per entry: one after marking the round's
/// entries `sending`, one after recording their outcomes.
/// Up to `policy.concurrency` messages are in flight at once.
pub async fn deliver_due<S: Store + ?Sized, T: Transport + ?Sized>(
    store: &S,
    transport: &T,
    clock: &dyn Clock,
    policy: &Policy,
) -> Result<Round, StoreError> {
    let (max_attempts, limit) = (policy.max_attempts, policy.limit);
    let now = clock.now();
    let mut round = Round::default();
    let mut due = Vec::new();
    for e in store.outbox_active()? {
        match e.state {
            OutboxState::Pending | OutboxState::Sending
                if e.next_attempt <= now && due.len() < limit =>
            {
                due.push(e)
            }
            OutboxState::Pending | OutboxState::Sending => {
                round.next_due = Some(
                    round
                        .next_due
                        .map_or(e.next_attempt, |d| d.min(e.next_attempt)),
                );
            }
            _ => {}
        }
    }
    if due.is_empty() {
        return Ok(round);
    }
    due.sort_by_key(|e| e.created);
    for e in &mut due {
        if e.state == OutboxState::Sending {
            tracing::warn!(id = %e.id, "delivering again after an interrupted attempt: the recipient may get it twice");
        }
        e.state = OutboxState::Sending;
        e.attempts += 1;
    }
    store.put_outbox_all(&due)?;
    store.flush()?;

    let results: Vec<(OutboxEntry, Result<(), SendError>)> = futures::stream::iter(due)
        .map(|mut e| async move {
            // Listings leave the message out; it is read only while being
            // sent, so a round holds `concurrency` messages, not all of them.
            let raw = if e.raw.is_empty() {
                match store.outbox_entry(&e.id) {
                    Ok(found) => found.map(|x| x.raw).unwrap_or_default(),
                    Err(err) => {
                        let message = format!("reading the message from the store: {err}");
                        return (
                            e,
                            Err(SendError {
                                permanent: false,
                                message,
                            }),
                        );
                    }
                }
            } else {
                std::mem::take(&mut e.raw)
            };
            let r = transport
                .send(&e.envelope_from, &e.recipients, raw.as_bytes())
                .await;
            (e, r)
        })
        .buffer_unordered(policy.concurrency.max(1))
        .collect()
        .await;
    let mut recorded = Vec::with_capacity(results.len());
    for (mut e, result) in results {
        let now = clock.now();
        match result {
            Ok(()) => {
                e.state = OutboxState::Sent;
                e.sent = Some(now);
                e.last_error = None;
                round.sent += 1;
                tracing::info!(id = %e.id, ticket = e.ticket, to = ?e.recipients, "sent");
            }
            Err(err) if err.permanent || e.attempts >= max_attempts => {
                e.state = OutboxState::Failed;
                e.last_error = Some(if err.permanent {
                    err.message
                } else {
                    format!("gave up after {} attempts: {}", e.attempts, err.message)
                });
                round.failed += 1;
                tracing::error!(id = %e.id, ticket = e.ticket, error = ?e.last_error, "delivery failed for good");
            }
            Err(err) => {
                e.state = OutboxState::Pending;
                e.next_attempt = now + backoff(e.attempts, &e.id, policy.retry_base_seconds);
                tracing::warn!(id = %e.id, attempt = e.attempts, retry_at = %e.next_attempt, error = %err.message, "delivery failed, will retry");
                e.last_error = Some(err.message);
                round.retrying += 1;
                round.next_due = Some(
                    round
                        .next_due
                        .map_or(e.next_attempt, |d| d.min(e.next_attempt)),
                );
            }
        }
        recorded.push(e);
    }
    store.put_outbox_all(&recorded)?;
    store.flush()?;
    Ok(round)
}

/// Delivers due entries whenever woken (after each commit) or when a retry
/// falls due; after `stop` turns true, finishes what is due and returns.
pub async fn send_loop<S: Store + ?Sized>(
    store: Arc<S>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    loop {
        let round = deliver_due(&*store, &*transport, &*clock, &policy).await?;
        let worked = round.sent + round.retrying + round.failed > 0;
        if *stop.borrow() {
            if !worked {
                return Ok(());
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
            .unwrap_or(Duration::from_secs(60));
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
    use crate::store::{Commit, SledStore};
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
                result
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
            state: OutboxState::Pending,
            attempts: 0,
            created: at,
            next_attempt: at,
            last_error: None,
            sent: None,
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
        let store = SledStore::open(dir.path(), 1000).unwrap();
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
        let store = SledStore::open(dir.path(), 1000).unwrap();
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
            let store = SledStore::open(dir.path(), 1000).unwrap();
            let mut e = entry("a", t0);
            e.state = OutboxState::Sending; // crashed mid-send
            e.attempts = 1;
            store.put_outbox(&e).unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 1000).unwrap();
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
}

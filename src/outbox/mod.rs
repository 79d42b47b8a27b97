//! The durable queue of outgoing mail and the task that drains it.
//!
//! An entry is created in the same store commit as the decision that caused
//! it, with the complete rendered message, so a retry always sends the same
//! bytes under the same Message-ID. Delivery goes through a [`Transport`].
//!
//! Crash window, stated honestly: an entry is marked `sending` (and flushed)
//! before the transport is called, and `sent` after it returns. A crash
//! between the transport accepting the mail and the `sent` mark leaves it
//! `sending`; on restart such entries are delivered again (at-least-once)
//! and a warning is logged. Nothing is ever lost; a duplicate is possible
//! only in that window.

mod transport;

pub use transport::{FileTransport, SendError, Transport};

use crate::clock::Clock;
use crate::model::TicketId;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Handed to the transport; outcome not yet recorded.
    Sending,
    /// Accepted by the transport.
    Sent,
    /// Given up: permanent failure or too many attempts.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }
}

/// One outgoing message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The Message-ID of the mail (also the entry's key).
    pub id: String,
    pub ticket: TicketId,
    /// What it is for, e.g. `acknowledgement`.
    pub purpose: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The complete RFC 5322 message.
    pub raw: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created: DateTime<Utc>,
    pub next_attempt: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub sent: Option<DateTime<Utc>>,
}

/// Wait before attempt `attempts + 1`: 30 s doubling to an hour, spread by
/// up to a fifth (derived from the id, so it is stable) so that many
/// entries failing together do not retry together.
pub fn backoff(attempts: u32, id: &str) -> Duration {
    let base = 30i64
        .saturating_mul(1i64 << attempts.saturating_sub(1).min(10))
        .min(3600);
    let spread = id
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1000;
    Duration::milliseconds(base * 1000 + base * 200 * spread as i64 / 1000)
}

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
pub async fn deliver_due<S: Store + ?Sized, T: Transport + ?Sized>(
    store: &S,
    transport: &T,
    clock: &dyn Clock,
    max_attempts: u32,
    limit: usize,
) -> Result<Round, StoreError> {
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
        store.put_outbox(e)?;
    }
    store.flush()?;

    for mut e in due {
        let result = transport
            .send(&e.envelope_from, &e.recipients, e.raw.as_bytes())
            .await;
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
                e.next_attempt = now + backoff(e.attempts, &e.id);
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
        store.put_outbox(&e)?;
    }
    store.flush()?;
    Ok(round)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
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
        fn send<'a>(
            &'a self,
            _from: &'a str,
            to: &'a [String],
            _raw: &'a [u8],
        ) -> transport::SendFuture<'a> {
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
            .block_on(deliver_due(&store, &transport, &clock, 5, 100))
            .unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (0, 1, 1));
        let a = store.outbox_entry("a").unwrap().unwrap();
        assert_eq!((a.state, a.attempts), (OutboxState::Pending, 1));
        assert_eq!(a.last_error.as_deref(), Some("421 try later"));
        assert!(a.next_attempt >= t0 + Duration::seconds(30));
        assert_eq!(r.next_due, Some(a.next_attempt));
        let b = store.outbox_entry("b").unwrap().unwrap();
        assert_eq!(b.state, OutboxState::Failed);
        assert_eq!(store.outbox_active().unwrap().len(), 1);

        // Not due yet: nothing happens.
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, 5, 100))
            .unwrap();
        assert_eq!(r.sent + r.retrying + r.failed, 0);
        clock.set(a.next_attempt);
        let r = rt()
            .block_on(deliver_due(&store, &transport, &clock, 5, 100))
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
            rt().block_on(deliver_due(&store, &transport, &clock, 3, 100))
                .unwrap();
            clock.advance(Duration::hours(2));
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
                5,
                100,
            ))
            .unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(store.outbox_entry("a").unwrap().unwrap().attempts, 2);
    }

    #[test]
    fn backoff_doubles_caps_and_spreads() {
        let b1 = backoff(1, "a");
        assert!(
            b1 >= Duration::seconds(30) && b1 <= Duration::seconds(36),
            "{b1}"
        );
        let b2 = backoff(2, "a");
        assert!(
            b2 >= Duration::seconds(60) && b2 <= Duration::seconds(72),
            "{b2}"
        );
        let b20 = backoff(20, "a");
        assert!(
            b20 >= Duration::seconds(3600) && b20 <= Duration::seconds(4320),
            "{b20}"
        );
        assert_ne!(backoff(3, "a"), backoff(3, "b"));
    }
}

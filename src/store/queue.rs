//! Entries of the outgoing queue: what the store keeps for each mail we
//! send, and where its delivery stands. The outbox (`crate::outbox`)
//! drains them; the store keeps them in the same commit as the decision
//! that caused them.

use crate::model::TicketId;
use chrono::{DateTime, Utc};
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
    /// Sent or failed: nothing more will be tried.
    pub fn is_done(self) -> bool {
        matches!(self, OutboxState::Sent | OutboxState::Failed)
    }

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
    /// Recipients still to deliver to (all of them until the first send).
    pub recipients: Vec<String>,
    pub subject: String,
    /// The complete RFC 5322 message. Stored apart from the entry (written
    /// once, read when sending): empty in listings, filled by
    /// [`View::outbox_entry`](crate::store::View::outbox_entry).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raw: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created: DateTime<Utc>,
    pub next_attempt: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub sent: Option<DateTime<Utc>>,
    /// Recipients who have it (taken out of `recipients` as they take it:
    /// a retry goes only to those still waiting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<String>,
    /// Recipients refused for good, with the server's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedRecipient>,
    /// Who to tell when recipients are refused (the agent whose answer
    /// this is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// The drainer that took it for its current round, and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
}

/// An entry taken by one drainer of the outbox: no other takes it until
/// the claim runs out (its holder died) or its result is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// What [`Store::claim_due`](crate::store::Store::claim_due) hands a drainer.
#[derive(Debug, Clone, Default)]
pub struct Due {
    /// The entries claimed (without `raw`), oldest first.
    pub claimed: Vec<OutboxEntry>,
    /// When the next entry not claimed now falls due (for the drainer's
    /// sleep).
    pub next: Option<DateTime<Utc>>,
}

impl OutboxEntry {
    /// A mail queued at `now`, due at once, never tried: the delivery
    /// state of a new entry. Callers fill in what the mail is
    /// (`OutboxEntry { id, recipients, raw, .., ..OutboxEntry::queued(now) }`).
    pub fn queued(now: DateTime<Utc>) -> OutboxEntry {
        OutboxEntry {
            id: String::new(),
            ticket: 0,
            purpose: String::new(),
            envelope_from: String::new(),
            recipients: Vec::new(),
            subject: String::new(),
            raw: String::new(),
            state: OutboxState::Pending,
            attempts: 0,
            created: now,
            next_attempt: now,
            last_error: None,
            sent: None,
            delivered: Vec::new(),
            refused: Vec::new(),
            notify: None,
            claim: None,
        }
    }

    /// Whether `holder` may take it at `now`: still to deliver, due, and
    /// not held by another drainer whose claim still runs. (A holder is one
    /// drainer, which runs one round at a time: its own claim is its own.)
    pub fn claimable(&self, holder: &str, now: DateTime<Utc>) -> bool {
        !self.state.is_done()
            && self.next_attempt <= now
            && self
                .claim
                .as_ref()
                .is_none_or(|c| c.holder == holder || c.until <= now)
    }

    /// When it could next be taken by someone other than `holder` (none:
    /// never, it is done).
    pub fn free_at(&self, holder: &str) -> Option<DateTime<Utc>> {
        if self.state.is_done() {
            return None;
        }
        Some(match &self.claim {
            Some(c) if c.holder != holder => c.until.max(self.next_attempt),
            _ => self.next_attempt,
        })
    }

    /// Picks, among `active`, what `holder` claims at `now` (at most
    /// `limit`, oldest first, each marked with the claim to `until`), and
    /// when the next of the rest falls due: the one rule every backend's
    /// [`Store::claim_due`](crate::store::Store::claim_due) applies.
    pub fn pick_due(
        active: Vec<OutboxEntry>,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Due {
        let mut due = Due::default();
        let mut ready: Vec<OutboxEntry> = Vec::new();
        for e in active {
            if e.claimable(holder, now) {
                ready.push(e);
            } else if let Some(at) = e.free_at(holder) {
                due.next = Some(due.next.map_or(at, |n| n.min(at)));
            }
        }
        ready.sort_by_key(|e| e.created);
        for mut e in ready {
            if due.claimed.len() >= limit {
                due.next = Some(due.next.map_or(now, |n| n.min(now)));
                break;
            }
            e.claim = Some(Claim {
                holder: holder.to_owned(),
                until,
            });
            due.claimed.push(e);
        }
        due
    }

    /// The entry as listings and entry records keep it: without its
    /// message, which is a blob of its own (see `store::blobs`).
    pub fn without_raw(&self) -> OutboxEntry {
        OutboxEntry {
            raw: String::new(),
            ..self.clone()
        }
    }

    /// Everyone the mail was addressed to: delivered, refused, waiting.
    pub fn addressed(&self) -> Vec<String> {
        self.delivered
            .iter()
            .chain(self.refused.iter().map(|r| &r.address))
            .chain(&self.recipients)
            .cloned()
            .collect()
    }
}

/// A recipient refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRecipient {
    pub address: String,
    pub reason: String,
}

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
}

impl OutboxEntry {
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

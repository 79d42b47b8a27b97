//! The data ticketbox keeps: tickets, stored messages and the small value
//! types they share. Plain data with serde; no behaviour beyond formatting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A ticket number as customers see it (`[#TB-1042]` carries 1042).
pub type TicketId = u64;

/// How soon a ticket needs a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown priority {s:?}: expected low, normal, high or urgent"))
    }
}

/// Where a ticket stands. `New` until a person has touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Pending,
    Closed,
    /// Kept for the record, waiting on no one: bulk mail (newsletters,
    /// list traffic) that opened a ticket. Out of the queue and the SLA;
    /// a person's mail on it opens it.
    Filed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Closed,
        Status::Filed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Closed => "closed",
            Status::Filed => "filed",
        }
    }
    /// Whether someone is waiting for an answer on it.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Filed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown status {s:?}: expected new, open, pending, closed or filed")
            })
    }
}

/// A person or system on an address line. `address` is lower-cased so that
/// comparisons are simple; `name` is the decoded display name, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub address: String,
}

impl Party {
    pub fn new(name: Option<&str>, address: &str) -> Party {
        // Names come from mail: one clean line, never a header injection.
        let name = name
            .map(|n| crate::text::one_line(n, crate::text::MAX_NAME_CHARS))
            .filter(|n| !n.is_empty());
        Party {
            name,
            address: address.trim().to_lowercase(),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n} <{}>", self.address),
            None => f.write_str(&self.address),
        }
    }
}

/// What a customer told us about themselves (kept in the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerPrefs {
    /// Language for mail to them (ISO 639-1).
    #[serde(default)]
    pub language: Option<String>,
    /// Their IANA time zone, for writing times.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// What a stored message is, as far as the helpdesk is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by a customer (or anyone who is not an agent).
    Customer,
    /// Written by one of our agents.
    Agent,
    /// An automatic reply: vacation notice, list or bulk mail, notification.
    AutoReply,
    /// A delivery status notification or other bounce.
    Bounce,
    /// Our own outgoing mail that came back to us.
    Loop,
    /// Mail we sent (acknowledgements, notifications).
    Outgoing,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Customer => "customer",
            MessageKind::Agent => "agent",
            MessageKind::AutoReply => "auto_reply",
            MessageKind::Bounce => "bounce",
            MessageKind::Loop => "loop",
            MessageKind::Outgoing => "outgoing",
        }
    }
}

/// An attachment as listed on a message (the bytes stay in the raw message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A message as stored with its ticket. The raw bytes live in the raw store
/// under `raw_hash`; this is the summary the helpdesk works with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The Message-ID without angle brackets (synthesized when missing).
    pub message_id: String,
    pub raw_hash: String,
    /// Hash of author, subject, date and text: tells a redelivery (same
    /// content, other transport headers) from a different message that
    /// reuses a Message-ID.
    #[serde(default)]
    pub fingerprint: String,
    pub ticket: Option<TicketId>,
    pub kind: MessageKind,
    pub from: Option<Party>,
    #[serde(default)]
    pub to: Vec<Party>,
    #[serde(default)]
    pub cc: Vec<Party>,
    pub subject: String,
    /// The Date header, when it parsed.
    pub date: Option<DateTime<Utc>>,
    /// When ticketbox stored it.
    pub received: DateTime<Utc>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInfo>,
    /// Why the message was classified and threaded the way it was.
    pub reason: String,
    /// An agent's mail that was refused (a command it could not follow,
    /// nothing of the agent's found): it changed nothing on the ticket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

/// A support ticket: one conversation with one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub subject: String,
    pub status: Status,
    pub queue: String,
    pub priority: Priority,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub customer: Party,
    /// Addresses that may write into this ticket besides the customer
    /// (To/Cc of its messages, minus our own addresses).
    #[serde(default)]
    pub participants: BTreeSet<String>,
    /// Message-IDs in arrival order, incoming and outgoing.
    #[serde(default)]
    pub messages: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    #[serde(default)]
    pub closed: Option<DateTime<Utc>>,
    /// First-response due time (SLA), in business time.
    pub response_due: Option<DateTime<Utc>>,
    /// Resolution due time (SLA).
    #[serde(default)]
    pub resolution_due: Option<DateTime<Utc>>,
    /// When an agent first answered, and whether that met the SLA.
    #[serde(default)]
    pub first_response_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub first_response_met: Option<bool>,
    /// Waiting on the customer since (the SLA clock may be paused).
    #[serde(default)]
    pub pending_since: Option<DateTime<Utc>>,
    /// When the status last changed.
    #[serde(default)]
    pub status_since: Option<DateTime<Utc>>,
    /// Business seconds spent paused so far.
    #[serde(default)]
    pub paused_secs: i64,
    /// Escalation notices already sent ("first_response:near", …).
    #[serde(default)]
    pub escalations: Vec<String>,
    /// Tickets ahead of it in its queue, still unanswered, when it opened.
    #[serde(default)]
    pub queue_ahead: u32,
    /// Related tickets, e.g. the one a stranger's mail carried the tag of.
    #[serde(default)]
    pub links: Vec<TicketId>,
    /// Names of the rules that fired on its messages, in order.
    #[serde(default)]
    pub rules_fired: Vec<String>,
    /// The agent it is assigned to.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The SLA policy its due times follow (`default` when none).
    #[serde(default)]
    pub sla_policy: Option<String>,
    /// The customer's language (ISO 639-1), when known.
    #[serde(default)]
    pub language: Option<String>,
    /// The UTC offset (minutes east) of the customer's clock, from the Date
    /// header of their latest mail: their zone when they stated none.
    #[serde(default)]
    pub customer_offset: Option<i32>,
    /// Custom fields set by rules.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// What the rules alone made of it, before agents changed anything:
    /// `rules test --replay` compares the current rules against this.
    #[serde(default)]
    pub ruled: Option<Ruled>,
    /// When the customer was last asked to rate it (a closing mail).
    #[serde(default)]
    pub rating_asked: Option<DateTime<Utc>>,
    /// The customer's satisfaction rating (a later one replaces it).
    #[serde(default)]
    pub rating: Option<Rating>,
    /// How often a customer's mail opened it again after it was closed.
    #[serde(default)]
    pub reopened: u32,
}

/// A customer's rating of how their ticket went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// From 1 (poor) to 5 (very good).
    pub score: u8,
    /// What they wrote with it.
    #[serde(default)]
    pub words: String,
    pub at: DateTime<Utc>,
    /// Who rated, and in which message.
    pub by: String,
    pub message_id: String,
    /// A reply with the number, or a signed link.
    pub via: RatedVia,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatedVia {
    Reply,
    Link,
}

/// A ticket's handling as the rules decided it, message by message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruled {
    /// The queue of the mailbox the first message came through, if it
    /// has one (where the ticket goes when no rule routes it).
    #[serde(default)]
    pub mailbox_queue: Option<String>,
    pub queue: String,
    pub priority: Priority,
    pub sla: Option<String>,
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

impl Ticket {
    /// A ticket with the given basics and everything else empty.
    pub fn new(
        id: TicketId,
        subject: String,
        queue: String,
        priority: Priority,
        customer: Party,
        created: DateTime<Utc>,
    ) -> Ticket {
        Ticket {
            id,
            subject,
            status: Status::New,
            queue,
            priority,
            tags: BTreeSet::new(),
            customer,
            participants: BTreeSet::new(),
            messages: Vec::new(),
            created,
            updated: created,
            closed: None,
            response_due: None,
            resolution_due: None,
            first_response_at: None,
            first_response_met: None,
            pending_since: None,
            status_since: None,
            paused_secs: 0,
            escalations: Vec::new(),
            queue_ahead: 0,
            links: Vec::new(),
            rules_fired: Vec::new(),
            assignee: None,
            sla_policy: None,
            language: None,
            customer_offset: None,
            fields: Default::default(),
            ruled: None,
            rating_asked: None,
            rating: None,
            reopened: 0,
        }
    }

    /// Whether `address` belongs to this conversation (customer or participant).
    pub fn knows(&self, address: &str) -> bool {
        self.customer.address == address || self.participants.contains(address)
    }
}

/// Acknowledgement times kept per key: enough for every pacing limit
/// (`ack.max_per_domain_per_day` may not exceed it).
pub const ACKS_KEPT: usize = 100;

/// Recent first-response times of a queue, and how many tickets in it
/// still wait for their first answer (see `store::Store::queue_stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    /// (priority, business seconds to first response, tickets that were
    /// ahead of it), most recent last.
    pub samples: Vec<(Priority, i64, u32)>,
    /// Open tickets without a first response.
    pub awaiting: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_parses_case_insensitively_and_orders() {
        assert_eq!("URGENT".parse::<Priority>(), Ok(Priority::Urgent));
        assert!(Priority::Urgent > Priority::High);
        assert!("soon".parse::<Priority>().unwrap_err().contains("expected"));
    }

    #[test]
    fn party_lowercases_address_and_drops_empty_name() {
        let p = Party::new(Some("  "), " Jan@Example.PL ");
        assert_eq!(p.address, "jan@example.pl");
        assert_eq!(p.name, None);
        assert_eq!(Party::new(Some("Jan"), "j@x").to_string(), "Jan <j@x>");
    }
}

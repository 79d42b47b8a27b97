//! One message through the whole core: store raw → parse → classify →
//! thread → rules → SLA → acknowledgement → one atomic commit.
//!
//! Every step is idempotent. The raw bytes are stored (and marked pending)
//! before anything else; the commit records the outcome and clears the
//! mark. Processing the same bytes again finds the Message-ID already stored
//! and reports a duplicate, so a crash anywhere, a redelivery or a rescan
//! never makes a second ticket or a second acknowledgement. Durability comes
//! from the caller's [`Store::flush`] after a batch (group commit).

mod answer;
mod apply;
mod decide;
mod engine;
mod outgoing;
mod rating;
mod refused;
mod status;
mod ticket;
pub mod timing;

pub use decide::{Ask, Decided, Numbers, Prepared, Seen, decide, prepare};
pub use engine::{Engine, EngineError, random_secret};
pub use outgoing::{customer_audience, outgoing_mail};
pub use rating::closing_mail;
pub use refused::settle_refused;
pub use ticket::{ruled_after, ruled_at_open};

use crate::intake::{RawMail, content_hash};
use crate::mail::parse::Envelope;
use crate::model::{Ticket, TicketId};
use crate::rules::{Author, Facts, History, Kind as RuleKind};
use crate::store::{Store, StoreError, View};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Created,
    Appended,
    Duplicate,
    Ignored,
    Quarantined,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Created => "created",
            OutcomeKind::Appended => "appended",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Ignored => "ignored",
            OutcomeKind::Quarantined => "quarantined",
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub message_id: Option<String>,
    pub ticket: Option<TicketId>,
    pub outcome: OutcomeKind,
    pub reason: String,
    /// Whether an acknowledgement was queued.
    pub acknowledged: bool,
    pub origin: String,
    /// Taken in as history: it arrived long before it was read
    /// (`intake.history_hours`), so nobody was told.
    pub history: bool,
}

/// Processes one raw message and commits the result (not yet flushed):
/// the raw bytes stored (and marked pending) first, then [`prepare`],
/// [`decide`] over the store's view, and the decision's one commit.
pub fn process<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    run(engine, store, raw, now, false)
}

/// Processes a quarantined message an admin released: the spam rules and
/// the agent authentication check no longer hold it back (a person looked
/// at it); a message that still cannot be read stays quarantined.
pub fn release<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    run(engine, store, raw, now, true)
}

/// [`process`] for a message [`prepare`]d ahead (on another core, while
/// the one before it was decided).
///
/// The caller has stored the raw bytes already (the committer's batches
/// store and count a whole batch before deciding any of it), so they are
/// not looked up again here.
pub fn process_prepared<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    prepared: Prepared,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    decide_and_apply(engine, store, raw, prepared, now, false)
}

fn run<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    now: DateTime<Utc>,
    released: bool,
) -> Result<Outcome, StoreError> {
    store.put_raw(&raw.hash, &raw.bytes, &raw.origin)?;
    decide_and_apply(engine, store, raw, prepare(engine, raw), now, released)
}

/// Decides `raw` over the store and applies the decision's one commit.
fn decide_and_apply<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    prepared: Prepared,
    now: DateTime<Utc>,
    released: bool,
) -> Result<Outcome, StoreError> {
    let rules = engine.rules();
    let take = || store.allocate_ticket_id();
    let ask = Ask {
        rules: &rules,
        released,
        explain: false,
        numbers: Numbers::Take(&take),
    };
    let decided = decide(engine, store, &ask, raw, prepared, now)?;
    store.commit_owned(decided.commit)?;
    let out = decided.outcome;
    for problem in &decided.problems {
        tracing::error!(origin = %raw.origin, ticket = ?out.ticket, "{problem}");
    }
    if out.outcome == OutcomeKind::Quarantined {
        tracing::warn!(origin = %raw.origin, reason = %out.reason, "quarantined");
    }
    Ok(out)
}

/// The customer's mail inside an agent's forward, as if the customer had
/// sent it: author, subject and text from the forward's header fields. A
/// forward of an agent's or our own mail is not a customer's.
pub fn forwarded_customer_mail(engine: &Engine, env: &Envelope) -> Option<Envelope> {
    let written = env.written();
    let block = if !written.forwarded.is_empty() {
        &written.forwarded
    } else if crate::subject::is_forward(&env.subject) && !written.embedded.is_empty() {
        &written.embedded
    } else {
        return None;
    };
    let origin = crate::mail::written::origin(block)?;
    if engine.cfg.agents.contains(&origin.address)
        || engine.identity.is_own_address(&origin.address)
    {
        return None;
    }
    let subject = origin
        .subject
        .map(|s| crate::text::one_line(&s, engine.cfg.limits.max_subject_chars))
        .unwrap_or_else(|| crate::subject::strip_prefixes(&env.subject).0.to_owned());
    Some(Envelope {
        from: Some(crate::model::Party::new(
            origin.name.as_deref(),
            &origin.address,
        )),
        sender: None,
        reply_to: None,
        to: Vec::new(),
        cc: Vec::new(),
        subject,
        text: origin.body,
        content_language: None,
        ..env.clone()
    })
}

/// What the rules see of a message (also used by `ticketbox rules test`).
#[allow(clippy::too_many_arguments)]
pub fn rule_facts<'a>(
    engine: &Engine,
    env: &'a Envelope,
    language: Option<String>,
    is_reply: bool,
    is_agent: bool,
    automatic: bool,
    history: History,
    now: DateTime<Utc>,
) -> Facts<'a> {
    let mut facts = Facts::new(env, now);
    facts.language = language;
    facts.kind = if is_reply {
        RuleKind::Reply
    } else {
        RuleKind::New
    };
    facts.author = if is_agent {
        Author::Agent
    } else {
        Author::Customer
    };
    facts.auto_reply = automatic;
    facts.history = history;
    (facts.weekday, facts.hour) = engine.calendar.local_day_hour(now);
    facts.business_hours = engine.calendar.is_open(now);
    facts
}

/// The customer's tickets: when each was opened and whether it is open.
pub fn history_of<V: View + ?Sized>(store: &V, address: &str) -> Result<History, StoreError> {
    let tickets = store.customer_tickets(address)?;
    Ok(History {
        tickets: tickets.iter().map(|t| (t.created, t.open)).collect(),
    })
}

fn reopen_expired(engine: &Engine, t: &Ticket, now: DateTime<Utc>) -> bool {
    let days = Duration::days(i64::from(engine.cfg.tickets.reopen_days));
    t.closed.is_some_and(|c| now - c > days)
}

/// Content fingerprint: author, subject, date and text.
pub fn fingerprint(env: &Envelope) -> String {
    let author = env.author().map(|p| p.address.as_str()).unwrap_or_default();
    let date = env.date.map(|d| d.to_rfc3339()).unwrap_or_default();
    let h = content_hash(format!("{author}\n{}\n{date}\n{}", env.subject, env.text).as_bytes());
    h[..32].to_owned()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_agent;
#[cfg(test)]
mod tests_alerts;
#[cfg(test)]
mod tests_autoclose;
#[cfg(test)]
mod tests_bounces;
#[cfg(test)]
mod tests_clients;
#[cfg(test)]
mod tests_history;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_inline;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_rating;
#[cfg(test)]
mod tests_reading;
#[cfg(test)]
mod tests_robots;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_sla;
#[cfg(test)]
mod tests_status;
#[cfg(test)]
mod tests_threading;

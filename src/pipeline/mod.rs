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
mod engine;
mod outgoing;
mod ticket;
pub mod timing;

pub use answer::tell_refused;
pub use engine::{Engine, EngineError};
pub use outgoing::{customer_audience, outgoing_mail};
pub use ticket::{ruled_after, ruled_at_open};

use crate::classify::{self, Class};
use crate::intake::{RawMail, content_hash};
use crate::model::{MessageKind, MessageRecord, Status, Ticket, TicketId};
use crate::parse::{self, Envelope};
use crate::rules::{Author, Facts, History, Kind as RuleKind};
use crate::store::{Commit, Quarantined, Store, StoreError};
use crate::thread::{self, Placement};
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

/// Processes one raw message and commits the result (not yet flushed).
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

fn run<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    now: DateTime<Utc>,
    released: bool,
) -> Result<Outcome, StoreError> {
    store.put_raw(&raw.hash, &raw.bytes, &raw.origin)?;
    let mut commit = Commit {
        raw_hash: raw.hash.clone(),
        source_key: raw.source_key.clone(),
        released,
        ..Commit::default()
    };
    let outcome = |kind, message_id: Option<&str>, ticket, reason: String| Outcome {
        message_id: message_id.map(str::to_owned),
        ticket,
        outcome: kind,
        reason,
        acknowledged: false,
        origin: raw.origin.clone(),
        history: false,
    };
    // An early end: what the commit holds so far is the whole outcome.
    let finish = |commit: &Commit, kind, message_id: Option<&str>, ticket, reason: String| {
        store.commit(commit)?;
        Ok(outcome(kind, message_id, ticket, reason))
    };

    if !released && store.is_quarantined(&raw.hash)? {
        return finish(
            &commit,
            OutcomeKind::Duplicate,
            None,
            None,
            "already quarantined".into(),
        );
    }
    let parsed = if raw.bytes.len() > engine.cfg.intake.max_message_bytes {
        Err(format!(
            "message is {} bytes, over intake.max_message_bytes ({})",
            raw.bytes.len(),
            engine.cfg.intake.max_message_bytes
        ))
    } else {
        parse::parse_limited(&raw.bytes, &raw.hash, &engine.cfg.limits).map_err(|e| e.to_string())
    };
    let mut env = match parsed {
        Ok(env) => env,
        Err(reason) => {
            commit.quarantine = Some(quarantined(raw, &reason, now, None));
            tracing::warn!(origin = %raw.origin, %reason, "quarantined");
            return finish(&commit, OutcomeKind::Quarantined, None, None, reason);
        }
    };

    // Duplicate: same Message-ID with the same content (another delivery of
    // it, perhaps with other transport headers). A different message that
    // reuses a Message-ID is kept under a key of its own.
    let fp = fingerprint(&env);
    if let Some(existing) = store.message(&env.message_id)? {
        if existing.raw_hash == raw.hash || existing.fingerprint == fp {
            let why = format!("already stored (Message-ID <{}>)", env.message_id);
            return finish(
                &commit,
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                existing.ticket,
                why,
            );
        }
        env.message_id = format!("{}#{}", env.message_id, &raw.hash[..12]);
        if let Some(again) = store.message(&env.message_id)? {
            let why = "already stored (reused Message-ID, same content)".to_owned();
            return finish(
                &commit,
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                again.ticket,
                why,
            );
        }
    }

    let verdict = classify::classify(&env, &engine.identity);
    // Mail that sat in its mailbox long before we read it is history.
    let hours = engine.cfg.intake.history_hours;
    let old_mail = raw.arrived.filter(|at| {
        hours > 0 && now.signed_duration_since(*at) > chrono::Duration::hours(i64::from(hours))
    });
    let author = env.author().cloned();
    let author_addr = author
        .as_ref()
        .map(|p| p.address.clone())
        .unwrap_or_default();
    let is_agent = engine.cfg.agents.contains(&author_addr);
    let authserv = &engine.cfg.agents_authserv_id;
    if is_agent
        && !released
        && !authserv.is_empty()
        && let Err(why) = crate::agent::authenticated(&env.headers, authserv, &author_addr)
    {
        let reason = format!("from agent address {author_addr} but not authenticated: {why}");
        tracing::warn!(origin = %raw.origin, %reason, "quarantined");
        commit.quarantine = Some(quarantined(raw, &reason, now, None));
        return finish(
            &commit,
            OutcomeKind::Quarantined,
            Some(&env.message_id),
            None,
            reason,
        );
    }
    let kind = match verdict.class {
        Class::Normal if is_agent => MessageKind::Agent,
        Class::Normal => MessageKind::Customer,
        Class::AutoReply | Class::Bulk => MessageKind::AutoReply,
        Class::Bounce => MessageKind::Bounce,
        Class::Loop => MessageKind::Loop,
    };
    let mut record = MessageRecord {
        message_id: env.message_id.clone(),
        raw_hash: raw.hash.clone(),
        fingerprint: fp,
        ticket: None,
        kind,
        from: author.clone(),
        to: env.to.clone(),
        cc: env.cc.clone(),
        subject: env.subject.clone(),
        date: env.date,
        received: now,
        attachments: env.attachments.clone(),
        reason: verdict.reason.clone(),
        refused: false,
    };

    if verdict.class == Class::Loop {
        let why = format!("our own mail: {}", verdict.reason);
        commit.messages.push(record);
        return finish(
            &commit,
            OutcomeKind::Ignored,
            Some(&env.message_id),
            None,
            why,
        );
    }

    let mut placement = thread::place(&env, verdict.class, &engine.threading, store, now)?;
    let mut existing = None;
    if let Placement::Existing { ticket, via } = &placement {
        match store.ticket(*ticket)? {
            Some(t)
                if t.status == Status::Closed
                    && kind == MessageKind::Customer
                    && reopen_expired(engine, &t, now) =>
            {
                placement = Placement::New {
                    linked: Some(t.id),
                    reason: format!(
                        "{via}, but that ticket was closed over {} days ago",
                        engine.cfg.tickets.reopen_days
                    ),
                };
            }
            Some(t) => existing = Some((t, via.clone())),
            None => {
                placement = Placement::New {
                    linked: None,
                    reason: format!("{via} points at ticket {ticket}, which does not exist"),
                }
            }
        }
    }

    // An agent's forward of a customer's mail onto no ticket: the ticket
    // is the customer's, opened on their behalf; the forward's own text
    // (the agent's remark) stays in the stored mail, not in the ticket's
    // customer-facing text.
    let mut forwarded_by = None;
    let (env, is_agent, author, author_addr) = match (&existing, is_agent) {
        (None, true) => match forwarded_customer_mail(engine, &env) {
            Some(theirs) => {
                forwarded_by = Some(author_addr.clone());
                let customer = theirs.from.clone();
                let addr = customer
                    .as_ref()
                    .map(|p| p.address.clone())
                    .unwrap_or_default();
                (theirs, false, customer, addr)
            }
            None => (env, is_agent, author, author_addr),
        },
        _ => (env, is_agent, author, author_addr),
    };
    if let Some(agent) = &forwarded_by {
        record.reason = format!("forwarded by agent {agent} for {author_addr}");
    }

    // Rules see the message with what threading found.
    let rules = engine.rules();
    let language = crate::lang::detect(&env);
    let history = if rules.needs_history() {
        history_of(store, &author_addr)?
    } else {
        History::default()
    };
    let mut facts = rule_facts(
        engine,
        &env,
        language.clone(),
        existing.is_some(),
        is_agent,
        verdict.class != Class::Normal,
        history,
        now,
    );
    if let Some((t, _)) = &existing {
        facts.ticket_rules.clone_from(&t.rules_fired);
    }
    let decision = rules.evaluate(&facts);

    if let Some(rule) = &decision.spam
        && !released
    {
        let reason = format!("spam (rule {rule:?})");
        commit.quarantine = Some(quarantined(raw, &reason, now, Some(rule)));
        return finish(
            &commit,
            OutcomeKind::Quarantined,
            Some(&env.message_id),
            None,
            reason,
        );
    }
    if let Some(rule) = &decision.drop
        && verdict.class != Class::Normal
    {
        let why = format!("dropped by rule {rule:?} ({})", verdict.reason);
        record.reason = why.clone();
        commit.messages.push(record);
        return finish(
            &commit,
            OutcomeKind::Ignored,
            Some(&env.message_id),
            None,
            why,
        );
    }

    if let Some((ticket, via)) = existing {
        let mut reason = format!("{} via {via} ({})", kind.as_str(), verdict.reason);
        record.reason = reason.clone();
        let id = ticket.id;
        let note = apply::append(
            engine,
            store,
            commit,
            ticket,
            record,
            &env,
            &raw.bytes,
            &decision,
            old_mail.is_some(),
            now,
        )?;
        if !note.is_empty() {
            reason = format!("{reason}; {note}");
        }
        let mut out = outcome(
            OutcomeKind::Appended,
            Some(&env.message_id),
            Some(id),
            reason,
        );
        out.history = old_mail.is_some();
        return Ok(out);
    }

    let Placement::New {
        linked,
        reason: why_new,
    } = placement
    else {
        unreachable!("existing placements returned above")
    };
    if verdict.class == Class::Bounce {
        let why = format!("bounce for no known ticket ({})", verdict.reason);
        record.reason = why.clone();
        commit.messages.push(record);
        return finish(
            &commit,
            OutcomeKind::Ignored,
            Some(&env.message_id),
            None,
            why,
        );
    }

    let new = apply::NewTicket {
        env: &env,
        verdict: &verdict,
        is_agent,
        no_ack: old_mail
            .map(|at| {
                format!(
                    "history: it arrived {}, over {} hours before it was read",
                    at.format("%Y-%m-%d %H:%M UTC"),
                    engine.cfg.intake.history_hours
                )
            })
            .or_else(|| {
                forwarded_by
                    .as_ref()
                    .filter(|_| !engine.cfg.ack.forwarded_by_agent)
                    .map(|a| format!("forwarded by agent {a} (ack.forwarded_by_agent is off)"))
            }),
        author,
        mailbox_queue: raw.queue.as_deref(),
        linked,
        language,
        decision: &decision,
        raw: &raw.bytes,
        history: old_mail,
    };
    let (id, acknowledged, ack_note) = apply::create(engine, store, commit, record, new, now)?;
    let fired = if decision.fired.is_empty() {
        String::new()
    } else {
        format!("; rules: {}", decision.fired.join(", "))
    };
    let by = forwarded_by
        .map(|a| format!("; forwarded by agent {a} for {author_addr}"))
        .unwrap_or_default();
    let reason = format!(
        "{why_new}; {} ({}){by}{fired}; {ack_note}",
        kind.as_str(),
        verdict.reason
    );
    let mut out = outcome(
        OutcomeKind::Created,
        Some(&env.message_id),
        Some(id),
        reason,
    );
    out.acknowledged = acknowledged;
    out.history = old_mail.is_some();
    Ok(out)
}

/// The customer's mail inside an agent's forward, as if the customer had
/// sent it: author, subject and text from the forward's header fields. A
/// forward of an agent's or our own mail is not a customer's.
pub fn forwarded_customer_mail(engine: &Engine, env: &Envelope) -> Option<Envelope> {
    let written = crate::written::read(&env.text);
    let block = if !written.forwarded.is_empty() {
        &written.forwarded
    } else if crate::subject::is_forward(&env.subject) && !written.embedded.is_empty() {
        &written.embedded
    } else {
        return None;
    };
    let origin = crate::written::origin(block)?;
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
pub fn history_of<S: Store + ?Sized>(store: &S, address: &str) -> Result<History, StoreError> {
    let tickets = store.customer_tickets(address)?;
    Ok(History {
        tickets: tickets.iter().map(|t| (t.created, t.open)).collect(),
    })
}

fn reopen_expired(engine: &Engine, t: &Ticket, now: DateTime<Utc>) -> bool {
    let days = Duration::days(i64::from(engine.cfg.tickets.reopen_days));
    t.closed.is_some_and(|c| now - c > days)
}

fn quarantined(
    raw: &RawMail,
    reason: &str,
    now: DateTime<Utc>,
    spam_rule: Option<&String>,
) -> Quarantined {
    Quarantined {
        raw_hash: raw.hash.clone(),
        reason: reason.to_owned(),
        received: now,
        origin: raw.origin.clone(),
        size: raw.bytes.len(),
        spam_rule: spam_rule.cloned(),
    }
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
mod tests_autoclose;
#[cfg(test)]
mod tests_clients;
#[cfg(test)]
mod tests_history;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_reading;
#[cfg(test)]
mod tests_robots;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_sla;
#[cfg(test)]
mod tests_threading;

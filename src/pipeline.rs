//! One message through the whole core: store raw → parse → classify →
//! thread → rules → SLA → acknowledgement → one atomic commit.
//!
//! Every step is idempotent. The raw bytes are stored (and marked pending)
//! before anything else; the commit records the outcome and clears the
//! mark. Processing the same bytes again finds the Message-ID already stored
//! and reports a duplicate, so a crash anywhere, a redelivery or a rescan
//! never makes a second ticket or a second acknowledgement. Durability comes
//! from the caller's [`Store::flush`] after a batch (group commit).

use crate::ack;
use crate::classify::{self, Class, Identity};
use crate::config::Config;
use crate::intake::{RawMail, content_hash};
use crate::model::{MessageKind, MessageRecord, Party, Status, Ticket, TicketId};
use crate::parse::{self, Envelope};
use crate::render::{TemplateError, Templates};
use crate::rules::{self, RuleErrors, RuleSet};
use crate::sla;
use crate::store::{Commit, Quarantined, Store, StoreError};
use crate::subject::TagFormat;
use crate::thread::{self, Placement, ThreadConfig};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Everything configured that processing needs, loaded once.
pub struct Engine {
    pub cfg: Config,
    pub identity: Identity,
    pub threading: ThreadConfig,
    pub rules: RuleSet,
    pub templates: Templates,
    pub tz: Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("rules:\n{0}")]
    Rules(RuleErrors),
    #[error("templates:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Templates(Vec<TemplateError>),
    #[error("config: {0}")]
    Config(String),
}

impl Engine {
    /// Builds the engine from a validated config: loads rules and templates.
    pub fn new(cfg: Config, instance_id: String) -> Result<Engine, EngineError> {
        let tags =
            TagFormat::new(&cfg.tickets.tag).map_err(|e| EngineError::Config(e.to_string()))?;
        let tz: Tz = cfg.ack.timezone.parse().map_err(|_| {
            EngineError::Config(format!("unknown time zone {:?}", cfg.ack.timezone))
        })?;
        let rules = RuleSet::load_dir(&cfg.rules_dir).map_err(EngineError::Rules)?;
        let templates = Templates::load(&cfg.templates_dir).map_err(EngineError::Templates)?;
        let domain = cfg
            .support
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "ticketbox.invalid".into());
        let generic = cfg
            .threading
            .generic_subjects
            .iter()
            .map(|s| crate::subject::normalize(s, &tags))
            .collect();
        Ok(Engine {
            identity: Identity {
                instance_id,
                addresses: cfg.own_addresses(),
                message_id_domain: domain,
            },
            threading: ThreadConfig {
                tags,
                subject_fallback_days: cfg.threading.subject_fallback_days,
                generic_subjects: generic,
                agents: cfg.agents.clone(),
            },
            rules,
            templates,
            tz,
            cfg,
        })
    }
}

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
}

/// Processes one raw message and commits the result (not yet flushed).
pub fn process<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    raw: &RawMail,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    store.put_raw(&raw.hash, &raw.bytes, &raw.origin)?;
    let mut commit = Commit {
        raw_hash: raw.hash.clone(),
        source_key: raw.source_key.clone(),
        ..Commit::default()
    };
    let outcome = |kind, message_id: Option<&str>, ticket, reason: String| Outcome {
        message_id: message_id.map(str::to_owned),
        ticket,
        outcome: kind,
        reason,
        acknowledged: false,
        origin: raw.origin.clone(),
    };

    if store.is_quarantined(&raw.hash)? {
        store.commit(&commit)?;
        return Ok(outcome(
            OutcomeKind::Duplicate,
            None,
            None,
            "already quarantined".into(),
        ));
    }
    let parsed = if raw.bytes.len() > engine.cfg.intake.max_message_bytes {
        Err(format!(
            "message is {} bytes, over intake.max_message_bytes ({})",
            raw.bytes.len(),
            engine.cfg.intake.max_message_bytes
        ))
    } else {
        parse::parse(&raw.bytes, &raw.hash).map_err(|e| e.to_string())
    };
    let mut env = match parsed {
        Ok(env) => env,
        Err(reason) => {
            commit.quarantine = Some(Quarantined {
                raw_hash: raw.hash.clone(),
                reason: reason.clone(),
                received: now,
                origin: raw.origin.clone(),
                size: raw.bytes.len(),
            });
            store.commit(&commit)?;
            tracing::warn!(origin = %raw.origin, %reason, "quarantined");
            return Ok(outcome(OutcomeKind::Quarantined, None, None, reason));
        }
    };

    // Duplicate: same Message-ID with the same content (another delivery of
    // it, perhaps with other transport headers). A different message that
    // reuses a Message-ID is kept under a key of its own.
    let fp = fingerprint(&env);
    if let Some(existing) = store.message(&env.message_id)? {
        if existing.raw_hash == raw.hash || existing.fingerprint == fp {
            store.commit(&commit)?;
            let why = format!("already stored (Message-ID <{}>)", env.message_id);
            return Ok(outcome(
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                existing.ticket,
                why,
            ));
        }
        env.message_id = format!("{}#{}", env.message_id, &raw.hash[..12]);
        if let Some(again) = store.message(&env.message_id)? {
            store.commit(&commit)?;
            let why = "already stored (reused Message-ID, same content)".to_owned();
            return Ok(outcome(
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                again.ticket,
                why,
            ));
        }
    }

    let verdict = classify::classify(&env, &engine.identity);
    let author = env.author().cloned();
    let author_addr = author
        .as_ref()
        .map(|p| p.address.clone())
        .unwrap_or_default();
    let is_agent = engine.cfg.agents.contains(&author_addr);
    let kind = match verdict.class {
        Class::Normal if is_agent => MessageKind::Agent,
        Class::Normal => MessageKind::Customer,
        Class::AutoReply => MessageKind::AutoReply,
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
    };

    if verdict.class == Class::Loop {
        let why = format!("our own mail: {}", verdict.reason);
        commit.messages.push(record);
        store.commit(&commit)?;
        return Ok(outcome(
            OutcomeKind::Ignored,
            Some(&env.message_id),
            None,
            why,
        ));
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

    if let Some((mut ticket, via)) = existing {
        let reason = format!("{} via {via} ({})", kind.as_str(), verdict.reason);
        append(engine, &mut ticket, &env, kind, now);
        index_message(&mut commit, &env, ticket.id);
        record.ticket = Some(ticket.id);
        record.reason = reason.clone();
        let id = ticket.id;
        commit.messages.push(record);
        commit.ticket = Some(ticket);
        store.commit(&commit)?;
        return Ok(outcome(
            OutcomeKind::Appended,
            Some(&env.message_id),
            Some(id),
            reason,
        ));
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
        store.commit(&commit)?;
        return Ok(outcome(
            OutcomeKind::Ignored,
            Some(&env.message_id),
            None,
            why,
        ));
    }

    // A new ticket.
    let customer = author.unwrap_or_else(|| Party::new(None, "unknown@invalid"));
    let decision = engine.rules.evaluate(&rules::Input::new(&env));
    let priority = decision
        .priority
        .unwrap_or(engine.cfg.tickets.default_priority);
    let subject = engine
        .threading
        .tags
        .strip(&env.subject)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut ticket = Ticket {
        id: store.next_ticket_id()?,
        subject: if subject.is_empty() {
            "(no subject)".into()
        } else {
            subject
        },
        status: Status::New,
        queue: decision
            .queue
            .clone()
            .or_else(|| raw.queue.clone())
            .unwrap_or_else(|| engine.cfg.tickets.default_queue.clone()),
        priority,
        tags: decision.tags.iter().cloned().collect(),
        customer: customer.clone(),
        participants: Default::default(),
        messages: vec![env.message_id.clone()],
        created: now,
        updated: now,
        closed: None,
        response_due: Some(sla::first_response_due(&engine.cfg, priority, now)),
        links: linked.into_iter().collect(),
        rules_fired: decision.fired.clone(),
    };
    add_participants(engine, &mut ticket, &env);
    index_message(&mut commit, &env, ticket.id);
    record.ticket = Some(ticket.id);

    let no_ack_rule = decision
        .no_ack
        .then(|| decision.fired.last().cloned().unwrap_or_default());
    let reply_to = env.reply_address().cloned();
    let recent = match &reply_to {
        Some(p) => store.acks_to(&p.address)?,
        None => Vec::new(),
    };
    let policy = ack::Policy {
        enabled: engine.cfg.ack.enabled,
        max_per_hour: engine.cfg.ack.max_per_sender_per_hour,
        agents: &engine.cfg.agents,
        identity: &engine.identity,
    };
    let refusal = if is_agent {
        Some("the sender is an agent".to_owned())
    } else {
        ack::refusal(
            &policy,
            verdict.class,
            &verdict.reason,
            reply_to.as_ref(),
            no_ack_rule.as_deref(),
            &recent,
            now,
        )
    };
    let id = ticket.id;
    commit.messages.push(record);
    let mut acknowledged = false;
    let ack_note = match (refusal, reply_to) {
        (Some(why), _) => format!("no acknowledgement: {why}"),
        (None, None) => "no acknowledgement: no address to reply to".to_owned(),
        (None, Some(to)) => {
            let (address, name) = engine.cfg.sender_for(&ticket.queue);
            let sender = ack::Sender {
                identity: &engine.identity,
                address,
                name,
                template: &engine.cfg.ack.template,
                language: &engine.cfg.ack.language,
                tz: engine.tz,
            };
            let tag = engine.threading.tags.format(id);
            match ack::build(&sender, &engine.templates, &ticket, tag, &env, &to, now) {
                Ok((entry, sent)) => {
                    ticket.messages.push(sent.message_id.clone());
                    commit.index.push((sent.message_id.clone(), id));
                    commit.acked = Some((to.address.clone(), now));
                    commit.outbox.push(entry);
                    commit.messages.push(sent);
                    acknowledged = true;
                    "acknowledgement queued".to_owned()
                }
                Err(e) => {
                    tracing::error!(ticket = id, error = %e, "acknowledgement not built");
                    format!("no acknowledgement: {e}")
                }
            }
        }
    };
    commit.ticket = Some(ticket);
    store.commit(&commit)?;
    let reason = format!(
        "{why_new}; {} ({}); {ack_note}",
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
    Ok(out)
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

/// Adds a message to an existing ticket.
fn append(engine: &Engine, t: &mut Ticket, env: &Envelope, kind: MessageKind, now: DateTime<Utc>) {
    t.messages.push(env.message_id.clone());
    t.updated = now;
    if kind == MessageKind::Customer && matches!(t.status, Status::Closed | Status::Pending) {
        t.status = Status::Open;
        t.closed = None;
    }
    add_participants(engine, t, env);
}

/// To/Cc addresses that are neither ours, an agent's, nor the customer's.
fn add_participants(engine: &Engine, t: &mut Ticket, env: &Envelope) {
    for p in env.to.iter().chain(&env.cc) {
        let a = &p.address;
        if !engine.identity.is_own_address(a)
            && !engine.cfg.agents.contains(a)
            && *a != t.customer.address
        {
            t.participants.insert(a.clone());
        }
    }
}

/// The message's own id, and every id it references, now lead to `ticket`.
fn index_message(commit: &mut Commit, env: &Envelope, ticket: TicketId) {
    commit.index.push((env.message_id.clone(), ticket));
    for id in env.parent_ids() {
        commit.index.push((id.to_owned(), ticket));
    }
    if let Some(key) = thread::conversation_key(env) {
        commit.conversation = Some((key, ticket));
    }
}

#[cfg(test)]
mod tests;

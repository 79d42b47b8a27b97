//! The core's one decision: a prepared message and a read-only view of the
//! store in, what becomes of the message and everything it changes out.
//!
//! [`prepare`] needs no store at all (parse, classify, language, an agent's
//! forward read open), so it can run anywhere, ahead of time. [`decide`]
//! reads through a [`View`] and writes nothing: the [`Commit`] it returns
//! is the whole effect, applied by the caller in one atomic step. Live
//! processing, `ticketbox rules test` and its `--replay` call the same
//! function, so a dry run cannot disagree with what happens. It reads no
//! clock (`now` is given), no file and no environment, and logs nothing:
//! what it has to say is in the [`Decided`] it returns.

use super::{Engine, Outcome, OutcomeKind, apply, fingerprint, forwarded_customer_mail};
use crate::classify::{self, Class, Verdict};
use crate::intake::RawMail;
use crate::mail::parse::{self, Envelope};
use crate::model::{MessageKind, MessageRecord, Ruled, Status, TicketId};
use crate::rules::{Decision, History, RuleSet, RuleTrace};
use crate::store::{Commit, Quarantined, StoreError, View};
use crate::thread::{self, Placement};
use chrono::{DateTime, Utc};

/// A message read, before any store is consulted.
pub struct Prepared {
    /// The message, or why it cannot be read (it is quarantined).
    read: Result<Read, String>,
}

struct Read {
    env: Envelope,
    fingerprint: String,
    verdict: Verdict,
    /// The language of the author's own words.
    language: Option<String>,
    /// From an agent: the customer's mail inside their forward, with its
    /// language (it opens the customer's ticket when it joins none).
    forwarded: Option<(Envelope, Option<String>)>,
}

/// Reads `raw` as far as it can without the store: parsed within the
/// limits, fingerprinted, classified, its language detected.
pub fn prepare(engine: &Engine, raw: &RawMail) -> Prepared {
    let max = engine.cfg.intake.max_message_bytes;
    let read = if raw.bytes.len() > max {
        Err(format!(
            "message is {} bytes, over intake.max_message_bytes ({max})",
            raw.bytes.len(),
        ))
    } else {
        parse::parse_limited(&raw.bytes, &raw.hash, &engine.cfg.limits)
            .map_err(|e| e.to_string())
            .map(|env| {
                let is_agent = env
                    .author()
                    .is_some_and(|p| engine.cfg.agents.contains(&p.address));
                let forwarded = is_agent
                    .then(|| forwarded_customer_mail(engine, &env))
                    .flatten()
                    .map(|theirs| {
                        let language = crate::lang::detect(&theirs);
                        (theirs, language)
                    });
                Read {
                    fingerprint: fingerprint(&env),
                    verdict: classify::classify(&env, &engine.identity),
                    language: crate::lang::detect(&env),
                    forwarded,
                    env,
                }
            })
    };
    Prepared { read }
}

/// Where a new ticket's number comes from.
pub enum Numbers<'a> {
    /// Taken from the store's atomic counter (live: never given twice).
    Take(&'a dyn Fn() -> Result<TicketId, StoreError>),
    /// The number the store would give next (a dry run takes none).
    Peek,
    /// This number (a replay of a ticket that has one).
    Fixed(TicketId),
}

/// What [`decide`] is asked to decide with.
pub struct Ask<'a> {
    /// The rules in force (or the ones a dry run tries).
    pub rules: &'a RuleSet,
    /// An admin released the message from quarantine: spam rules and the
    /// agent authentication check no longer hold it back.
    pub released: bool,
    /// Trace every rule (for `rules test`); live processing does not.
    pub explain: bool,
    pub numbers: Numbers<'a>,
}

/// How the rules saw the message, and what they decided.
#[derive(Debug, Clone)]
pub struct Seen {
    pub language: Option<String>,
    /// It joined a ticket (else it opened one).
    pub reply: bool,
    pub agent: bool,
    /// Why it is automatic mail, if it is.
    pub automatic: Option<String>,
    pub decision: Decision,
    /// Every rule's verdict, when [`Ask::explain`] asked for it.
    pub trace: Vec<RuleTrace>,
    /// What the rules had made of the ticket before this message (a reply).
    pub before: Option<Ruled>,
}

/// One message decided.
#[derive(Debug)]
pub struct Decided {
    pub outcome: Outcome,
    /// Everything the message changes, to be applied in one atomic step.
    pub commit: Commit,
    /// How the rules saw it (none when it never reached them).
    pub seen: Option<Seen>,
    /// Mail that could not be built (a template that failed): the message
    /// is still decided; the caller logs these.
    pub problems: Vec<String>,
}

/// Decides what becomes of `raw`, read as `prepared`, against `view` at
/// `now`. Writes nothing; see the module doc.
pub fn decide<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    ask: &Ask<'_>,
    raw: &RawMail,
    prepared: Prepared,
    now: DateTime<Utc>,
) -> Result<Decided, StoreError> {
    let mut commit = Commit {
        raw_hash: raw.hash.clone(),
        source_key: raw.source_key.clone(),
        released: ask.released,
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
    // An end with what the commit holds so far.
    let end = |mut commit: Commit, out: Outcome, seen: Option<Seen>| Decided {
        problems: std::mem::take(&mut commit.problems),
        outcome: out,
        commit,
        seen,
    };

    if !ask.released && view.is_quarantined(&raw.hash)? {
        let out = outcome(
            OutcomeKind::Duplicate,
            None,
            None,
            "already quarantined".into(),
        );
        return Ok(end(commit, out, None));
    }
    let Read {
        mut env,
        fingerprint: fp,
        verdict,
        language,
        forwarded,
    } = match prepared.read {
        Ok(read) => read,
        Err(reason) => {
            commit.quarantine = Some(quarantined(raw, &reason, now, None));
            let out = outcome(OutcomeKind::Quarantined, None, None, reason);
            return Ok(end(commit, out, None));
        }
    };

    // Duplicate: same Message-ID with the same content (another delivery of
    // it, perhaps with other transport headers). A different message that
    // reuses a Message-ID is kept under a key of its own.
    if let Some(existing) = view.message(&env.message_id)? {
        if existing.raw_hash == raw.hash || existing.fingerprint == fp {
            let why = format!("already stored (Message-ID <{}>)", env.message_id);
            let out = outcome(
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                existing.ticket,
                why,
            );
            return Ok(end(commit, out, None));
        }
        env.message_id = format!("{}#{}", env.message_id, &raw.hash[..12]);
        if let Some(again) = view.message(&env.message_id)? {
            let why = "already stored (reused Message-ID, same content)".to_owned();
            let out = outcome(
                OutcomeKind::Duplicate,
                Some(&env.message_id),
                again.ticket,
                why,
            );
            return Ok(end(commit, out, None));
        }
    }

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
        && !ask.released
        && !authserv.is_empty()
        && let Err(why) = crate::agent::authenticated(&env.headers, authserv, &author_addr)
    {
        let reason = format!("from agent address {author_addr} but not authenticated: {why}");
        commit.quarantine = Some(quarantined(raw, &reason, now, None));
        let out = outcome(
            OutcomeKind::Quarantined,
            Some(&env.message_id),
            None,
            reason,
        );
        return Ok(end(commit, out, None));
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
        let out = outcome(OutcomeKind::Ignored, Some(&env.message_id), None, why);
        return Ok(end(commit, out, None));
    }

    let mut placement = thread::place(&env, verdict.class, &engine.threading, view, now)?;
    // The ticket it joins, read once for everything below.
    let mut joined = match &placement {
        Placement::Existing { ticket, .. } => view.ticket(*ticket)?,
        Placement::New { .. } => None,
    };
    // A satisfaction rating (a signed link's subject, or a number in reply
    // to a closing mail that asked): kept on its ticket, which stays as it
    // is, however long ago it closed.
    if verdict.class == Class::Normal && !is_agent && old_mail.is_none() {
        match super::rating::recognise(engine, view, &env, joined.as_ref(), &author_addr)? {
            Some(super::rating::Found::Rating {
                ticket,
                score,
                words,
                via,
            }) => {
                let (id, note) = super::rating::record(
                    engine,
                    &mut commit,
                    ticket,
                    record,
                    &env,
                    score,
                    words,
                    via,
                    now,
                );
                let out = outcome(OutcomeKind::Appended, Some(&env.message_id), Some(id), note);
                return Ok(end(commit, out, None));
            }
            Some(super::rating::Found::Refused(why)) => {
                record.reason = why.clone();
                commit.messages.push(record);
                let out = outcome(OutcomeKind::Ignored, Some(&env.message_id), None, why);
                return Ok(end(commit, out, None));
            }
            None => {}
        }
    }
    let mut existing = None;
    if let Placement::Existing { ticket, via } = &placement {
        match joined.take() {
            Some(t)
                if t.status == Status::Closed
                    && kind == MessageKind::Customer
                    && super::reopen_expired(engine, &t, now) =>
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
    let (env, language, is_agent, author, author_addr) = match (existing.is_none(), forwarded) {
        (true, Some((mut theirs, their_language))) if is_agent => {
            forwarded_by = Some(author_addr.clone());
            theirs.message_id.clone_from(&env.message_id);
            let customer = theirs.from.clone();
            let addr = customer
                .as_ref()
                .map(|p| p.address.clone())
                .unwrap_or_default();
            (theirs, their_language, false, customer, addr)
        }
        _ => (env, language, is_agent, author, author_addr),
    };
    if let Some(agent) = &forwarded_by {
        record.reason = format!("forwarded by agent {agent} for {author_addr}");
    }

    // Rules see the message with what threading found.
    let history = if ask.rules.needs_history() {
        super::history_of(view, &author_addr)?
    } else {
        History::default()
    };
    let mut facts = super::rule_facts(
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
    let (decision, trace) = if ask.explain {
        ask.rules.explain(&facts)
    } else {
        (ask.rules.evaluate(&facts), Vec::new())
    };
    let seen = Seen {
        language: language.clone(),
        reply: existing.is_some(),
        agent: is_agent,
        automatic: (verdict.class != Class::Normal).then(|| verdict.reason.clone()),
        decision: decision.clone(),
        trace,
        before: existing.as_ref().map(|(t, _)| {
            t.ruled
                .clone()
                .unwrap_or_else(|| super::ruled_at_open(t, None))
        }),
    };

    if let Some(rule) = &decision.spam
        && !ask.released
    {
        let reason = format!("spam (rule {rule:?})");
        commit.quarantine = Some(quarantined(raw, &reason, now, Some(rule)));
        let out = outcome(
            OutcomeKind::Quarantined,
            Some(&env.message_id),
            None,
            reason,
        );
        return Ok(end(commit, out, Some(seen)));
    }
    if let Some(rule) = &decision.drop
        && verdict.class != Class::Normal
    {
        let why = format!("dropped by rule {rule:?} ({})", verdict.reason);
        record.reason = why.clone();
        commit.messages.push(record);
        let out = outcome(OutcomeKind::Ignored, Some(&env.message_id), None, why);
        return Ok(end(commit, out, Some(seen)));
    }

    // Repeated mail about one thing (a rule's `correlate`): the open ticket
    // with the same key, if it moved within the window, instead of a new one.
    let mut correlated = None;
    if existing.is_none()
        && !is_agent
        && let Some((rule, c)) = &decision.correlate
        && let Some(key) = c.key(&env.subject, &env.text)
    {
        let index = format!("correlate:{rule}:{key}");
        let window = chrono::Duration::minutes(i64::from(c.window_minutes));
        if let Some(id) = view.ticket_for_message_id(&index)?
            && let Some(t) = view.ticket(id)?
            && t.status.is_open()
            && now - t.updated <= window
        {
            existing = Some((t, format!("rule {rule:?} correlates {key:?}")));
        } else {
            correlated = Some(index);
        }
    }
    if let Some((ticket, via)) = existing {
        let mut reason = format!("{} via {via} ({})", kind.as_str(), verdict.reason);
        // A bounce of this ticket's mail: who failed and why, and mail to
        // an address that will not take it is held from now on.
        if kind == MessageKind::Bounce
            && old_mail.is_none()
            && let Some(report) = env.delivery_report()
        {
            let mut book = view.bounces()?;
            let notes: Vec<String> = report
                .failed
                .iter()
                .map(|f| book.record(f, Some(ticket.id), engine.cfg.bounces.policy(), now))
                .collect();
            commit.bounces(&book);
            reason = format!("{reason}; {}", notes.join("; "));
        }
        record.reason = reason.clone();
        let id = ticket.id;
        let note = apply::append(
            engine,
            view,
            &mut commit,
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
        return Ok(end(commit, out, Some(seen)));
    }

    let Placement::New {
        linked,
        reason: why_new,
    } = placement
    else {
        unreachable!("existing placements returned above")
    };
    // "status" as the whole subject or first line: the list of the
    // customer's open tickets, and no ticket opened.
    if verdict.class == Class::Normal && !is_agent && old_mail.is_none() {
        let langs = super::status::asked(&env);
        if !langs.is_empty() {
            let note = super::status::answer(
                engine,
                view,
                &mut commit,
                &env,
                &langs,
                language.as_deref(),
                now,
            )?;
            record.reason = note.clone();
            commit.messages.push(record);
            let out = outcome(OutcomeKind::Ignored, Some(&env.message_id), None, note);
            return Ok(end(commit, out, Some(seen)));
        }
    }
    if verdict.class == Class::Bounce {
        let why = format!("bounce for no known ticket ({})", verdict.reason);
        record.reason = why.clone();
        commit.messages.push(record);
        let out = outcome(OutcomeKind::Ignored, Some(&env.message_id), None, why);
        return Ok(end(commit, out, Some(seen)));
    }

    let id = match ask.numbers {
        Numbers::Take(take) => take()?,
        Numbers::Peek => view.next_ticket_id()?,
        Numbers::Fixed(id) => id,
    };
    // The key now names this ticket (a later alert joins it).
    if let Some(index) = correlated {
        commit.placed.push((index, id));
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
    let (acknowledged, ack_note) = apply::create(engine, view, &mut commit, id, record, new, now)?;
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
    Ok(end(commit, out, Some(seen)))
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

//! Putting a decided message into the store: appended to its ticket (an
//! agent's first answer stops the SLA clock) or opening a new one, with the
//! acknowledgement in the customer's language and time zone, and honest
//! about timing.

use super::outgoing::{self, Audience};
use super::timing;
use super::{Engine, answer, ticket};
use crate::classify::{Class, Verdict};
use crate::mail::parse::Envelope;
use crate::model::{CustomerPrefs, MessageKind, MessageRecord, Party, Status, Ticket, TicketId};
use crate::outgoing::ack::{self, Personal, TicketRef};
use crate::outgoing::locale::Zone;
use crate::pacing;
use crate::rules::Decision;
use crate::store::{Commit, StoreError, View};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// How many of a customer's latest tickets are looked at for the
/// acknowledgement (other open ones, a recent follow-up).
const RECENT_TICKETS: usize = 20;

/// Adds a message to its ticket and commits.
#[allow(clippy::too_many_arguments)]
pub(super) fn append<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    commit: &mut Commit,
    mut t: Ticket,
    mut record: MessageRecord,
    env: &Envelope,
    raw: &[u8],
    decision: &Decision,
    history: bool,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    if history {
        // History joins its ticket as a record only: no reopening, no
        // commands run, no answer relayed, nobody told.
        t.messages.push(env.message_id.clone());
        t.updated = t.updated.max(now);
        ticket::index_message(commit, env, t.id);
        record.ticket = Some(t.id);
        commit.messages.push(record);
        commit.ticket = Some(t);
        return Ok("history: recorded, nothing sent".into());
    }
    // An agent's mail that is refused changes nothing: the ticket as it
    // was is kept, with only the record of the message and of the mail
    // that told the agent.
    let before = (record.kind == MessageKind::Agent).then(|| t.clone());
    let queue_before = t.queue.clone();
    ticket::append(engine, &mut t, env, record.kind, now);
    ticket::apply_rule_decision(engine, &mut t, decision);
    ticket::index_message(commit, env, t.id);
    record.ticket = Some(t.id);
    let mut note = String::new();
    match (record.kind, record.from.clone()) {
        (MessageKind::Agent, Some(agent)) => {
            let handled = answer::handle(engine, store, commit, &mut t, env, raw, &agent, now)?;
            note = handled.note;
            record.reason = format!("{}; {note}", record.reason);
            match before {
                Some(mut kept) if handled.refused => {
                    record.refused = true;
                    kept.messages = std::mem::take(&mut t.messages);
                    t = kept;
                }
                _ => outgoing::notify(engine, commit, &mut t, decision, env, now),
            }
        }
        // The ticket's agents hear of a bounce as of the customer's mail:
        // their answer may not have arrived.
        (MessageKind::Customer | MessageKind::Bounce, _) => {
            answer::notify_agents(engine, commit, &mut t, decision, env, raw, now);
        }
        _ => outgoing::notify(engine, commit, &mut t, decision, env, now),
    }
    if t.queue != queue_before {
        waits_elsewhere(store, commit, &t, &queue_before)?;
    }
    commit.messages.push(record);
    commit.ticket = Some(t);
    Ok(note)
}

/// A ticket that moved from queue `from` (a reply's rule, an agent's
/// `#queue`) while still waiting for its first answer waits in its new
/// queue now: the queues' backlogs (and so their estimates) follow it.
fn waits_elsewhere<V: View + ?Sized>(
    store: &V,
    commit: &mut Commit,
    t: &Ticket,
    from: &str,
) -> Result<(), StoreError> {
    if t.first_response_at.is_some() || !t.status.is_open() || t.status == Status::Filed {
        return Ok(());
    }
    let mut old = store.queue_stats(from)?;
    old.awaiting = (old.awaiting - 1).max(0);
    commit.queue_stats(from, &old);
    let mut new = store.queue_stats(&t.queue)?;
    new.awaiting += 1;
    commit.queue_stats(&t.queue, &new);
    Ok(())
}

/// What opening a ticket needs to know about the message.
pub(super) struct NewTicket<'a> {
    pub env: &'a Envelope,
    pub verdict: &'a Verdict,
    pub is_agent: bool,
    /// Why not to acknowledge, decided before (an agent's forward).
    pub no_ack: Option<String>,
    pub author: Option<Party>,
    pub mailbox_queue: Option<&'a str>,
    pub linked: Option<TicketId>,
    /// Detected (or stated) language of the message.
    pub language: Option<String>,
    pub decision: &'a Decision,
    /// The message as received (attachments for the agents' notification).
    pub raw: &'a [u8],
    /// When the message arrived, if it is history (it arrived long before
    /// it was read): the ticket is filed, and nobody is told.
    pub history: Option<DateTime<Utc>>,
}

/// Opens ticket `id` and acknowledges it, into `commit`. Returns whether
/// an acknowledgement was queued, and a note saying why (not).
pub(super) fn create<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    commit: &mut Commit,
    id: TicketId,
    mut record: MessageRecord,
    new: NewTicket<'_>,
    now: DateTime<Utc>,
) -> Result<(bool, String), StoreError> {
    let env = new.env;
    let customer = new
        .author
        .unwrap_or_else(|| Party::new(None, "unknown@invalid"));
    let prefs = store.customer_prefs(&customer.address)?;
    let mut t = ticket::open(
        engine,
        id,
        env,
        customer.clone(),
        new.mailbox_queue,
        new.linked,
        new.decision,
        now,
    );
    t.language = prefs.language.clone().or(new.language.clone());
    t.customer_offset = env.date_offset;
    if let Some(arrived) = new.history {
        // It opened when it arrived, not when we got round to it.
        t.created = arrived.min(now);
    }
    if new.history.is_some()
        || (new.verdict.class == Class::Bulk && engine.cfg.tickets.file_bulk_mail)
    {
        // Nobody is waiting for an answer to a newsletter.
        t.status = Status::Filed;
        t.status_since = Some(now);
        t.response_due = None;
        t.resolution_due = None;
    }

    // The customer's other tickets: open ones to mention, a recently closed
    // one this may follow up on.
    let mut personal = Personal::default();
    // Only the tickets worth mentioning are looked up, and only their
    // subjects: the latest open ones, and the most recently closed one if
    // it closed lately.
    let followup = Duration::days(i64::from(engine.cfg.ack.followup_days));
    let glance = store.customer_tickets(&customer.address)?;
    let reference = |id: TicketId| -> Result<Option<TicketRef>, StoreError> {
        Ok(store.ticket_subject(id)?.map(|subject| TicketRef {
            tag: engine.threading.tags.format(id),
            subject,
        }))
    };
    for g in glance
        .iter()
        .rev()
        .filter(|g| g.open)
        .take(RECENT_TICKETS)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        personal.other_open.extend(reference(g.id)?);
    }
    if let Some((g, at)) = glance
        .iter()
        .filter_map(|g| {
            g.closed
                .filter(|at| !g.open && now - *at <= followup)
                .map(|at| (g, at))
        })
        .max_by_key(|(_, at)| *at)
        && let Some(r) = reference(g.id)?
    {
        personal.recently_closed = Some((r, at));
    }
    if let Some((r, _)) = &personal.recently_closed
        && let Some(n) = engine.threading.tags.find(&r.tag)
        && !t.links.contains(&n)
    {
        t.links.push(n);
    }

    // Queue depth, for the estimate now and the statistics later.
    let automatic = new.verdict.class != Class::Normal;
    let mut stats = store.queue_stats(&t.queue)?;
    t.queue_ahead = u32::try_from(stats.awaiting.max(0)).unwrap_or(u32::MAX);
    let (promise, slower) = timing::promise(engine, &t, &stats, now);
    personal.promise = promise;
    personal.slower_than_sla = slower;
    if !automatic && !new.is_agent && new.history.is_none() {
        stats.awaiting += 1;
        commit.queue_stats(&t.queue, &stats);
    }

    ticket::index_message(commit, env, id);
    record.ticket = Some(id);
    commit.messages.push(record);

    let reply_to = env.reply_address().cloned();
    let policy = ack::Policy {
        enabled: engine.cfg.ack.enabled,
        agents: &engine.cfg.agents,
        identity: &engine.identity,
    };
    let decision = new.decision;
    let no_ack_rule = (decision.ack == Some(false)).then(|| decision.fired.join(", "));
    let mut paced = None;
    let refusal = if new.is_agent {
        Some("the sender is an agent".to_owned())
    } else if let Some(why) = &new.no_ack {
        Some(why.clone())
    } else {
        match ack::refusal(
            &policy,
            new.verdict.class,
            &new.verdict.reason,
            reply_to.as_ref(),
            no_ack_rule.as_deref(),
        ) {
            Some(why) => Some(why),
            None => match &reply_to {
                Some(to) => {
                    let own_words = env.written().with_signature();
                    let keys = pacing::keys(&engine.cfg.ack, to, &own_words);
                    let history = pacing::History::read(&keys, |k| store.acks_to(k))?;
                    let why = pacing::refusal(&engine.cfg.ack, &keys, &history, now);
                    paced = Some(keys);
                    why
                }
                None => None,
            },
        }
    };
    let (acknowledged, note) = match (refusal, reply_to) {
        (Some(why), _) => (false, format!("no acknowledgement: {why}")),
        (None, None) => (
            false,
            "no acknowledgement: no address to reply to".to_owned(),
        ),
        (None, Some(to)) => {
            let template = decision
                .template
                .as_deref()
                .unwrap_or(&engine.cfg.ack.template);
            let (language, tz) = reply_audience(
                engine,
                &prefs,
                new.language.as_deref(),
                t.customer_offset,
                &t.queue,
                template,
            );
            let audience = Audience {
                language: &language,
                tz,
            };
            let (queued, note) = outgoing::acknowledge(
                engine, commit, &mut t, decision, env, &to, &audience, &personal, now,
            );
            if queued && let Some(keys) = &paced {
                commit.acked.extend(keys.record(&engine.cfg.ack, now));
            }
            (queued, note)
        }
    };
    if new.history.is_some() {
        // History: the team has seen it, or it is past helping by mail.
    } else if automatic || new.is_agent {
        outgoing::notify(engine, commit, &mut t, decision, env, now);
    } else {
        answer::notify_agents(engine, commit, &mut t, decision, env, new.raw, now);
    }
    commit.ticket = Some(t);
    Ok((acknowledged, note))
}

/// The language ([`reply_language`]) and time zone of mail to a customer:
/// the zone they stated; else their clock's offset (`offset`, minutes east
/// of UTC, from their Date header), named; else the team's zone, named.
pub fn reply_audience(
    engine: &Engine,
    prefs: &CustomerPrefs,
    detected: Option<&str>,
    offset: Option<i32>,
    queue: &str,
    template: &str,
) -> (String, Zone) {
    let language = reply_language(engine, prefs, detected, queue, template);
    let zone = prefs
        .timezone
        .as_deref()
        .and_then(|z| z.parse::<Tz>().ok())
        .map(Zone::own)
        .or_else(|| offset.and_then(Zone::offset))
        .unwrap_or(Zone::assumed(engine.tz));
    (language, zone)
}

/// The language to answer in: the customer's stated preference, else the
/// message's language, else the queue's, else the configured default; and
/// only a language we have `template` in.
pub fn reply_language(
    engine: &Engine,
    prefs: &CustomerPrefs,
    detected: Option<&str>,
    queue: &str,
    template: &str,
) -> String {
    let templates = engine.templates();
    [
        prefs.language.as_deref(),
        detected,
        engine
            .cfg
            .queues
            .get(queue)
            .and_then(|q| q.language.as_deref()),
        Some(engine.cfg.ack.language.as_str()),
    ]
    .into_iter()
    .flatten()
    .find(|l| templates.has(template, l))
    .unwrap_or("en")
    .to_owned()
}

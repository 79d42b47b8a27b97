//! SLA escalation: a timer in the worker looks at open tickets and warns the
//! queue's escalation address when a target is near (`warn_at` of it has
//! passed) and again when it is breached; each notice is sent once, and a
//! policy may raise the priority on breach. Tickets waiting on the customer
//! are skipped while their clock is paused.

use crate::mail::parse::Envelope;
use crate::model::{Party, Priority, Ticket, TicketId};
use crate::outgoing::ack::{EscalationView, Personal, Purpose};
use crate::pipeline::{Engine, outgoing_mail};
use crate::rules::raise;
use crate::store::{Commit, Store, StoreError, View};
use chrono::{DateTime, Duration, Utc};

/// One stage of one target that is due for a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// `first_response` or `resolution`.
    pub target: &'static str,
    pub breached: bool,
    pub due: DateTime<Utc>,
}

impl Due {
    pub fn key(&self) -> String {
        format!(
            "{}:{}",
            self.target,
            if self.breached { "breach" } else { "near" }
        )
    }
}

/// The notices a ticket should get at `now` and has not had yet. Pure.
pub fn pending_notices(engine: &Engine, t: &Ticket, now: DateTime<Utc>) -> Vec<Due> {
    if !t.status.is_open() || t.pending_since.is_some() {
        return Vec::new();
    }
    let policy = engine.policy(t.sla_policy.as_deref());
    let paused = Duration::seconds(t.paused_secs);
    let mut out = Vec::new();
    let targets = [
        (
            "first_response",
            t.first_response_at.is_none(),
            t.response_due,
            policy.first_response_target(t.priority),
        ),
        (
            "resolution",
            true,
            t.resolution_due,
            policy.resolution_target(t.priority),
        ),
    ];
    for (target, open, due, amount) in targets {
        let Some(due) = due.filter(|_| open) else {
            continue;
        };
        let breach = Due {
            target,
            breached: true,
            due,
        };
        if now >= due {
            if !t.escalations.contains(&breach.key()) {
                out.push(breach);
            }
            continue;
        }
        let near = Due {
            target,
            breached: false,
            due,
        };
        if let Some(warn) = policy.warn_time(t.created, amount, paused)
            && now >= warn
            && !t.escalations.contains(&near.key())
        {
            out.push(near);
        }
    }
    out
}

/// The tickets among `tickets` (a snapshot, perhaps a moment old) that
/// have notices due at `now`. Pure.
pub fn candidates(engine: &Engine, tickets: &[Ticket], now: DateTime<Utc>) -> Vec<TicketId> {
    tickets
        .iter()
        .filter(|t| !pending_notices(engine, t, now).is_empty())
        .map(|t| t.id)
        .collect()
}

#[cfg(test)]
/// Sends the notices due at `now` and records them; returns a summary.
pub fn run<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let ids = candidates(engine, &store.open_tickets()?, now);
    run_for(engine, store, &ids, now)
}

/// Sends the notices due at `now` for the tickets `ids`, each read again
/// first: the snapshot they were picked from may be behind (an answer that
/// arrived since means no notice). Each ticket is decided, then applied in
/// its own commit.
pub fn run_for<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    ids: &[TicketId],
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let mut sent = 0;
    for id in ids {
        let Some(decided) = decide(engine, store, *id, now)? else {
            continue;
        };
        store.commit(&decided.commit)?;
        for d in &decided.dues {
            tracing::warn!(ticket = id, target = d.target, breached = d.breached, due = %d.due, "SLA escalation");
        }
        for problem in &decided.commit.problems {
            tracing::error!(ticket = id, "{problem}");
        }
        sent += decided.sent;
    }
    Ok(format!("{sent} escalation notices"))
}

/// One ticket's escalation, decided.
pub struct Escalated {
    /// The ticket with the notices recorded (and its priority raised on a
    /// breach, where the policy says so), and the notices queued.
    pub commit: Commit,
    /// What fell due.
    pub dues: Vec<Due>,
    /// Notices queued.
    pub sent: usize,
}

/// What escalating ticket `id` at `now` changes (none: nothing is due),
/// over a read-only view.
pub fn decide<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    id: TicketId,
    now: DateTime<Utc>,
) -> Result<Option<Escalated>, StoreError> {
    let Some(mut t) = view.ticket(id)? else {
        return Ok(None);
    };
    let dues = pending_notices(engine, &t, now);
    if dues.is_empty() {
        return Ok(None);
    }
    let mut sent = 0;
    let mut commit = Commit::default();
    let escalation_to = engine
        .cfg
        .queues
        .get(&t.queue)
        .and_then(|q| q.escalation.clone());
    let first = t
        .messages
        .first()
        .cloned()
        .unwrap_or_else(|| format!("ticket-{}", t.id));
    let cause = Envelope {
        message_id: first,
        subject: t.subject.clone(),
        from: Some(t.customer.clone()),
        ..Envelope::default()
    };
    for d in &dues {
        let policy = engine.policy(t.sla_policy.as_deref());
        if d.breached && policy.raise_on_breach && t.priority != Priority::Urgent {
            t.priority = raise(t.priority, 1);
        }
        if let Some(to) = &escalation_to {
            let personal = Personal {
                escalation: Some(EscalationView {
                    target: d.target.replace('_', " "),
                    due: crate::outgoing::locale::format_when(
                        &engine.cfg.support.team_language,
                        d.due,
                        crate::outgoing::locale::Zone::own(engine.tz),
                        now,
                    ),
                    breached: d.breached,
                }),
                ..Personal::default()
            };
            let to = Party::new(None, to);
            if let Err(e) = outgoing_mail(
                engine,
                &mut commit,
                &mut t,
                &cause,
                Purpose::Escalation,
                "escalation",
                &to,
                &personal,
                None,
                now,
            ) {
                commit
                    .problems
                    .push(format!("escalation notice not built: {e}"));
                continue;
            }
            sent += 1;
        }
        t.escalations.push(d.key());
    }
    commit.ticket = Some(t);
    Ok(Some(Escalated { commit, dues, sent }))
}

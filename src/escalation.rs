//! SLA escalation: a timer in the worker looks at open tickets and warns the
//! queue's escalation address when a target is near (`warn_at` of it has
//! passed) and again when it is breached; each notice is sent once, and a
//! policy may raise the priority on breach. Tickets waiting on the customer
//! are skipped while their clock is paused.

use crate::ack::{EscalationView, Personal, Purpose};
use crate::model::{Party, Priority, Ticket, TicketId};
use crate::parse::Envelope;
use crate::pipeline::{Engine, outgoing_mail};
use crate::rules::raise;
use crate::store::{Commit, Store, StoreError};
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
/// arrived since means no notice).
pub fn run_for<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    ids: &[TicketId],
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let mut sent = 0;
    for id in ids {
        let Some(mut t) = store.ticket(*id)? else {
            continue;
        };
        let dues = pending_notices(engine, &t, now);
        if dues.is_empty() {
            continue;
        }
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
        for d in dues {
            let policy = engine.policy(t.sla_policy.as_deref());
            if d.breached && policy.raise_on_breach && t.priority != Priority::Urgent {
                t.priority = raise(t.priority, 1);
            }
            tracing::warn!(ticket = t.id, target = d.target, breached = d.breached, due = %d.due, "SLA escalation");
            if let Some(to) = &escalation_to {
                let personal = Personal {
                    escalation: Some(EscalationView {
                        target: d.target.replace('_', " "),
                        due: crate::locale::format_when(
                            &engine.cfg.support.team_language,
                            d.due,
                            crate::locale::Zone::own(engine.tz),
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
                    tracing::error!(ticket = t.id, error = %e, "escalation notice not built");
                    continue;
                }
                sent += 1;
            }
            t.escalations.push(d.key());
        }
        commit.ticket = Some(t);
        store.commit(&commit)?;
    }
    Ok(format!("{sent} escalation notices"))
}

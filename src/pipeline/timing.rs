//! SLA bookkeeping on tickets: due times when a ticket opens or changes
//! priority, the first agent answer (met or not), the clock stopping while
//! a ticket waits on the customer, and the per-queue statistics behind the
//! expected response time we tell customers.

use super::Engine;
use crate::model::{Priority, Status, Ticket};
use crate::sla;
use chrono::{DateTime, Duration, Utc};

pub use crate::model::QueueStats;

/// Sets a ticket's due times from its policy, priority and pauses.
pub fn set_dues(engine: &Engine, t: &mut Ticket) {
    let policy = engine.policy(t.sla_policy.as_deref());
    let (first, resolution) = policy.dues(t.created, t.priority, Duration::seconds(t.paused_secs));
    t.response_due = first;
    t.resolution_due = resolution;
}

/// Records an agent's first answer: when, and whether it met the target.
/// Returns the business time it took, for the queue's statistics.
pub fn first_response(engine: &Engine, t: &mut Ticket, at: DateTime<Utc>) -> Option<Duration> {
    if t.first_response_at.is_some() {
        return None;
    }
    t.first_response_at = Some(at);
    t.first_response_met = t.response_due.map(|due| at <= due);
    let policy = engine.policy(t.sla_policy.as_deref());
    let took =
        sla::business_between(&policy.calendar, t.created, at) - Duration::seconds(t.paused_secs);
    Some(took.max(Duration::zero()))
}

/// Changes a ticket's status, stopping or restarting the SLA clock as the
/// policy says.
pub fn set_status(engine: &Engine, t: &mut Ticket, status: Status, now: DateTime<Utc>) {
    if t.status == status {
        return;
    }
    let policy = engine.policy(t.sla_policy.as_deref());
    if let Some(since) = t.pending_since.take() {
        // Leaving pending: the time waited does not count against us.
        let waited = sla::business_between(&policy.calendar, since, now);
        t.paused_secs += waited.num_seconds();
        set_dues(engine, t);
    }
    if t.status == Status::Filed {
        // Filed mail waited on no one: its clock starts when a person's
        // mail opens it, however long ago it arrived.
        let filed = sla::business_between(&policy.calendar, t.created, now);
        t.paused_secs = filed.num_seconds();
        set_dues(engine, t);
    }
    if status == Status::Pending && policy.pause_when_pending {
        t.pending_since = Some(now);
    }
    t.closed = (status == Status::Closed).then_some(now);
    t.status = status;
    t.status_since = Some(now);
    t.updated = now;
}

/// What we promise a customer: the SLA due time, or later when this
/// queue's recent first responses (and its backlog) say so. Returns the
/// promise and whether it is later than the SLA.
pub fn promise(
    engine: &Engine,
    t: &Ticket,
    stats: &QueueStats,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, bool) {
    let Some(sla_due) = t.response_due else {
        return (None, false);
    };
    let est = &engine.cfg.sla.estimate;
    if !est.enabled {
        return (Some(sla_due), false);
    }
    let policy = engine.policy(t.sla_policy.as_deref());
    let samples: Vec<sla::Sample> = stats
        .samples
        .iter()
        .filter(|(p, _, _)| *p == t.priority)
        .map(|(_, secs, ahead)| sla::Sample {
            took: Duration::seconds(*secs),
            ahead: *ahead,
        })
        .collect();
    let ahead = u32::try_from(stats.awaiting.max(0)).unwrap_or(u32::MAX);
    let at = sla::estimate(
        &policy.calendar,
        now,
        sla_due,
        &samples,
        est.percentile,
        est.min_samples,
        ahead,
    );
    (Some(at), at > sla_due)
}

/// Adds a first-response sample to a queue's statistics, keeping the last
/// `window`; the answered ticket no longer waits.
pub fn record_sample(
    stats: &mut QueueStats,
    priority: Priority,
    took: Duration,
    ahead: u32,
    window: usize,
) {
    stats.samples.push((priority, took.num_seconds(), ahead));
    let excess = stats.samples.len().saturating_sub(window.max(1));
    stats.samples.drain(..excess);
    stats.awaiting = (stats.awaiting - 1).max(0);
}

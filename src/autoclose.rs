//! Closing tickets that wait on the customer for too long. A ticket an
//! agent set to pending, with no word from the customer for
//! `tickets.close_pending_after_days`, is closed by the worker's timer and
//! the customer is told, in their language, that a reply opens it again.

use crate::mail::parse::Envelope;
use crate::model::{Status, Ticket, TicketId};
use crate::pipeline::{Engine, timing};
use crate::store::{Commit, Store, StoreError, View};
use chrono::{DateTime, Duration, Utc};

/// Whether `t` has waited on its customer long enough to close. Pure.
pub fn due(t: &Ticket, days: u32, now: DateTime<Utc>) -> bool {
    if days == 0 || t.status != Status::Pending {
        return false;
    }
    let since = t.status_since.unwrap_or(t.updated);
    now - since >= Duration::days(i64::from(days))
}

/// The tickets among `tickets` (a snapshot) due to close at `now`. Pure.
pub fn candidates(tickets: &[Ticket], days: u32, now: DateTime<Utc>) -> Vec<TicketId> {
    tickets
        .iter()
        .filter(|t| due(t, days, now))
        .map(|t| t.id)
        .collect()
}

#[cfg(test)]
/// Closes the tickets that are due and queues the customer's notice;
/// returns a summary.
pub fn run<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let days = engine.cfg.tickets.close_pending_after_days;
    if days == 0 {
        return Ok("auto-close off".into());
    }
    let ids = candidates(&store.open_tickets()?, days, now);
    run_for(engine, store, &ids, now)
}

/// Closes the tickets `ids` that are still due when read again (the
/// customer may have answered since the snapshot): each one decided, then
/// applied in its own commit.
pub fn run_for<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    ids: &[TicketId],
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let mut closed = 0;
    for id in ids {
        let Some(commit) = decide(engine, store, *id, now)? else {
            continue;
        };
        store.commit(&commit)?;
        for problem in &commit.problems {
            tracing::error!(ticket = id, "{problem}");
        }
        tracing::info!(
            ticket = id,
            days = engine.cfg.tickets.close_pending_after_days,
            "closed after waiting on the customer"
        );
        closed += 1;
    }
    Ok(format!("{closed} pending tickets closed"))
}

/// What closing ticket `id` at `now` changes (none: it is not due), over a
/// read-only view: the ticket closed and the customer's notice queued.
pub fn decide<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    id: TicketId,
    now: DateTime<Utc>,
) -> Result<Option<Commit>, StoreError> {
    let days = engine.cfg.tickets.close_pending_after_days;
    let Some(mut t) = view.ticket(id)? else {
        return Ok(None);
    };
    if !due(&t, days, now) {
        return Ok(None);
    }
    let since = t.status_since.unwrap_or(t.updated);
    let mut commit = Commit::default();
    // One notice per closing: the time it started waiting is part of
    // what the notice is about (its Message-ID derives from it).
    let cause = Envelope {
        message_id: format!(
            "{}#pending-{}",
            t.messages.first().map_or("ticket", String::as_str),
            since.timestamp()
        ),
        subject: t.subject.clone(),
        from: Some(t.customer.clone()),
        ..Envelope::default()
    };
    timing::set_status(engine, &mut t, Status::Closed, now);
    crate::pipeline::closing_mail(engine, view, &mut commit, &mut t, &cause, "timer", now)?;
    commit.ticket = Some(t);
    Ok(Some(commit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Party, Priority};
    use chrono::TimeZone;

    #[test]
    fn only_long_pending_tickets_are_due() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let mut t = Ticket::new(
            1,
            "s".into(),
            "general".into(),
            Priority::Normal,
            Party::new(None, "c@x"),
            t0,
        );
        assert!(!due(&t, 7, t0 + Duration::days(30)), "new, not pending");
        t.status = Status::Pending;
        t.status_since = Some(t0 + Duration::days(1));
        assert!(!due(&t, 7, t0 + Duration::days(7)));
        assert!(due(&t, 7, t0 + Duration::days(8)));
        assert!(!due(&t, 0, t0 + Duration::days(80)), "0 turns it off");
        // Older tickets without status_since count from their last update.
        t.status_since = None;
        assert!(due(&t, 7, t0 + Duration::days(7)));
    }
}

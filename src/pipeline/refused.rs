//! After delivery: the agent whose answer the mail server partly refused
//! is told which recipients it did not reach, and an address the server
//! refused as unknown or disabled goes in the bounce book as a bounce
//! would. The outbox sender calls this with the delivery's result; it
//! decides and commits.

use super::Engine;
use super::answer::tell_agent;
use crate::mail::parse::Envelope;
use crate::model::Party;
use crate::outgoing::ack::{self, Personal, Purpose};
use crate::store::{Commit, Store, StoreError};
use chrono::{DateTime, Utc};

/// Tells the agent whose answer `sent` is (its `notify` address) which
/// recipients the mail server refused, and who got it; one commit.
/// Returns whether a notice was queued (none when the ticket is gone or
/// this refusal was told already).
pub fn tell_refused<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    sent: &crate::outbox::OutboxEntry,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (Some(agent), Some(mut t)) = (sent.notify.as_deref(), store.ticket(sent.ticket)?) else {
        return Ok(false);
    };
    // The cause names the refusals so far: told once per refusal, and
    // again if more come in a later round.
    let cause = Envelope {
        message_id: format!("{}#refused-{}", sent.id, sent.refused.len()),
        subject: sent.subject.clone(),
        ..Envelope::default()
    };
    let agent = Party::new(None, agent);
    let id = ack::message_id(
        Purpose::Notice,
        t.id,
        &cause.message_id,
        &agent.address,
        &engine.identity.message_id_domain,
    );
    if store.outbox_entry(&id)?.is_some() {
        return Ok(false);
    }
    let personal = Personal {
        notice: Some(ack::NoticeView {
            delivered: sent.delivered.clone(),
            refused: sent
                .refused
                .iter()
                .map(|r| ack::RefusedView {
                    address: r.address.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
            left_out: 0,
            limit: engine.cfg.limits.max_answer_recipients,
        }),
        ..Personal::default()
    };
    let mut commit = Commit::default();
    let why = (Purpose::Notice, "agent-notice");
    tell_agent(
        engine,
        &mut commit,
        &mut t,
        &cause,
        &agent,
        why,
        &personal,
        now,
    );
    for problem in &commit.problems {
        tracing::error!(ticket = t.id, "{problem}");
    }
    if commit.outbox.is_empty() {
        return Ok(false);
    }
    commit.ticket = Some(t);
    store.commit(&commit)?;
    Ok(true)
}

/// Puts the recipients a mail server refused for good because of the
/// address itself (5.1.x: unknown user or host; 5.2.x: a disabled or full
/// mailbox) in the bounce book, as a bounce saying so would. Refusals for
/// other reasons (5.7.x relaying denied, a policy) are left out: a
/// misconfigured smarthost refuses every address, and must not silence
/// every customer. Returns how many addresses were recorded.
pub fn book_refused<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    sent: &crate::outbox::OutboxEntry,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut book = store.bounces()?;
    let mut n = 0;
    for r in &sent.refused {
        let Some(status) = crate::mail::dsn::status_of_reply(&r.reason) else {
            continue;
        };
        if !(status.starts_with("5.1.") || status.starts_with("5.2.")) {
            continue;
        }
        if book.suppressed(&r.address).is_some() {
            continue;
        }
        let failed = crate::mail::dsn::Failed {
            address: r.address.clone(),
            status,
            action: "failed".into(),
            diagnostic: crate::text::one_line(&r.reason, 500),
        };
        let note = book.record(&failed, Some(sent.ticket), engine.cfg.bounces.policy(), now);
        tracing::warn!(ticket = sent.ticket, "{note}");
        n += 1;
    }
    if n > 0 {
        let mut commit = Commit::default();
        commit.bounces(&book);
        store.commit(&commit)?;
    }
    Ok(n)
}

/// What follows a delivery that refused recipients: their addresses
/// booked ([`book_refused`]) and the agent told ([`tell_refused`]).
/// Returns (whether the agent was told, how many addresses were booked).
pub fn settle_refused<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    sent: &crate::outbox::OutboxEntry,
    now: DateTime<Utc>,
) -> Result<(bool, usize), StoreError> {
    let booked = book_refused(engine, store, sent, now)?;
    let told = tell_refused(engine, store, sent, now)?;
    Ok((told, booked))
}

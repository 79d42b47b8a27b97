//! Mail a message causes: the customer's acknowledgement and notifications
//! to the addresses rules named. Each goes into the same commit as the
//! decision, and into the ticket's history.

use super::Engine;
use crate::ack::{self, Purpose};
use crate::model::{Party, Ticket};
use crate::parse::Envelope;
use crate::rules::Decision;
use crate::store::Commit;
use chrono::{DateTime, Utc};

/// Queues the acknowledgement; returns whether it was queued and a note.
pub(super) fn acknowledge(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    decision: &Decision,
    env: &Envelope,
    to: &Party,
    now: DateTime<Utc>,
) -> (bool, String) {
    let template = decision
        .template
        .as_deref()
        .unwrap_or(&engine.cfg.ack.template);
    match queue(
        engine,
        commit,
        ticket,
        Purpose::Acknowledgement,
        template,
        env,
        to,
        now,
    ) {
        Ok(()) => {
            commit.acked = Some((to.address.clone(), now));
            (true, "acknowledgement queued".to_owned())
        }
        Err(e) => {
            tracing::error!(ticket = ticket.id, error = %e, "acknowledgement not built");
            (false, format!("no acknowledgement: {e}"))
        }
    }
}

/// Queues a notification to every address the rules named.
pub(super) fn notify(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    decision: &Decision,
    env: &Envelope,
    now: DateTime<Utc>,
) {
    for address in &decision.notify {
        let to = Party::new(None, address);
        if let Err(e) = queue(
            engine,
            commit,
            ticket,
            Purpose::Notification,
            "notify",
            env,
            &to,
            now,
        ) {
            tracing::error!(ticket = ticket.id, to = %address, error = %e, "notification not built");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn queue(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    purpose: Purpose,
    template: &str,
    env: &Envelope,
    to: &Party,
    now: DateTime<Utc>,
) -> Result<(), ack::AckError> {
    let (address, name) = engine.cfg.sender_for(&ticket.queue);
    let sender = ack::Sender {
        identity: &engine.identity,
        address,
        name,
        template,
        language: &engine.cfg.ack.language,
        tz: engine.tz,
    };
    let tag = engine.threading.tags.format(ticket.id);
    let (entry, sent) = ack::build(
        &sender,
        &engine.templates,
        purpose,
        ticket,
        tag,
        env,
        to,
        now,
    )?;
    ticket.messages.push(sent.message_id.clone());
    commit.index.push((sent.message_id.clone(), ticket.id));
    commit.outbox.push(entry);
    commit.messages.push(sent);
    Ok(())
}

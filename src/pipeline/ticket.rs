//! Opening a ticket and adding a message to one, with the rules' decision
//! applied.

use super::Engine;
use crate::model::{MessageKind, Party, Status, Ticket, TicketId};
use crate::parse::Envelope;
use crate::rules::Decision;
use crate::sla;
use crate::store::Commit;
use crate::thread;
use chrono::{DateTime, Utc};

/// A new ticket for `env`, routed and prioritised by `decision`.
#[allow(clippy::too_many_arguments)]
pub(super) fn open(
    engine: &Engine,
    id: TicketId,
    env: &Envelope,
    customer: Party,
    mailbox_queue: Option<&str>,
    linked: Option<TicketId>,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Ticket {
    let cfg = &engine.cfg;
    let priority = decision.final_priority(cfg.tickets.default_priority);
    let subject = engine
        .threading
        .tags
        .strip(&env.subject)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let policy = decision.sla.clone();
    let mut t = Ticket {
        id,
        subject: if subject.is_empty() {
            "(no subject)".into()
        } else {
            subject
        },
        status: Status::New,
        queue: decision
            .queue
            .clone()
            .or_else(|| mailbox_queue.map(str::to_owned))
            .unwrap_or_else(|| cfg.tickets.default_queue.clone()),
        priority,
        tags: decision.add_tags.iter().cloned().collect(),
        customer,
        participants: Default::default(),
        messages: vec![env.message_id.clone()],
        created: now,
        updated: now,
        closed: None,
        response_due: Some(sla::first_response_due(
            cfg,
            policy.as_deref().unwrap_or("default"),
            priority,
            now,
        )),
        links: linked.into_iter().collect(),
        rules_fired: decision.fired.clone(),
        assignee: decision.assign.clone(),
        sla_policy: policy,
        language: None,
        fields: decision.fields.clone(),
    };
    add_participants(engine, &mut t, env);
    t
}

/// Adds a message to an existing ticket: a customer's reply reopens it.
pub(super) fn append(
    engine: &Engine,
    t: &mut Ticket,
    env: &Envelope,
    kind: MessageKind,
    now: DateTime<Utc>,
) {
    t.messages.push(env.message_id.clone());
    t.updated = now;
    if kind == MessageKind::Customer && matches!(t.status, Status::Closed | Status::Pending) {
        t.status = Status::Open;
        t.closed = None;
    }
    add_participants(engine, t, env);
}

/// What rules may change on an existing ticket when a message arrives.
pub(super) fn apply_rules(t: &mut Ticket, d: &Decision) {
    if let Some(q) = &d.queue {
        t.queue.clone_from(q);
    }
    t.priority = d.final_priority(t.priority);
    for tag in &d.add_tags {
        t.tags.insert(tag.clone());
    }
    for tag in &d.remove_tags {
        t.tags.remove(tag);
    }
    if d.assign.is_some() {
        t.assignee.clone_from(&d.assign);
    }
    for (k, v) in &d.fields {
        t.fields.insert(k.clone(), v.clone());
    }
    for r in &d.fired {
        if !t.rules_fired.contains(r) {
            t.rules_fired.push(r.clone());
        }
    }
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
pub(super) fn index_message(commit: &mut Commit, env: &Envelope, ticket: TicketId) {
    commit.index.push((env.message_id.clone(), ticket));
    for id in env.parent_ids() {
        commit.index.push((id.to_owned(), ticket));
    }
    if let Some(key) = thread::conversation_key(env) {
        commit.conversation = Some((key, ticket));
    }
}

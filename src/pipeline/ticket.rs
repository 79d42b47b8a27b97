//! Opening a ticket and adding a message to one, with the rules' decision
//! applied.

use super::{Engine, timing};
use crate::mail::parse::Envelope;
use crate::model::{MessageKind, Party, Ruled, Status, Ticket, TicketId};
use crate::rules::Decision;
use crate::store::Commit;
use crate::thread;
use chrono::{DateTime, Utc};

/// A new ticket for `env`, routed and prioritised by `decision`, with its
/// SLA due times.
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
    let subject = engine
        .threading
        .tags
        .strip(&env.subject)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let queue = decision
        .queue
        .clone()
        .or_else(|| mailbox_queue.map(str::to_owned))
        .unwrap_or_else(|| cfg.tickets.default_queue.clone());
    let priority = decision.final_priority(cfg.tickets.default_priority);
    let subject = if subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        subject
    };
    let mut t = Ticket::new(id, subject, queue, priority, customer, now);
    t.messages.push(env.message_id.clone());
    t.tags = decision.add_tags.iter().cloned().collect();
    t.links = linked.into_iter().collect();
    t.rules_fired.clone_from(&decision.fired);
    t.assignee.clone_from(&decision.assign);
    t.fields.clone_from(&decision.fields);
    t.sla_policy = Some(
        decision
            .sla
            .clone()
            .unwrap_or_else(|| engine.queue_policy(&t.queue).to_owned()),
    );
    timing::set_dues(engine, &mut t);
    add_participants(engine, &mut t, env);
    t.ruled = Some(ruled_at_open(&t, mailbox_queue));
    t
}

/// What the rules made of a ticket just opened (everything set so far is
/// theirs or the defaults').
pub fn ruled_at_open(t: &Ticket, mailbox_queue: Option<&str>) -> Ruled {
    Ruled {
        mailbox_queue: mailbox_queue.map(str::to_owned),
        queue: t.queue.clone(),
        priority: t.priority,
        sla: t.sla_policy.clone(),
        assignee: t.assignee.clone(),
        tags: t.tags.clone(),
    }
}

/// The rules' record after one more message's decision: the same steps
/// `apply_rules` takes on the ticket, on what the rules alone decided.
pub fn ruled_after(r: &mut Ruled, d: &Decision) {
    if let Some(q) = &d.queue {
        r.queue.clone_from(q);
    }
    r.priority = d.final_priority(r.priority);
    if d.sla.is_some() {
        r.sla.clone_from(&d.sla);
    }
    if d.assign.is_some() {
        r.assignee.clone_from(&d.assign);
    }
    for tag in &d.add_tags {
        r.tags.insert(tag.clone());
    }
    for tag in &d.remove_tags {
        r.tags.remove(tag);
    }
}

/// A message's rule decision on its ticket, kept in the rules' record too.
pub(super) fn apply_rule_decision(engine: &Engine, t: &mut Ticket, d: &Decision) {
    let mut ruled = t.ruled.take().unwrap_or_else(|| ruled_at_open(t, None));
    ruled_after(&mut ruled, d);
    apply_rules(engine, t, d);
    t.ruled = Some(ruled);
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
    // A customer's reply reopens the ticket and restarts a paused clock.
    if kind == MessageKind::Customer
        && matches!(t.status, Status::Closed | Status::Pending | Status::Filed)
    {
        if t.status == Status::Closed {
            t.reopened += 1;
        }
        timing::set_status(engine, t, Status::Open, now);
    }
    // The customer's latest clock is the best guess at where they are now.
    if kind == MessageKind::Customer
        && env.date_offset.is_some()
        && env
            .author()
            .is_some_and(|a| a.address == t.customer.address)
    {
        t.customer_offset = env.date_offset;
    }
    add_participants(engine, t, env);
}

/// What a decision (a message's rules, an agent's commands) changes on an
/// existing ticket; a new priority or policy moves the due times.
pub(super) fn apply_rules(engine: &Engine, t: &mut Ticket, d: &Decision) {
    if let Some(q) = &d.queue {
        t.queue.clone_from(q);
    }
    let (priority, policy) = (t.priority, t.sla_policy.clone());
    t.priority = d.final_priority(t.priority);
    if d.sla.is_some() {
        t.sla_policy.clone_from(&d.sla);
    }
    if t.priority != priority || t.sla_policy != policy {
        timing::set_dues(engine, t);
    }
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

/// To/Cc addresses that are neither ours, an agent's, nor the customer's,
/// up to `limits.max_participants` (a mail copied to twenty thousand
/// addresses must not make every answer go to all of them).
fn add_participants(engine: &Engine, t: &mut Ticket, env: &Envelope) {
    let max = engine.cfg.limits.max_participants;
    for p in env.to.iter().chain(&env.cc) {
        if t.participants.len() >= max {
            break;
        }
        let a = &p.address;
        if !engine.identity.is_own_address(a)
            && !engine.cfg.agents.contains(a)
            && *a != t.customer.address
        {
            t.participants.insert(a.clone());
        }
    }
}

/// The message's own id now leads to `ticket` (whatever a reference made
/// it lead to before), and every id it references does unless already
/// known.
pub(super) fn index_message(commit: &mut Commit, env: &Envelope, ticket: TicketId) {
    commit.placed.push((env.message_id.clone(), ticket));
    for id in env.parent_ids() {
        commit.index.push((id.to_owned(), ticket));
    }
    if let Some(key) = thread::conversation_key(env) {
        commit.conversation = Some((key, ticket));
    }
}

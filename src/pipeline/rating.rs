//! Satisfaction ratings in the flow: the closing mail asks (when the
//! ticket's queue does), and a customer's rating is recorded on its ticket.
//!
//! A rating changes nothing about the ticket's handling: it never reopens
//! it, gets no acknowledgement and moves no SLA clock. It is kept once per
//! ticket (a later one replaces it), with the customer's words, and a low
//! one is passed on to the people who can do something about it. How a
//! mail reads as a rating, and how links are signed, is [`crate::rating`].

use super::outgoing;
use super::{Engine, ticket};
use crate::mail::parse::Envelope;
use crate::model::{MessageRecord, RatedVia, Rating, Status, Ticket, TicketId};
use crate::outgoing::ack::{Personal, Purpose, RatedView};
use crate::rating::{self, Ask};
use crate::store::{Commit, StoreError, View};
use chrono::{DateTime, Utc};

/// The links asking for a rating of `t`, in `language`, when its queue
/// asks; `t` remembers it asked (a number in reply then counts).
pub fn ask(engine: &Engine, t: &mut Ticket, language: &str, now: DateTime<Utc>) -> Option<Ask> {
    if !engine.cfg.csat_for(&t.queue) {
        return None;
    }
    let (address, _) = engine.cfg.sender_for(&t.queue);
    let word = crate::i18n::get(language).rating_word;
    let tag = engine.threading.tags.format(t.id);
    t.rating_asked = Some(now);
    Some(rating::ask(&engine.rating_key, t.id, &tag, address, word))
}

/// Tells the customer of `t`, which an agent has just closed, with a mail
/// that asks for a rating, unless its queue asks none (an agent's close
/// was always silent without ratings) or a mail of this commit asked
/// already (the answer the agent closed it with).
pub(super) fn closed_by_agent<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    commit: &mut Commit,
    t: &mut Ticket,
    cause: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !engine.cfg.csat_for(&t.queue) || t.rating_asked == Some(now) {
        return Ok(());
    }
    closing_mail(engine, view, commit, t, cause, "agent", now)
}

/// Tells the customer of `t` that it is closed (`by` an agent or the
/// timer), in their language, asking for a rating when its queue does.
pub fn closing_mail<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    commit: &mut Commit,
    t: &mut Ticket,
    cause: &Envelope,
    by: &'static str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (language, tz) = super::customer_audience(engine, view, t, "closed")?;
    let personal = Personal {
        rating: ask(engine, t, &language, now),
        closing: Some(by),
        ..Personal::default()
    };
    let to = t.customer.clone();
    if let Err(e) = super::outgoing_mail(
        engine,
        commit,
        t,
        cause,
        Purpose::Closed,
        "closed",
        &to,
        &personal,
        Some((&language, tz)),
        now,
    ) {
        commit.problems.push(format!("closing mail not built: {e}"));
    }
    Ok(())
}

/// What a customer's mail is, as a rating.
pub(super) enum Found {
    /// A rating of this ticket.
    Rating {
        ticket: Box<Ticket>,
        score: u8,
        words: String,
        via: RatedVia,
    },
    /// A rating link whose signature does not hold (a subject edited to
    /// rate another ticket, or made up): recorded, never counted.
    Refused(String),
}

/// Reads `env` (a person's mail, threaded to the ticket `joined`, if any)
/// as a rating: a signed link's subject, or a number in reply to a closed
/// ticket whose closing mail asked, from its customer or someone they
/// copied.
pub(super) fn recognise<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    env: &Envelope,
    joined: Option<&Ticket>,
    author: &str,
) -> Result<Option<Found>, StoreError> {
    if let Some(token) = rating::find_token(&env.subject) {
        let tag = engine.threading.tags.format(token.ticket);
        if !engine.rating_key.verify(&token) {
            return Ok(Some(Found::Refused(format!(
                "rating refused: the link's signature does not match {tag} and score {} \
                 (altered or made up), nothing recorded",
                token.score
            ))));
        }
        let Some(ticket) = view.ticket(token.ticket)? else {
            return Ok(Some(Found::Refused(format!(
                "rating refused: {tag} does not exist"
            ))));
        };
        // Whatever they wrote in the mail the link opened.
        let words = env.written().own.trim().to_owned();
        return Ok(Some(Found::Rating {
            ticket: Box::new(ticket),
            score: token.score,
            words,
            via: RatedVia::Link,
        }));
    }
    let Some(t) = joined else {
        return Ok(None);
    };
    let asked_since_closing = t
        .rating_asked
        .zip(t.closed)
        .is_some_and(|(asked, closed)| asked >= closed);
    let theirs = t.customer.address == author || t.participants.contains(author);
    if t.status != Status::Closed || !asked_since_closing || !theirs {
        return Ok(None);
    }
    let own = env.written().own.clone();
    let words = crate::i18n::ALL.iter().map(|l| &l.rating);
    Ok(
        rating::read(&own, words).map(|(score, words)| Found::Rating {
            ticket: Box::new(t.clone()),
            score,
            words,
            via: RatedVia::Reply,
        }),
    )
}

/// Records a rating on its ticket with the message that gave it, and
/// tells the team when it is low; returns what happened.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    engine: &Engine,
    commit: &mut Commit,
    t: Box<Ticket>,
    mut message: MessageRecord,
    env: &Envelope,
    score: u8,
    words: String,
    via: RatedVia,
    now: DateTime<Utc>,
) -> (TicketId, String) {
    let mut t = *t;
    let before = t.rating.as_ref().map(|r| r.score);
    let by = message
        .from
        .as_ref()
        .map(|p| p.address.clone())
        .unwrap_or_default();
    t.rating = Some(Rating {
        score,
        words: words.clone(),
        at: now,
        by,
        message_id: env.message_id.clone(),
        via,
    });
    // In the ticket's history, where agents read it; the ticket itself
    // stays as it is (closed stays closed, no clock moves).
    t.messages.push(env.message_id.clone());
    ticket::index_message(commit, env, t.id);
    let mut note = match before {
        Some(b) => format!("rating {score} of 5 recorded (replaces {b}), no acknowledgement"),
        None => format!("rating {score} of 5 recorded, no acknowledgement"),
    };
    let low = engine.cfg.csat.notify_at_or_below;
    if score <= low {
        let to = low_rating_readers(engine, &t);
        if to.is_empty() {
            note.push_str("; low, but nobody to tell (no assignee, notify, escalation or agents)");
        } else {
            let personal = Personal {
                rated: Some(RatedView {
                    score,
                    words,
                    before,
                    closed_by: t.assignee.clone(),
                }),
                ..Personal::default()
            };
            outgoing::notify_each(engine, commit, &mut t, "rating", &to, env, &personal, now);
            note.push_str(&format!("; low, told {}", to.join(", ")));
        }
    }
    message.ticket = Some(t.id);
    message.reason = note.clone();
    let id = t.id;
    commit.messages.push(message);
    commit.ticket = Some(t);
    (id, note)
}

/// Who hears of a low rating: the ticket's assignee and its queue's
/// `notify` list; else the queue's escalation address; else every agent.
fn low_rating_readers(engine: &Engine, t: &Ticket) -> Vec<String> {
    let queue = engine.cfg.queues.get(&t.queue);
    let mut to: Vec<String> = t.assignee.iter().cloned().collect();
    to.extend(queue.map(|q| q.notify.clone()).unwrap_or_default());
    if to.is_empty() {
        to.extend(queue.and_then(|q| q.escalation.clone()));
    }
    if to.is_empty() {
        to.clone_from(&engine.cfg.agents);
    }
    let mut seen = std::collections::BTreeSet::new();
    to.retain(|a| seen.insert(a.clone()));
    to
}

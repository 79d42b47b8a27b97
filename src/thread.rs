//! Which ticket does a message belong to?
//!
//! In order of trust:
//! 1. the ticket tag in the subject — but only for someone who belongs in
//!    that ticket (its customer, a participant, an agent) or whose message
//!    also links to it by header; a stranger quoting a tag gets a new ticket
//!    that links the tagged one, so nobody can write into someone else's
//!    conversation just by knowing its number;
//! 2. In-Reply-To / References against every Message-ID a ticket has seen,
//!    incoming, outgoing and merely referenced (so two replies to a message we
//!    never got still meet); for bounces, the Message-ID of the bounced mail;
//!    then the message's own Message-ID, when a ticket's mail referenced it
//!    before it came (replies that overtook it);
//! 3. Outlook's `Thread-Index` conversation id, for clients that drop
//!    References (known senders only);
//! 4. a conservative subject fallback: same sender, a reply prefix, the same
//!    normalized subject, ticket open and recent, subject not generic.
//!
//! Otherwise the message opens a new ticket. Pure: reads go through
//! [`ThreadView`], so tests use a map and production uses the store.

use crate::classify::Class;
use crate::mail::parse::Envelope;
use crate::model::{Ticket, TicketId};
use crate::subject::{self, TagFormat};
use chrono::{DateTime, Duration, Utc};

/// The lookups threading needs. The store implements it; so can a test.
pub trait ThreadView {
    type Error;
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, Self::Error>;
    /// The ticket a Message-ID (seen, sent or referenced) belongs to.
    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>, Self::Error>;
    /// The ticket an Outlook conversation id belongs to.
    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>, Self::Error>;
    /// Ids of the tickets this address is the customer of.
    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>, Self::Error>;
}

/// Threading settings.
#[derive(Debug, Clone)]
pub struct ThreadConfig {
    pub tags: TagFormat,
    /// How far back the subject fallback looks; 0 turns it off.
    pub subject_fallback_days: u32,
    /// Normalized subjects too vague to match on ("help", "question" …).
    pub generic_subjects: Vec<String>,
    /// Agents' addresses (lower-case): agents may write into any ticket.
    pub agents: Vec<String>,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Existing {
        ticket: TicketId,
        via: String,
    },
    New {
        linked: Option<TicketId>,
        reason: String,
    },
}

/// The Outlook conversation id in a `Thread-Index` header: its first 22
/// bytes are shared by every message of the conversation. We compare the
/// first 28 base64 characters (21 whole bytes) rather than decode.
pub fn conversation_key(env: &Envelope) -> Option<String> {
    let v = env.header("thread-index")?.trim();
    (v.len() >= 30 && v.is_ascii()).then(|| v[..28].to_owned())
}

pub fn place<V: ThreadView + ?Sized>(
    env: &Envelope,
    class: Class,
    cfg: &ThreadConfig,
    view: &V,
    now: DateTime<Utc>,
) -> Result<Placement, V::Error> {
    let sender = env.author().map(|p| p.address.as_str()).unwrap_or_default();
    let is_agent = cfg.agents.iter().any(|a| a == sender);

    // Header links first computed once: the tag check needs them too.
    let mut linked = None;
    for id in env.parent_ids() {
        if let Some(t) = view.ticket_for_message_id(id)? {
            linked = Some((t, id.to_owned()));
            break;
        }
    }
    if linked.is_none() && class == Class::Bounce {
        for id in &env.embedded_message_ids {
            if let Some(t) = view.ticket_for_message_id(id)? {
                linked = Some((t, id.clone()));
                break;
            }
        }
    }

    // 1. The tag.
    if let Some(n) = cfg.tags.find(&env.subject)
        && let Some(ticket) = view.ticket(n)?
    {
        let tag = cfg.tags.format(n);
        if is_agent || ticket.knows(sender) {
            return Ok(Placement::Existing {
                ticket: n,
                via: format!("tag {tag}"),
            });
        }
        if let Some((t, id)) = &linked
            && *t == n
        {
            return Ok(Placement::Existing {
                ticket: n,
                via: format!("tag {tag} and reference <{id}>"),
            });
        }
        return Ok(Placement::New {
            linked: Some(n),
            reason: format!(
                "subject carries {tag} but {sender} is not in that ticket and no header links to it"
            ),
        });
    }

    // 1b. A tag the ticket's own people retyped ("[#TB 1000]", "TB-1000"):
    // theirs; from anyone else it proves nothing (a stranger's new mail).
    // Headers that link the mail somewhere say more than retyped text.
    if linked.is_none()
        && let Some(n) = cfg.tags.find_loose(&env.subject)
        && let Some(ticket) = view.ticket(n)?
        && (is_agent || ticket.knows(sender))
    {
        return Ok(Placement::Existing {
            ticket: n,
            via: format!("retyped tag {:?}", env.subject),
        });
    }

    // 2. Header links.
    if let Some((t, id)) = linked {
        return Ok(Placement::Existing {
            ticket: t,
            via: format!("reference <{id}>"),
        });
    }

    // 2b. A reply to this very message came first (delivery out of order,
    // a colleague's reply-all, crash recovery): the ticket's own mail
    // referenced this Message-ID, so the claim comes from the ticket's
    // side, not from this sender; whoever wrote it, it belongs there.
    if let Some(t) = view.ticket_for_message_id(&env.message_id)?
        && view.ticket(t)?.is_some()
    {
        return Ok(Placement::Existing {
            ticket: t,
            via: "a reply to it arrived first".into(),
        });
    }

    // 3. Outlook conversation id.
    if let Some(key) = conversation_key(env)
        && let Some(t) = view.ticket_for_conversation(&key)?
        && let Some(ticket) = view.ticket(t)?
        && (is_agent || ticket.knows(sender))
    {
        return Ok(Placement::Existing {
            ticket: t,
            via: "Outlook Thread-Index".into(),
        });
    }

    // 4. Subject fallback.
    if let Some(t) = subject_match(env, cfg, view, sender, now)? {
        return Ok(Placement::Existing {
            ticket: t,
            via: "same sender and subject (reply without threading headers)".into(),
        });
    }

    Ok(Placement::New {
        linked: None,
        reason: "no tag, reference or matching ticket".into(),
    })
}

fn subject_match<V: ThreadView + ?Sized>(
    env: &Envelope,
    cfg: &ThreadConfig,
    view: &V,
    sender: &str,
    now: DateTime<Utc>,
) -> Result<Option<TicketId>, V::Error> {
    if cfg.subject_fallback_days == 0 || sender.is_empty() {
        return Ok(None);
    }
    // Only a subject that says "reply" can be a reply that lost its headers;
    // the same subject without a prefix is a new message (monthly "Invoice").
    let (_, is_reply) = subject::strip_prefixes(&cfg.tags.strip(&env.subject));
    let wanted = subject::normalize(&env.subject, &cfg.tags);
    if !is_reply || wanted.chars().count() < 4 || cfg.generic_subjects.contains(&wanted) {
        return Ok(None);
    }
    let since = now - Duration::days(i64::from(cfg.subject_fallback_days));
    let mut best: Option<Ticket> = None;
    for id in view.tickets_of_customer(sender)? {
        let Some(t) = view.ticket(id)? else { continue };
        if t.status.is_open()
            && t.updated >= since
            && subject::normalize(&t.subject, &cfg.tags) == wanted
            && best.as_ref().is_none_or(|b| t.updated > b.updated)
        {
            best = Some(t);
        }
    }
    Ok(best.map(|t| t.id))
}

#[cfg(test)]
mod tests;

//! Mail a message or a timer causes: the customer's acknowledgement,
//! notifications to agents and to the addresses rules named, SLA escalation
//! notices, closing notices. Each goes into the same commit as the decision,
//! and into the ticket's history.

use super::Engine;
use crate::mail::parse::Envelope;
use crate::model::{Party, Ticket};
use crate::outgoing::ack::{self, Personal, Purpose};
use crate::outgoing::locale::Zone;
use crate::rules::Decision;
use crate::store::{Commit, StoreError, View};
use chrono::{DateTime, Utc};

/// Who the mail speaks to: language and time zone.
pub(super) struct Audience<'a> {
    pub language: &'a str,
    pub tz: Zone,
}

/// Queues the acknowledgement; returns whether it was queued and a note.
#[allow(clippy::too_many_arguments)]
pub(super) fn acknowledge(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    decision: &Decision,
    env: &Envelope,
    to: &Party,
    audience: &Audience<'_>,
    personal: &Personal,
    now: DateTime<Utc>,
) -> (bool, String) {
    let template = decision
        .template
        .as_deref()
        .unwrap_or(&engine.cfg.ack.template);
    let mail = Mail {
        purpose: Purpose::Acknowledgement,
        template,
        to,
        audience,
        personal,
    };
    match queue(engine, commit, ticket, env, &mail, now) {
        Ok(()) => (
            true,
            format!("acknowledgement queued ({})", audience.language),
        ),
        Err(e) => {
            commit
                .problems
                .push(format!("acknowledgement not built: {e}"));
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
    let nothing = Personal::default();
    let to = &decision.notify;
    notify_each(engine, commit, ticket, "notify", to, env, &nothing, now);
}

/// Queues a notification (`template`) about `env` to each of `addresses`.
#[allow(clippy::too_many_arguments)]
pub(super) fn notify_each(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    template: &str,
    addresses: &[String],
    env: &Envelope,
    personal: &Personal,
    now: DateTime<Utc>,
) {
    let team = Audience {
        language: &engine.cfg.support.team_language,
        tz: Zone::own(engine.tz),
    };
    for address in addresses {
        let to = Party::new(None, address);
        let mail = Mail {
            purpose: Purpose::Notification,
            template,
            to: &to,
            audience: &team,
            personal,
        };
        if let Err(e) = queue(engine, commit, ticket, env, &mail, now) {
            commit
                .problems
                .push(format!("notification to {address} not built: {e}"));
        }
    }
}

/// One outgoing mail's particulars.
pub(super) struct Mail<'a> {
    pub purpose: Purpose,
    pub template: &'a str,
    pub to: &'a Party,
    pub audience: &'a Audience<'a>,
    pub personal: &'a Personal,
}

/// Renders `mail` about `cause` and adds it to the commit and the ticket.
pub(super) fn queue(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    cause: &Envelope,
    mail: &Mail<'_>,
    now: DateTime<Utc>,
) -> Result<(), ack::AckError> {
    let (address, name) = engine.cfg.sender_for(&ticket.queue);
    let sender = ack::Sender {
        identity: &engine.identity,
        address,
        name,
        template: mail.template,
        language: mail.audience.language,
        tz: mail.audience.tz,
        display: &engine.cfg.display,
    };
    let tag = engine.threading.tags.format(ticket.id);
    let templates = engine.templates();
    let (entry, sent) = ack::build(
        &sender,
        &templates,
        mail.purpose,
        ticket,
        tag,
        cause,
        mail.to,
        mail.personal,
        now,
    )?;
    ticket.messages.push(sent.message_id.clone());
    commit.index.push((sent.message_id.clone(), ticket.id));
    commit.outbox.push(entry);
    commit.messages.push(sent);
    Ok(())
}

/// Renders and queues a mail about `ticket` to the team (escalations, in
/// English and the team's zone) or, with `customer`, to its customer in
/// their language and zone (`(language, zone)`, see [`customer_audience`]).
#[allow(clippy::too_many_arguments)]
pub fn outgoing_mail(
    engine: &Engine,
    commit: &mut Commit,
    ticket: &mut Ticket,
    cause: &Envelope,
    purpose: crate::outgoing::ack::Purpose,
    template: &str,
    to: &crate::model::Party,
    personal: &crate::outgoing::ack::Personal,
    customer: Option<(&str, Zone)>,
    now: DateTime<Utc>,
) -> Result<(), crate::outgoing::ack::AckError> {
    let (language, tz) =
        customer.unwrap_or((&engine.cfg.support.team_language, Zone::own(engine.tz)));
    let audience = Audience { language, tz };
    let mail = Mail {
        purpose,
        template,
        to,
        audience: &audience,
        personal,
    };
    queue(engine, commit, ticket, cause, &mail, now)
}

/// The language (one `template` exists in) and time zone for mail to the
/// customer of `t`: their stored preferences, else the ticket's language.
pub fn customer_audience<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    t: &Ticket,
    template: &str,
) -> Result<(String, Zone), StoreError> {
    let prefs = store.customer_prefs(&t.customer.address)?;
    Ok(super::apply::reply_audience(
        engine,
        &prefs,
        t.language.as_deref(),
        t.customer_offset,
        &t.queue,
        template,
    ))
}

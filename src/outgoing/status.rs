//! The answer to a customer who asked how their requests stand (a mail
//! whose subject or first line is just "status", "stan", "סטטוס"): their
//! open tickets, each with its status and when an answer is expected, in
//! their language; template `status`.

use crate::classify::Identity;
use crate::model::Party;
use crate::outbox::OutboxEntry;
use crate::outgoing::compose::{AckError, Draft, Purpose, compose};
use crate::outgoing::render::{TemplateError, Templates};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One open ticket as the `status` template sees it (`tickets`).
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub tag: String,
    pub subject: String,
    /// The status in the reader's language.
    pub status: String,
    /// When an answer is expected, written for the reader; empty when no
    /// answer is owed.
    pub due: minijinja::Value,
    /// The ticket waits for the customer (pending), not for us.
    pub waiting_on_you: bool,
}

/// The template's variables besides `support`, `language`, `dir`.
#[derive(Serialize)]
struct Facts<'a> {
    customer: Customer<'a>,
    tickets: &'a [Line],
}

#[derive(Serialize)]
struct Customer<'a> {
    name: Option<&'a str>,
    address: &'a str,
}

/// Who answers, and in which language.
pub type From<'a> = crate::outgoing::compose::Writer<'a>;

fn render(
    templates: &Templates,
    from: &From<'_>,
    to: &Party,
    tickets: &[Line],
) -> Result<crate::outgoing::render::Rendered, TemplateError> {
    templates.render_framed(
        "status",
        from.language,
        (from.name, from.address),
        &Facts {
            customer: Customer {
                name: to.name.as_deref(),
                address: &to.address,
            },
            tickets,
        },
    )
}

/// The answer to `cause` (its Message-ID: one answer per request) for
/// `to`, listing `tickets`.
pub fn build(
    templates: &Templates,
    from: &From<'_>,
    to: &Party,
    cause: &str,
    tickets: &[Line],
    now: DateTime<Utc>,
) -> Result<OutboxEntry, AckError> {
    let rendered = render(templates, from, to, tickets)?;
    let id = crate::outgoing::ack::message_id(
        Purpose::Status,
        0,
        cause,
        &to.address,
        &from.identity.message_id_domain,
    );
    let draft = Draft {
        purpose: Purpose::Status,
        id,
        from: Party::new(Some(from.name), from.address),
        to: to.clone(),
        cc: Vec::new(),
        rendered,
        in_reply_to: Some(cause.to_owned()),
        references: vec![cause.to_owned()],
        ticket: 0,
        attachments: Vec::new(),
    };
    compose(draft, from.identity, now).map(|(entry, _)| entry)
}

/// Renders the `status` templates of `langs` with two open tickets and
/// with none, for `ticketbox templates check`.
pub fn check(
    templates: &Templates,
    langs: &[String],
    identity: &Identity,
    now: DateTime<Utc>,
) -> Vec<TemplateError> {
    let line = |tag: &str, waiting: bool| Line {
        tag: tag.into(),
        subject: "Printer does not print".into(),
        status: "open".into(),
        due: crate::outgoing::render::date(crate::outgoing::locale::when(
            "en",
            now,
            crate::outgoing::locale::Zone::own(chrono_tz::UTC),
            now,
        )),
        waiting_on_you: waiting,
    };
    let full = [line("[#TB-1042]", false), line("[#TB-1043]", true)];
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for lang in langs {
        let from = From::sample(identity, lang);
        for (to, tickets) in [
            (
                Party::new(Some("Dana Cohen"), "dana@example.com"),
                &full[..],
            ),
            (Party::new(None, "someone@example.com"), &[][..]),
        ] {
            if let Err(e) = render(templates, &from, &to, tickets)
                && seen.insert(e.to_string())
            {
                errors.push(e);
            }
        }
    }
    errors
}

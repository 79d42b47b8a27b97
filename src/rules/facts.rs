//! What rules can look at: the message plus what the pipeline knows about
//! it (language, new or reply, who wrote it, the customer's history, the
//! time in the team's calendar). Gathered once per message.

use super::{Author, BODY_LIMIT, Kind, TextField};
use crate::mail::parse::Envelope;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use std::borrow::Cow;

/// The customer's earlier tickets: when each was opened and whether it is
/// still open.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub tickets: Vec<(DateTime<Utc>, bool)>,
}

#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub env: &'a Envelope,
    /// ISO 639-1 code, when detected.
    pub language: Option<String>,
    pub kind: Kind,
    pub author: Author,
    /// Classified as automatic mail (auto-reply, bulk, list, bounce).
    pub auto_reply: bool,
    pub history: History,
    pub now: DateTime<Utc>,
    /// Weekday (0 = Monday) and hour in the team's time zone.
    pub weekday: u32,
    pub hour: u32,
    pub business_hours: bool,
    /// Rules that already fired on the ticket this message joins: their
    /// queue, priority, SLA and assignee changes were made once and are
    /// not made again (a customer who keeps "urgent" in the subject does
    /// not raise the priority with every reply).
    pub ticket_rules: Vec<String>,
}

impl<'a> Facts<'a> {
    /// Facts with neutral defaults (a new ticket from a customer, in
    /// business hours, UTC): callers fill in what they know.
    pub fn new(env: &'a Envelope, now: DateTime<Utc>) -> Facts<'a> {
        Facts {
            env,
            language: None,
            kind: Kind::New,
            author: Author::Customer,
            auto_reply: false,
            history: History::default(),
            now,
            weekday: now.weekday().num_days_from_monday(),
            hour: now.hour(),
            business_hours: true,
            ticket_rules: Vec::new(),
        }
    }

    /// The values of a text field (several for To, attachments, headers).
    pub fn values(&self, field: &TextField) -> Vec<Cow<'a, str>> {
        let env = self.env;
        let author = env.author();
        match field {
            TextField::From => author
                .map(|p| Cow::Owned(p.to_string()))
                .into_iter()
                .collect(),
            TextField::FromAddress => author
                .map(|p| Cow::Borrowed(p.address.as_str()))
                .into_iter()
                .collect(),
            TextField::FromDomain => author
                .and_then(|p| p.address.rsplit_once('@'))
                .map(|(_, d)| Cow::Borrowed(d))
                .into_iter()
                .collect(),
            TextField::FromName => vec![Cow::Borrowed(
                author.and_then(|p| p.name.as_deref()).unwrap_or(""),
            )],
            TextField::To => env
                .to
                .iter()
                .chain(&env.cc)
                .map(|p| Cow::Borrowed(p.address.as_str()))
                .collect(),
            TextField::Subject => vec![Cow::Borrowed(env.subject.as_str())],
            TextField::Body => vec![Cow::Borrowed(truncate(&env.text, BODY_LIMIT))],
            TextField::Language => vec![Cow::Owned(self.language.clone().unwrap_or_default())],
            TextField::AttachmentName => env
                .attachments
                .iter()
                .map(|a| Cow::Borrowed(a.name.as_str()))
                .collect(),
            TextField::AttachmentType => env
                .attachments
                .iter()
                .map(|a| Cow::Borrowed(a.content_type.as_str()))
                .collect(),
            TextField::Weekday => vec![Cow::Borrowed(
                ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.weekday.min(6) as usize],
            )],
            TextField::Header(name) => env
                .headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| Cow::Borrowed(v.as_str()))
                .collect(),
        }
    }

    pub fn open_tickets(&self) -> i64 {
        self.history
            .tickets
            .iter()
            .filter(|(_, open)| *open)
            .count() as i64
    }

    pub fn tickets_in_days(&self, days: u32) -> i64 {
        let since = self.now - Duration::days(i64::from(days));
        self.history
            .tickets
            .iter()
            .filter(|(at, _)| *at >= since)
            .count() as i64
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

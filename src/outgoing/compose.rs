//! Building an outgoing mail from rendered parts: the headers that keep
//! threads together and loops apart (RFC 3834 `Auto-Submitted` on automatic
//! mail, our loop header on all of it), text and HTML alternatives,
//! attachments; and the outbox entry and message record that go into the
//! same commit as the decision that caused the mail.

use crate::classify::{Identity, LOOP_HEADER};
use crate::mail::parse::AttachmentData;
use crate::model::{MessageKind, MessageRecord, Party, TicketId};
use crate::outbox::OutboxEntry;
use crate::outgoing::render::Rendered;
use crate::outgoing::render::TemplateError;
use crate::text;
use chrono::{DateTime, Utc};
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, Mailboxes, MultiPart, SinglePart};

/// Who writes a mail that is about no single ticket (an alarm, a status
/// answer): the support address and name, in a language.
pub struct Writer<'a> {
    pub identity: &'a Identity,
    pub name: &'a str,
    pub address: &'a str,
    pub language: &'a str,
}

impl<'a> Writer<'a> {
    /// The writer `templates check` renders samples as.
    pub fn sample(identity: &'a Identity, language: &'a str) -> Writer<'a> {
        Writer {
            identity,
            name: "Example Support",
            address: "support@example.com",
            language,
        }
    }
}

/// Everything about one outgoing mail but its encoding.
pub struct Draft {
    pub purpose: Purpose,
    /// Message-ID without brackets (stable: derived from its cause).
    pub id: String,
    /// From, and the envelope sender.
    pub from: Party,
    pub to: Party,
    pub cc: Vec<Party>,
    pub rendered: Rendered,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub ticket: TicketId,
    pub attachments: Vec<AttachmentData>,
}

/// Longest subject written (a template could make one longer than a
/// header line may be; subjects from mail are cut far below this already).
const MAX_SUBJECT_CHARS: usize = 900;

/// A party as a header mailbox. The name is cleaned again here, whatever
/// its origin (a record stored by an older version, a template, a config
/// value): this is the last point before bytes go out.
fn mailbox(p: &Party) -> Result<Mailbox, AckError> {
    let addr = p
        .address
        .parse()
        .map_err(|e| AckError::Address(format!("{:?}: {e}", p.address)))?;
    let name = p
        .name
        .as_deref()
        .map(|n| text::one_line(n, text::MAX_NAME_CHARS))
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, addr))
}

/// Message-IDs fit to repeat in a header (ids from mail are checked when
/// parsed; this keeps a stored oddity from ever reaching a header).
fn header_id(id: &str) -> Option<String> {
    (!id.is_empty() && text::is_header_safe(id) && !id.contains(['<', '>', ' ']))
        .then(|| format!("<{id}>"))
}

/// Encodes `d` as an outbox entry and the record of the sent message.
pub fn compose(
    d: Draft,
    identity: &Identity,
    now: DateTime<Utc>,
) -> Result<(OutboxEntry, MessageRecord), AckError> {
    let Draft {
        purpose,
        id,
        from,
        to,
        cc,
        rendered,
        in_reply_to,
        references,
        ticket,
        attachments,
    } = d;
    let raw_header = |name: &'static str, value: &str| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
    };
    let subject = text::one_line(&rendered.subject, MAX_SUBJECT_CHARS);
    let mut msg = lettre::Message::builder()
        .from(mailbox(&from)?)
        .to(mailbox(&to)?)
        .subject(subject.clone())
        .message_id(Some(format!("<{id}>")))
        .date(now.into());
    if !cc.is_empty() {
        // One header built once: adding mailboxes one by one re-encodes
        // the whole list each time (quadratic in the number of copies).
        let mut all = Mailboxes::new();
        for p in &cc {
            all.push(mailbox(p)?);
        }
        msg = msg.mailbox(header::Cc::from(all));
    }
    if let Some(parent) = in_reply_to.as_deref().and_then(header_id) {
        msg = msg.in_reply_to(parent);
    }
    let refs: Vec<String> = references.iter().filter_map(|r| header_id(r)).collect();
    if !refs.is_empty() {
        msg = msg.references(refs.join(" "));
    }
    if let Some(auto) = purpose.auto_submitted() {
        msg = msg
            .raw_header(raw_header("Auto-Submitted", auto))
            .raw_header(raw_header("X-Auto-Response-Suppress", "All"));
    }
    let msg = msg
        .raw_header(raw_header(LOOP_HEADER, &identity.instance_id))
        .raw_header(raw_header("X-Ticketbox-Ticket", &ticket.to_string()))
        .raw_header(raw_header(
            "Content-Language",
            &text::one_line(&rendered.language, 35),
        ));
    let built = match (rendered.html, attachments.is_empty()) {
        (None, true) => msg.header(ContentType::TEXT_PLAIN).body(rendered.text),
        (Some(html), true) => msg.multipart(MultiPart::alternative_plain_html(rendered.text, html)),
        (None, false) => {
            let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(rendered.text));
            for a in attachments {
                mixed = mixed.singlepart(attachment(a));
            }
            msg.multipart(mixed)
        }
        (Some(html), false) => {
            // Images the HTML shows by Content-ID travel beside it
            // (multipart/related, inline), so the reader sees them where
            // they were put; everything else is an attachment.
            let (inline, files): (Vec<_>, Vec<_>) =
                attachments.into_iter().partition(|a| shows(&html, a));
            let body = if inline.is_empty() {
                MultiPart::alternative_plain_html(rendered.text, html)
            } else {
                let mut related = MultiPart::related().singlepart(SinglePart::html(html));
                for a in inline {
                    let cid = a.content_id.clone().unwrap_or_default();
                    let name = text::one_line(&a.info.name, text::MAX_FILE_NAME_CHARS);
                    related = related.singlepart(
                        Attachment::new_inline_with_name(cid, name)
                            .body(a.bytes, content_type(&a.info.content_type)),
                    );
                }
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(rendered.text))
                    .multipart(related)
            };
            if files.is_empty() {
                msg.multipart(body)
            } else {
                let mut mixed = MultiPart::mixed().multipart(body);
                for a in files {
                    mixed = mixed.singlepart(attachment(a));
                }
                msg.multipart(mixed)
            }
        }
    }
    .map_err(|e| AckError::Build(e.to_string()))?;
    let raw = String::from_utf8(built.formatted()).map_err(|e| AckError::Build(e.to_string()))?;

    let mut recipients = vec![to.address.clone()];
    recipients.extend(cc.iter().map(|p| p.address.clone()));
    let entry = OutboxEntry {
        id: id.clone(),
        ticket,
        purpose: purpose.as_str().into(),
        envelope_from: from.address.clone(),
        recipients,
        subject: subject.clone(),
        raw,
        ..OutboxEntry::queued(now)
    };
    let record = MessageRecord {
        message_id: id,
        raw_hash: String::new(),
        fingerprint: String::new(),
        ticket: Some(ticket),
        kind: MessageKind::Outgoing,
        from: Some(from),
        to: vec![to],
        cc,
        subject,
        date: Some(now),
        received: now,
        attachments: Vec::new(),
        reason: purpose.as_str().into(),
        refused: false,
    };
    Ok((entry, record))
}

#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot address the acknowledgement: {0}")]
    Address(String),
    #[error("cannot build the acknowledgement: {0}")]
    Build(String),
}

/// What an outgoing mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To the customer: we have your request.
    Acknowledgement,
    /// To an extra address a rule named: a ticket needs attention.
    Notification,
    /// To a queue's escalation address: an SLA target is near or missed.
    Escalation,
    /// To the customer: an agent's answer, passed on from the support address.
    Reply,
    /// To the customer: their pending ticket was closed for want of an answer.
    Closed,
    /// To an agent: their answer did not reach everyone it was meant for.
    Notice,
    /// To the admin: a mail source fails or is silent, or works again.
    Alarm,
    /// To a customer who asked: how their open tickets stand.
    Status,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Acknowledgement => "acknowledgement",
            Purpose::Notification => "notification",
            Purpose::Escalation => "escalation",
            Purpose::Reply => "reply",
            Purpose::Closed => "closed",
            Purpose::Notice => "notice",
            Purpose::Alarm => "alarm",
            Purpose::Status => "status",
        }
    }
    pub(crate) fn id_part(self) -> &'static str {
        match self {
            Purpose::Acknowledgement => "ack",
            Purpose::Notification => "notify",
            Purpose::Escalation => "esc",
            Purpose::Reply => "reply",
            Purpose::Closed => "closed",
            Purpose::Notice => "notice",
            Purpose::Alarm => "alarm",
            Purpose::Status => "status",
        }
    }
    /// RFC 3834: a reply to a message is auto-replied, anything else
    /// auto-generated; a person's answer is neither.
    pub fn auto_submitted(self) -> Option<&'static str> {
        match self {
            Purpose::Acknowledgement | Purpose::Status => Some("auto-replied"),
            Purpose::Notification
            | Purpose::Escalation
            | Purpose::Closed
            | Purpose::Notice
            | Purpose::Alarm => Some("auto-generated"),
            Purpose::Reply => None,
        }
    }
}

fn attachment(a: AttachmentData) -> SinglePart {
    let name = text::one_line(&a.info.name, text::MAX_FILE_NAME_CHARS);
    Attachment::new(name).body(a.bytes, content_type(&a.info.content_type))
}

fn content_type(ct: &str) -> ContentType {
    ContentType::parse(ct).unwrap_or_else(|_| {
        ContentType::parse("application/octet-stream").expect("a valid literal")
    })
}

/// Whether `html` shows attachment `a` by its Content-ID (as written, or
/// as the template's HTML escaping wrote it).
fn shows(html: &str, a: &AttachmentData) -> bool {
    // A Content-ID goes back into a header: only a plain one (no spaces,
    // brackets or line breaks from someone's odd mail) is shown inline.
    let Some(cid) = a.content_id.as_deref().filter(|c| {
        !c.is_empty()
            && c.len() <= 250
            && c.chars()
                .all(|ch| ch.is_ascii_graphic() && ch != '<' && ch != '>')
    }) else {
        return false;
    };
    let escaped: String = cid
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '/' => "&#x2f;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#x27;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    html.contains(&format!("cid:{cid}")) || html.contains(&format!("cid:{escaped}"))
}

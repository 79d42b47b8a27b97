//! The acknowledgement: whether a new ticket gets one (RFC 3834 and rate
//! limits), and the mail itself, rendered from a template.
//!
//! The acknowledgement's Message-ID is derived from the ticket and the
//! message that caused it (`tb.<ticket>.ack.<hash>@<domain>`), so processing
//! the same message again can never produce a second, different mail.

use crate::classify::{Class, Identity};
use crate::mail::parse::Envelope;
use crate::model::{MessageRecord, Party, Ticket};
use crate::outbox::OutboxEntry;
pub use crate::outgoing::compose::{Draft, compose};
use crate::outgoing::locale::Named;
use crate::outgoing::render::{TemplateError, Templates};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the ack policy needs to know besides the message.
pub struct Policy<'a> {
    pub enabled: bool,
    pub agents: &'a [String],
    pub identity: &'a Identity,
}

/// Why no acknowledgement goes out, or `None` when one should.
pub fn refusal(
    policy: &Policy<'_>,
    class: Class,
    class_reason: &str,
    to: Option<&Party>,
    rules_no_ack: Option<&str>,
) -> Option<String> {
    if !policy.enabled {
        return Some("acknowledgements are disabled".into());
    }
    if class != Class::Normal {
        return Some(format!("automatic mail ({class_reason})"));
    }
    let Some(to) = to else {
        return Some("no address to reply to".into());
    };
    if policy.agents.contains(&to.address) {
        return Some("the sender is an agent".into());
    }
    if policy.identity.is_own_address(&to.address) {
        return Some(format!("the reply address {} is our own", to.address));
    }
    if is_no_reply(&to.address) {
        return Some(format!("{} does not take replies", to.address));
    }
    if let Some(rule) = rules_no_ack {
        return Some(format!("rule {rule:?} asked for no acknowledgement"));
    }
    None
}

/// `noreply@`, `no-reply@`, `do-not-reply@`, `donotreply@`, `bounces@` …
pub fn is_no_reply(address: &str) -> bool {
    let local = address
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let squashed: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    squashed.starts_with("noreply")
        || squashed.starts_with("donotreply")
        || squashed.starts_with("bounce")
        || squashed == "notifications"
}

/// The Message-ID of the acknowledgement of `cause` on `ticket`.
pub fn ack_message_id(ticket: u64, cause: &str, domain: &str) -> String {
    let h = crate::intake::content_hash(cause.as_bytes());
    format!("tb.{ticket}.ack.{}@{domain}", &h[..16])
}

/// Fixed facts the acknowledgement is built from.
pub struct Sender<'a> {
    pub identity: &'a Identity,
    pub address: &'a str,
    pub name: &'a str,
    pub template: &'a str,
    pub language: &'a str,
    /// The reader's zone, and whether times name it.
    pub tz: crate::outgoing::locale::Zone,
    /// Names of queues, priorities and statuses per language.
    pub display: &'a crate::config::Display,
}

pub use crate::outgoing::compose::{AckError, Purpose};

/// The Message-ID of the mail about `cause` to `to` for `purpose`: stable,
/// so processing the cause again cannot make a different mail.
pub fn message_id(purpose: Purpose, ticket: u64, cause: &str, to: &str, domain: &str) -> String {
    match purpose {
        Purpose::Acknowledgement => ack_message_id(ticket, cause, domain),
        Purpose::Notification
        | Purpose::Escalation
        | Purpose::Reply
        | Purpose::Closed
        | Purpose::Notice
        | Purpose::Alarm
        | Purpose::Status => {
            let h = crate::intake::content_hash(format!("{cause}\n{to}").as_bytes());
            format!("tb.{ticket}.{}.{}@{domain}", purpose.id_part(), &h[..16])
        }
    }
}

/// A ticket mentioned in a mail.
#[derive(Debug, Clone, Serialize)]
pub struct TicketRef {
    pub tag: String,
    pub subject: String,
}

/// An escalation notice's facts.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationView {
    /// `first response` or `resolution`.
    pub target: String,
    /// Written out in the team's language and zone.
    pub due: String,
    pub breached: bool,
}

/// What the pipeline knows that makes a mail personal and honest.
#[derive(Debug, Clone, Default)]
pub struct Personal {
    /// What we promise (never before the SLA due time).
    pub promise: Option<DateTime<Utc>>,
    /// The promise is later than the SLA because the queue is slower now.
    pub slower_than_sla: bool,
    /// The customer's other open tickets.
    pub other_open: Vec<TicketRef>,
    /// A recently closed ticket this one follows up on, and when it closed.
    pub recently_closed: Option<(TicketRef, DateTime<Utc>)>,
    pub escalation: Option<EscalationView>,
    /// An agent's answer being passed on to the customer.
    pub answer: Option<AnswerView>,
    /// What was wrong with an agent's commands (to tell the agent).
    pub problems: Vec<String>,
    /// The cause's attachments, as listed in the mail.
    pub files: Vec<FileView>,
    /// Attachments sent along with the mail.
    pub forward: Vec<crate::mail::parse::AttachmentData>,
    /// Who an agent's answer did and did not reach (to tell the agent).
    pub notice: Option<NoticeView>,
    /// The closing mail asks for a rating: one link per score.
    pub rating: Option<crate::rating::Ask>,
    /// A rating the customer gave (to tell the agents).
    pub rated: Option<RatedView>,
    /// Who closed the ticket a closing mail is about: `agent` or `timer`
    /// (it waited on the customer too long).
    pub closing: Option<&'static str>,
    /// The cause's author's own words from its HTML body, images marked
    /// where they stand, with the images that go along (Content-ID, name):
    /// `message.parts` shows them in place.
    pub own_marked: Option<(String, Vec<(String, String)>)>,
}

/// A customer's rating, for the `rating` template.
#[derive(Debug, Clone, Serialize)]
pub struct RatedView {
    pub score: u8,
    /// What they wrote with it.
    pub words: String,
    /// The score it replaces, when they rated before.
    pub before: Option<u8>,
    /// Who closed the ticket (its assignee), if anyone.
    pub closed_by: Option<String>,
}

/// Who an agent's answer reached, for the `agent-notice` template.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoticeView {
    /// Addresses it went to (or that accepted it).
    pub delivered: Vec<String>,
    /// Addresses the mail server refused, with its reason.
    pub refused: Vec<RefusedView>,
    /// Copied addresses left out by `limits.max_answer_recipients`.
    pub left_out: usize,
    pub limit: usize,
}

/// One refused recipient.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedView {
    pub address: String,
    pub reason: String,
}

/// An attachment named in a mail (to agents: the customer's files).
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    pub name: String,
    /// Written out: `120 KB`, `3.4 MB`.
    pub size: String,
    /// Sent along (too big ones are only named).
    pub attached: bool,
}

impl FileView {
    pub fn new(name: &str, bytes: usize, attached: bool) -> FileView {
        let size = match bytes {
            b if b < 1024 => format!("{b} bytes"),
            b if b < 1024 * 1024 => format!("{} KB", b.div_ceil(1024)),
            b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        };
        FileView {
            name: name.to_owned(),
            size,
            attached,
        }
    }
}

/// An agent's answer, for the `reply` template.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    /// The agent's name (or address when the From header had no name).
    pub agent: String,
    /// The answer as text; an image is `[image: name]` where it stood.
    pub text: String,
    /// Paragraphs of lines, for HTML: `<p>` per paragraph, `<br>` per line.
    pub paragraphs: Vec<Vec<String>>,
    /// The same with the images in place, for HTML: see [`PartView`].
    pub parts: Vec<PartView>,
}

impl AnswerView {
    pub fn new(agent: &Party, text: &str) -> AnswerView {
        AnswerView::with_images(agent, text, &[])
    }

    /// An answer whose `marked` text (see [`crate::mail::html::pieces`])
    /// shows the `images` (Content-ID, file name) that go along with it;
    /// a mark for any other image is left out.
    pub fn with_images(agent: &Party, marked: &str, images: &[(String, String)]) -> AnswerView {
        let text = placeholders(marked, images);
        AnswerView {
            agent: agent.name.clone().unwrap_or_else(|| agent.address.clone()),
            paragraphs: paragraphs(&text),
            parts: parts(marked, images),
            text,
        }
    }
}

/// A paragraph of text, or an image shown in the HTML part by its
/// Content-ID (`<img src="cid:{{ p.image }}">`): an answer's or a
/// customer's mail as they wrote it, images where they put them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartView {
    /// The paragraph's lines (none for an image).
    pub text: Option<Vec<String>>,
    pub image: Option<String>,
    /// The image's file name (for `alt`).
    pub name: Option<String>,
}

fn paragraphs(text: &str) -> Vec<Vec<String>> {
    text.split("\n\n")
        .map(|p| p.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|p| p.iter().any(|l| !l.trim().is_empty()))
        .collect()
}

/// `marked` as text: each image that goes along as `[image: name]`.
fn placeholders(marked: &str, images: &[(String, String)]) -> String {
    crate::mail::html::replace_marks(marked, |cid| {
        images
            .iter()
            .find(|(c, _)| c == cid)
            .map(|(_, name)| format!("[image: {name}]"))
            .unwrap_or_default()
    })
}

/// `marked` cut into paragraphs and the images among them.
fn parts(marked: &str, images: &[(String, String)]) -> Vec<PartView> {
    use crate::mail::html::Piece;
    let mut out = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let end_paragraph = |lines: &mut Vec<String>, out: &mut Vec<PartView>| {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        if !lines.is_empty() {
            out.push(PartView {
                text: Some(std::mem::take(lines)),
                image: None,
                name: None,
            });
        }
    };
    for paragraph in marked.split("\n\n") {
        for line in paragraph.lines() {
            let mut current = String::new();
            for piece in crate::mail::html::pieces(line) {
                match piece {
                    Piece::Text(t) => current.push_str(t),
                    Piece::Image(cid) => {
                        let Some((_, name)) = images.iter().find(|(c, _)| c == cid) else {
                            continue;
                        };
                        if !current.trim().is_empty() {
                            lines.push(current.trim().to_owned());
                        }
                        current.clear();
                        end_paragraph(&mut lines, &mut out);
                        out.push(PartView {
                            text: None,
                            image: Some(cid.to_owned()),
                            name: Some(name.clone()),
                        });
                    }
                }
            }
            if !current.trim().is_empty() {
                lines.push(current.trim_end().to_owned());
            }
        }
        end_paragraph(&mut lines, &mut out);
    }
    out
}

/// Longest customer text a notification carries.
const MAX_QUOTED_CHARS: usize = 20_000;

#[derive(Serialize)]
struct View<'a> {
    ticket: TicketView<'a>,
    /// Whom the mail is to (the customer, for customer mail).
    customer: PartyView<'a>,
    /// The ticket's customer, whoever the mail is to.
    requester: PartyView<'a>,
    support: SupportView<'a>,
    /// The time we promise: `{{ response_due.by }}` and so on.
    response_due: minijinja::Value,
    response_due_iso: String,
    sla_due: minijinja::Value,
    slower_than_sla: bool,
    language: &'a str,
    dir: &'static str,
    other_open: &'a [TicketRef],
    recently_closed: Option<ClosedView>,
    escalation: Option<&'a EscalationView>,
    answer: Option<&'a AnswerView>,
    problems: &'a [String],
    files: &'a [FileView],
    notice: Option<&'a NoticeView>,
    rating: Option<&'a crate::rating::Ask>,
    rated: Option<&'a RatedView>,
    closing: Option<&'static str>,
    /// The message that caused this mail (for notifications).
    message: MessageView<'a>,
}

/// A person, with `name` always present (none when unknown): templates
/// test `{% if customer.name %}`, and an absent key would be an error.
#[derive(Serialize)]
struct PartyView<'a> {
    name: Option<&'a str>,
    address: &'a str,
}

impl<'a> From<&'a Party> for PartyView<'a> {
    fn from(p: &'a Party) -> Self {
        PartyView {
            name: p.name.as_deref(),
            address: &p.address,
        }
    }
}

#[derive(Serialize)]
struct ClosedView {
    tag: String,
    subject: String,
    closed: minijinja::Value,
}

#[derive(Serialize)]
struct MessageView<'a> {
    from: String,
    subject: &'a str,
    /// The sender's own words, cut to a few hundred characters.
    excerpt: String,
    /// What the sender wrote, without the mail they quoted.
    text: String,
    /// Their own words with their images in place (HTML).
    parts: Vec<PartView>,
}

#[derive(Serialize)]
struct TicketView<'a> {
    id: u64,
    tag: String,
    subject: &'a str,
    /// Queue, priority and status as the reader's language names them
    /// (`[display.<lang>]`); the `_id` fields are the names rules use.
    queue: String,
    priority: String,
    status: String,
    queue_id: &'a str,
    priority_id: &'a str,
    status_id: &'a str,
    assignee: Option<&'a str>,
    created: minijinja::Value,
}

#[derive(Serialize)]
struct SupportView<'a> {
    name: &'a str,
    address: &'a str,
}

/// Renders the template for a mail about `cause` on `ticket` to `to`
/// (subject, text, HTML) without building the message.
#[allow(clippy::too_many_arguments)]
pub fn render_only(
    s: &Sender<'_>,
    templates: &Templates,
    ticket: &Ticket,
    tag: String,
    cause: &Envelope,
    to: &Party,
    personal: &Personal,
    now: DateTime<Utc>,
) -> Result<crate::outgoing::render::Rendered, AckError> {
    let sla_due = ticket.response_due.unwrap_or(now);
    let due = personal.promise.unwrap_or(sla_due).max(sla_due);
    let name = |what: Named, id: &str| {
        crate::outgoing::locale::shown_name(s.display, s.language, what, id)
    };
    let when = |t: DateTime<Utc>| {
        crate::outgoing::render::date(crate::outgoing::locale::when(s.language, t, s.tz, now))
    };
    let view = View {
        ticket: TicketView {
            id: ticket.id,
            tag,
            subject: &ticket.subject,
            queue: name(Named::Queue, &ticket.queue),
            priority: name(Named::Priority, ticket.priority.as_str()),
            status: name(Named::Status, ticket.status.as_str()),
            queue_id: &ticket.queue,
            priority_id: ticket.priority.as_str(),
            status_id: ticket.status.as_str(),
            assignee: ticket.assignee.as_deref(),
            created: when(ticket.created),
        },
        customer: to.into(),
        requester: (&ticket.customer).into(),
        support: SupportView {
            name: s.name,
            address: s.address,
        },
        response_due: when(due),
        response_due_iso: due.to_rfc3339(),
        sla_due: when(sla_due),
        slower_than_sla: personal.slower_than_sla && due > sla_due,
        language: s.language,
        dir: crate::outgoing::locale::direction(s.language),
        other_open: &personal.other_open,
        recently_closed: personal.recently_closed.as_ref().map(|(t, at)| ClosedView {
            tag: t.tag.clone(),
            subject: t.subject.clone(),
            closed: when(*at),
        }),
        escalation: personal.escalation.as_ref(),
        answer: personal.answer.as_ref(),
        problems: &personal.problems,
        files: &personal.files,
        notice: personal.notice.as_ref(),
        rating: personal.rating.as_ref(),
        rated: personal.rated.as_ref(),
        closing: personal.closing,
        message: message_view(cause, personal.own_marked.as_ref()),
    };
    Ok(templates.render(s.template, s.language, &view)?)
}

/// The message behind a mail, read once for both views of it: what its
/// author wrote wherever they wrote it (with the lines they answered), and
/// the whole of what they forwarded.
fn message_view<'a>(
    cause: &'a Envelope,
    own_marked: Option<&(String, Vec<(String, String)>)>,
) -> MessageView<'a> {
    let written = cause.written();
    let mut text = written.own.clone();
    if !written.forwarded.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&written.forwarded);
    }
    MessageView {
        from: cause.author().map(ToString::to_string).unwrap_or_default(),
        subject: &cause.subject,
        excerpt: written
            .own
            .lines()
            .filter(|l| !l.trim_start().starts_with('>'))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .chars()
            .take(600)
            .collect(),
        parts: match own_marked {
            Some((marked, images)) => parts(
                &marked.chars().take(MAX_QUOTED_CHARS).collect::<String>(),
                images,
            ),
            None => parts(&text, &[]),
        },
        text: text.trim().chars().take(MAX_QUOTED_CHARS).collect(),
    }
}

/// Renders the mail for `purpose` about `cause` on `ticket` to `to`, as an
/// outbox entry and the record of the outgoing message.
#[allow(clippy::too_many_arguments)]
pub fn build(
    s: &Sender<'_>,
    templates: &Templates,
    purpose: Purpose,
    ticket: &Ticket,
    tag: String,
    cause: &Envelope,
    to: &Party,
    personal: &Personal,
    now: DateTime<Utc>,
) -> Result<(OutboxEntry, MessageRecord), AckError> {
    let rendered = render_only(s, templates, ticket, tag, cause, to, personal, now)?;

    // An escalation is one per target and stage: part of its identity.
    let stage = personal
        .escalation
        .as_ref()
        .map(|e| format!("\n{}:{}", e.target, e.breached))
        .unwrap_or_default();
    let id = message_id(
        purpose,
        ticket.id,
        &cause.message_id,
        &format!("{}{stage}", to.address),
        &s.identity.message_id_domain,
    );
    let mut references = cause.references.clone();
    references.push(cause.message_id.clone());
    let draft = Draft {
        purpose,
        id,
        from: Party::new(Some(s.name), s.address),
        to: to.clone(),
        cc: Vec::new(),
        rendered,
        in_reply_to: Some(cause.message_id.clone()),
        references,
        ticket: ticket.id,
        attachments: personal.forward.clone(),
    };
    compose(draft, s.identity, now)
}

/// Loads the templates from `dir` and accepts them only when
/// [`check_templates`] finds nothing wrong.
pub fn load_templates(
    dir: &std::path::Path,
    display: &crate::config::Display,
) -> Result<Templates, Vec<TemplateError>> {
    let t = Templates::load(dir)?;
    let errors = check_templates(&t, display);
    if errors.is_empty() {
        Ok(t)
    } else {
        Err(errors)
    }
}

/// Renders every template in its own language against a full sample (every
/// optional part present: an escalation, an answer, other tickets …) and a
/// sparse one (no names, nothing optional), the way real mail will meet
/// it: a typo in a variable, a missing `Subject:` line, a loop that runs
/// out of its work budget are found here rather than in a customer's
/// acknowledgement. Returns every problem, with file and line.
pub fn check_templates(
    templates: &Templates,
    display: &crate::config::Display,
) -> Vec<TemplateError> {
    use chrono::TimeZone;
    let (files, mut errors) = templates.files();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let identity = Identity {
        instance_id: "check".into(),
        addresses: vec!["support@example.com".into()],
        message_id_domain: "example.com".into(),
    };
    // The admin's alarm is about a mail source, not a ticket: its own
    // samples (crate::outgoing::alarm::check).
    let (alarms, files): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, n)| n == "alarm");
    let alarm_langs: Vec<String> = alarms.into_iter().map(|(l, _)| l).collect();
    errors.extend(crate::outgoing::alarm::check(
        templates,
        &alarm_langs,
        &identity,
        now,
    ));
    // So is the answer to "status": a customer's tickets, not one ticket.
    let (status, files): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, n)| n == "status");
    let status_langs: Vec<String> = status.into_iter().map(|(l, _)| l).collect();
    errors.extend(crate::outgoing::status::check(
        templates,
        &status_langs,
        &identity,
        now,
    ));
    let customer = Party::new(Some("Dana Cohen"), "dana@example.com");
    let agent = Party::new(Some("Ola Agent"), "ola@example.com");
    let mut full_ticket = Ticket::new(
        1042,
        "Printer does not print".into(),
        "general".into(),
        crate::model::Priority::High,
        customer.clone(),
        now,
    );
    full_ticket.assignee = Some("ola@example.com".into());
    full_ticket.response_due = Some(now + chrono::Duration::hours(4));
    full_ticket.resolution_due = Some(now + chrono::Duration::days(1));
    let sparse_ticket = Ticket::new(
        1043,
        "(no subject)".into(),
        "general".into(),
        crate::model::Priority::Normal,
        Party::new(None, "someone@example.com"),
        now,
    );
    let cause = Envelope {
        message_id: "sample@example.com".into(),
        from: Some(customer.clone()),
        subject: "Printer does not print".into(),
        text: "Hello,\n\nthe printer stopped printing.\n\n> an old quote\n\nDana".into(),
        ..Envelope::default()
    };
    let bare = Envelope {
        message_id: "bare@example.com".into(),
        ..Envelope::default()
    };
    let reference = TicketRef {
        tag: "[#TB-1001]".into(),
        subject: "Earlier question".into(),
    };
    let full = Personal {
        promise: Some(now + chrono::Duration::hours(6)),
        slower_than_sla: true,
        other_open: vec![reference.clone()],
        recently_closed: Some((reference, now - chrono::Duration::days(2))),
        escalation: Some(EscalationView {
            target: "first response".into(),
            due: "Monday, 23 November, 13:00".into(),
            breached: true,
        }),
        answer: Some(AnswerView::with_images(
            &agent,
            &crate::mail::html::to_text_marking_images(
                "<p>Hello Dana,</p><p>please restart it here:</p><img src=\"cid:howto@1\"><p>Ola</p>",
            ),
            &[("howto@1".into(), "howto.png".into())],
        )),
        problems: vec!["line 3: #clsoe: unknown command; did you mean #close?".into()],
        files: vec![FileView::new("photo.jpg", 120_000, true)],
        forward: Vec::new(),
        notice: Some(NoticeView {
            delivered: vec!["dana@example.com".into()],
            refused: vec![RefusedView {
                address: "gone@example.com".into(),
                reason: "550 no such user".into(),
            }],
            left_out: 2,
            limit: 50,
        }),
        rating: Some(crate::rating::ask(
            &crate::rating::Key::new(b"sample"),
            1001,
            "[#TB-1001]",
            "support@example.com",
            "Rating",
        )),
        rated: Some(RatedView {
            score: 2,
            words: "Nobody read my second mail.".into(),
            before: Some(4),
            closed_by: Some("agent@example.com".into()),
        }),
        closing: Some("agent"),
        own_marked: Some((
            crate::mail::html::to_text_marking_images(
                "<p>The printer shows this:</p><img src=\"cid:shot@1\"><p>Dana</p>",
            ),
            vec![("shot@1".into(), "shot.png".into())],
        )),
    };
    // The sparse sample still carries what its template is for: an
    // escalation notice always has its escalation.
    let sparse = |name: &str| Personal {
        escalation: (name == "escalation")
            .then(|| full.escalation.clone())
            .flatten(),
        answer: (name == "reply").then(|| full.answer.clone()).flatten(),
        problems: if name == "agent-error" {
            full.problems.clone()
        } else {
            Vec::new()
        },
        notice: (name == "agent-notice")
            .then(|| full.notice.clone())
            .flatten(),
        rated: (name == "rating").then(|| full.rated.clone()).flatten(),
        closing: (name == "closed").then_some("timer"),
        ..Personal::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for (lang, name) in files {
        let sender = Sender {
            identity: &identity,
            address: "support@example.com",
            name: "Example Support",
            template: &name,
            language: &lang,
            tz: crate::outgoing::locale::Zone::own(chrono_tz::UTC),
            display,
        };
        let samples = [
            (&full_ticket, &cause, &customer, full.clone()),
            (
                &sparse_ticket,
                &bare,
                &sparse_ticket.customer,
                sparse(&name),
            ),
        ];
        for (ticket, cause, to, personal) in samples {
            let tag = format!("[#TB-{}]", ticket.id);
            if let Err(AckError::Template(e)) =
                render_only(&sender, templates, ticket, tag, cause, to, &personal, now)
                && seen.insert(e.to_string())
            {
                errors.push(e);
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            instance_id: "i".into(),
            addresses: vec!["support@example.com".into()],
            message_id_domain: "example.com".into(),
        }
    }

    #[test]
    fn refusals() {
        let id = identity();
        let agents = vec!["agent@example.com".to_string()];
        let p = Policy {
            enabled: true,
            agents: &agents,
            identity: &id,
        };
        let alice = Party::new(None, "alice@c.example");
        assert_eq!(refusal(&p, Class::Normal, "", Some(&alice), None), None);
        assert!(
            refusal(&p, Class::AutoReply, "Precedence: bulk", Some(&alice), None)
                .unwrap()
                .contains("Precedence: bulk")
        );
        let agent = Party::new(None, "agent@example.com");
        assert!(refusal(&p, Class::Normal, "", Some(&agent), None).is_some());
        let noreply = Party::new(None, "no-reply@shop.example");
        assert!(refusal(&p, Class::Normal, "", Some(&noreply), None).is_some());
        assert!(refusal(&p, Class::Normal, "", Some(&alice), Some("spam")).is_some());
        assert!(refusal(&p, Class::Normal, "", None, None).is_some());
    }

    #[test]
    fn ack_id_is_stable_and_ours() {
        let a = ack_message_id(1000, "x@y", "example.com");
        assert_eq!(a, ack_message_id(1000, "x@y", "example.com"));
        assert_ne!(a, ack_message_id(1000, "z@y", "example.com"));
        assert!(identity().is_own_message_id(&a));
    }

    /// Checks a template set of the shipped ones with `files` written over
    /// them; returns the problems as text.
    fn check_with(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        match load_templates(dir.path(), &Default::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_shipped_templates_render_every_sample_in_every_language() {
        assert_eq!(check_with(&[]), Vec::<String>::new());
    }

    #[test]
    fn typos_in_variables_are_found_with_file_and_line() {
        let shipped = include_str!("../../templates/pl/ack.txt");
        let typo = shipped.replace("{{ ticket.queue }}", "{{ ticket.queu }}");
        let errs = check_with(&[("pl/ack.txt", &typo)]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("pl/ack.txt:6: undefined"), "{errs:?}");
        assert!(errs[0].contains("ticket.queu"), "{errs:?}");

        let one_up =
            include_str!("../../templates/en/notify.txt").replace("ticket.tag", "tiket.tag");
        let errs = check_with(&[("en/notify.txt", &one_up)]);
        assert!(
            errs.iter()
                .any(|e| e.contains("en/notify.txt:1: undefined")),
            "{errs:?}"
        );
        // In the HTML part, inside a condition only the full sample meets.
        let html = include_str!("../../templates/he/ack.html")
            .replace("recently_closed.subject", "recently_closed.subjet");
        let errs = check_with(&[("he/ack.html", &html)]);
        assert!(
            errs.iter().any(|e| e.contains("he/ack.html:9: undefined")),
            "{errs:?}"
        );
    }

    #[test]
    fn no_subject_runaway_loops_and_orphans_are_refused() {
        let errs = check_with(&[("en/ack.txt", "Hello {{ customer.address }}\n")]);
        assert!(
            errs.iter()
                .any(|e| e.contains("en/ack.txt: the first line must be `Subject: …`")),
            "{errs:?}"
        );

        let runaway = "Subject: x\n\n{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}\n";
        let errs = check_with(&[("en/notify.txt", runaway)]);
        assert!(
            errs.iter()
                .any(|e| e.contains("en/notify.txt:3: the template does too much work")),
            "{errs:?}"
        );

        let errs = check_with(&[("pl/closed2.html", "<p>{{ ticket.tag }}</p>\n")]);
        assert!(errs.iter().any(|e| e.contains("never used")), "{errs:?}");
    }
}

//! An agent's mail on a ticket. Commands at its top change the ticket; the
//! answer goes to the customer from the queue's address, with the agent's
//! attachments; `#note` keeps it inside. A mistake in the commands changes
//! nothing and sends nothing to the customer: the agent gets a mail saying
//! what was wrong, so a typo never becomes a wrong answer.
//!
//! Also here: telling agents about a customer's mail (the ticket's
//! assignee, else the queue's `notify` list).

use super::outgoing::{self, Audience, Mail};
use super::timing;
use super::{Engine, ticket};
use crate::agent;
use crate::mail::parse::Envelope;
use crate::model::{MessageKind, MessageRecord, Party, Status, Ticket};
use crate::outgoing::ack::{self, AnswerView, Personal, Purpose};
use crate::outgoing::compose::{Draft, compose};
use crate::rules::Decision;
use crate::store::{Commit, StoreError, View};
use chrono::{DateTime, Utc};

/// How many of the ticket's latest messages the answer's References name.
const REFERENCES: usize = 10;

/// What an agent's mail did.
pub(super) struct Handled {
    /// What happened, for the record.
    pub note: String,
    /// Refused: the agent was told why, and the mail must change nothing.
    pub refused: bool,
}

/// Applies an agent's mail to `t`; returns what happened.
#[allow(clippy::too_many_arguments)]
pub(super) fn handle<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    commit: &mut Commit,
    t: &mut Ticket,
    env: &Envelope,
    raw: &[u8],
    agent: &Party,
    now: DateTime<Utc>,
) -> Result<Handled, StoreError> {
    let reading = agent::read_mail(&env.text, &env.subject);
    let agent::Changes {
        ticket: changes,
        status,
        assign,
        mut problems,
    } = {
        let queues = engine.cfg.known_queues();
        let team = agent::Team {
            agents: &engine.cfg.agents,
            queues: &queues,
        };
        agent::command::changes(&reading, &agent.address, &team)
    };
    // A reply with nothing of the agent's in it (a blank reply, text lost
    // to the client's formatting) is told, never silently dropped.
    if problems.is_empty()
        && reading.commands.is_empty()
        && reading.answer.is_empty()
        && !reading.forwarded
    {
        problems.push(agent::Problem {
            line: None,
            what: agent::Wrong::NothingFound,
        });
    }
    if !problems.is_empty() {
        // Told in the team's language, each with its line.
        let team = &engine.cfg.support.team_language;
        let personal = Personal {
            problems: problems.iter().map(|p| p.say(team)).collect(),
            answer: (!reading.answer.is_empty()).then(|| AnswerView::new(agent, &reading.answer)),
            ..Personal::default()
        };
        let why = (Purpose::Notification, "agent-error");
        tell_agent(engine, commit, t, env, agent, why, &personal, now);
        return Ok(Handled {
            note: format!(
                "agent's mail refused, nothing sent or changed: {}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            refused: true,
        });
    }

    ticket::apply_rules(engine, t, &changes);
    // Closed by this mail: whatever reaches the customer asks for a rating.
    let closing = status == Some(Status::Closed) && t.status != Status::Closed;
    if let Some(who) = assign {
        t.assignee = who;
    }
    let mut done = Vec::new();
    if reading.is_note() {
        done.push("internal note".to_owned());
    } else if reading.forwarded {
        // Mail an agent forwards onto a ticket is for the record: the
        // customer's own mail, a colleague's, with the agent's remark.
        done.push(
            "forwarded mail kept as an internal note (forwards are never relayed)".to_owned(),
        );
    } else if !reading.answer.is_empty() {
        // An agent who wrote to the customer directly (reply-all to mail
        // that copied them) already reached them: passing it on again
        // would send the customer the same answer twice.
        let direct = env
            .to
            .iter()
            .chain(&env.cc)
            .any(|p| p.address == t.customer.address);
        let reached = if direct {
            done.push(format!("answered {} directly", t.customer.address));
            true
        } else {
            let relayed = relay(
                engine,
                store,
                commit,
                t,
                env,
                raw,
                agent,
                &reading.answer,
                closing,
                now,
            )?;
            match &relayed {
                Some(r) if r.left_out > 0 => {
                    done.push(format!(
                        "answer sent to {} and {} copied; {} copied left out (limits.max_answer_recipients), agent told",
                        t.customer.address,
                        r.recipients.len() - 1,
                        r.left_out
                    ));
                    let personal = Personal {
                        notice: Some(ack::NoticeView {
                            delivered: r.recipients.clone(),
                            refused: Vec::new(),
                            left_out: r.left_out,
                            limit: engine.cfg.limits.max_answer_recipients,
                        }),
                        ..Personal::default()
                    };
                    let why = (Purpose::Notice, "agent-notice");
                    tell_agent(engine, commit, t, env, agent, why, &personal, now);
                }
                Some(_) => done.push(format!("answer sent to {}", t.customer.address)),
                None => {
                    done.push("answer NOT sent: it could not be built (see the log)".to_owned())
                }
            }
            relayed.is_some()
        };
        if reached {
            answered(engine, store, commit, t, now)?;
        }
        if t.assignee.is_none() {
            t.assignee = Some(agent.address.clone());
        }
        if t.status == Status::New {
            timing::set_status(engine, t, Status::Open, now);
        }
    }
    if let Some(s) = status {
        timing::set_status(engine, t, s, now);
    }
    if closing {
        super::rating::closed_by_agent(engine, store, commit, t, env, now)?;
    }
    if !reading.commands.is_empty() {
        done.push(format!("{} command(s) applied", reading.commands.len()));
    }
    if done.is_empty() {
        done.push("nothing to send".to_owned());
    }
    Ok(Handled {
        note: done.join(", "),
        refused: false,
    })
}

/// Mails an agent about their own mail (`why`: purpose and template): what
/// was wrong with their commands, or who their answer did not reach.
#[allow(clippy::too_many_arguments)]
pub(super) fn tell_agent(
    engine: &Engine,
    commit: &mut Commit,
    t: &mut Ticket,
    cause: &Envelope,
    agent: &Party,
    why: (Purpose, &str),
    personal: &Personal,
    now: DateTime<Utc>,
) {
    let team = team_audience(engine);
    let mail = Mail {
        purpose: why.0,
        template: why.1,
        to: agent,
        audience: &team,
        personal,
    };
    if let Err(e) = outgoing::queue(engine, commit, t, cause, &mail, now) {
        commit
            .problems
            .push(format!("mail to the agent not built ({}): {e}", why.1));
    }
}

/// An answer queued for the customer: who it goes to, and how many
/// copied addresses the recipient limit left out.
struct Relayed {
    recipients: Vec<String>,
    left_out: usize,
}

/// Sends the agent's answer to the customer (and whoever the customer
/// copied, up to `limits.max_answer_recipients` in all), from the queue's
/// address, threaded under the customer's mail. `None` when it could not be
/// built.
#[allow(clippy::too_many_arguments)]
fn relay<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    commit: &mut Commit,
    t: &mut Ticket,
    env: &Envelope,
    raw: &[u8],
    agent: &Party,
    answer: &str,
    closing: bool,
    now: DateTime<Utc>,
) -> Result<Option<Relayed>, StoreError> {
    let (language, tz) = super::customer_audience(engine, store, t, "reply")?;
    let (address, name) = engine.cfg.sender_for(&t.queue);
    let sender = ack::Sender {
        identity: &engine.identity,
        address,
        name,
        template: "reply",
        language: &language,
        tz,
        display: &engine.cfg.display,
    };
    // Parsing again only pays when there is something to carry.
    let files = if env.attachments.is_empty() {
        Vec::new()
    } else {
        let mut files = crate::mail::parse::attachment_data(raw);
        files.retain(|f| !is_our_mail(engine, f));
        // Images of the agent's signature (a logo on every mail) or of
        // the quoted mail stay behind; those in their text go along.
        if let Some(own) = crate::mail::parse::images_in_own_text(raw) {
            files.retain(|f| {
                !f.info.content_type.starts_with("image/")
                    || f.content_id.as_ref().is_none_or(|cid| own.contains(cid))
            });
        }
        files
    };
    let personal = Personal {
        answer: Some(answer_view(raw, env, agent, answer, &files)),
        rating: closing
            .then(|| super::rating::ask(engine, t, &language, now))
            .flatten(),
        ..Personal::default()
    };
    let tag = engine.threading.tags.format(t.id);
    let customer = t.customer.clone();
    let rendered = match ack::render_only(
        &sender,
        &engine.templates(),
        t,
        tag,
        env,
        &customer,
        &personal,
        now,
    ) {
        Ok(r) => r,
        Err(e) => {
            // The answer is stored with the ticket; nothing half-made goes out.
            commit.problems.push(format!("answer not rendered: {e}"));
            return Ok(None);
        }
    };
    // The customer's side of the thread: their mail and what we sent them.
    let mut seen = Vec::new();
    for id in t.messages.iter().rev().take(4 * REFERENCES) {
        if let Some(m) = store.message(id)?
            && customer_saw(&m)
        {
            seen.push(m.message_id);
            if seen.len() == REFERENCES {
                break;
            }
        }
    }
    seen.reverse();
    let id = ack::message_id(
        Purpose::Reply,
        t.id,
        &env.message_id,
        &customer.address,
        &engine.identity.message_id_domain,
    );
    let mut cc: Vec<Party> = t
        .participants
        .iter()
        .filter(|a| !engine.cfg.agents.contains(*a) && !engine.identity.is_own_address(a))
        .map(|a| Party::new(None, a))
        .collect();
    let room = engine.cfg.limits.max_answer_recipients.saturating_sub(1);
    let left_out = cc.len().saturating_sub(room);
    cc.truncate(room);
    let draft = Draft {
        purpose: Purpose::Reply,
        id,
        from: Party::new(Some(&sender_name(agent, name)), address),
        to: customer,
        cc,
        rendered,
        in_reply_to: seen.last().cloned(),
        references: seen,
        ticket: t.id,
        attachments: files,
    };
    let (entry, sent) = match compose(draft, &engine.identity, now) {
        Ok(built) => built,
        Err(e) => {
            commit.problems.push(format!("answer not built: {e}"));
            return Ok(None);
        }
    };
    let recipients = entry.recipients.clone();
    // The agent hears of recipients the mail server refuses.
    let mut entry = entry;
    entry.notify = Some(agent.address.clone());
    t.messages.push(sent.message_id.clone());
    commit.index.push((sent.message_id.clone(), t.id));
    commit.outbox.push(entry);
    commit.messages.push(sent);
    Ok(Some(Relayed {
        recipients,
        left_out,
    }))
}

/// The agent's answer with the images they put in it (pasted
/// screenshots, sent along in `files`) where they put them: read again
/// from their HTML with the images marked, when that reads as the same
/// answer; else the images after the text.
fn answer_view(
    raw: &[u8],
    env: &Envelope,
    agent: &Party,
    answer: &str,
    files: &[crate::mail::parse::AttachmentData],
) -> AnswerView {
    let images = inline_images(files);
    if images.is_empty() {
        return AnswerView::new(agent, answer);
    }
    let words = |s: &str| {
        let s = crate::mail::html::replace_marks(s, |_| String::new());
        // Gmail's text part says where an image was in its own words.
        let s = IMAGE_NOTE.replace_all(&s, "");
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let marked = crate::mail::parse::html_marked(raw)
        .map(|html| agent::read_mail(&html, &env.subject).answer)
        .filter(|m| words(m) == words(answer))
        .unwrap_or_else(|| {
            let marks: String = images
                .iter()
                .map(|(cid, _)| crate::mail::html::image_mark(cid))
                .collect::<Vec<_>>()
                .join("\n\n");
            format!(
                "{}\n\n{marks}",
                IMAGE_NOTE.replace_all(answer, "").trim_end()
            )
        });
    AnswerView::with_images(agent, &marked, &images)
}

/// `[image: shot.png]`, as Gmail writes an image into its text part.
static IMAGE_NOTE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"\[image: [^\]\n]*\]").expect("pattern"));

/// The images among `files` an HTML body can show by Content-ID:
/// (Content-ID, file name).
pub(super) fn inline_images(files: &[crate::mail::parse::AttachmentData]) -> Vec<(String, String)> {
    files
        .iter()
        .filter(|f| f.info.content_type.starts_with("image/"))
        .filter_map(|f| f.content_id.clone().map(|cid| (cid, f.info.name.clone())))
        .collect()
}

/// A copy of our own mail attached to the agent's (Outlook's "attach
/// original message", a forward as attachment): our notification, with
/// the ticket's internal details, never goes to the customer.
fn is_our_mail(engine: &Engine, f: &crate::mail::parse::AttachmentData) -> bool {
    if !f.info.content_type.starts_with("message/") && !f.info.name.ends_with(".eml") {
        return false;
    }
    let contains =
        |needle: &[u8]| !needle.is_empty() && f.bytes.windows(needle.len()).any(|w| w == needle);
    contains(agent::REPLY_ABOVE.as_bytes()) || contains(engine.identity.instance_id.as_bytes())
}

/// The first answer a customer gets stops the first-response clock.
fn answered<V: View + ?Sized>(
    engine: &Engine,
    store: &V,
    commit: &mut Commit,
    t: &mut Ticket,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(took) = timing::first_response(engine, t, now) {
        let mut stats = store.queue_stats(&t.queue)?;
        timing::record_sample(
            &mut stats,
            t.priority,
            took,
            t.queue_ahead,
            engine.cfg.sla.estimate.window,
        );
        commit.queue_stats(&t.queue, &stats);
    }
    Ok(())
}

fn customer_saw(m: &MessageRecord) -> bool {
    match m.kind {
        MessageKind::Customer => true,
        MessageKind::Outgoing => matches!(m.reason.as_str(), "acknowledgement" | "reply"),
        _ => false,
    }
}

/// "Ola Kowalska (Example Support)": the person, and who they answer for.
fn sender_name(agent: &Party, support: &str) -> String {
    let person = agent.name.clone().unwrap_or_else(|| {
        agent
            .address
            .split('@')
            .next()
            .unwrap_or(&agent.address)
            .to_owned()
    });
    if support.trim().is_empty() {
        person
    } else {
        format!("{person} ({support})")
    }
}

fn team_audience(engine: &Engine) -> Audience<'_> {
    Audience {
        language: &engine.cfg.support.team_language,
        tz: crate::outgoing::locale::Zone::own(engine.tz),
    }
}

/// Tells the agents about a customer's mail on `t`: the assignee, else the
/// queue's `notify` list; plus whoever the rules named. Never the author.
pub(super) fn notify_agents(
    engine: &Engine,
    commit: &mut Commit,
    t: &mut Ticket,
    decision: &Decision,
    env: &Envelope,
    raw: &[u8],
    now: DateTime<Utc>,
) {
    let mut to: Vec<String> = match &t.assignee {
        Some(a) => vec![a.clone()],
        None => engine
            .cfg
            .queues
            .get(&t.queue)
            .map(|q| q.notify.clone())
            .unwrap_or_default(),
    };
    to.extend(decision.notify.iter().cloned());
    let author = env.author().map(|p| p.address.as_str());
    let mut seen = std::collections::BTreeSet::new();
    to.retain(|a| Some(a.as_str()) != author && seen.insert(a.clone()));
    if to.is_empty() {
        return;
    }
    let files = customer_files(env, raw);
    outgoing::notify_each(engine, commit, t, "notify", &to, env, &files, now);
}

/// Most bytes of a customer's attachments sent along to agents; bigger
/// files are named in the notification, not attached.
const FORWARD_MAX: usize = 10 << 20;

/// The customer's attachments for a notification: agents working by mail
/// must see the screenshot, not just hear of it.
pub(super) fn customer_files(env: &Envelope, raw: &[u8]) -> Personal {
    let mut p = Personal::default();
    if env.attachments.is_empty() {
        return p;
    }
    let mut total = 0;
    for a in crate::mail::parse::attachment_data(raw) {
        let fits = total + a.bytes.len() <= FORWARD_MAX;
        p.files
            .push(ack::FileView::new(&a.info.name, a.bytes.len(), fits));
        if fits {
            total += a.bytes.len();
            p.forward.push(a);
        }
    }
    // Their own words with the images they put among them, for the HTML
    // notification (a screenshot where they pasted it).
    let images = inline_images(&p.forward);
    if !images.is_empty() {
        p.own_marked = crate::mail::parse::own_text_marked(raw).map(|m| (m, images));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_comes_from_the_person_for_the_team() {
        let ola = Party::new(Some("Ola Kowalska"), "ola@example.com");
        assert_eq!(
            sender_name(&ola, "Example Support"),
            "Ola Kowalska (Example Support)"
        );
        let bare = Party::new(None, "ben@example.com");
        assert_eq!(
            sender_name(&bare, "Example Support"),
            "ben (Example Support)"
        );
        assert_eq!(sender_name(&bare, " "), "ben");
    }
}

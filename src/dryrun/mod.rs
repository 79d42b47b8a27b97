//! What the rules would do, without changing anything: `ticketbox rules
//! test MESSAGE.eml` explains every rule on one message, `--replay`
//! re-evaluates stored tickets and lists the decisions that would change.
//! The store, when given, is only read.

mod past;

use crate::intake::RawMail;
use crate::mail::parse;
use crate::model::{MessageKind, Ruled};
use crate::pipeline::{self, Ask, Engine, Numbers, OutcomeKind, Seen, ruled_after, ruled_at_open};
use crate::rules::{Decision, RuleSet, RuleTrace};
use crate::store::{MemoryStore, Staged, Store, StoreError, View};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TestReport {
    pub language: Option<String>,
    pub kind: &'static str,
    pub author: &'static str,
    pub automatic: Option<String>,
    /// Assumptions made for lack of a store.
    pub notes: Vec<String>,
    pub rules: Vec<TraceView>,
    pub decision: DecisionView,
}

#[derive(Debug, Serialize)]
pub struct TraceView {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub matched: bool,
    pub why: String,
    pub stopped: bool,
}

impl From<RuleTrace> for TraceView {
    fn from(t: RuleTrace) -> TraceView {
        TraceView {
            name: t.name,
            file: t.file,
            line: t.line,
            matched: t.matched,
            why: t.why,
            stopped: t.stopped,
        }
    }
}

/// A decision, with what the ticket would get (defaults filled in).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DecisionView {
    pub queue: String,
    pub priority: String,
    pub tags: Vec<String>,
    pub removed_tags: Vec<String>,
    pub assign: Option<String>,
    pub sla: String,
    /// The acknowledgement template, or none.
    pub template: Option<String>,
    pub notify: Vec<String>,
    pub spam: Option<String>,
    pub drop: Option<String>,
    pub fields: std::collections::BTreeMap<String, String>,
    pub fired: Vec<String>,
}

impl DecisionView {
    pub fn new(engine: &Engine, d: &Decision, mailbox_queue: Option<&str>) -> DecisionView {
        let cfg = &engine.cfg;
        let queue = d
            .queue
            .clone()
            .or_else(|| mailbox_queue.map(str::to_owned))
            .unwrap_or_else(|| cfg.tickets.default_queue.clone());
        DecisionView {
            sla: d
                .sla
                .clone()
                .unwrap_or_else(|| engine.queue_policy(&queue).to_owned()),
            queue,
            priority: d.final_priority(cfg.tickets.default_priority).to_string(),
            tags: d.add_tags.clone(),
            removed_tags: d.remove_tags.clone(),
            assign: d.assign.clone(),
            template: (d.ack != Some(false) && cfg.ack.enabled).then(|| {
                d.template
                    .clone()
                    .unwrap_or_else(|| cfg.ack.template.clone())
            }),
            notify: d.notify.clone(),
            spam: d.spam.clone(),
            drop: d.drop.clone(),
            fields: d.fields.clone(),
            fired: d.fired.clone(),
        }
    }
}

impl DecisionView {
    /// A reply's decision on a ticket the rules had made `base` of: what
    /// the ticket gets after it.
    fn on(engine: &Engine, d: &Decision, base: &Ruled) -> DecisionView {
        let mut after = base.clone();
        ruled_after(&mut after, d);
        let mut v = DecisionView::new(engine, d, Some(&after.queue));
        v.priority = after.priority.to_string();
        v.sla = after
            .sla
            .unwrap_or_else(|| engine.queue_policy(&after.queue).to_owned());
        v.assign = after.assignee;
        v.tags = after.tags.into_iter().collect();
        // A reply is not acknowledged.
        v.template = None;
        v
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("the message cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Explains every rule of `rules` on the raw message, by the very function
/// live processing decides with ([`pipeline::decide`]). A message already
/// in a ticket is shown as live processing met it (replayed up to it: as
/// new or reply, by whom, when, after the rules that had shaped the
/// ticket); any other as if it arrived `now`, against the store as it is
/// (or an empty one, when there is none).
pub fn test_message<S: View + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: Option<&S>,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<TestReport, DryRunError> {
    let mail = RawMail::new(raw.to_vec(), "rules test".into(), None);
    let prepared = pipeline::prepare(engine, &mail);
    if let Some(store) = store
        && let Some(report) = test_stored(engine, rules, store, &mail)?
    {
        return Ok(report);
    }
    let mut notes = Vec::new();
    let empty = MemoryStore::new(engine.cfg.tickets.first_number);
    let ask = Ask {
        rules,
        released: false,
        explain: true,
        numbers: Numbers::Peek,
    };
    let decided = match store {
        Some(store) => pipeline::decide(engine, store, &ask, &mail, prepared, now)?,
        None => {
            notes.push(
                "no store available: simulated as a new ticket from a customer with no history, arriving now"
                    .into(),
            );
            pipeline::decide(engine, &empty, &ask, &mail, prepared, now)?
        }
    };
    let out = &decided.outcome;
    if out.outcome == OutcomeKind::Quarantined && decided.seen.is_none() {
        return Err(DryRunError::Unreadable(out.reason.clone()));
    }
    let seen = match decided.seen {
        Some(seen) => {
            if store.is_some() {
                let what = match (out.outcome, out.ticket) {
                    (OutcomeKind::Appended, Some(id)) => format!(
                        "it would join {}: {}",
                        engine.threading.tags.format(id),
                        out.reason
                    ),
                    (OutcomeKind::Created, _) => {
                        format!("it would open a new ticket: {}", out.reason)
                    }
                    (kind, _) => format!("it would be {}: {}", kind.as_str(), out.reason),
                };
                notes.push(format!(
                    "not stored: simulated as if it arrived now; {what}"
                ));
            }
            seen
        }
        None => {
            // Live processing would not put it to the rules (already
            // stored, our own mail): show them on it against an empty store.
            notes.push(format!(
                "live processing would not put it to the rules ({}: {}); shown as a new ticket from a customer with no history",
                out.outcome.as_str(),
                out.reason
            ));
            let again = pipeline::prepare(engine, &mail);
            let decided = pipeline::decide(engine, &empty, &ask, &mail, again, now)?;
            decided.seen.ok_or_else(|| {
                DryRunError::Unreadable(format!(
                    "{}: {}",
                    decided.outcome.outcome.as_str(),
                    decided.outcome.reason
                ))
            })?
        }
    };
    Ok(report(engine, seen, notes, None))
}

/// The report of how the rules saw a message.
fn report(
    engine: &Engine,
    seen: Seen,
    notes: Vec<String>,
    mailbox_queue: Option<&str>,
) -> TestReport {
    let decision = match &seen.before {
        Some(base) => DecisionView::on(engine, &seen.decision, base),
        None => DecisionView::new(engine, &seen.decision, mailbox_queue),
    };
    TestReport {
        language: seen.language,
        kind: if seen.reply { "reply" } else { "new" },
        author: if seen.agent { "agent" } else { "customer" },
        automatic: seen.automatic,
        notes,
        rules: seen.trace.into_iter().map(TraceView::from).collect(),
        decision,
    }
}

/// `test_message` for a message that is in a ticket already: replayed up
/// to it, as live processing met it.
fn test_stored<S: View + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: &S,
    mail: &RawMail,
) -> Result<Option<TestReport>, DryRunError> {
    let Ok(env) = parse::parse_limited(&mail.bytes, &mail.hash, &engine.cfg.limits) else {
        return Ok(None);
    };
    let fp = crate::pipeline::fingerprint(&env);
    let mut rec = store.message(&env.message_id)?;
    if rec
        .as_ref()
        .is_some_and(|r| r.raw_hash != mail.hash && r.fingerprint != fp)
    {
        // A reused Message-ID: stored under a key of its own.
        rec = store.message(&format!("{}#{}", env.message_id, &mail.hash[..12]))?;
    }
    let Some(rec) = rec else { return Ok(None) };
    let Some(t) = rec.ticket.map(|id| store.ticket(id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let replayed = replay_ticket(engine, rules, store, &t, Some(&rec.message_id), true)?;
    let Some(seen) = replayed.steps.into_iter().last() else {
        return Ok(None);
    };
    let tag = engine.threading.tags.format(t.id);
    let when = rec.received.format("%Y-%m-%d %H:%M UTC");
    let mut notes = vec![format!(
        "stored: this message {} {tag} on {when}; shown as it was met then (time, ticket, rules that had shaped the ticket before it), with the rules as they are now",
        if seen.reply { "joined" } else { "opened" }
    )];
    notes.push(format!("what live processing recorded: {}", rec.reason));
    if rec.refused {
        notes.push(
            "this agent's mail was refused, so live processing changed nothing with it".into(),
        );
    }
    let mailbox_queue = t.ruled.as_ref().and_then(|r| r.mailbox_queue.clone());
    Ok(Some(report(engine, seen, notes, mailbox_queue.as_deref())))
}

/// A ticket's messages through the rules again.
struct Replayed {
    /// What the rules would make of the ticket (none: nothing to replay).
    ruled: Option<Ruled>,
    /// How the rules saw each message replayed.
    steps: Vec<Seen>,
}

/// Replays the ticket's incoming messages through [`pipeline::decide`] in
/// the order they came, each at the time it was stored, against the store
/// as it stood then ([`past::AsItStood`]) with the replay's own commits in
/// front: as new or reply, by an agent or not, with the rules that had
/// fired on the ticket before it (they shape a ticket once). Our own mail
/// and an agent's refused mail changed nothing live and are skipped.
/// Stops after message `upto`, when given.
fn replay_ticket<S: View + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: &S,
    t: &crate::model::Ticket,
    upto: Option<&str>,
    explain: bool,
) -> Result<Replayed, DryRunError> {
    let past = past::AsItStood::new(store, t);
    let replay = Staged::new(&past);
    let mailbox_queue = t.ruled.as_ref().and_then(|r| r.mailbox_queue.clone());
    let ask = Ask {
        rules,
        released: false,
        explain,
        numbers: Numbers::Fixed(t.id),
    };
    let mut steps = Vec::new();
    for id in &t.messages {
        let Some(rec) = store.message(id)? else {
            continue;
        };
        // (The message asked about is shown even when it was refused; the
        // replay ends with it.)
        let skipped = matches!(rec.kind, MessageKind::Outgoing | MessageKind::Loop)
            || (rec.refused && upto != Some(id.as_str()));
        if skipped {
            if upto == Some(id.as_str()) {
                break;
            }
            continue;
        }
        let Some(bytes) = store.raw(&rec.raw_hash)? else {
            continue;
        };
        let mut mail = RawMail::new(bytes, format!("replay of {id}"), None);
        mail.queue.clone_from(&mailbox_queue);
        past.stand_at(rec.received);
        let prepared = pipeline::prepare(engine, &mail);
        let decided = pipeline::decide(engine, &replay, &ask, &mail, prepared, rec.received)?;
        replay.commit(&decided.commit)?;
        steps.extend(decided.seen);
        if upto == Some(id.as_str()) {
            break;
        }
    }
    let ruled = replay
        .ticket(t.id)?
        .map(|r| r.ruled.clone().unwrap_or_else(|| ruled_at_open(&r, None)));
    Ok(Replayed { ruled, steps })
}

/// One ticket whose decision would change under the current rules.
#[derive(Debug, Serialize)]
pub struct Change {
    pub ticket: u64,
    pub subject: String,
    /// `field: old → new` lines.
    pub changes: Vec<String>,
}

/// Replays every ticket created since `since` (its messages in order, as
/// live processing met them) and reports where `rules` decide differently
/// from what the rules decided live. What agents changed by hand since is
/// not the rules' and is not compared. Returns (tickets looked at,
/// changes).
pub fn replay<S: Store + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: &S,
    since: Option<DateTime<Utc>>,
) -> Result<(usize, Vec<Change>), DryRunError> {
    let mut seen = 0;
    let mut changes = Vec::new();
    for t in store.tickets()? {
        if since.is_some_and(|s| t.created < s) {
            continue;
        }
        let replayed = replay_ticket(engine, rules, store, &t, None, false)?;
        let Some(now) = replayed.ruled else {
            continue;
        };
        seen += 1;
        // Tickets from before the rules' record: what they have now.
        let live = t.ruled.clone().unwrap_or_else(|| ruled_at_open(&t, None));
        let mut lines = Vec::new();
        if let Some(rule) = replayed.steps.iter().find_map(|s| s.decision.spam.clone()) {
            lines.push(format!("would be quarantined as spam (rule {rule:?})"));
        }
        if now.queue != live.queue {
            lines.push(format!("queue: {} → {}", live.queue, now.queue));
        }
        if now.priority != live.priority {
            lines.push(format!("priority: {} → {}", live.priority, now.priority));
        }
        let plus: Vec<&String> = now.tags.difference(&live.tags).collect();
        let minus: Vec<&String> = live.tags.difference(&now.tags).collect();
        if !plus.is_empty() || !minus.is_empty() {
            lines.push(format!(
                "tags: {}{}",
                plus.iter().map(|t| format!("+{t} ")).collect::<String>(),
                minus.iter().map(|t| format!("-{t} ")).collect::<String>()
            ));
        }
        if now.assignee != live.assignee {
            lines.push(format!(
                "assignee: {:?} → {:?}",
                live.assignee, now.assignee
            ));
        }
        let policy = |p: &Option<String>| {
            p.clone()
                .unwrap_or_else(|| engine.cfg.sla.default_policy.clone())
        };
        if policy(&now.sla) != policy(&live.sla) {
            lines.push(format!("sla: {} → {}", policy(&live.sla), policy(&now.sla)));
        }
        if !lines.is_empty() {
            changes.push(Change {
                ticket: t.id,
                subject: t.subject.clone(),
                changes: lines,
            });
        }
    }
    Ok((seen, changes))
}

/// What `ticketbox templates preview` renders from.
pub enum PreviewSource<'a> {
    /// A stored ticket (its first message is the cause).
    Ticket(u64),
    /// A message file, as if it opened a new ticket now.
    Message(&'a [u8]),
    /// Made-up example data.
    Example,
}

/// Renders template `name` in `lang` the way the worker would.
pub fn preview<S: Store + ?Sized>(
    engine: &Engine,
    store: Option<&S>,
    name: &str,
    lang: &str,
    source: PreviewSource<'_>,
    now: DateTime<Utc>,
) -> Result<crate::outgoing::render::Rendered, String> {
    use crate::model::Party;
    use crate::outgoing::ack::{EscalationView, Personal};
    let example = || crate::mail::parse::Envelope {
        message_id: "example@ticketbox.invalid".into(),
        from: Some(Party::new(Some("Dana Cohen"), "dana@example.com")),
        subject: "The printer does not work".into(),
        text: "Hello, the printer on the third floor has not worked since this morning.".into(),
        ..Default::default()
    };
    let (ticket, cause) = match source {
        PreviewSource::Ticket(id) => {
            let store = store.ok_or("no store to read the ticket from")?;
            let t = store
                .ticket(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no ticket {}", engine.threading.tags.format(id)))?;
            let env = t
                .messages
                .first()
                .and_then(|m| store.message(m).ok().flatten())
                .and_then(|rec| {
                    store
                        .raw(&rec.raw_hash)
                        .ok()
                        .flatten()
                        .map(|raw| (rec, raw))
                })
                .and_then(|(rec, raw)| {
                    parse::parse_limited(&raw, &rec.raw_hash, &engine.cfg.limits).ok()
                })
                .unwrap_or_else(example);
            (t, env)
        }
        PreviewSource::Message(raw) => {
            let env =
                parse::parse_limited(raw, &crate::intake::content_hash(raw), &engine.cfg.limits)
                    .map_err(|e| e.to_string())?;
            let customer = env
                .author()
                .cloned()
                .unwrap_or_else(|| Party::new(None, "customer@example.com"));
            (preview_ticket(engine, &env.subject, customer, now), env)
        }
        PreviewSource::Example => {
            let env = example();
            let customer = env
                .from
                .clone()
                .unwrap_or_else(|| Party::new(None, "dana@example.com"));
            (preview_ticket(engine, &env.subject, customer, now), env)
        }
    };
    let personal = Personal {
        escalation: (name == "escalation").then(|| EscalationView {
            target: "first response".into(),
            due: crate::outgoing::locale::format_when(
                "en",
                ticket.response_due.unwrap_or(now),
                crate::outgoing::locale::Zone::own(engine.tz),
                now,
            ),
            breached: false,
        }),
        // `reply`: the message's text read as an agent's answer, else a
        // stand-in, so the admin sees where the answer goes.
        answer: (name == "reply").then(|| {
            let read = crate::agent::read(&cause.text);
            let text = if read.answer.is_empty() {
                "(the agent's answer goes here)".to_owned()
            } else {
                read.answer
            };
            let agent = Party::new(Some("Ola Agent"), "agent@example.com");
            crate::outgoing::ack::AnswerView::new(&agent, &text)
        }),
        problems: if name == "agent-error" {
            vec!["line 1: #clsoe: unknown command; did you mean #close?".to_owned()]
        } else {
            Vec::new()
        },
        ..Personal::default()
    };
    let sender = crate::outgoing::ack::Sender {
        identity: &engine.identity,
        address: &engine.cfg.support.address,
        name: &engine.cfg.support.name,
        template: name,
        language: lang,
        tz: crate::outgoing::locale::Zone::own(engine.tz),
        display: &engine.cfg.display,
    };
    let to = cause
        .author()
        .cloned()
        .unwrap_or_else(|| ticket.customer.clone());
    crate::outgoing::ack::render_only(
        &sender,
        &engine.templates(),
        &ticket,
        engine.threading.tags.format(ticket.id),
        &cause,
        &to,
        &personal,
        now,
    )
    .map_err(|e| e.to_string())
}

fn preview_ticket(
    engine: &Engine,
    subject: &str,
    customer: crate::model::Party,
    now: DateTime<Utc>,
) -> crate::model::Ticket {
    let mut t = crate::model::Ticket::new(
        engine.cfg.tickets.first_number,
        subject.to_owned(),
        engine.cfg.tickets.default_queue.clone(),
        engine.cfg.tickets.default_priority,
        customer,
        now,
    );
    crate::pipeline::timing::set_dues(engine, &mut t);
    t
}

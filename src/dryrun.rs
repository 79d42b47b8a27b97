//! What the rules would do, without changing anything: `ticketbox rules
//! test MESSAGE.eml` explains every rule on one message, `--replay`
//! re-evaluates stored tickets and lists the decisions that would change.
//! The store, when given, is only read.

use crate::classify::{self, Class};
use crate::parse;
use crate::pipeline::{Engine, history_of, rule_facts};
use crate::rules::{Decision, History, RuleSet, RuleTrace};
use crate::store::{Store, StoreError};
use crate::thread::{self, Placement};
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

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("the message cannot be read: {0}")]
    Parse(#[from] parse::ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Explains every rule of `rules` on the raw message.
pub fn test_message<S: Store + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: Option<&S>,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<TestReport, DryRunError> {
    let env = parse::parse_limited(raw, &crate::intake::content_hash(raw), &engine.cfg.limits)?;
    let verdict = classify::classify(&env, &engine.identity);
    let mut notes = Vec::new();
    let author = env.author().map(|p| p.address.clone()).unwrap_or_default();
    let is_agent = engine.cfg.agents.contains(&author);
    let (is_reply, history) = match store {
        Some(store) => {
            let placement = thread::place(&env, verdict.class, &engine.threading, store, now)?;
            let history = if rules.needs_history() {
                history_of(store, &author)?
            } else {
                History::default()
            };
            (matches!(placement, Placement::Existing { .. }), history)
        }
        None => {
            notes.push(
                "no store available: treated as a new ticket from a customer with no history"
                    .into(),
            );
            (false, History::default())
        }
    };
    let language = crate::lang::detect(&env);
    let facts = rule_facts(
        engine,
        &env,
        language.clone(),
        is_reply,
        is_agent,
        verdict.class != Class::Normal,
        history,
        now,
    );
    let (decision, trace) = rules.explain(&facts);
    Ok(TestReport {
        language,
        kind: if is_reply { "reply" } else { "new" },
        author: if is_agent { "agent" } else { "customer" },
        automatic: (verdict.class != Class::Normal).then(|| verdict.reason.clone()),
        notes,
        rules: trace.into_iter().map(TraceView::from).collect(),
        decision: DecisionView::new(engine, &decision, None),
    })
}

/// One ticket whose decision would change under the current rules.
#[derive(Debug, Serialize)]
pub struct Change {
    pub ticket: u64,
    pub subject: String,
    /// `field: old → new` lines.
    pub changes: Vec<String>,
}

/// Re-evaluates the first message of every ticket created since `since`
/// and reports what `rules` would decide differently from what the ticket
/// has now. Returns (tickets looked at, changes).
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
        let Some(first) = t.messages.first() else {
            continue;
        };
        let Some(rec) = store.message(first)? else {
            continue;
        };
        let Some(raw) = store.raw(&rec.raw_hash)? else {
            continue;
        };
        let Ok(env) = parse::parse_limited(&raw, &rec.raw_hash, &engine.cfg.limits) else {
            continue;
        };
        seen += 1;
        let verdict = classify::classify(&env, &engine.identity);
        let is_agent = engine.cfg.agents.contains(&t.customer.address);
        // History as it was when the ticket was opened.
        let mut history = History::default();
        if rules.needs_history() {
            for id in store.tickets_of_customer(&t.customer.address)? {
                if let Some(other) = store.ticket(id)?
                    && other.created < t.created
                {
                    history
                        .tickets
                        .push((other.created, other.status.is_open()));
                }
            }
        }
        let facts = rule_facts(
            engine,
            &env,
            t.language.clone(),
            false,
            is_agent,
            verdict.class != Class::Normal,
            history,
            t.created,
        );
        let d = rules.evaluate(&facts);
        let now = DecisionView::new(engine, &d, None);
        let mut lines = Vec::new();
        if now.spam.is_some() {
            lines.push(format!(
                "would be quarantined as spam (rule {:?})",
                now.spam.clone().unwrap_or_default()
            ));
        }
        if d.queue.is_some() && now.queue != t.queue {
            lines.push(format!("queue: {} → {}", t.queue, now.queue));
        }
        if now.priority != t.priority.as_str() {
            lines.push(format!("priority: {} → {}", t.priority, now.priority));
        }
        let had: std::collections::BTreeSet<&String> = t.tags.iter().collect();
        let gets: std::collections::BTreeSet<&String> = now.tags.iter().collect();
        let plus: Vec<&&String> = gets.difference(&had).collect();
        let minus: Vec<&&String> = had.difference(&gets).collect();
        if !plus.is_empty() || !minus.is_empty() {
            lines.push(format!(
                "tags: {}{}",
                plus.iter().map(|t| format!("+{t} ")).collect::<String>(),
                minus.iter().map(|t| format!("-{t} ")).collect::<String>()
            ));
        }
        if now.assign != t.assignee {
            lines.push(format!("assignee: {:?} → {:?}", t.assignee, now.assign));
        }
        let sla = t
            .sla_policy
            .clone()
            .unwrap_or_else(|| engine.cfg.sla.default_policy.clone());
        if now.sla != sla {
            lines.push(format!("sla: {sla} → {}", now.sla));
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
) -> Result<crate::render::Rendered, String> {
    use crate::ack::{EscalationView, Personal};
    use crate::model::Party;
    let example = || crate::parse::Envelope {
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
            due: crate::locale::format_when(
                "en",
                ticket.response_due.unwrap_or(now),
                engine.tz,
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
            crate::ack::AnswerView::new(&agent, &text)
        }),
        problems: if name == "agent-error" {
            vec!["line 1: #clsoe: unknown command; did you mean #close?".to_owned()]
        } else {
            Vec::new()
        },
        ..Personal::default()
    };
    let sender = crate::ack::Sender {
        identity: &engine.identity,
        address: &engine.cfg.support.address,
        name: &engine.cfg.support.name,
        template: name,
        language: lang,
        tz: engine.tz,
    };
    let to = cause
        .author()
        .cloned()
        .unwrap_or_else(|| ticket.customer.clone());
    crate::ack::render_only(
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

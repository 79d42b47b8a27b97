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
            sla: d.sla.clone().unwrap_or_else(|| engine.queue_policy(&queue).to_owned()),
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
    let env = parse::parse(raw, &crate::intake::content_hash(raw))?;
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
        let Ok(env) = parse::parse(&raw, &rec.raw_hash) else {
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

//! What the rules would do, without changing anything: `ticketbox rules
//! test MESSAGE.eml` explains every rule on one message, `--replay`
//! re-evaluates stored tickets and lists the decisions that would change.
//! The store, when given, is only read.

use crate::classify::{self, Class};
use crate::model::{MessageKind, Ruled};
use crate::parse;
use crate::pipeline::{
    Engine, forwarded_customer_mail, history_of, rule_facts, ruled_after, ruled_at_open,
};
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
    Parse(#[from] parse::ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Explains every rule of `rules` on the raw message. A message already
/// in a ticket is shown as live processing met it (whether it opened the
/// ticket or joined it, who wrote it, when, and which rules had already
/// shaped the ticket); any other is simulated as if it arrived `now`.
pub fn test_message<S: Store + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: Option<&S>,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<TestReport, DryRunError> {
    let hash = crate::intake::content_hash(raw);
    let mut env = parse::parse_limited(raw, &hash, &engine.cfg.limits)?;
    if let Some(store) = store
        && let Some(report) = test_stored(engine, rules, store, &env, &hash)?
    {
        return Ok(report);
    }
    if let Some(store) = store
        && store.message(&env.message_id)?.is_some_and(|r| {
            r.raw_hash != hash && r.fingerprint != crate::pipeline::fingerprint(&env)
        })
    {
        // A different message that reuses a stored Message-ID: live
        // processing keeps it under a key of its own, and threads it so.
        env.message_id = format!("{}#{}", env.message_id, &hash[..12]);
    }
    let verdict = classify::classify(&env, &engine.identity);
    let mut notes = Vec::new();
    let author = env.author().map(|p| p.address.clone()).unwrap_or_default();
    let is_agent = engine.cfg.agents.contains(&author);
    let (is_reply, history, ticket_rules) = match store {
        Some(store) => {
            let placement = thread::place(&env, verdict.class, &engine.threading, store, now)?;
            let history = if rules.needs_history() {
                history_of(store, &author)?
            } else {
                History::default()
            };
            let (is_reply, fired) = match &placement {
                Placement::Existing { ticket, via } => {
                    notes.push(format!(
                        "not stored: simulated as if it arrived now; it would join {} ({via})",
                        engine.threading.tags.format(*ticket)
                    ));
                    let fired = store
                        .ticket(*ticket)?
                        .map(|t| t.rules_fired)
                        .unwrap_or_default();
                    (true, fired)
                }
                Placement::New { reason, .. } => {
                    notes.push(format!(
                        "not stored: simulated as if it arrived now; it would open a new ticket ({reason})"
                    ));
                    (false, Vec::new())
                }
            };
            (is_reply, history, fired)
        }
        None => {
            notes.push(
                "no store available: simulated as a new ticket from a customer with no history, arriving now"
                    .into(),
            );
            (false, History::default(), Vec::new())
        }
    };
    let language = crate::lang::detect(&env);
    let mut facts = rule_facts(
        engine,
        &env,
        language.clone(),
        is_reply,
        is_agent,
        verdict.class != Class::Normal,
        history,
        now,
    );
    facts.ticket_rules = ticket_rules;
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

/// `test_message` for a message that is in a ticket already: replayed up
/// to it, as live processing met it.
fn test_stored<S: Store + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: &S,
    env: &parse::Envelope,
    hash: &str,
) -> Result<Option<TestReport>, DryRunError> {
    let fp = crate::pipeline::fingerprint(env);
    let mut rec = store.message(&env.message_id)?;
    if rec
        .as_ref()
        .is_some_and(|r| r.raw_hash != hash && r.fingerprint != fp)
    {
        // A reused Message-ID: stored under a key of its own.
        rec = store.message(&format!("{}#{}", env.message_id, &hash[..12]))?;
    }
    let Some(rec) = rec else { return Ok(None) };
    let Some(t) = rec.ticket.map(|id| store.ticket(id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let replayed = replay_ticket(engine, rules, store, &t, Some(&rec.message_id))?;
    let Some(step) = replayed.steps.into_iter().last() else {
        return Ok(None);
    };
    let tag = engine.threading.tags.format(t.id);
    let when = rec.received.format("%Y-%m-%d %H:%M UTC");
    let mut notes = vec![format!(
        "stored: this message {} {tag} on {when}; shown as it was met then (time, ticket, rules that had shaped the ticket before it), with the rules as they are now",
        if step.new { "opened" } else { "joined" }
    )];
    notes.push(format!("what live processing recorded: {}", rec.reason));
    if rec.refused {
        notes.push(
            "this agent's mail was refused, so live processing changed nothing with it".into(),
        );
    }
    let mailbox_queue = t.ruled.as_ref().and_then(|r| r.mailbox_queue.clone());
    let decision = match &step.before {
        Some(base) => DecisionView::on(engine, &step.decision, base),
        None => DecisionView::new(engine, &step.decision, mailbox_queue.as_deref()),
    };
    Ok(Some(TestReport {
        language: step.language,
        kind: if step.new { "new" } else { "reply" },
        author: if step.agent { "agent" } else { "customer" },
        automatic: step.automatic,
        notes,
        rules: step.trace.into_iter().map(TraceView::from).collect(),
        decision,
    }))
}

/// One stored message's turn with the rules.
struct Step {
    /// What the rules had made of the ticket before it (none: it opened
    /// the ticket).
    before: Option<Ruled>,
    new: bool,
    agent: bool,
    automatic: Option<String>,
    language: Option<String>,
    decision: Decision,
    trace: Vec<RuleTrace>,
}

/// A ticket's messages through the rules again.
struct Replayed {
    /// What the rules would make of the ticket (none: nothing to replay).
    ruled: Option<Ruled>,
    steps: Vec<Step>,
}

/// Replays the ticket's incoming messages through `rules` in the order
/// they came, the way live processing met each: as new or reply, by an
/// agent or not, at the time it was stored, with the rules that had fired
/// on the ticket before it (they shape a ticket once). Our own mail and an
/// agent's refused mail changed nothing live and are skipped. Stops after
/// message `upto`, when given.
fn replay_ticket<S: Store + ?Sized>(
    engine: &Engine,
    rules: &RuleSet,
    store: &S,
    t: &crate::model::Ticket,
    upto: Option<&str>,
) -> Result<Replayed, DryRunError> {
    let mut out = Replayed {
        ruled: None,
        steps: Vec::new(),
    };
    let mut fired: Vec<String> = Vec::new();
    let mailbox_queue = t.ruled.as_ref().and_then(|r| r.mailbox_queue.clone());
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
        let Some(raw) = store.raw(&rec.raw_hash)? else {
            continue;
        };
        let Ok(mut env) = parse::parse_limited(&raw, &rec.raw_hash, &engine.cfg.limits) else {
            continue;
        };
        let new = out.ruled.is_none();
        let mut agent = rec.kind == MessageKind::Agent;
        // An agent's forward that opened the ticket: live processing read
        // the customer's mail inside it.
        if new
            && agent
            && let Some(theirs) = forwarded_customer_mail(engine, &env)
        {
            env = theirs;
            agent = false;
        }
        let automatic = matches!(rec.kind, MessageKind::AutoReply | MessageKind::Bounce);
        let author = env.author().map(|p| p.address.clone()).unwrap_or_default();
        let history = if rules.needs_history() {
            history_at(store, &author, rec.received)?
        } else {
            History::default()
        };
        let language = crate::lang::detect(&env);
        let mut facts = rule_facts(
            engine,
            &env,
            language.clone(),
            !new,
            agent,
            automatic,
            history,
            rec.received,
        );
        facts.ticket_rules = fired.clone();
        let (decision, trace) = rules.explain(&facts);
        let before = out.ruled.clone();
        match out.ruled.as_mut() {
            None => {
                let v = DecisionView::new(engine, &decision, mailbox_queue.as_deref());
                let mut opened = crate::model::Ticket::new(
                    t.id,
                    t.subject.clone(),
                    v.queue,
                    decision.final_priority(engine.cfg.tickets.default_priority),
                    t.customer.clone(),
                    t.created,
                );
                opened.sla_policy = Some(v.sla);
                opened.assignee = v.assign;
                opened.tags = v.tags.into_iter().collect();
                out.ruled = Some(ruled_at_open(&opened, mailbox_queue.as_deref()));
            }
            Some(r) => ruled_after(r, &decision),
        }
        for r in &decision.fired {
            if !fired.contains(r) {
                fired.push(r.clone());
            }
        }
        out.steps.push(Step {
            before,
            new,
            agent,
            automatic: automatic.then(|| rec.reason.clone()),
            language,
            decision,
            trace,
        });
        if upto == Some(id.as_str()) {
            break;
        }
    }
    Ok(out)
}

/// The customer's tickets as they stood at `at`: opened before it, open
/// unless closed by then (a ticket closed, reopened and closed again later
/// counts as open: only its last closing is known).
fn history_at<S: Store + ?Sized>(
    store: &S,
    address: &str,
    at: DateTime<Utc>,
) -> Result<History, StoreError> {
    let tickets = store.customer_tickets(address)?;
    Ok(History {
        tickets: tickets
            .iter()
            .filter(|c| c.created < at)
            .map(|c| (c.created, c.closed.is_none_or(|closed| closed > at)))
            .collect(),
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
        let replayed = replay_ticket(engine, rules, store, &t, None)?;
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
                crate::locale::Zone::own(engine.tz),
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
        tz: crate::locale::Zone::own(engine.tz),
        display: &engine.cfg.display,
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

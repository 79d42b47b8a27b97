//! What the CLI prints: tickets, a ticket's messages, the outbox, the
//! quarantine, ingest outcomes; as text tables or JSON. Everything writes
//! to a `Write`, so the same code answers on the terminal and, through the
//! control socket, from inside a running worker.

use crate::model::{MessageKind, MessageRecord, Status, Ticket};
use crate::pipeline::Outcome;
use crate::store::{Store, StoreError};
use crate::subject::TagFormat;
use chrono::SecondsFormat;
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Input(String),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, ReportError>;

pub fn outcome_json(o: &Outcome) -> String {
    json!({
        "message_id": o.message_id,
        "ticket": o.ticket,
        "outcome": o.outcome.as_str(),
        "reason": o.reason,
        "acknowledged": o.acknowledged,
        "origin": o.origin,
        "history": o.history,
    })
    .to_string()
}

pub fn outcome_line(o: &Outcome, tags: &TagFormat) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        o.message_id
            .as_deref()
            .map_or_else(|| "-".to_owned(), |m| format!("<{m}>")),
        o.ticket.map_or_else(|| "-".to_owned(), |t| tags.format(t)),
        o.outcome.as_str(),
        o.reason
    )
}

fn ticket_json(t: &Ticket) -> Value {
    json!({
        "id": t.id,
        "subject": t.subject,
        "status": t.status.as_str(),
        "queue": t.queue,
        "priority": t.priority.as_str(),
        "customer": t.customer.address,
        "customer_name": t.customer.name,
        "messages": t.messages.len(),
        "created": t.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        "updated": t.updated.to_rfc3339_opts(SecondsFormat::Secs, true),
        "response_due": t.response_due.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "first_response_at": t.first_response_at.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "first_response_met": t.first_response_met,
        "assignee": t.assignee,
        "tags": t.tags,
        "links": t.links,
        "participants": t.participants,
        "rules_fired": t.rules_fired,
        "rating_asked": t.rating_asked.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "rating": t.rating,
    })
}

fn print_json(out: &mut dyn Write, v: &Value) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

pub fn tickets<S: Store + ?Sized>(
    out: &mut dyn Write,
    store: &S,
    status: Option<&str>,
    queue: Option<&str>,
    json: bool,
) -> Result<()> {
    let status: Option<Status> = status
        .map(str::parse)
        .transpose()
        .map_err(ReportError::Input)?;
    let list: Vec<Ticket> = store
        .tickets()?
        .into_iter()
        .filter(|t| status.is_none_or(|s| t.status == s))
        .filter(|t| queue.is_none_or(|q| t.queue == q))
        .collect();
    if json {
        return print_json(out, &Value::Array(list.iter().map(ticket_json).collect()));
    }
    if list.is_empty() {
        let mut what = String::from("no tickets");
        if let Some(s) = status {
            what.push_str(&format!(" with status {s}"));
        }
        if let Some(q) = queue {
            what.push_str(&format!(" in queue {q}"));
        }
        writeln!(out, "{what}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>7}  {:<7}  {:<10}  {:<7}  {:>4}  {:<30}  SUBJECT",
        "ID", "STATUS", "QUEUE", "PRIO", "MSGS", "CUSTOMER"
    )?;
    for t in &list {
        writeln!(
            out,
            "{:>7}  {:<7}  {:<10}  {:<7}  {:>4}  {:<30}  {}",
            t.id,
            t.status.as_str(),
            t.queue,
            t.priority.as_str(),
            t.messages.len(),
            t.customer.address,
            t.subject
        )?;
    }
    Ok(())
}

/// `1042`, `TB-1042` and `[#TB-1042]` all name ticket 1042.
pub fn ticket_number(arg: &str) -> Option<u64> {
    let digits: String = arg
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

pub fn show<S: Store + ?Sized>(
    out: &mut dyn Write,
    store: &S,
    arg: &str,
    tags: &TagFormat,
    json: bool,
    full: bool,
) -> Result<()> {
    let Some(id) = ticket_number(arg) else {
        return Err(ReportError::Input(format!(
            "{arg:?} is not a ticket number"
        )));
    };
    let Some(t) = store.ticket(id)? else {
        return Err(ReportError::Input(format!("no ticket {}", tags.format(id))));
    };
    let mut messages = Vec::new();
    for mid in &t.messages {
        let m = store.message(mid)?;
        // Mail we sent: who has it, who refused it, who it still waits for.
        let delivery = match &m {
            Some(m) if m.kind == MessageKind::Outgoing => store.outbox_entry(mid)?.map(|e| {
                json!({
                    "state": e.state.as_str(),
                    "delivered": e.delivered,
                    "refused": e.refused,
                    "waiting": if e.state.is_done() { Vec::new() } else { e.recipients.clone() },
                })
            }),
            _ => None,
        };
        let (text, body) = match &m {
            Some(m) => message_text(store, m)?,
            None => (String::new(), String::new()),
        };
        messages.push(match m {
            Some(m) => json!({
                "text": text,
                "body": body,
                "delivery": delivery,
                "message_id": m.message_id,
                "from": m.from.as_ref().map(|p| p.address.clone()),
                "from_name": m.from.as_ref().and_then(|p| p.name.clone()),
                "date": m.date.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
                "received": m.received.to_rfc3339_opts(SecondsFormat::Secs, true),
                "subject": m.subject,
                "kind": m.kind.as_str(),
                "label": label(&m),
                "to": m.to.iter().chain(&m.cc).map(|p| p.address.clone()).collect::<Vec<_>>(),
                "attachments": m.attachments,
                "reason": m.reason,
            }),
            None => json!({ "message_id": mid, "kind": "missing" }),
        });
    }
    if json {
        let mut v = ticket_json(&t);
        v["messages"] = Value::Array(messages);
        return print_json(out, &v);
    }
    writeln!(out, "{} {}", tags.format(t.id), t.subject)?;
    writeln!(
        out,
        "  status {}  queue {}  priority {}",
        t.status, t.queue, t.priority
    )?;
    writeln!(out, "  customer {}", t.customer)?;
    if let Some(a) = &t.assignee {
        writeln!(out, "  assigned to {a}")?;
    }
    match (t.first_response_at, t.response_due) {
        (Some(at), _) => writeln!(
            out,
            "  first response {} ({})",
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
            if t.first_response_met == Some(false) {
                "late"
            } else {
                "in time"
            }
        )?,
        (None, Some(d)) => writeln!(
            out,
            "  first response due {}",
            d.to_rfc3339_opts(SecondsFormat::Secs, true)
        )?,
        (None, None) => {}
    }
    if !t.tags.is_empty() {
        writeln!(
            out,
            "  tags {}",
            t.tags.iter().cloned().collect::<Vec<_>>().join(", ")
        )?;
    }
    if let Some(r) = &t.rating {
        let words = r.words.lines().next().unwrap_or_default();
        writeln!(
            out,
            "  rated {} of 5 by {}{}",
            r.score,
            r.by,
            if words.is_empty() {
                String::new()
            } else {
                format!(": {words}")
            }
        )?;
    }
    if !t.links.is_empty() {
        let links: Vec<String> = t.links.iter().map(|l| tags.format(*l)).collect();
        writeln!(out, "  linked {}", links.join(", "))?;
    }
    for m in &messages {
        // Mail we sent is shown by whom it went to; the rest by its author.
        let who = match m["kind"].as_str() {
            Some("outgoing") => format!(
                "→ {}",
                m["to"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
            _ => m["from"].as_str().unwrap_or("-").to_owned(),
        };
        writeln!(
            out,
            "  - {}  {:<15}  {}  {}",
            m["received"].as_str().unwrap_or("-"),
            m["label"].as_str().or(m["kind"].as_str()).unwrap_or("-"),
            who,
            m["subject"].as_str().unwrap_or("")
        )?;
        let d = &m["delivery"];
        for r in d["refused"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "      refused {}: {}",
                r["address"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or("")
            )?;
        }
        let waiting: Vec<&str> = d["waiting"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !waiting.is_empty() {
            writeln!(out, "      waiting for {}", waiting.join(", "))?;
        }
        writeln!(
            out,
            "      Message-ID <{}>",
            m["message_id"].as_str().unwrap_or("")
        )?;
        let text = if full { &m["body"] } else { &m["text"] };
        let text = text.as_str().unwrap_or("").trim();
        if !text.is_empty() {
            writeln!(out)?;
            for line in text.lines() {
                writeln!(out, "      {line}")?;
            }
            writeln!(out)?;
        }
    }
    if !full {
        writeln!(out, "(each message's own words; --full shows them whole)")?;
    }
    Ok(())
}

/// What a stored message says: its author's own words (without what they
/// quoted), and its whole text.
fn message_text<S: Store + ?Sized>(store: &S, m: &MessageRecord) -> Result<(String, String)> {
    let raw = if m.raw_hash.is_empty() {
        store
            .outbox_entry(&m.message_id)?
            .map(|e| e.raw.into_bytes())
    } else {
        store.raw(&m.raw_hash)?
    };
    let Some(raw) = raw else {
        return Ok((String::new(), String::new()));
    };
    let limits = crate::limits::Limits::default();
    let Ok(env) = crate::mail::parse::parse_limited(&raw, &m.raw_hash, &limits) else {
        return Ok((String::new(), String::new()));
    };
    let body = env.text.replace("\r\n", "\n");
    let written = crate::mail::written::read(&body);
    let own = if written.own.trim().is_empty() {
        written.forwarded
    } else {
        written.own
    };
    Ok((own, body))
}

/// What a message is, for people: mail we sent by its purpose, an agent's
/// internal note apart from answers.
fn label(m: &MessageRecord) -> String {
    match m.kind {
        MessageKind::Outgoing => m.reason.clone(),
        MessageKind::Agent if m.reason.contains("internal note") => "agent note".into(),
        MessageKind::Agent if m.reason.contains("refused") => "agent (refused)".into(),
        k => k.as_str().replace('_', " "),
    }
}

/// `ticketbox suppressed`: addresses mail is held for, and why.
pub fn suppressed<S: Store + ?Sized>(out: &mut dyn Write, store: &S, json: bool) -> Result<()> {
    let book = store.bounces()?;
    let held: Vec<(&String, &crate::bounces::Entry)> = book
        .addresses
        .iter()
        .filter(|(_, e)| e.suppressed_since.is_some())
        .collect();
    if json {
        let v: Vec<Value> = held
            .iter()
            .map(|(a, e)| {
                serde_json::json!({
                    "address": a,
                    "since": e.suppressed_since,
                    "status": e.status,
                    "diagnostic": e.diagnostic,
                    "ticket": e.ticket,
                    "temporary_failures": e.soft.len(),
                })
            })
            .collect();
        writeln!(out, "{}", Value::Array(v))?;
        return Ok(());
    }
    if held.is_empty() {
        writeln!(out, "no address is held")?;
    }
    for (a, e) in held {
        writeln!(
            out,
            "{a}\t{}\tsince {}\tticket {}\t{}",
            e.status,
            e.suppressed_since
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            e.ticket.map_or_else(|| "-".into(), |t| t.to_string()),
            e.diagnostic
        )?;
    }
    Ok(())
}

pub fn outbox<S: Store + ?Sized>(out: &mut dyn Write, store: &S, json: bool) -> Result<()> {
    let entries = store.outbox()?;
    if json {
        let v: Vec<Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "ticket": e.ticket,
                    "purpose": e.purpose,
                    "to": e.addressed(),
                    "waiting": e.recipients,
                    "delivered": e.delivered,
                    "refused": e.refused,
                    "subject": e.subject,
                    "state": e.state.as_str(),
                    "attempts": e.attempts,
                    "created": e.created.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "next_attempt": e.next_attempt.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "sent": e.sent.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    "last_error": e.last_error,
                })
            })
            .collect();
        return print_json(out, &Value::Array(v));
    }
    if entries.is_empty() {
        writeln!(out, "the outbox is empty: no outgoing mail yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<8}  {:>7}  {:>3}  {:<30}  SUBJECT",
        "STATE", "TICKET", "TRY", "TO"
    )?;
    for e in &entries {
        writeln!(
            out,
            "{:<8}  {:>7}  {:>3}  {:<30}  {}{}",
            e.state.as_str(),
            e.ticket,
            e.attempts,
            e.addressed().join(","),
            e.subject,
            e.last_error
                .as_ref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

pub fn quarantine<S: Store + ?Sized>(out: &mut dyn Write, store: &S, json: bool) -> Result<()> {
    let list = store.quarantined()?;
    if json {
        return print_json(
            out,
            &serde_json::to_value(&list).map_err(std::io::Error::from)?,
        );
    }
    if list.is_empty() {
        writeln!(out, "nothing in quarantine")?;
        return Ok(());
    }
    for q in &list {
        writeln!(
            out,
            "{}  {}  {} bytes  {}  ({})",
            q.received.to_rfc3339_opts(SecondsFormat::Secs, true),
            q.raw_hash.get(..12).unwrap_or(&q.raw_hash),
            q.size,
            q.origin,
            q.reason
        )?;
    }
    Ok(())
}

/// A stored message as received (or, for mail we sent, as sent), by
/// Message-ID (angle brackets optional) or content hash: attachments too big
/// to forward are in it.
pub fn raw_message<S: Store + ?Sized>(store: &S, id: &str) -> Result<Vec<u8>> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let found = match store.message(id)? {
        Some(m) if m.raw_hash.is_empty() => store.outbox_entry(id)?.map(|e| e.raw.into_bytes()),
        Some(m) => store.raw(&m.raw_hash)?,
        None => match store.raw(id)? {
            Some(bytes) => Some(bytes),
            // The short hash `quarantine` shows.
            None if id.len() >= 6 && id.chars().all(|c| c.is_ascii_hexdigit()) => {
                let prefix = id.to_ascii_lowercase();
                let hits: Vec<String> = store
                    .quarantined()?
                    .into_iter()
                    .map(|q| q.raw_hash)
                    .filter(|h| h.starts_with(&prefix))
                    .collect();
                match hits.as_slice() {
                    [one] => store.raw(one)?,
                    [] => None,
                    many => {
                        return Err(ReportError::Input(format!(
                            "{id} matches {} quarantined messages; give more of the hash",
                            many.len()
                        )));
                    }
                }
            }
            None => None,
        },
    };
    found.ok_or_else(|| {
        ReportError::Input(format!(
            "no stored message {id:?} (give a Message-ID from `show` or a hash from `quarantine`)"
        ))
    })
}

/// What became of a released message: the outcome line, or JSON.
pub fn released(o: &Outcome, tags: &TagFormat, json: bool) -> String {
    if json {
        serde_json::to_string(o).unwrap_or_default()
    } else {
        outcome_line(o, tags)
    }
}

/// `ticketbox rules test MESSAGE`: each rule, matched or why not, then the
/// decision.
/// A rendered template, as `templates preview` prints it: the text part
/// here, the HTML part written to `html` when given.
/// `ticketbox report`: the figures per queue ([`crate::stats`]) as text or
/// JSON, and the HTML page with its charts written to `html` (whole: a
/// reader never sees half a page).
pub fn summary<S: Store + ?Sized>(
    out: &mut dyn Write,
    engine: &crate::pipeline::Engine,
    store: &S,
    ask: &crate::stats::Ask,
    html: Option<&std::path::Path>,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let r = crate::stats::build(engine, store, ask, now)?;
    if let Some(path) = html {
        let page = crate::stats::html::page(&r).map_err(ReportError::Input)?;
        let tmp = path.with_extension("html.tmp");
        std::fs::write(&tmp, page)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| ReportError::Input(format!("writing {}: {e}", path.display())))?;
    }
    if json {
        return print_json(
            out,
            &serde_json::to_value(&r).map_err(std::io::Error::from)?,
        );
    }
    write!(out, "{}", crate::stats::text(&r))?;
    if let Some(path) = html {
        writeln!(out, "\nHTML report written to {}", path.display())?;
    }
    Ok(())
}

pub fn preview(
    out: &mut dyn Write,
    r: &crate::outgoing::render::Rendered,
    lang: &str,
    html: Option<&std::path::Path>,
) -> Result<()> {
    if r.language != lang {
        writeln!(out, "(no {lang:?} template: showing {:?})", r.language)?;
    }
    writeln!(out, "Subject: {}\n\n{}", r.subject, r.text)?;
    match (html, &r.html) {
        (Some(path), Some(h)) => {
            std::fs::write(path, h)
                .map_err(|e| ReportError::Input(format!("writing {}: {e}", path.display())))?;
            writeln!(out, "HTML part written to {}", path.display())?;
        }
        (Some(_), None) => writeln!(out, "(this template has no HTML part)")?,
        (None, Some(_)) => writeln!(out, "(an HTML part exists: add --html FILE to write it)")?,
        (None, None) => {}
    }
    Ok(())
}

pub fn rules_test(out: &mut dyn Write, r: &crate::dryrun::TestReport, json: bool) -> Result<()> {
    if json {
        return print_json(out, &serde_json::to_value(r).map_err(std::io::Error::from)?);
    }
    writeln!(
        out,
        "message: {}, written by {}, language {}{}",
        match r.kind {
            "reply" => "a reply on an existing ticket",
            _ => "opens a new ticket",
        },
        match r.author {
            "agent" => "an agent",
            _ => "a customer",
        },
        r.language.as_deref().unwrap_or("unknown"),
        r.automatic
            .as_ref()
            .map(|a| format!(", automatic ({a})"))
            .unwrap_or_default()
    )?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    for t in &r.rules {
        if t.matched {
            writeln!(
                out,
                "  MATCH  {} ({}:{}){}{}",
                t.name,
                t.file,
                t.line,
                if t.stopped { " — stop" } else { "" },
                if t.why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", t.why)
                }
            )?;
        } else {
            writeln!(
                out,
                "  no     {} ({}:{}): {}",
                t.name, t.file, t.line, t.why
            )?;
        }
    }
    let d = &r.decision;
    writeln!(out, "decision:")?;
    writeln!(out, "  queue     {}", d.queue)?;
    writeln!(out, "  priority  {}", d.priority)?;
    writeln!(
        out,
        "  tags      {}",
        if d.tags.is_empty() {
            "-".to_owned()
        } else {
            d.tags.join(", ")
        }
    )?;
    writeln!(out, "  sla       {}", d.sla)?;
    writeln!(
        out,
        "  template  {}",
        d.template.as_deref().unwrap_or("none (no acknowledgement)")
    )?;
    if let Some(a) = &d.assign {
        writeln!(out, "  assign    {a}")?;
    }
    if !d.notify.is_empty() {
        writeln!(out, "  notify    {}", d.notify.join(", "))?;
    }
    if let Some(s) = &d.spam {
        writeln!(out, "  SPAM      quarantined by rule {s:?}")?;
    }
    if let Some(s) = &d.drop {
        writeln!(out, "  drop      if automatic, dropped by rule {s:?}")?;
    }
    for (k, v) in &d.fields {
        writeln!(out, "  field     {k} = {v}")?;
    }
    Ok(())
}

/// `ticketbox rules test --replay`: tickets whose decision would change.
pub fn rules_replay(
    out: &mut dyn Write,
    seen: usize,
    changes: &[crate::dryrun::Change],
    json: bool,
) -> Result<()> {
    if json {
        let v = json!({ "tickets": seen, "changed": changes });
        return print_json(out, &v);
    }
    writeln!(
        out,
        "{seen} tickets re-evaluated; {} would change",
        changes.len()
    )?;
    for c in changes {
        writeln!(out, "  #{} {}", c.ticket, c.subject)?;
        for l in &c.changes {
            writeln!(out, "      {l}")?;
        }
    }
    Ok(())
}

/// `ticketbox status`: each mail source of the running worker (`pid`),
/// what it is doing, its last mail and failure, and its incident.
pub fn status(
    out: &mut dyn Write,
    pid: u32,
    sources: &[(crate::health::SourceState, Option<crate::health::Incident>)],
    json: bool,
) -> Result<()> {
    if json {
        let list: Vec<serde_json::Value> = sources
            .iter()
            .map(|(s, incident)| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["incident"] = incident
                    .as_ref()
                    .filter(|i| i.is_open())
                    .map(|i| serde_json::to_value(i).unwrap_or_default())
                    .unwrap_or(serde_json::Value::Null);
                v
            })
            .collect();
        let doc = serde_json::json!({ "running": true, "pid": pid, "sources": list });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    writeln!(out, "worker {pid} is running")?;
    let ago = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    for (s, incident) in sources {
        let phase = serde_json::to_value(s.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        writeln!(out, "{}\t{phase} since {}", s.name, ago(s.since))?;
        match s.last_mail {
            Some(t) => writeln!(out, "  last mail {} ({} taken in)", ago(t), s.messages)?,
            None => writeln!(out, "  no mail taken in since the worker started")?,
        }
        if let (Some(e), Some(at)) = (&s.last_error, s.last_error_at) {
            let kind = s.problem.map_or("other", |p| p.as_str());
            writeln!(
                out,
                "  last error {} ({kind}, {} in a row): {e}",
                ago(at),
                s.consecutive_failures
            )?;
        }
        if let Some(i) = incident.as_ref().filter(|i| i.is_open()) {
            writeln!(
                out,
                "  INCIDENT: {} since {}, alarm raised {}",
                i.kind.as_str(),
                ago(i.began),
                ago(i.raised)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticket_number_accepts_tag_forms() {
        assert_eq!(super::ticket_number("1042"), Some(1042));
        assert_eq!(super::ticket_number("TB-1042"), Some(1042));
        assert_eq!(super::ticket_number("[#TB-1042]"), Some(1042));
        assert_eq!(super::ticket_number("TB"), None);
    }
}

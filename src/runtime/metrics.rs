//! The worker's HTTP listener for monitoring (`[metrics] listen`, loopback
//! only, off by default): `/metrics` in the Prometheus text format
//! ([`crate::metrics`], the gauges set from the store and the sources at
//! each scrape), `/healthz` (the process answers) and `/readyz` (the store
//! reads, no mail source has been failing for `health.failing_after_seconds`,
//! the outbox is not stuck). Three fixed GET paths on 127.0.0.1 need no web
//! framework: a request line and headers are read (bounded, with a
//! timeout) and one response is written.

use crate::clock::Clock;
use crate::health::Phase;
use crate::intake::health::Health;
use crate::model::Ticket;
use crate::pipeline::Engine;
use crate::store::{OutboxState, Store};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A due entry the sender has not picked up for this long means the
/// outbox is stuck (it tries every few seconds).
const STUCK_AFTER_MINUTES: i64 = 10;

/// Most bytes of a request read (a scraper's GET is a few hundred).
const MAX_REQUEST: usize = 8192;

/// What the listener reads from.
pub struct Scrape<S: Store + ?Sized + 'static> {
    pub engine: Arc<Engine>,
    pub store: Arc<S>,
    pub health: Health,
    pub clock: Arc<dyn Clock>,
}

impl<S: Store + ?Sized + 'static> Scrape<S> {
    /// Sets the gauges from the store and the sources.
    fn refresh(&self) -> Result<(), String> {
        let m = crate::metrics::get();
        let now = self.clock.now();
        let outbox = self.store.outbox_active().map_err(|e| e.to_string())?;
        let pending: Vec<_> = outbox
            .iter()
            .filter(|e| e.state == OutboxState::Pending)
            .collect();
        m.outbox_pending.set(pending.len() as i64);
        let oldest = pending.iter().map(|e| e.created).min();
        m.outbox_oldest_seconds
            .set(oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0));

        let open = self.store.open_tickets().map_err(|e| e.to_string())?;
        let mut by_queue: BTreeMap<(String, &str), i64> = BTreeMap::new();
        let mut sla: BTreeMap<(String, &str), i64> = BTreeMap::new();
        for t in &open {
            *by_queue
                .entry((t.queue.clone(), t.priority.as_str()))
                .or_default() += 1;
            if let Some(state) = sla_state(&self.engine, t, now) {
                *sla.entry((t.queue.clone(), state)).or_default() += 1;
            }
        }
        crate::metrics::set_all(
            &m.tickets_open,
            by_queue
                .iter()
                .map(|((q, p), n)| (vec![("queue", q.as_str()), ("priority", *p)], *n))
                .collect(),
        );
        crate::metrics::set_all(
            &m.tickets_sla,
            sla.iter()
                .map(|((q, s), n)| (vec![("queue", q.as_str()), ("state", *s)], *n))
                .collect(),
        );
        let sources = self.health.snapshot();
        crate::metrics::set_all(
            &m.source_state,
            sources
                .iter()
                .map(|s| {
                    (
                        vec![("source", s.name.as_str()), ("phase", phase_name(s.phase))],
                        1,
                    )
                })
                .collect(),
        );
        Ok(())
    }

    /// Why the worker is not ready, if it is not.
    fn unready(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut why = Vec::new();
        let outbox = match self.store.outbox_active() {
            Ok(o) => o,
            Err(e) => return vec![format!("the store does not read: {e}")],
        };
        let limit = Duration::seconds(self.engine.cfg.health.failing_after_seconds as i64);
        for s in self.health.snapshot() {
            if s.phase == Phase::Failing
                && s.failing_since.is_some_and(|since| now - since >= limit)
            {
                why.push(format!(
                    "{} failing since {}: {}",
                    s.name,
                    s.failing_since.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    s.last_error.as_deref().unwrap_or("")
                ));
            }
        }
        let stuck = now - Duration::minutes(STUCK_AFTER_MINUTES);
        let late = outbox
            .iter()
            .filter(|e| {
                e.state == OutboxState::Pending && e.claim.is_none() && e.next_attempt < stuck
            })
            .count();
        if late > 0 {
            why.push(format!(
                "outbox stuck: {late} message(s) due over {STUCK_AFTER_MINUTES} minutes ago"
            ));
        }
        why
    }
}

/// `near` (its warning time passed) or `past` (due) for an open ticket
/// still waiting for its first answer.
fn sla_state(engine: &Engine, t: &Ticket, now: DateTime<Utc>) -> Option<&'static str> {
    if t.first_response_at.is_some() || t.pending_since.is_some() {
        return None;
    }
    let due = t.response_due?;
    if due <= now {
        return Some("past");
    }
    let policy = engine.policy(t.sla_policy.as_deref());
    let warn = policy.warn_time(
        t.created,
        policy.first_response_target(t.priority),
        Duration::seconds(t.paused_secs),
    )?;
    (warn <= now).then_some("near")
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Connecting => "connecting",
        Phase::Connected => "connected",
        Phase::Idle => "idle",
        Phase::Failing => "failing",
        Phase::Standby => "standby",
        Phase::Stopped => "stopped",
    }
}

/// Serves `listener` until `shutdown`.
pub async fn serve<S: Store + ?Sized + 'static>(
    listener: TcpListener,
    scrape: Arc<Scrape<S>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.changed() => return,
            got = listener.accept() => match got {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let timeout = std::time::Duration::from_secs(10);
            if tokio::time::timeout(timeout, answer(stream, scrape))
                .await
                .is_err()
            {
                tracing::debug!("metrics listener: a request timed out");
            }
        });
    }
}

async fn answer<S: Store + ?Sized + 'static>(mut stream: TcpStream, scrape: Arc<Scrape<S>>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or(path);
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => {
            let s = scrape.clone();
            match tokio::task::spawn_blocking(move || s.refresh()).await {
                Ok(Ok(())) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    crate::metrics::get().render(),
                ),
                Ok(Err(e)) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
                Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
            }
        }
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => {
            let s = scrape.clone();
            match tokio::task::spawn_blocking(move || s.unready()).await {
                Ok(why) if why.is_empty() => ("200 OK", "text/plain", "ready\n".to_owned()),
                Ok(why) => (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("not ready:\n{}\n", why.join("\n")),
                ),
                Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
            }
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "/metrics, /healthz, /readyz\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

//! What a worker counts for Prometheus: mail in by source and outcome,
//! mail out by purpose and result, delivery attempts, how long commits and
//! acknowledgements take, reloads of rules and templates; and, set when
//! scraped, the outbox's depth and age, open tickets by queue and
//! priority, tickets near and past their SLA, and each mail source's state.
//!
//! One set per process ([`get`]), counted wherever the event happens (the
//! committer, the outbox sender, the reloader) with a few atomic adds; the
//! HTTP listener that serves it is `runtime::metrics`, off unless
//! `[metrics] listen` is set. The deciding core counts nothing.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

/// Label pairs, name and value.
pub type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub struct Metrics {
    registry: Registry,
    mail_in: Family<Labels, Counter>,
    mail_out: Family<Labels, Counter>,
    delivery_attempts: Counter,
    commit_seconds: Histogram,
    ack_seconds: Histogram,
    reloads: Family<Labels, Counter>,
    /// Set when scraped.
    pub outbox_pending: Gauge,
    pub outbox_oldest_seconds: Gauge<f64, AtomicU64>,
    pub tickets_open: Family<Labels, Gauge>,
    pub tickets_sla: Family<Labels, Gauge>,
    pub source_state: Family<Labels, Gauge>,
}

/// This process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ticketbox");
        let m = Metrics {
            mail_in: Family::default(),
            mail_out: Family::default(),
            delivery_attempts: Counter::default(),
            // A group commit takes milliseconds; a slow disk, seconds.
            commit_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            // Arrival to acknowledgement: tens of milliseconds over LMTP,
            // half a second through IMAP IDLE, minutes when retried.
            ack_seconds: Histogram::new([
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
            ]),
            reloads: Family::default(),
            outbox_pending: Gauge::default(),
            outbox_oldest_seconds: Gauge::default(),
            tickets_open: Family::default(),
            tickets_sla: Family::default(),
            source_state: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_in",
            "Messages taken in, by source and outcome (created, appended, duplicate, ignored, quarantined)",
            m.mail_in.clone(),
        );
        registry.register(
            "mail_out",
            "Outgoing mail by purpose (acknowledgement, reply, notification …) and result (sent, retry, failed)",
            m.mail_out.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Attempts to hand outgoing mail to its transport",
            m.delivery_attempts.clone(),
        );
        registry.register(
            "commit_seconds",
            "Time to write a batch of decided messages durably (group commit)",
            m.commit_seconds.clone(),
        );
        registry.register(
            "ack_latency_seconds",
            "From a message stored to its acknowledgement accepted by the transport",
            m.ack_seconds.clone(),
        );
        registry.register(
            "reloads",
            "Reloads of rules and templates, by what and result (ok, failed)",
            m.reloads.clone(),
        );
        registry.register(
            "outbox_pending",
            "Outgoing mail waiting to be sent",
            m.outbox_pending.clone(),
        );
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest outgoing mail still waiting",
            m.outbox_oldest_seconds.clone(),
        );
        registry.register(
            "tickets_open",
            "Open tickets (new, open, pending) by queue and priority",
            m.tickets_open.clone(),
        );
        registry.register(
            "tickets_sla",
            "Unanswered open tickets near (warning time passed) and past their first-response due time, by queue",
            m.tickets_sla.clone(),
        );
        registry.register(
            "source_state",
            "Each mail source's state: 1 for the phase it is in (connecting, connected, idle, failing, standby, stopped)",
            m.source_state.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The metrics in the text exposition format (OpenMetrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// A message taken in from `origin` (`imap:support/17`, a file path …)
/// with `outcome`.
pub fn message_in(origin: &str, outcome: &str) {
    get()
        .mail_in
        .get_or_create(&labels(&[
            ("source", &source_of(origin)),
            ("outcome", outcome),
        ]))
        .inc();
}

/// The source part of an origin: `imap:support`, `lmtp`, `maildir`.
fn source_of(origin: &str) -> String {
    match origin.split_once(':') {
        Some(("imap", rest)) => {
            format!("imap:{}", rest.split('/').next().unwrap_or(rest))
        }
        Some((kind, _)) if kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            kind.to_owned()
        }
        _ => "maildir".to_owned(),
    }
}

/// One attempt at handing mail to its transport.
pub fn delivery_attempt() {
    get().delivery_attempts.inc();
}

/// Outgoing mail for `purpose` came out `result` (`sent`, `retry`,
/// `failed`).
pub fn mail_out(purpose: &str, result: &str) {
    get()
        .mail_out
        .get_or_create(&labels(&[("purpose", purpose), ("result", result)]))
        .inc();
}

/// A commit of decided messages took `seconds`.
pub fn commit_took(seconds: f64) {
    get().commit_seconds.observe(seconds);
}

/// An acknowledgement went out `seconds` after its message was stored.
pub fn ack_took(seconds: f64) {
    get().ack_seconds.observe(seconds.max(0.0));
}

/// Rules or templates (`what`) were reloaded, or refused.
pub fn reloaded(what: &str, ok: bool) {
    get()
        .reloads
        .get_or_create(&labels(&[
            ("what", what),
            ("result", if ok { "ok" } else { "failed" }),
        ]))
        .inc();
}

/// Sets a labelled gauge family to exactly `values` (label sets not among
/// them disappear: a queue with no open tickets left is not kept at its
/// last count).
pub fn set_all(family: &Family<Labels, Gauge>, values: Vec<(Vec<(&str, &str)>, i64)>) {
    family.clear();
    for (l, v) in values {
        family.get_or_create(&labels(&l)).set(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named_by_kind_and_mailbox() {
        assert_eq!(source_of("imap:support/17"), "imap:support");
        assert_eq!(source_of("lmtp:127.0.0.1:24"), "lmtp");
        assert_eq!(source_of("/var/mail/support/new/1.eml"), "maildir");
        assert_eq!(source_of("stdin"), "maildir");
    }

    #[test]
    fn counted_events_show_in_the_text() {
        message_in("imap:metrics-test/1", "created");
        message_in("imap:metrics-test/2", "created");
        mail_out("acknowledgement", "sent");
        ack_took(0.3);
        let text = get().render();
        assert!(
            text.contains(
                "ticketbox_messages_in_total{source=\"imap:metrics-test\",outcome=\"created\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("ticketbox_ack_latency_seconds_bucket{le=\"0.5\"}"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}

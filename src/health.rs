//! Intake health: what each mail source is doing, and when that is worth
//! waking someone for. A fetcher that fails quietly is the failure
//! helpdesk admins meet most often after threading; a log line nobody
//! reads at night does not count as telling them.
//!
//! Sources report what happens to them ([`SourceState`], kept by the
//! runtime); [`review`] is the pure decision over those states, the
//! incidents already open and `now`: which incidents open (a source
//! failing for `failing_after_seconds`, or silent for
//! `silence_after_seconds` of business time) and which close. Each opens
//! once and closes once, and each change is one alarm mail.

use crate::calendar::Calendar;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a source is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Opening its connection (or its listener).
    Connecting,
    /// Connected and reading.
    Connected,
    /// Connected and waiting for mail (IMAP IDLE, a watched Maildir, a
    /// listener with no session).
    Idle,
    /// Its last attempt failed; it is retrying.
    Failing,
    /// Another worker on the shared store reads it.
    Standby,
    /// It has stopped (shutdown, or it gave up).
    Stopped,
}

/// Why a source fails, as an admin would look for the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    /// The server refused the login (a changed password, a locked account).
    Auth,
    /// The TLS handshake or the certificate.
    Tls,
    /// Reaching the server: refused, unreachable, timed out, dropped.
    Connection,
    /// An OAuth2 token could not be had or refreshed.
    Token,
    /// The store would not take the mail (a full disk …).
    Store,
    Other,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Auth => "auth",
            Problem::Tls => "tls",
            Problem::Connection => "connection",
            Problem::Token => "token",
            Problem::Store => "store",
            Problem::Other => "other",
        }
    }
}

/// One source's state, as `ticketbox status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// `mailbox:support`, `maildir:/var/mail/support`, `lmtp:127.0.0.1:24`.
    pub name: String,
    pub phase: Phase,
    /// Since when it is in this phase.
    pub since: DateTime<Utc>,
    /// When this process first had it working (the start of a silence when
    /// no mail came yet).
    pub watching_since: Option<DateTime<Utc>>,
    /// When it last took in mail, and how much it took in since the start.
    pub last_mail: Option<DateTime<Utc>>,
    pub messages: u64,
    /// The last failure, kept after recovery for the record.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub problem: Option<Problem>,
    /// Failures in a row; 0 once it works again.
    pub consecutive_failures: u32,
    /// Since when it has been failing without a success between.
    pub failing_since: Option<DateTime<Utc>>,
    /// Its silence window in seconds of business time (0: no watch).
    pub silence_after_seconds: u64,
}

impl SourceState {
    pub fn new(name: &str, silence_after_seconds: u64, now: DateTime<Utc>) -> SourceState {
        SourceState {
            name: name.to_owned(),
            phase: Phase::Connecting,
            since: now,
            watching_since: None,
            last_mail: None,
            messages: 0,
            last_error: None,
            last_error_at: None,
            problem: None,
            consecutive_failures: 0,
            failing_since: None,
            silence_after_seconds,
        }
    }

    fn enter(&mut self, phase: Phase, now: DateTime<Utc>) {
        if self.phase != phase {
            self.phase = phase;
            self.since = now;
        }
    }

    /// It works (connected, idle, took mail): a failure streak ends.
    fn working(&mut self, phase: Phase, now: DateTime<Utc>) {
        self.enter(phase, now);
        self.watching_since.get_or_insert(now);
        self.consecutive_failures = 0;
        self.failing_since = None;
    }

    pub fn connecting(&mut self, now: DateTime<Utc>) {
        // A reconnect after a failure is still the same failure.
        if self.phase != Phase::Failing {
            self.enter(Phase::Connecting, now);
        }
    }

    pub fn connected(&mut self, now: DateTime<Utc>) {
        self.working(Phase::Connected, now);
    }

    pub fn idle(&mut self, now: DateTime<Utc>) {
        self.working(Phase::Idle, now);
    }

    pub fn took(&mut self, messages: usize, now: DateTime<Utc>) {
        self.working(self.phase_after_mail(), now);
        if messages > 0 {
            self.messages += messages as u64;
            self.last_mail = Some(now);
        }
    }

    fn phase_after_mail(&self) -> Phase {
        match self.phase {
            Phase::Idle => Phase::Idle,
            _ => Phase::Connected,
        }
    }

    pub fn failed(&mut self, problem: Problem, error: &str, now: DateTime<Utc>) {
        self.enter(Phase::Failing, now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.failing_since.get_or_insert(now);
        self.last_error = Some(error.to_owned());
        self.last_error_at = Some(now);
        self.problem = Some(problem);
    }

    pub fn standby(&mut self, now: DateTime<Utc>) {
        self.enter(Phase::Standby, now);
        // Another worker reads it: its failures and silence are that
        // worker's to report.
        self.consecutive_failures = 0;
        self.failing_since = None;
        self.watching_since = None;
    }

    pub fn stopped(&mut self, now: DateTime<Utc>) {
        self.enter(Phase::Stopped, now);
    }
}

/// What kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentKind {
    /// Failing for longer than `failing_after_seconds`.
    Failing,
    /// No mail for `silence_after_seconds` of business time.
    Silent,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Failing => "failing",
            IncidentKind::Silent => "silent",
        }
    }
}

/// An open incident on a source, kept in the store so that a restart
/// neither forgets it (no recovery mail) nor repeats its alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub source: String,
    pub kind: IncidentKind,
    /// When the trouble began (the first failure, the last mail).
    pub began: DateTime<Utc>,
    /// When the alarm went out.
    pub raised: DateTime<Utc>,
    pub problem: Option<Problem>,
    pub error: Option<String>,
    /// When it ended and the all-clear went out; an ended incident is
    /// kept for the record until the next one on the source.
    #[serde(default)]
    pub cleared: Option<DateTime<Utc>>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.cleared.is_none()
    }
}

/// The settings [`review`] applies.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// A source failing this long is an incident.
    pub failing_after_seconds: u64,
}

/// One change [`review`] decided: each is one alarm mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new incident: tell the admin.
    Raise(Incident),
    /// The incident is over: tell the admin, and forget it.
    Clear {
        incident: Incident,
        /// When it ended (the first success, the mail that broke the
        /// silence).
        at: DateTime<Utc>,
    },
}

/// Which incidents open and which close, given each source's state and
/// the incident open on it (if any). Pure: `now` and the calendar are
/// given; nothing is written.
pub fn review(
    sources: &[(SourceState, Option<Incident>)],
    thresholds: Thresholds,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (s, open) in sources {
        // Another worker reads it: raising or clearing is that worker's
        // call (here the source is neither failing nor well).
        if s.phase == Phase::Standby {
            continue;
        }
        let open = open.as_ref().filter(|i| i.is_open());
        let wanted = trouble(s, thresholds, calendar, now);
        match (wanted, open) {
            (Some(kind), None) => changes.push(Change::Raise(Incident {
                source: s.name.clone(),
                kind,
                began: match kind {
                    IncidentKind::Failing => s.failing_since.unwrap_or(now),
                    IncidentKind::Silent => s.last_mail.or(s.watching_since).unwrap_or(now),
                },
                raised: now,
                problem: (kind == IncidentKind::Failing)
                    .then_some(s.problem)
                    .flatten(),
                error: (kind == IncidentKind::Failing)
                    .then(|| s.last_error.clone())
                    .flatten(),
                cleared: None,
            })),
            (None, Some(incident)) if over(s, incident) => changes.push(Change::Clear {
                incident: incident.clone(),
                at: match incident.kind {
                    IncidentKind::Failing => s.since,
                    IncidentKind::Silent => s.last_mail.unwrap_or(now),
                },
            }),
            // Still the same incident, or one kind giving way to the
            // other: one incident, told once, until the source is well.
            _ => {}
        }
    }
    changes
}

/// The incident a source is in now, if any.
fn trouble(
    s: &SourceState,
    t: Thresholds,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Option<IncidentKind> {
    // (A source on standby never gets here: see `review`.)
    if s.phase == Phase::Stopped {
        return None;
    }
    if let Some(since) = s.failing_since {
        let limit = chrono::Duration::seconds(i64::try_from(t.failing_after_seconds).ok()?);
        return (now - since >= limit).then_some(IncidentKind::Failing);
    }
    if s.silence_after_seconds == 0 {
        return None;
    }
    let quiet_since = s.last_mail.or(s.watching_since)?;
    let window = chrono::Duration::seconds(i64::try_from(s.silence_after_seconds).ok()?);
    // Silence counts in business time: a mailbox quiet over the weekend
    // is not an incident on Monday morning.
    let due = crate::sla::add_business(calendar, quiet_since, window)?;
    (now >= due).then_some(IncidentKind::Silent)
}

/// Whether an open incident is over: the source works again, or mail
/// came after the silence began.
fn over(s: &SourceState, incident: &Incident) -> bool {
    match incident.kind {
        IncidentKind::Failing => {
            s.failing_since.is_none() && !matches!(s.phase, Phase::Connecting | Phase::Stopped)
        }
        IncidentKind::Silent => s.last_mail.is_some_and(|t| t > incident.began),
    }
}

#[cfg(test)]
mod tests;

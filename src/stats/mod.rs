//! The numbers of `ticketbox report`: per queue, how much came in, how fast
//! the first answer came (in business time, as the SLA counts it), how
//! often the SLA held, what waits now and for how long, how customers
//! rated us and how often they came back; and when mail arrives, by
//! weekday and hour of the team's clock.
//!
//! [`build`] reads the tickets and message records through a read-only
//! [`View`] and is handed `now`: the same store gives the same report, so
//! `--json`, the text and the HTML page ([`html`]) agree by construction.
//! Fractions are rounded once, here (to one decimal), so what a page shows
//! is the number `--json` gives.

pub mod html;

use crate::model::{MessageKind, Status, Ticket};
use crate::pipeline::Engine;
use crate::store::{StoreError, View};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::Serialize;

/// What `ticketbox report` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// Tickets opened (and mail, ratings) from this moment on; the backlog
    /// is always as it stands now.
    pub since: Option<DateTime<Utc>>,
    /// One queue only.
    pub queue: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub generated: DateTime<Utc>,
    pub since: Option<DateTime<Utc>>,
    /// The zone weekdays and hours are counted in (the team's).
    pub timezone: String,
    /// Every queue with tickets (or asked for), by name; then `total`.
    pub queues: Vec<QueueReport>,
    pub total: QueueReport,
    /// Customers' mail by weekday, Monday first, and by hour (0–23).
    pub mail_by_weekday: [u64; 7],
    pub mail_by_hour: [u64; 24],
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct QueueReport {
    pub queue: String,
    /// Tickets opened in the period.
    pub tickets: u64,
    /// Customers' mail in the period (first mails and replies).
    pub mail_in: u64,
    pub first_response: FirstResponse,
    pub sla: SlaReport,
    pub backlog: Backlog,
    pub csat: Csat,
    pub reopen: Reopen,
}

/// How long the first answer took, in business hours.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FirstResponse {
    pub answered: u64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

/// First-response targets met, of those decided (answered, or overdue).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SlaReport {
    pub measured: u64,
    pub met: u64,
    /// Percent of `measured`.
    pub compliance: Option<f64>,
    /// Still unanswered and past their due time now.
    pub overdue_now: u64,
}

/// Open tickets now (new, open or pending), and how old they are.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Backlog {
    pub open: u64,
    /// Of them, waiting on the customer.
    pub pending: u64,
    pub median_age_days: Option<f64>,
    pub oldest_days: Option<f64>,
    /// Under 1 day, 1–3, 3–7, 7–30, over 30 days.
    pub by_age: [u64; 5],
}

/// Labels of [`Backlog::by_age`].
pub const AGE_BUCKETS: [&str; 5] = ["< 1 day", "1–3 days", "3–7 days", "7–30 days", "> 30 days"];

/// Satisfaction: how many were asked, how many rated, and how.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Csat {
    pub asked: u64,
    pub rated: u64,
    pub average: Option<f64>,
    /// Ratings of 1 … 5.
    pub distribution: [u64; 5],
    /// Percent of ratings that were 4 or 5.
    pub satisfied: Option<f64>,
}

/// Tickets closed, and how many of them a customer's mail opened again.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Reopen {
    pub closed: u64,
    pub reopened: u64,
    /// Percent of `closed`.
    pub rate: Option<f64>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round1(100.0 * part as f64 / whole as f64))
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(round1(v[rank - 1]))
}

/// Collects one queue's figures ticket by ticket.
#[derive(Default)]
struct Tally {
    r: QueueReport,
    responses: Vec<f64>,
    ages: Vec<f64>,
    scores: Vec<u8>,
}

impl Tally {
    fn finish(mut self) -> QueueReport {
        self.responses.sort_by(f64::total_cmp);
        self.ages.sort_by(f64::total_cmp);
        let r = &mut self.r;
        r.first_response.answered = self.responses.len() as u64;
        r.first_response.median_hours = quantile(&self.responses, 0.5);
        r.first_response.p90_hours = quantile(&self.responses, 0.9);
        r.sla.compliance = percent(r.sla.met, r.sla.measured);
        r.backlog.median_age_days = quantile(&self.ages, 0.5);
        r.backlog.oldest_days = self.ages.last().map(|a| round1(*a));
        r.csat.rated = self.scores.len() as u64;
        for s in &self.scores {
            r.csat.distribution[usize::from(s.clamp(&1, &5) - 1)] += 1;
        }
        let sum: u64 = self.scores.iter().map(|s| u64::from(*s)).sum();
        r.csat.average = (!self.scores.is_empty())
            .then(|| ((sum as f64 / self.scores.len() as f64) * 100.0).round() / 100.0);
        let happy = self.scores.iter().filter(|s| **s >= 4).count() as u64;
        r.csat.satisfied = percent(happy, r.csat.rated);
        r.reopen.rate = percent(r.reopen.reopened, r.reopen.closed);
        self.r
    }
}

/// Builds the report over `view` at `now`.
pub fn build<V: View + ?Sized>(
    engine: &Engine,
    view: &V,
    ask: &Ask,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let in_period = |at: DateTime<Utc>| ask.since.is_none_or(|s| at >= s);
    let mut queues: std::collections::BTreeMap<String, Tally> = Default::default();
    if let Some(q) = &ask.queue {
        queues.entry(q.clone()).or_default();
    }
    let mut total = Tally::default();
    let mut by_weekday = [0u64; 7];
    let mut by_hour = [0u64; 24];
    let tz = engine.tz;
    for t in view.tickets()? {
        if ask.queue.as_ref().is_some_and(|q| *q != t.queue) || t.status == Status::Filed {
            continue;
        }
        let tally = queues.entry(t.queue.clone()).or_default();
        let mut mail = 0;
        for id in &t.messages {
            let Some(m) = view.message(id)? else { continue };
            if m.kind != MessageKind::Customer {
                continue;
            }
            // When the customer wrote, by their Date header unless it is
            // missing or claims a time after we had the mail.
            let at = m
                .date
                .filter(|d| *d <= m.received + Duration::hours(1))
                .unwrap_or(m.received);
            if !in_period(at) {
                continue;
            }
            mail += 1;
            let local = at.with_timezone(&tz);
            by_weekday[local.weekday().num_days_from_monday() as usize] += 1;
            by_hour[local.hour() as usize] += 1;
        }
        for x in [&mut tally.r.mail_in, &mut total.r.mail_in] {
            *x += mail;
        }
        count(engine, &t, in_period, now, tally);
        count(engine, &t, in_period, now, &mut total);
    }
    let queues = queues
        .into_iter()
        .map(|(name, t)| {
            let mut r = t.finish();
            r.queue = name;
            r
        })
        .collect();
    let mut total = total.finish();
    total.queue = "total".into();
    Ok(Report {
        generated: now,
        since: ask.since,
        timezone: tz.name().to_owned(),
        queues,
        total,
        mail_by_weekday: by_weekday,
        mail_by_hour: by_hour,
    })
}

/// Adds ticket `t` to `tally`.
fn count(
    engine: &Engine,
    t: &Ticket,
    in_period: impl Fn(DateTime<Utc>) -> bool,
    now: DateTime<Utc>,
    tally: &mut Tally,
) {
    let r = &mut tally.r;
    if t.status.is_open() {
        let age = (now - t.created).num_seconds().max(0) as f64 / 86_400.0;
        r.backlog.open += 1;
        if t.status == Status::Pending {
            r.backlog.pending += 1;
        }
        let bucket = match age {
            a if a < 1.0 => 0,
            a if a < 3.0 => 1,
            a if a < 7.0 => 2,
            a if a < 30.0 => 3,
            _ => 4,
        };
        r.backlog.by_age[bucket] += 1;
        tally.ages.push(age);
    }
    if let Some(r8) = &t.rating
        && in_period(r8.at)
    {
        tally.scores.push(r8.score);
    }
    if t.rating_asked.is_some_and(&in_period) {
        r.csat.asked += 1;
    }
    if !in_period(t.created) {
        return;
    }
    r.tickets += 1;
    if t.status == Status::Closed || t.reopened > 0 {
        r.reopen.closed += 1;
        r.reopen.reopened += u64::from(t.reopened > 0);
    }
    match (t.first_response_at, t.response_due) {
        (Some(at), due) => {
            let policy = engine.policy(t.sla_policy.as_deref());
            let took = crate::sla::business_between(&policy.calendar, t.created, at)
                - Duration::seconds(t.paused_secs);
            tally
                .responses
                .push(took.num_seconds().max(0) as f64 / 3600.0);
            if due.is_some() {
                r.sla.measured += 1;
                r.sla.met += u64::from(t.first_response_met == Some(true));
            }
        }
        // Unanswered: a miss once its time is up (a closed ticket that
        // was never answered did not miss: nobody needed an answer).
        (None, Some(due)) if t.status.is_open() && due < now => {
            r.sla.measured += 1;
            r.sla.overdue_now += 1;
        }
        _ => {}
    }
}

/// The report as text, one block per queue.
pub fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v}{unit}"));
    let _ = writeln!(
        s,
        "ticketbox report, {}{}; weekdays and hours in {}",
        r.generated.format("%Y-%m-%d %H:%M UTC"),
        r.since
            .map(|d| format!(", since {}", d.format("%Y-%m-%d")))
            .unwrap_or_default(),
        r.timezone
    );
    for q in r.queues.iter().chain(std::iter::once(&r.total)) {
        let _ = writeln!(s, "\n{}", q.queue);
        let _ = writeln!(s, "  tickets {}, customers' mail {}", q.tickets, q.mail_in);
        let _ = writeln!(
            s,
            "  first response (business time): median {}, p90 {} ({} answered)",
            opt(q.first_response.median_hours, " h"),
            opt(q.first_response.p90_hours, " h"),
            q.first_response.answered
        );
        let _ = writeln!(
            s,
            "  SLA: {} met of {} ({}), {} overdue now",
            q.sla.met,
            q.sla.measured,
            opt(q.sla.compliance, "%"),
            q.sla.overdue_now
        );
        let _ = writeln!(
            s,
            "  backlog: {} open ({} pending), median age {}, oldest {}",
            q.backlog.open,
            q.backlog.pending,
            opt(q.backlog.median_age_days, " d"),
            opt(q.backlog.oldest_days, " d")
        );
        let _ = writeln!(
            s,
            "  satisfaction: {} rated of {} asked, average {}, 1-5: {:?}",
            q.csat.rated,
            q.csat.asked,
            opt(q.csat.average, ""),
            q.csat.distribution
        );
        let _ = writeln!(
            s,
            "  reopened: {} of {} closed ({})",
            q.reopen.reopened,
            q.reopen.closed,
            opt(q.reopen.rate, "%")
        );
    }
    let _ = writeln!(
        s,
        "\ncustomers' mail by weekday (Mon-Sun): {:?}",
        r.mail_by_weekday
    );
    let _ = writeln!(s, "customers' mail by hour (0-23): {:?}", r.mail_by_hour);
    s
}

#[cfg(test)]
mod tests;

//! Business time and SLA due times.
//!
//! Targets count only the team's working time: a 4-hour target set on
//! Friday at 16:00 in Warsaw falls due on Monday at 12:00; across a DST
//! change a business hour is still sixty real minutes, because every
//! interval is converted to instants through the calendar's time zone
//! before it is measured. Pure functions over a [`Calendar`]; the clock is
//! the caller's.

use crate::calendar::{Calendar, CalendarCfg};
pub mod settings;

use crate::model::Priority;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use settings::{SlaPolicyCfg, Targets};
use std::collections::BTreeMap;

/// How far ahead (in days) we look for working time before giving up: a
/// calendar with no open hours must not loop forever.
const HORIZON_DAYS: i64 = 3 * 366;

/// Longest SLA target, in working days.
const MAX_TARGET_DAYS: i32 = 90;

/// A policy ready to use: targets as durations, its calendar parsed.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub calendar: Calendar,
    /// Per priority, low to urgent.
    pub first_response: [Duration; 4],
    pub resolution: [Duration; 4],
    pub pause_when_pending: bool,
    pub warn_at: f64,
    pub raise_on_breach: bool,
}

fn slot(p: Priority) -> usize {
    Priority::ALL.iter().position(|x| *x == p).unwrap_or(1)
}

impl Policy {
    pub fn from_cfg(
        name: &str,
        cfg: &SlaPolicyCfg,
        calendars: &BTreeMap<String, CalendarCfg>,
    ) -> Result<Policy, String> {
        let cal_cfg = calendars
            .get(&cfg.calendar)
            .ok_or_else(|| format!("calendar: no calendar named {:?}", cfg.calendar))?;
        let calendar =
            Calendar::from_cfg(cal_cfg).map_err(|e| format!("calendar {}: {e}", cfg.calendar))?;
        let day = working_day(&calendar);
        let parse = |what: &str, t: &Targets| -> Result<[Duration; 4], String> {
            let one = |p: &str, v: &str| {
                let d = parse_duration(v, day).map_err(|e| format!("{what}.{p}: {e}"))?;
                if d > day * MAX_TARGET_DAYS {
                    return Err(format!(
                        "{what}.{p}: {v:?} is over {MAX_TARGET_DAYS} working days, not a \
                         target anyone could be held to"
                    ));
                }
                Ok(d)
            };
            Ok([
                one("low", &t.low)?,
                one("normal", &t.normal)?,
                one("high", &t.high)?,
                one("urgent", &t.urgent)?,
            ])
        };
        if !(0.0..1.0).contains(&cfg.warn_at) {
            return Err(format!(
                "warn_at = {}: expected a share between 0 and 1, like 0.8",
                cfg.warn_at
            ));
        }
        Ok(Policy {
            name: name.to_owned(),
            first_response: parse("first_response", &cfg.first_response)?,
            resolution: parse("resolution", &cfg.resolution)?,
            calendar,
            pause_when_pending: cfg.pause_when_pending,
            warn_at: cfg.warn_at,
            raise_on_breach: cfg.raise_on_breach,
        })
    }

    pub fn first_response_target(&self, p: Priority) -> Duration {
        self.first_response[slot(p)]
    }

    pub fn resolution_target(&self, p: Priority) -> Duration {
        self.resolution[slot(p)]
    }

    /// First-response and resolution due times of a ticket opened at
    /// `created` with `priority`, after `paused` working time on hold.
    pub fn dues(
        &self,
        created: DateTime<Utc>,
        priority: Priority,
        paused: Duration,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (
            due(
                &self.calendar,
                created,
                self.first_response_target(priority),
                paused,
            ),
            due(
                &self.calendar,
                created,
                self.resolution_target(priority),
                paused,
            ),
        )
    }

    /// When to warn that a target is near: `warn_at` of it in working time.
    pub fn warn_time(
        &self,
        created: DateTime<Utc>,
        target: Duration,
        paused: Duration,
    ) -> Option<DateTime<Utc>> {
        let share =
            Duration::milliseconds((target.num_milliseconds() as f64 * self.warn_at) as i64);
        due(&self.calendar, created, share, paused)
    }
}

/// Parses a duration like `30m`, `4h`, `1d`, `1d4h`, `90s`. A day (`d`) is
/// one working day of the calendar (`day`), not 24 hours.
pub fn parse_duration(s: &str, day: Duration) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::zero();
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 30m, 4h, 1d or 1d4h"))?;
        num.clear();
        let unit = match c {
            'd' => day,
            'h' => Duration::hours(1),
            'm' => Duration::minutes(1),
            's' => Duration::seconds(1),
            _ => return Err(format!("{s:?}: unknown unit {c:?} (use d, h, m or s)")),
        };
        let ms = unit.num_milliseconds() as f64 * n;
        if !ms.is_finite() || ms > 1e15 {
            return Err(format!("{s:?} is far too long"));
        }
        total += Duration::milliseconds(ms.round() as i64);
    }
    if !num.is_empty() {
        return Err(format!("{s:?} needs a unit: 30m, 4h, 1d"));
    }
    if total <= Duration::zero() {
        return Err(format!("{s:?} must be longer than zero"));
    }
    Ok(total)
}

/// The longest working day of the week: what `1d` means for this calendar.
pub fn working_day(cal: &Calendar) -> Duration {
    cal.week
        .iter()
        .map(|day| {
            day.iter()
                .map(|(a, b)| *b - *a)
                .fold(Duration::zero(), |x, y| x + y)
        })
        .max()
        .filter(|d| *d > Duration::zero())
        .unwrap_or(Duration::hours(8))
}

/// The working intervals of a local date, as instants.
fn intervals(
    cal: &Calendar,
    date: NaiveDate,
) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
    cal.intervals(date)
        .iter()
        .map(move |(a, b)| (cal.at(date, *a), cal.at(date, *b)))
}

/// `start` plus `amount` of working time. `None` when the calendar has no
/// working time within three years (a misconfiguration).
pub fn add_business(
    cal: &Calendar,
    start: DateTime<Utc>,
    amount: Duration,
) -> Option<DateTime<Utc>> {
    let mut left = amount;
    let mut date = start.with_timezone(&cal.tz).date_naive();
    for _ in 0..HORIZON_DAYS {
        for (a, b) in intervals(cal, date) {
            let from = a.max(start);
            if from >= b {
                continue;
            }
            let available = b - from;
            if left <= available {
                return Some(from + left);
            }
            left -= available;
        }
        date = date.succ_opt()?;
    }
    None
}

/// Working time between two instants (zero when `to <= from`).
pub fn business_between(cal: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    let mut total = Duration::zero();
    if to <= from {
        return total;
    }
    let mut date = from.with_timezone(&cal.tz).date_naive();
    let last = to.with_timezone(&cal.tz).date_naive();
    while date <= last {
        for (a, b) in intervals(cal, date) {
            let (x, y) = (a.max(from), b.min(to));
            if y > x {
                total += y - x;
            }
        }
        match date.succ_opt() {
            Some(d) => date = d,
            None => break,
        }
    }
    total
}

/// The due time of a target of `amount` working time on a ticket opened at
/// `created`, after `paused` working time spent waiting on the customer.
pub fn due(
    cal: &Calendar,
    created: DateTime<Utc>,
    amount: Duration,
    paused: Duration,
) -> Option<DateTime<Utc>> {
    add_business(cal, created, amount + paused)
}

/// A recent first response: how long it took in working time, and how
/// many tickets were ahead of it in the queue when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub took: Duration,
    pub ahead: u32,
}

/// The expected response: never earlier than the SLA due time, later when
/// the queue's recent first responses say we are slower than the target.
///
/// Takes the `percentile` of recent response times (0.8: four customers in
/// five were answered sooner) and scales it by how the queue's current depth
/// (`ahead_now`) compares with the depth those customers found (their
/// median): twice the usual backlog, twice the wait. With fewer than
/// `min_samples`, history is too thin to trust and the SLA stands.
pub fn estimate(
    cal: &Calendar,
    now: DateTime<Utc>,
    sla_due: DateTime<Utc>,
    samples: &[Sample],
    percentile: f64,
    min_samples: usize,
    ahead_now: u32,
) -> DateTime<Utc> {
    if samples.len() < min_samples.max(1) {
        return sla_due;
    }
    let mut took: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    took.sort();
    let idx =
        ((percentile.clamp(0.0, 1.0) * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1;
    let mut ahead: Vec<u32> = samples.iter().map(|s| s.ahead).collect();
    ahead.sort_unstable();
    let usual = f64::from(ahead[ahead.len() / 2]) + 1.0;
    let scale = ((f64::from(ahead_now) + 1.0) / usual).clamp(0.25, 20.0);
    let wait = Duration::milliseconds((took[idx].num_milliseconds() as f64 * scale) as i64);
    add_business(cal, now, wait).unwrap_or(sla_due).max(sla_due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::CalendarCfg;
    use chrono::{NaiveTime, TimeZone};

    fn cal(days: &str, tz: &str, holidays: &[&str]) -> Calendar {
        Calendar::from_cfg(&CalendarCfg {
            timezone: tz.into(),
            days: days.into(),
            holidays: holidays.iter().map(|s| s.to_string()).collect(),
            ..CalendarCfg::default()
        })
        .unwrap()
    }

    fn local(c: &Calendar, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        c.at(
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            NaiveTime::from_hms_opt(h, min, 0).unwrap(),
        )
    }

    fn show(c: &Calendar, t: DateTime<Utc>) -> String {
        t.with_timezone(&c.tz)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn durations() {
        let day = Duration::hours(8);
        assert_eq!(parse_duration("30m", day), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration("1d4h", day), Ok(Duration::hours(12)));
        assert_eq!(parse_duration("1.5h", day), Ok(Duration::minutes(90)));
        assert!(parse_duration("4", day).unwrap_err().contains("unit"));
        assert!(
            parse_duration("4w", day)
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("0h", day).is_err());
    }

    #[test]
    fn polish_weekend_is_skipped() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        // Friday 27 Nov 2026 16:00 + 4h → Monday 30 Nov 12:00.
        let d = add_business(&pl, local(&pl, 2026, 11, 27, 16, 0), Duration::hours(4)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-11-30 12:00 CET");
    }

    #[test]
    fn israeli_weekend_is_friday_and_saturday() {
        let il = cal("sun-thu", "Asia/Jerusalem", &[]);
        // Thursday 26 Nov 2026 15:00 + 4h → Sunday 29 Nov 11:00.
        let d = add_business(&il, local(&il, 2026, 11, 26, 15, 0), Duration::hours(4)).unwrap();
        assert_eq!(show(&il, d), "Sun 2026-11-29 11:00 IST");
        // Sunday is a working day there.
        let d = add_business(&il, local(&il, 2026, 11, 29, 9, 0), Duration::hours(1)).unwrap();
        assert_eq!(show(&il, d), "Sun 2026-11-29 10:00 IST");
    }

    #[test]
    fn holidays_are_skipped() {
        let pl = cal("mon-fri", "Europe/Warsaw", &["2026-12-24..2026-12-26"]);
        // Wednesday 23 Dec 15:00 + 4h: 2h that day, then the 24th and 25th
        // are holidays, 26th is Saturday → Monday 28 Dec 11:00.
        let d = add_business(&pl, local(&pl, 2026, 12, 23, 15, 0), Duration::hours(4)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-12-28 11:00 CET");
    }

    #[test]
    fn created_outside_hours_starts_at_opening() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        // Tuesday 22:30 → the clock starts Wednesday 09:00.
        let d = add_business(&pl, local(&pl, 2026, 11, 24, 22, 30), Duration::hours(1)).unwrap();
        assert_eq!(show(&pl, d), "Wed 2026-11-25 10:00 CET");
        // Saturday morning → Monday.
        let d = add_business(&pl, local(&pl, 2026, 11, 28, 8, 0), Duration::minutes(30)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-11-30 09:30 CET");
    }

    #[test]
    fn target_of_several_days() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        let day = working_day(&pl);
        assert_eq!(day, Duration::hours(8));
        // 3 working days from Wednesday 11:00 → Monday 11:00.
        let d = add_business(&pl, local(&pl, 2026, 11, 25, 11, 0), Duration::hours(24)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-11-30 11:00 CET");
    }

    #[test]
    fn dst_in_warsaw() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        // Spring forward on Sunday 29 Mar 2026 (02:00 → 03:00), on a weekend:
        // Friday 27 Mar 15:00 CET + 4h → Monday 30 Mar 11:00 CEST.
        let d = add_business(&pl, local(&pl, 2026, 3, 27, 15, 0), Duration::hours(4)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-03-30 11:00 CEST");
        // Real elapsed time is one hour shorter than wall-clock arithmetic.
        assert_eq!(
            business_between(&pl, local(&pl, 2026, 3, 27, 15, 0), d),
            Duration::hours(4)
        );
        // Fall back on Sunday 25 Oct 2026: Friday 16:00 CEST + 2h → Monday 10:00 CET.
        let d = add_business(&pl, local(&pl, 2026, 10, 23, 16, 0), Duration::hours(2)).unwrap();
        assert_eq!(show(&pl, d), "Mon 2026-10-26 10:00 CET");
    }

    #[test]
    fn dst_in_jerusalem_on_a_working_day() {
        // Israel springs forward on Friday 27 Mar 2026; with a Friday
        // half-day the switch falls inside working hours' day.
        let il = Calendar::from_cfg(&CalendarCfg {
            timezone: "Asia/Jerusalem".into(),
            days: "sun-thu".into(),
            hours: [("fri".to_owned(), "00:00-04:00".to_owned())].into(),
            ..CalendarCfg::default()
        })
        .unwrap();
        // Friday 00:00 local + 3h of work: 02:00 → 03:00 is skipped by the
        // clock, so 3 working hours end at 04:00 local (one hour later in
        // wall time than naive arithmetic), not 03:00.
        let start = local(&il, 2026, 3, 27, 0, 0);
        let d = add_business(&il, start, Duration::hours(3)).unwrap();
        assert_eq!(d - start, Duration::hours(3), "three real hours");
        assert_eq!(show(&il, d), "Fri 2026-03-27 04:00 IDT");
        // Fall back on Sunday 25 Oct 2026 at 02:00 (outside hours): Thursday
        // 16:00 IDT + 2h on a plain Sunday–Thursday week → Sunday 10:00 IST.
        let il = cal("sun-thu", "Asia/Jerusalem", &[]);
        let d = add_business(&il, local(&il, 2026, 10, 22, 16, 0), Duration::hours(2)).unwrap();
        assert_eq!(show(&il, d), "Sun 2026-10-25 10:00 IST");
    }

    #[test]
    fn customer_and_team_in_different_zones() {
        // The team works in Warsaw; a customer in Jerusalem writes on
        // Monday 08:30 their time (07:30 in Warsaw): the clock starts at
        // 09:00 Warsaw and the 1h target ends at 10:00 Warsaw = 11:00 there.
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        let jerusalem: chrono_tz::Tz = "Asia/Jerusalem".parse().unwrap();
        let sent = jerusalem
            .with_ymd_and_hms(2026, 11, 30, 8, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        let d = add_business(&pl, sent, Duration::hours(1)).unwrap();
        assert_eq!(
            d.with_timezone(&jerusalem).format("%H:%M").to_string(),
            "11:00"
        );
    }

    #[test]
    fn business_between_counts_only_open_time() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        let a = local(&pl, 2026, 11, 27, 16, 0);
        let b = local(&pl, 2026, 11, 30, 10, 0);
        assert_eq!(business_between(&pl, a, b), Duration::hours(2));
        assert_eq!(business_between(&pl, b, a), Duration::zero());
    }

    #[test]
    fn pauses_push_the_due_time() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        let created = local(&pl, 2026, 11, 24, 9, 0);
        let without = due(&pl, created, Duration::hours(4), Duration::zero()).unwrap();
        let with = due(&pl, created, Duration::hours(4), Duration::hours(6)).unwrap();
        assert_eq!(show(&pl, without), "Tue 2026-11-24 13:00 CET");
        assert_eq!(show(&pl, with), "Wed 2026-11-25 11:00 CET");
    }

    #[test]
    fn a_calendar_without_working_time_gives_no_due_time() {
        // No working day at all is refused outright…
        let err = Calendar::from_cfg(&CalendarCfg {
            days: String::new(),
            ..CalendarCfg::default()
        })
        .unwrap_err();
        assert!(err.contains("no working time"), "{err}");
        // …and holidays back to back for years give no due time (the
        // config check refuses such a calendar too), never a loop.
        let start = Utc::now().date_naive();
        let holidays = (0..20)
            .map(|i| {
                let a = start + Duration::days(90 * i);
                format!("{a}..{}", a + Duration::days(89))
            })
            .collect();
        let closed = Calendar::from_cfg(&CalendarCfg {
            holidays,
            ..CalendarCfg::default()
        })
        .unwrap();
        assert_eq!(add_business(&closed, Utc::now(), Duration::hours(1)), None);
    }

    #[test]
    fn estimate_is_honest_and_never_earlier_than_the_sla() {
        let pl = cal("mon-fri", "Europe/Warsaw", &[]);
        let now = local(&pl, 2026, 11, 24, 9, 0);
        let sla = local(&pl, 2026, 11, 24, 13, 0);
        let samples = |hours: &[i64], ahead: u32| -> Vec<Sample> {
            hours
                .iter()
                .map(|h| Sample {
                    took: Duration::hours(*h),
                    ahead,
                })
                .collect()
        };
        // Too little history: the SLA stands.
        assert_eq!(estimate(&pl, now, sla, &samples(&[9], 0), 0.8, 5, 0), sla);
        // History faster than the target: still the SLA (never earlier).
        assert_eq!(
            estimate(&pl, now, sla, &samples(&[1; 10], 0), 0.8, 5, 0),
            sla
        );
        // History slower: the 80th percentile of 1..10h is 8h → 17:00.
        let slow = samples(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1);
        let e = estimate(&pl, now, sla, &slow, 0.8, 5, 1);
        assert_eq!(show(&pl, e), "Tue 2026-11-24 17:00 CET");
        // Twice the usual backlog (3 ahead instead of 1): twice the wait,
        // 16 working hours → Wednesday 17:00.
        let e = estimate(&pl, now, sla, &slow, 0.8, 5, 3);
        assert_eq!(show(&pl, e), "Wed 2026-11-25 17:00 CET");
        // An empty queue is quicker, but never quicker than the SLA.
        let e = estimate(&pl, now, sla, &slow, 0.8, 5, 0);
        assert_eq!(show(&pl, e), "Tue 2026-11-24 13:00 CET");
    }
}

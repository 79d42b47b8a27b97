//! Working calendars: a time zone, opening hours per weekday, holidays.
//!
//! Written the way people say it: `days = "sun-thu"` and
//! `open = "09:00-17:00"` (an Israeli week), or `days = "mon-fri"` (a
//! Polish one), with per-day exceptions in `hours` and holidays as dates or
//! `from..to` ranges, inline or in a file.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A calendar as configured (`[calendars.<name>]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarCfg {
    /// IANA time zone of the team.
    pub timezone: String,
    /// Working days, e.g. "mon-fri", "sun-thu", "mon,wed,fri".
    pub days: String,
    /// Opening hours on working days, e.g. "09:00-17:00" or "08:00-12:00,13:00-16:00".
    pub open: String,
    /// Exceptions per weekday (`fri = "09:00-13:00"`, `sat = ""` for closed).
    pub hours: BTreeMap<String, String>,
    /// Holidays: "2026-12-25" or "2026-12-24..2026-12-26".
    pub holidays: Vec<String>,
    /// A file with one holiday (or range) per line; `#` comments.
    pub holidays_file: Option<PathBuf>,
}

impl Default for CalendarCfg {
    fn default() -> Self {
        CalendarCfg {
            timezone: "UTC".into(),
            days: "mon-fri".into(),
            open: "09:00-17:00".into(),
            hours: BTreeMap::new(),
            holidays: Vec::new(),
            holidays_file: None,
        }
    }
}

/// A parsed calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    /// Opening intervals per weekday (Monday first), sorted.
    pub week: [Vec<(NaiveTime, NaiveTime)>; 7],
    /// Closed date ranges (inclusive).
    pub holidays: Vec<(NaiveDate, NaiveDate)>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    DAY_NAMES.iter().position(|d| s.starts_with(d))
}

fn parse_days(s: &str) -> Result<Vec<usize>, String> {
    let mut days = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    day_index(a).ok_or_else(|| format!("unknown day {a:?}"))?,
                    day_index(b).ok_or_else(|| format!("unknown day {b:?}"))?,
                );
                // Ranges wrap around the week: "sun-thu" is Sunday to Thursday.
                let mut d = a;
                loop {
                    days.push(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days.push(day_index(part).ok_or_else(|| format!("unknown day {part:?}"))?),
        }
    }
    Ok(days)
}

fn parse_intervals(s: &str) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("{part:?} is not a time range like 09:00-17:00"))?;
        let t = |x: &str| {
            let x = x.trim();
            if x == "24:00" {
                return NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(|| "bad time".to_owned());
            }
            NaiveTime::parse_from_str(x, "%H:%M")
                .map_err(|_| format!("{x:?} is not a time like 09:00"))
        };
        let (a, b) = (t(a)?, t(b)?);
        if b <= a {
            return Err(format!("{part:?}: the end must be after the start"));
        }
        out.push((a, b));
    }
    out.sort();
    Ok(out)
}

/// Parses "2026-12-25" or "2026-12-24..2026-12-26".
pub fn parse_holiday(s: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let d = |x: &str| {
        NaiveDate::parse_from_str(x.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{x:?} is not a date like 2026-12-25"))
    };
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (d(a)?, d(b)?);
            if b < a {
                return Err(format!("{s:?}: the range ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let a = d(s)?;
            Ok((a, a))
        }
    }
}

/// Longest closure one holiday entry may describe.
const MAX_HOLIDAY_DAYS: i64 = 92;

impl Calendar {
    /// Parses a configured calendar; errors say which setting is wrong.
    pub fn from_cfg(cfg: &CalendarCfg) -> Result<Calendar, String> {
        let tz: Tz = cfg.timezone.parse().map_err(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
            let hint = crate::text::closest(&cfg.timezone, names)
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_default();
            format!(
                "timezone {:?} is not an IANA time zone name{hint}",
                cfg.timezone
            )
        })?;
        let open = parse_intervals(&cfg.open).map_err(|e| format!("open: {e}"))?;
        let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for d in parse_days(&cfg.days).map_err(|e| format!("days: {e}"))? {
            week[d] = open.clone();
        }
        for (day, hours) in &cfg.hours {
            let d = day_index(day).ok_or_else(|| format!("hours: unknown day {day:?}"))?;
            week[d] = parse_intervals(hours).map_err(|e| format!("hours.{day}: {e}"))?;
        }
        let mut holidays = Vec::new();
        for h in &cfg.holidays {
            holidays.push(parse_holiday(h).map_err(|e| format!("holidays: {e}"))?);
        }
        if let Some(path) = &cfg.holidays_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("holidays_file {}: {e}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if !line.is_empty() {
                    holidays.push(
                        parse_holiday(line)
                            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?,
                    );
                }
            }
        }
        holidays.sort();
        if week.iter().all(Vec::is_empty) {
            return Err(format!(
                "days: no working time in the week (days = {:?}{}); every promise would be \
                 \"never\"",
                cfg.days,
                if cfg.hours.is_empty() {
                    ""
                } else {
                    " with these hours"
                }
            ));
        }
        for (a, b) in &holidays {
            let days = (*b - *a).num_days() + 1;
            if days > MAX_HOLIDAY_DAYS {
                return Err(format!(
                    "holidays: {a}..{b} closes for {days} days; over {MAX_HOLIDAY_DAYS} is more \
                     likely a typo in a year"
                ));
            }
        }
        Ok(Calendar { tz, week, holidays })
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.iter().any(|(a, b)| *a <= date && date <= *b)
    }

    /// Opening intervals on a local date (none on holidays).
    pub fn intervals(&self, date: NaiveDate) -> &[(NaiveTime, NaiveTime)] {
        if self.is_holiday(date) {
            return &[];
        }
        &self.week[date.weekday().num_days_from_monday() as usize]
    }

    /// Whether the team is at work at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let t = local.time();
        self.intervals(local.date_naive())
            .iter()
            .any(|(a, b)| *a <= t && t < *b)
    }

    /// Weekday (0 = Monday) and hour of `at` in the calendar's zone.
    pub fn local_day_hour(&self, at: DateTime<Utc>) -> (u32, u32) {
        let local = at.with_timezone(&self.tz);
        (local.weekday().num_days_from_monday(), local.hour())
    }

    /// The instant a local date and time means in this zone (the earlier
    /// one when clocks go back; the first valid minute when they jump).
    pub fn at(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            chrono::LocalResult::None => {
                // In the gap of a spring-forward: the first minute after it.
                let mut n = naive;
                for _ in 0..180 {
                    n += chrono::Duration::minutes(1);
                    if let chrono::LocalResult::Single(t) = self.tz.from_local_datetime(&n) {
                        return t.with_timezone(&Utc);
                    }
                }
                Utc.from_utc_datetime(&naive)
            }
        }
    }

    /// The weekday name of a local date, as written in configs.
    pub fn day_name(d: Weekday) -> &'static str {
        DAY_NAMES[d.num_days_from_monday() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(days: &str, tz: &str) -> Calendar {
        Calendar::from_cfg(&CalendarCfg {
            timezone: tz.into(),
            days: days.into(),
            ..CalendarCfg::default()
        })
        .unwrap()
    }

    #[test]
    fn israeli_and_polish_weeks() {
        let il = cal("sun-thu", "Asia/Jerusalem");
        let pl = cal("mon-fri", "Europe/Warsaw");
        // Sunday 22 Nov 2026, 10:00 local in each zone.
        let sunday_il = il.at(
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        );
        let sunday_pl = pl.at(
            NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        );
        assert!(il.is_open(sunday_il));
        assert!(!pl.is_open(sunday_pl));
        let friday = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert!(!il.is_open(il.at(friday, NaiveTime::from_hms_opt(10, 0, 0).unwrap())));
        assert!(pl.is_open(pl.at(friday, NaiveTime::from_hms_opt(10, 0, 0).unwrap())));
        assert!(!pl.is_open(pl.at(friday, NaiveTime::from_hms_opt(17, 0, 0).unwrap())));
    }

    #[test]
    fn holidays_and_exceptions() {
        let c = Calendar::from_cfg(&CalendarCfg {
            hours: [("fri".to_owned(), "09:00-13:00".to_owned())].into(),
            holidays: vec!["2026-12-24..2026-12-26".into()],
            ..CalendarCfg::default()
        })
        .unwrap();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert!(c.is_holiday(d(2026, 12, 25)));
        assert!(c.intervals(d(2026, 12, 24)).is_empty());
        assert_eq!(c.intervals(d(2026, 11, 27)).len(), 1);
        assert!(!c.is_open(c.at(d(2026, 11, 27), NaiveTime::from_hms_opt(14, 0, 0).unwrap())));
    }

    #[test]
    fn bad_settings_say_what() {
        let bad = |f: fn(&mut CalendarCfg)| {
            let mut c = CalendarCfg::default();
            f(&mut c);
            Calendar::from_cfg(&c).unwrap_err()
        };
        assert!(bad(|c| c.days = "mon-fryday".into()).contains("unknown day"));
        assert!(bad(|c| c.open = "17:00-09:00".into()).contains("end must be after"));
        assert!(bad(|c| c.timezone = "Mars/Olympus".into()).contains("IANA"));
        assert!(bad(|c| c.holidays = vec!["25.12.2026".into()]).contains("not a date"));
    }
}

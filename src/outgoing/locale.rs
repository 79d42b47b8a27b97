//! Dates and times the way each language writes them, in the reader's
//! zone, and which way its text runs; the words come from the language's
//! table in [`crate::i18n`] (chrono's locale data gives neither Polish
//! genitive months nor Hebrew's ב prefix).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Offset, Timelike, Utc};
use chrono_tz::Tz;

/// `rtl` for Hebrew (and Arabic, Persian, Urdu, Yiddish), else `ltr`.
pub fn direction(lang: &str) -> &'static str {
    let rtl = match lang {
        "ar" | "fa" | "ur" | "yi" => true,
        other => crate::i18n::known(other) && crate::i18n::get(other).rtl,
    };
    if rtl { "rtl" } else { "ltr" }
}

/// The zone a reader's times are written in, and whether to name it.
///
/// A zone the customer stated is their own and goes unnamed; a zone read
/// from the offset of their Date header, or the team's zone used for want
/// of anything better, is named after the time ("13:00 (UTC-5)"), so a
/// promise never reads as a time it is not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Zone {
    kind: ZoneKind,
    /// Whether times carry their UTC offset.
    pub named: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ZoneKind {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// A zone the reader stated (or the team's own, for the team): unnamed.
    pub fn own(tz: Tz) -> Zone {
        Zone {
            kind: ZoneKind::Named(tz),
            named: false,
        }
    }

    /// A zone the reader did not state: times carry the offset.
    pub fn assumed(tz: Tz) -> Zone {
        Zone {
            kind: ZoneKind::Named(tz),
            named: true,
        }
    }

    /// The fixed offset of a reader's own clock, in minutes east of UTC, as
    /// their Date header gave it; named, since it is inferred. `None` for an
    /// offset no clock has (more than 18 hours).
    pub fn offset(minutes: i32) -> Option<Zone> {
        Some(Zone {
            kind: ZoneKind::Fixed(FixedOffset::east_opt(minutes.checked_mul(60)?)?),
            named: true,
        })
    }

    /// Local date and time of `at`, and the UTC offset in seconds then.
    fn local(&self, at: DateTime<Utc>) -> (NaiveDateTime, i32) {
        match self.kind {
            ZoneKind::Named(tz) => {
                let l = at.with_timezone(&tz);
                (l.naive_local(), l.offset().fix().local_minus_utc())
            }
            ZoneKind::Fixed(o) => {
                let l = at.with_timezone(&o);
                (l.naive_local(), o.local_minus_utc())
            }
        }
    }
}

/// "UTC", "UTC+1", "UTC-5", "UTC+5:30".
fn utc_label(seconds: i32) -> String {
    if seconds == 0 {
        return "UTC".into();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let m = seconds.unsigned_abs() / 60;
    if m.is_multiple_of(60) {
        format!("UTC{sign}{}", m / 60)
    } else {
        format!("UTC{sign}{}:{:02}", m / 60, m % 60)
    }
}

/// One moment written three ways, for the phrases a mail puts it in: alone
/// ("Opened: …"), as a deadline ("by …") and as a day something happens on
/// ("on …"). Each language's grammar goes with its preposition: Polish
/// takes the genitive after "do" ("do środy") and the accusative after "w"
/// ("w środę"); Hebrew joins ב to the word ("ביום רביעי").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct When {
    /// "Wednesday, 2 December, 13:00".
    pub plain: String,
    /// "by Wednesday, 2 December, 13:00" / "do środy, 2 grudnia, 13:00".
    pub by: String,
    /// "on Wednesday, 2 December, 13:00" / "w środę, 2 grudnia, 13:00".
    pub on: String,
    /// RFC 3339, for machines.
    pub iso: String,
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain)
    }
}

/// `at` in `zone`, written for `lang` in each of the phrases of [`When`].
/// The year is added when it is not the year of `now`, the offset when the
/// zone is not the reader's own.
pub fn when(lang: &str, at: DateTime<Utc>, zone: Zone, now: DateTime<Utc>) -> When {
    let (local, offset) = zone.local(at);
    let (now_local, _) = zone.local(now);
    let year = if local.year() != now_local.year() {
        format!(" {}", local.year())
    } else {
        String::new()
    };
    let label = if zone.named {
        format!(" ({})", utc_label(offset))
    } else {
        String::new()
    };
    let words = crate::i18n::get(lang);
    let rest = format!(
        "{} {}{year}, {:02}:{:02}{label}",
        local.day(),
        words.months[(local.month().clamp(1, 12) - 1) as usize],
        local.hour(),
        local.minute()
    );
    let d = local.weekday().num_days_from_monday() as usize;
    let (day, by, on) = (words.weekdays[d], words.by_day[d], words.on_day[d]);
    When {
        plain: format!("{day}, {rest}"),
        by: format!("{by}, {rest}"),
        on: format!("{on}, {rest}"),
        iso: at.to_rfc3339(),
    }
}

/// `at` in `zone`, written for `lang` standing alone: "Tuesday, 24 November,
/// 10:00", "wtorek, 24 listopada, 10:00", "יום שלישי, 24 בנובמבר, 10:00".
pub fn format_when(lang: &str, at: DateTime<Utc>, zone: Zone, now: DateTime<Utc>) -> String {
    when(lang, at, zone, now).plain
}

/// What a name in [`display_name`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Queue,
    Priority,
    Status,
}

/// The name a reader of `lang` sees for queue, priority or status `id`:
/// the config's `[display.<lang>]`, else the built-in name, else `id`.
pub fn shown_name(display: &crate::config::Display, lang: &str, what: Named, id: &str) -> String {
    display
        .0
        .get(lang)
        .and_then(|d| match what {
            Named::Queue => d.queue.get(id),
            Named::Priority => d.priority.get(id),
            Named::Status => d.status.get(id),
        })
        .map(String::as_str)
        .or_else(|| display_name(lang, what, id))
        .unwrap_or(id)
        .to_owned()
}

/// The built-in name a reader of `lang` sees for a queue, priority or
/// status: the shipped queues and every priority and status, so a Polish
/// customer never reads "billing" or "normal". `None` for a queue only the
/// config knows (the config's `[display.<lang>]` names it, else its id).
pub fn display_name(lang: &str, what: Named, id: &str) -> Option<&'static str> {
    let words = crate::i18n::get(lang);
    // A table only speaks for its own language.
    if words.code != lang && lang != "en" {
        return None;
    }
    match what {
        Named::Queue => words.queues.iter().find(|(q, _)| *q == id).map(|(_, n)| *n),
        Named::Priority => crate::model::Priority::ALL
            .iter()
            .position(|p| p.as_str() == id)
            .map(|i| words.priorities[i]),
        Named::Status => crate::model::Status::ALL
            .iter()
            .position(|s| s.as_str() == id)
            .map(|i| words.statuses[i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_in_three_languages() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let jerusalem: Tz = "Asia/Jerusalem".parse().unwrap();
        let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
        assert_eq!(
            format_when("he", at, Zone::own(jerusalem), now),
            "יום שלישי, 24 בנובמבר, 10:00"
        );
        assert_eq!(
            format_when("pl", at, Zone::own(warsaw), now),
            "wtorek, 24 listopada, 09:00"
        );
        assert_eq!(
            format_when("en", at, Zone::own(chrono_tz::UTC), now),
            "Tuesday, 24 November, 08:00"
        );
        let next_year = Utc.with_ymd_and_hms(2027, 1, 4, 8, 0, 0).unwrap();
        assert_eq!(
            format_when("pl", next_year, Zone::own(warsaw), now),
            "poniedziałek, 4 stycznia 2027, 09:00"
        );
    }

    #[test]
    fn each_phrase_takes_its_case() {
        // Wednesday 2 December 2026, 12:00 UTC.
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let warsaw = Zone::own("Europe/Warsaw".parse().unwrap());
        let pl = when("pl", at, warsaw, now);
        assert_eq!(pl.plain, "środa, 2 grudnia, 13:00");
        assert_eq!(pl.by, "do środy, 2 grudnia, 13:00");
        assert_eq!(pl.on, "w środę, 2 grudnia, 13:00");
        let tuesday = at - chrono::Duration::days(1);
        assert_eq!(
            when("pl", tuesday, warsaw, now).on,
            "we wtorek, 1 grudnia, 13:00"
        );
        assert_eq!(
            when("pl", tuesday, warsaw, now).by,
            "do wtorku, 1 grudnia, 13:00"
        );
        let he = when("he", at, Zone::own("Asia/Jerusalem".parse().unwrap()), now);
        assert_eq!(he.by, "עד יום רביעי, 2 בדצמבר, 14:00");
        assert_eq!(he.on, "ביום רביעי, 2 בדצמבר, 14:00");
        let en = when("en", at, Zone::own(chrono_tz::UTC), now);
        assert_eq!(en.by, "by Wednesday, 2 December, 12:00");
    }

    #[test]
    fn a_zone_not_stated_by_the_reader_is_named() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 18, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        // Their Date header said -0500: their clock, named.
        let ny = Zone::offset(-5 * 60).unwrap();
        assert_eq!(
            when("en", at, ny, now).by,
            "by Wednesday, 2 December, 13:00 (UTC-5)"
        );
        // The team's zone, used for want of theirs: named with its offset then.
        let team = Zone::assumed("Europe/Warsaw".parse().unwrap());
        assert_eq!(
            format_when("pl", at, team, now),
            "środa, 2 grudnia, 19:00 (UTC+1)"
        );
        let india = Zone::offset(5 * 60 + 30).unwrap();
        assert_eq!(
            format_when("en", at, india, now),
            "Wednesday, 2 December, 23:30 (UTC+5:30)"
        );
        assert_eq!(Zone::offset(24 * 60), None);
    }

    #[test]
    fn hebrew_runs_right_to_left() {
        assert_eq!(direction("he"), "rtl");
        assert_eq!(direction("pl"), "ltr");
    }
}

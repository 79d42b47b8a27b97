//! Dates and times the way each language writes them, and which way its
//! text runs. Hand-written for the languages we answer in: chrono's locale
//! data gives neither Polish genitive months nor Hebrew's ב prefix.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// Languages we have day and month names for.
pub const LANGUAGES: &[&str] = &["en", "pl", "he"];

/// `rtl` for Hebrew (and Arabic, Persian, Urdu, Yiddish), else `ltr`.
pub fn direction(lang: &str) -> &'static str {
    match lang {
        "he" | "ar" | "fa" | "ur" | "yi" => "rtl",
        _ => "ltr",
    }
}

fn weekday(lang: &str, d: Weekday) -> &'static str {
    let i = d.num_days_from_monday() as usize;
    match lang {
        "pl" => [
            "poniedziałek",
            "wtorek",
            "środa",
            "czwartek",
            "piątek",
            "sobota",
            "niedziela",
        ][i],
        "he" => [
            "יום שני",
            "יום שלישי",
            "יום רביעי",
            "יום חמישי",
            "יום שישי",
            "שבת",
            "יום ראשון",
        ][i],
        _ => [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][i],
    }
}

fn month(lang: &str, m: u32) -> &'static str {
    let i = (m.clamp(1, 12) - 1) as usize;
    match lang {
        // Genitive: "24 listopada".
        "pl" => [
            "stycznia",
            "lutego",
            "marca",
            "kwietnia",
            "maja",
            "czerwca",
            "lipca",
            "sierpnia",
            "września",
            "października",
            "listopada",
            "grudnia",
        ][i],
        // With the preposition: "24 בנובמבר".
        "he" => [
            "בינואר",
            "בפברואר",
            "במרץ",
            "באפריל",
            "במאי",
            "ביוני",
            "ביולי",
            "באוגוסט",
            "בספטמבר",
            "באוקטובר",
            "בנובמבר",
            "בדצמבר",
        ][i],
        _ => [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ][i],
    }
}

/// `at` in zone `tz`, written for `lang`: "Tuesday, 24 November, 10:00",
/// "wtorek, 24 listopada, 10:00", "יום שלישי, 24 בנובמבר, 10:00". The year
/// is added when it is not the year of `now`.
pub fn format_when(lang: &str, at: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    let year = if local.year() != now.with_timezone(&tz).year() {
        format!(" {}", local.year())
    } else {
        String::new()
    };
    format!(
        "{}, {} {}{year}, {:02}:{:02}",
        weekday(lang, local.weekday()),
        local.day(),
        month(lang, local.month()),
        local.hour(),
        local.minute()
    )
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
            format_when("he", at, jerusalem, now),
            "יום שלישי, 24 בנובמבר, 10:00"
        );
        assert_eq!(
            format_when("pl", at, warsaw, now),
            "wtorek, 24 listopada, 09:00"
        );
        assert_eq!(
            format_when("en", at, chrono_tz::UTC, now),
            "Tuesday, 24 November, 08:00"
        );
        let next_year = Utc.with_ymd_and_hms(2027, 1, 4, 8, 0, 0).unwrap();
        assert_eq!(
            format_when("pl", next_year, warsaw, now),
            "poniedziałek, 4 stycznia 2027, 09:00"
        );
    }

    #[test]
    fn hebrew_runs_right_to_left() {
        assert_eq!(direction("he"), "rtl");
        assert_eq!(direction("pl"), "ltr");
    }
}

//! Which language a customer wrote in, and the text they actually wrote.
//!
//! Replies quote earlier mail and end with signatures; both would mislead
//! detection (an English signature under Polish text). [`own_words`] keeps
//! the customer's part; [`detect`] runs whatlang on it. A `Content-Language`
//! header, when present, wins: the sender said so.

use crate::parse::Envelope;
use regex::Regex;
use std::sync::LazyLock;

/// Where a quoted reply starts, in the clients and languages we see:
/// "On … wrote:", "W dniu … pisze:", "בתאריך … כתב:", Outlook's headers.
static QUOTE_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^(on .{3,200} wrote:|am .{3,200} schrieb .{0,80}:|w dniu .{3,200}(pisze|napisał|napisała).{0,5}:|.{0,120}(כתב|כתבה)\s*:|-{2,}\s*original message\s*-{2,}|-{2,}\s*wiadomość oryginalna\s*-{2,}|-{2,}\s*הודעה מקורית\s*-{2,}|from:\s.+\r?\n(sent|date|wysłano|נשלח):)",
    )
    .expect("static regex")
});

/// Signature separators: "-- " (RFC 3676) and common sign-off lines.
static SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^(-- ?|__+|sent from my .*|wysłane z .*|נשלח מה.*)$").expect("static regex")
});

/// The customer's own words: quoted lines (`>`), everything from a quote
/// header on, and the signature removed.
pub fn own_words(text: &str) -> String {
    let cut = quote_start(text);
    let mut body = &text[..cut];
    if let Some(m) = SIGNATURE.find(body) {
        body = &body[..m.start()];
    }
    without_quoted_lines(body)
}

/// `text` up to its signature (what [`own_words`] keeps of [`unquoted`]).
pub fn without_signature(text: &str) -> &str {
    SIGNATURE.find(text).map_or(text, |m| &text[..m.start()])
}

/// The text without what it quotes (a quote header and everything after
/// it, `>` lines), signature kept: what an agent wrote for the customer.
pub fn unquoted(text: &str) -> String {
    without_quoted_lines(&text[..quote_start(text)])
}

/// Where quoting starts: a client's quote header, or the marker line our
/// notifications carry above the quoted text (cut at its line's start).
fn quote_start(text: &str) -> usize {
    let header = QUOTE_START.find(text).map_or(text.len(), |m| m.start());
    let marker = text
        .find(crate::agent::REPLY_ABOVE)
        .map_or(text.len(), |i| text[..i].rfind('\n').map_or(0, |nl| nl + 1));
    header.min(marker)
}

fn without_quoted_lines(body: &str) -> String {
    body.lines()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// ISO 639-1 code of the language of `env`: its Content-Language, else
/// whatlang on the customer's own words (and the subject), when reliable.
pub fn detect(env: &Envelope) -> Option<String> {
    if let Some(cl) = &env.content_language {
        let primary = cl
            .split([',', '-', '_', ';'])
            .next()
            .unwrap_or_default()
            .trim();
        if primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return Some(primary.to_ascii_lowercase());
        }
    }
    // A few hundred characters decide it; whole mails only cost time.
    let words = own_words(&env.text);
    let mut sample: String = words.chars().take(600).collect();
    sample.push('\n');
    sample.push_str(&env.subject);
    detect_text(&sample)
}

/// whatlang on a text, as an ISO 639-1 code; `None` when unsure.
pub fn detect_text(text: &str) -> Option<String> {
    // Short or mixed texts make whatlang guess; Hebrew script is decisive
    // on its own (whatlang also knows Yiddish, which shares it).
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let hebrew = text
        .chars()
        .filter(|c| ('\u{0590}'..='\u{05FF}').contains(c))
        .count();
    if letters > 0 && hebrew * 2 >= letters {
        return Some("he".into());
    }
    let info = whatlang::detect(text)?;
    if letters < 12 || !info.is_reliable() && info.confidence() < 0.5 {
        return None;
    }
    iso639_1(info.lang()).map(str::to_owned)
}

fn iso639_1(l: whatlang::Lang) -> Option<&'static str> {
    use whatlang::Lang::*;
    Some(match l {
        Eng => "en",
        Pol => "pl",
        Heb => "he",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Nld => "nl",
        Rus => "ru",
        Ukr => "uk",
        Ces => "cs",
        Slk => "sk",
        Swe => "sv",
        Dan => "da",
        Nob => "nb",
        Fin => "fi",
        Hun => "hu",
        Ron => "ro",
        Tur => "tr",
        Ara => "ar",
        Jpn => "ja",
        Cmn => "zh",
        Kor => "ko",
        Ell => "el",
        Bul => "bg",
        Hrv => "hr",
        Srp => "sr",
        Slv => "sl",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Yid => "he",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_signatures_are_not_the_customers_words() {
        let t = "Dziękuję, działa.\n\n-- \nJan Kowalski\nSent from my phone\n";
        assert_eq!(own_words(t).trim(), "Dziękuję, działa.");
        let t =
            "Still broken.\n\nOn Mon, 23 Nov 2026 at 07:46, Support <s@x> wrote:\n> Hello Alice\n";
        assert_eq!(own_words(t).trim(), "Still broken.");
        let t = "עדיין לא עובד.\n\nבתאריך יום ב׳, 23 בנוב׳ 2026, Support כתב:\n> שלום\n";
        assert_eq!(own_words(t).trim(), "עדיין לא עובד.");
        let t = "Nadal nie działa.\n\nW dniu 23.11.2026 o 10:00, Support pisze:\n> Dzień dobry";
        assert_eq!(own_words(t).trim(), "Nadal nie działa.");
    }

    #[test]
    fn detects_hebrew_polish_english() {
        assert_eq!(
            detect_text("שלום, המדפסת במשרד לא עובדת מאז הבוקר").as_deref(),
            Some("he")
        );
        assert_eq!(
            detect_text("Dzień dobry, zamówienie dotarło uszkodzone. Proszę o zwrot pieniędzy.")
                .as_deref(),
            Some("pl")
        );
        assert_eq!(
            detect_text("Hello, the printer on the third floor keeps jamming on every page.")
                .as_deref(),
            Some("en")
        );
        assert_eq!(detect_text("ok"), None);
    }

    #[test]
    fn content_language_wins() {
        let env = Envelope {
            content_language: Some("pl-PL".into()),
            text: "Hello there, this is clearly English text for sure.".into(),
            ..Envelope::default()
        };
        assert_eq!(detect(&env).as_deref(), Some("pl"));
    }
}

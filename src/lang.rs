//! Which language a customer wrote in.
//!
//! Replies quote earlier mail and end with signatures; both would mislead
//! detection (an English signature or "Sent from my iPhone" under Hebrew
//! text). [`detect`] runs whatlang on the customer's own words, as the
//! envelope reads them ([`Envelope::written`], [`crate::mail::written`]).
//! A `Content-Language` header is only a hint: Outlook writes the
//! language of its menus there, not the mail's.

use crate::mail::parse::Envelope;

/// ISO 639-1 code of the language of `env`: whatlang on the author's own
/// words (quoted lines they answered left out), when it is sure; else on
/// their words with the subject; else the Content-Language the client
/// stated.
pub fn detect(env: &Envelope) -> Option<String> {
    let words: String = env
        .written()
        .text()
        .lines()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n");
    // A few hundred characters decide it; whole mails only cost time.
    let mut sample: String = words.chars().take(600).collect();
    if let Some(lang) = detect_text(&sample) {
        return Some(lang);
    }
    sample.push('\n');
    sample.push_str(&env.subject);
    detect_text(&sample).or_else(|| stated(env))
}

/// The primary language of the Content-Language header.
fn stated(env: &Envelope) -> Option<String> {
    let cl = env.content_language.as_ref()?;
    let primary = cl
        .split([',', '-', '_', ';'])
        .next()
        .unwrap_or_default()
        .trim();
    (primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
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
    // Too short to trust whatever whatlang says: not worth asking it (its
    // time goes on scoring every language's profile, however short the
    // text).
    if letters < 12 {
        return None;
    }
    let info = DETECTOR.detect(text)?;
    if !info.is_reliable() && info.confidence() < 0.5 {
        return None;
    }
    iso639_1(info.lang()).map(str::to_owned)
}

/// whatlang weighing only the languages [`iso639_1`] names: any other
/// answer would be dropped anyway, and scoring a text against fewer
/// language profiles is what detection's time goes on (about half of
/// preparing a message took it with all of them).
static DETECTOR: std::sync::LazyLock<whatlang::Detector> = std::sync::LazyLock::new(|| {
    whatlang::Detector::with_allowlist(
        whatlang::Lang::all()
            .iter()
            .copied()
            .filter(|&l| iso639_1(l).is_some())
            .collect(),
    )
});

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

    fn own_words(text: &str) -> String {
        crate::mail::written::read(text).text()
    }

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
    fn own_words_beat_content_language_and_english_chrome() {
        // Outlook states its menus' language.
        let env = Envelope {
            content_language: Some("en-US".into()),
            text: "Drukarka nadal nie działa, proszę o pilny kontakt.".into(),
            ..Envelope::default()
        };
        assert_eq!(detect(&env).as_deref(), Some("pl"));
        // An English footer, subject and quote under two Hebrew words.
        let env = Envelope {
            subject: "Re: Your printer request".into(),
            text: "לא עובד\n\nSent from my iPhone\n\nOn Wed, Dec 2, 2026 at 9:00 AM Support <s@x.example> wrote:\n> Hello Ruth, please try restarting the printer and tell us.\n".into(),
            ..Envelope::default()
        };
        assert_eq!(detect(&env).as_deref(), Some("he"));
        // Too little to tell: the stated language is used.
        let env = Envelope {
            content_language: Some("pl-PL".into()),
            text: "ok".into(),
            ..Envelope::default()
        };
        assert_eq!(detect(&env).as_deref(), Some("pl"));
    }
}

//! Satisfaction ratings (CSAT), read and signed. Pure: no store, no clock.
//!
//! When a ticket closes, the closing mail asks the customer for a score
//! from 1 to 5. They answer in one of two ways, and both must work in
//! every mail client:
//!
//! - **A reply with a number** ("4", "5/5 thanks", "ocena: 3", "5 תודה").
//!   [`read`] takes the first line of what they wrote (quotes and
//!   signatures already gone, by [`crate::mail::written`]) and accepts it
//!   only when the number stands alone or with a rating word, so "2
//!   printers still fail" is a reply, not a rating.
//! - **A link per score**: `mailto:` the support address with a subject
//!   carrying a [`Token`]: the ticket, the score and an HMAC of both under
//!   the installation's secret. Clients keep a mailto subject as given (a
//!   body they often drop), and nobody can make the token for another
//!   ticket or another score without the secret, so a rating cannot be
//!   forged for someone else's ticket by editing the subject.
//!
//! The key is the installation's, kept in the store (one for every worker
//! of a shared store), so links in mail sent before a restart still work.

use crate::model::TicketId;
use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// Hex digits of the HMAC kept in a token: 48 bits, enough against
/// guessing by mail (each guess is a message we see), short in a subject.
const MAC_HEX: usize = 12;

/// The installation's key for rating links.
#[derive(Clone)]
pub struct Key(ring::hmac::Key);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rating::Key(..)")
    }
}

impl Key {
    /// A key from the installation's secret.
    pub fn new(secret: &[u8]) -> Key {
        Key(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    fn mac(&self, ticket: TicketId, score: u8) -> String {
        let tag = ring::hmac::sign(&self.0, format!("csat:{ticket}:{score}").as_bytes());
        let mut hex = String::with_capacity(MAC_HEX);
        for b in tag.as_ref().iter().take(MAC_HEX / 2) {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// The token for `score` on `ticket`.
    pub fn token(&self, ticket: TicketId, score: u8) -> Token {
        Token {
            ticket,
            score,
            mac: self.mac(ticket, score),
        }
    }

    /// Whether `token` was made with this key (in constant time).
    pub fn verify(&self, token: &Token) -> bool {
        let want = self.mac(token.ticket, token.score);
        let (a, b) = (want.as_bytes(), token.mac.as_bytes());
        // Every byte compared, whatever the first difference.
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

/// A rating link's token: `csat-<ticket>-<score>-<mac>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub ticket: TicketId,
    pub score: u8,
    pub mac: String,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "csat-{}-{}-{}", self.ticket, self.score, self.mac)
    }
}

static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bcsat-(\d{1,15})-([1-5])-([0-9a-f]{12})\b").expect("token pattern")
});

/// The rating token in a subject, if it carries one (signed or not: see
/// [`Key::verify`]).
pub fn find_token(subject: &str) -> Option<Token> {
    let c = TOKEN.captures(subject)?;
    Some(Token {
        ticket: c[1].parse().ok()?,
        score: c[2].parse().ok()?,
        mac: c[3].to_ascii_lowercase(),
    })
}

/// Words a rating may come with, in any of the languages we know: before
/// the number ("rating: 4") and after it ("4 stars", "5/5", "4 z 5").
pub struct Words {
    pub before: &'static [&'static str],
    pub after: &'static [&'static str],
}

/// At most this many words in all make a rating with a remark that needs
/// no punctuation after the number ("5 thanks a lot"): more is a letter.
const SHORT_REMARK_WORDS: usize = 12;

/// Reads what a customer wrote (their own words) as a rating: the score
/// and whatever else they wrote. `None` when it is not one.
pub fn read<'a>(own: &str, words: impl Iterator<Item = &'a Words> + Clone) -> Option<(u8, String)> {
    let own = own.trim();
    let (first, rest) = own.split_once('\n').unwrap_or((own, ""));
    let line = first.trim().to_lowercase();
    let mut s = line.as_str();
    // "Rating: 4", "ocena 4", "דירוג: 4".
    for w in words.clone().flat_map(|w| w.before.iter()) {
        if let Some(after) = s.strip_prefix(w) {
            s = after.trim_start_matches([' ', ':', '-', '=']).trim_start();
            break;
        }
    }
    let mut chars = s.chars();
    let score = chars.next()?.to_digit(10)?;
    if !(1..=5).contains(&score) {
        return None;
    }
    let mut tail = chars.as_str();
    // "45" or "4.5" is no score of ours.
    if tail.starts_with(|c: char| c.is_ascii_digit())
        || (tail.starts_with(['.', ',']) && tail[1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return None;
    }
    // "/5", " out of 5", " stars", " z 5", " מתוך 5".
    let mut unit = false;
    for w in words.flat_map(|w| w.after.iter()) {
        let t = tail.trim_start();
        if let Some(after) = t.strip_prefix(w) {
            tail = after;
            unit = true;
            break;
        }
    }
    let remark_on_line = tail.trim_start();
    let sign = remark_on_line.chars().next();
    let ok = match sign {
        None => true,
        // "4 - thanks", "4, all good", "4!", "5 :)", "(4)".
        Some(c) if !c.is_alphanumeric() => true,
        // "5 thanks a lot": a word right after the number only in a
        // short note without a question (a letter that starts with a
        // number is about something else).
        Some(_) => {
            unit || (own.split_whitespace().count() <= SHORT_REMARK_WORDS
                && !own.contains(['?', '؟']))
        }
    };
    if !ok {
        return None;
    }
    let remark = remark_on_line
        .trim_start_matches(['-', '–', '—', ':', ',', '.', ')', '/'])
        .trim();
    // The rest of the first line as written (not lower-cased).
    let keep = first.trim();
    let start = keep.len().saturating_sub(remark.len());
    let first_remark = if remark.is_empty() {
        ""
    } else {
        keep.get(start..).unwrap_or(remark)
    };
    let mut words_out = first_remark.trim().to_owned();
    let rest = rest.trim();
    if !rest.is_empty() {
        if !words_out.is_empty() {
            words_out.push('\n');
        }
        words_out.push_str(rest);
    }
    Some((score as u8, words_out))
}

/// One score's link in a closing mail.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub score: u8,
    pub href: String,
}

/// What a closing mail's template gets to ask for a rating.
#[derive(Debug, Clone, Serialize)]
pub struct Ask {
    /// From 1 to 5.
    pub links: Vec<Link>,
}

/// The links asking for a rating of `ticket` (shown as `tag`), each a
/// mail to `address` whose subject says `word` and the score.
pub fn ask(key: &Key, ticket: TicketId, tag: &str, address: &str, word: &str) -> Ask {
    let links = (1..=5)
        .map(|score| {
            let subject = format!("{word} {score} {tag} {}", key.token(ticket, score));
            Link {
                score,
                href: format!("mailto:{address}?subject={}", percent(&subject)),
            }
        })
        .collect();
    Ask { links }
}

/// RFC 6068 percent-encoding of a mailto header value: everything but
/// unreserved characters, UTF-8 bytes each encoded.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: Words = Words {
        before: &["rating", "score"],
        after: &["/5", "/ 5", "out of 5", "stars", "star"],
    };
    const PL: Words = Words {
        before: &["ocena", "oceniam na", "oceniam"],
        after: &["/5", "z 5", "na 5", "gwiazdki", "gwiazdek", "gwiazdka"],
    };
    const HE: Words = Words {
        before: &["דירוג", "ציון"],
        after: &["/5", "מתוך 5", "כוכבים"],
    };

    fn r(text: &str) -> Option<(u8, String)> {
        read(text, [&EN, &PL, &HE].into_iter())
    }

    #[test]
    fn numbers_alone_or_with_rating_words_are_ratings() {
        assert_eq!(r("4"), Some((4, String::new())));
        assert_eq!(r("  5  \n"), Some((5, String::new())));
        assert_eq!(r("5/5"), Some((5, String::new())));
        assert_eq!(r("4 out of 5"), Some((4, String::new())));
        assert_eq!(r("Rating: 3"), Some((3, String::new())));
        assert_eq!(r("ocena 2"), Some((2, String::new())));
        assert_eq!(r("4 z 5"), Some((4, String::new())));
        assert_eq!(r("דירוג: 5"), Some((5, String::new())));
        assert_eq!(r("5 מתוך 5"), Some((5, String::new())));
    }

    #[test]
    fn the_remark_is_kept_as_written() {
        assert_eq!(
            r("4 - Fast, but I had to ask twice.\nThanks, Ann"),
            Some((4, "Fast, but I had to ask twice.\nThanks, Ann".into()))
        );
        assert_eq!(
            r("2\n\nNobody read my second mail."),
            Some((2, "Nobody read my second mail.".into()))
        );
        assert_eq!(
            r("5 dziękuję bardzo!"),
            Some((5, "dziękuję bardzo!".into()))
        );
        assert_eq!(r("5 תודה רבה"), Some((5, "תודה רבה".into())));
        assert_eq!(r("1 star. Useless."), Some((1, "Useless.".into())));
    }

    #[test]
    fn letters_that_start_with_a_number_are_not_ratings() {
        assert_eq!(
            r("2 printers still fail, can you look again? We tried everything you said and more."),
            None
        );
        assert_eq!(r("3 more questions?"), None);
        assert_eq!(r("45"), None);
        assert_eq!(r("4.5"), None);
        assert_eq!(r("0"), None);
        assert_eq!(r("6"), None);
        assert_eq!(r("Thanks! 5"), None);
        assert_eq!(r(""), None);
        assert_eq!(r("It still does not work"), None);
    }

    #[test]
    fn tokens_verify_only_for_their_ticket_and_score() {
        let key = Key::new(b"installation secret");
        let t = key.token(42, 4);
        assert!(key.verify(&t));
        let found = find_token(&format!("Rating 4 [#TB-42] {t}")).unwrap();
        assert_eq!(found, t);
        assert!(key.verify(&found));
        // Another ticket, another score, another key: refused.
        assert!(!key.verify(&Token {
            ticket: 43,
            ..t.clone()
        }));
        assert!(!key.verify(&Token {
            score: 5,
            ..t.clone()
        }));
        assert!(!Key::new(b"another").verify(&t));
        assert_eq!(find_token("Re: [#TB-42] printer"), None);
    }

    #[test]
    fn links_are_mailto_with_an_encoded_subject() {
        let key = Key::new(b"k");
        let ask = ask(&key, 7, "[#TB-7]", "help@example.com", "Ocena");
        assert_eq!(ask.links.len(), 5);
        let l = &ask.links[3];
        assert_eq!(l.score, 4);
        let t = key.token(7, 4);
        assert_eq!(
            l.href,
            format!("mailto:help@example.com?subject=Ocena%204%20%5B%23TB-7%5D%20{t}")
        );
        let he = super::ask(&key, 7, "[#TB-7]", "help@example.com", "דירוג");
        assert!(
            he.links[0].href.contains("subject=%D7%93"),
            "{}",
            he.links[0].href
        );
    }
}

//! Subjects: the ticket tag (`[#TB-1042]`) and reply/forward prefixes.
//!
//! The tag format is configurable: a template with `{n}` where the number
//! goes. Reply prefixes are stripped in the languages our customers write
//! (`Re:`, `Fwd:`, `AW:`, `Odp:`, `השב:` …) so that a subject can be compared
//! with the ticket's.

use crate::model::TicketId;
use regex::Regex;
use std::sync::LazyLock;

/// Error in the configured tag format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ticket tag format {format:?} {problem}")]
pub struct TagFormatError {
    pub format: String,
    pub problem: &'static str,
}

/// Formats and finds ticket tags.
#[derive(Debug, Clone)]
pub struct TagFormat {
    prefix: String,
    suffix: String,
    find: Regex,
    /// The tag as people retype it: the letters of the prefix and the
    /// number, brackets and hash optional, any dash or space between.
    loose: Option<Regex>,
}

impl TagFormat {
    /// `format` must contain `{n}` once, with some text around it, e.g.
    /// `[#TB-{n}]` or `(Ticket {n})`.
    pub fn new(format: &str) -> Result<TagFormat, TagFormatError> {
        let err = |problem| TagFormatError {
            format: format.to_owned(),
            problem,
        };
        let (prefix, suffix) = format
            .split_once("{n}")
            .ok_or_else(|| err("must contain {n} where the ticket number goes"))?;
        if suffix.contains("{n}") {
            return Err(err("must contain {n} only once"));
        }
        if prefix.trim().is_empty() {
            return Err(err(
                "needs some text before {n}, or any number in a subject would match",
            ));
        }
        // Case-insensitive and tolerant of spaces inside the brackets, since
        // mail clients and people retype tags.
        let loose = |s: &str| {
            s.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| regex::escape(&c.to_string()))
                .collect::<Vec<_>>()
                .join(r"\s*")
        };
        let pattern = format!(r"(?i){}\s*(\d{{1,18}})\s*{}", loose(prefix), loose(suffix));
        let find = Regex::new(&pattern).map_err(|_| err("cannot be turned into a pattern"))?;
        let letters: String = prefix.chars().filter(|c| c.is_alphanumeric()).collect();
        let loose = (!letters.is_empty())
            .then(|| {
                Regex::new(&format!(
                    r"(?i)(?:^|[^\p{{L}}\p{{N}}]){}\s*[-‐‑‒–—―_:#./]?\s*(\d{{1,18}})(?:[^\p{{N}}]|$)",
                    regex::escape(&letters)
                ))
                .ok()
            })
            .flatten();
        Ok(TagFormat {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            find,
            loose,
        })
    }

    pub fn format(&self, id: TicketId) -> String {
        format!("{}{id}{}", self.prefix, self.suffix)
    }

    /// The first ticket number tagged in `subject`.
    pub fn find(&self, subject: &str) -> Option<TicketId> {
        self.find
            .captures_iter(subject)
            .find_map(|c| c.get(1)?.as_str().parse().ok())
    }

    /// A ticket number in a tag someone retyped ("[#TB 1000]", "TB-1000",
    /// "[#TB–1000]"): only for people who belong to that ticket.
    pub fn find_loose(&self, subject: &str) -> Option<TicketId> {
        self.loose
            .as_ref()?
            .captures_iter(subject)
            .find_map(|c| c.get(1)?.as_str().parse().ok())
    }

    /// `subject` with every tag removed.
    pub fn strip(&self, subject: &str) -> String {
        self.find.replace_all(subject, " ").into_owned()
    }
}

/// Reply and forward prefixes of every language (see [`crate::i18n`]):
/// `Re[2]:` and `RE :` included.
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    let words = crate::i18n::reply_prefixes().join("|");
    Regex::new(&format!(
        r"(?i)^\s*({words})\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*"
    ))
    .expect("prefixes are plain words")
});

/// Forward prefixes only ("Fwd:", "FW:", "PD:", "WG:", "הועבר:").
static FORWARD_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    let words = crate::i18n::forward_prefixes().join("|");
    Regex::new(&format!(r"(?i)^\s*({words})\s*[:：]")).expect("prefixes are plain words")
});

/// Whether the subject says the mail forwards another ("FW: …", "PD: …"),
/// under any reply prefixes.
pub fn is_forward(subject: &str) -> bool {
    let mut rest = subject.trim();
    loop {
        if FORWARD_PREFIX.is_match(rest) {
            return true;
        }
        match PREFIX.find(rest) {
            Some(m) if m.end() > 0 => rest = rest[m.end()..].trim_start(),
            _ => return false,
        }
    }
}

/// Removes leading reply/forward prefixes. Returns the rest and whether any
/// prefix was there (a sign the message is a reply).
pub fn strip_prefixes(subject: &str) -> (&str, bool) {
    let mut rest = subject.trim();
    let mut stripped = false;
    while let Some(m) = PREFIX.find(rest) {
        if m.end() == 0 {
            break;
        }
        rest = rest[m.end()..].trim_start();
        stripped = true;
    }
    (rest, stripped)
}

/// A subject reduced for comparison: tags and prefixes gone, white space
/// collapsed, lower-case.
pub fn normalize(subject: &str, tags: &TagFormat) -> String {
    let untagged = tags.strip(subject);
    let (rest, _) = strip_prefixes(&untagged);
    rest.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retyped_tags_are_found_loosely_only() {
        let t = TagFormat::new("[#TB-{n}]").unwrap();
        for s in [
            "[#TB 1000] printer",
            "Re: #TB-1000",
            "[TB-1000]",
            "[#TB–1000] drukarka",
            "tb1000",
            "השב: TB 1000",
        ] {
            assert_eq!(t.find(s).or_else(|| t.find_loose(s)), Some(1000), "{s}");
        }
        assert_eq!(
            t.find("#TB-1000"),
            None,
            "the strict form needs the brackets"
        );
        assert_eq!(t.find_loose("ATB-1000"), None);
        assert_eq!(t.find_loose("TB-10000x"), Some(10000));
        assert_eq!(TagFormat::new("[#{n}]").unwrap().find_loose("#12"), None);
    }

    fn tb() -> TagFormat {
        TagFormat::new("[#TB-{n}]").unwrap()
    }

    #[test]
    fn formats_and_finds_tags_loosely() {
        let t = tb();
        assert_eq!(t.format(1042), "[#TB-1042]");
        assert_eq!(t.find("Re: [#TB-1042] Printer"), Some(1042));
        assert_eq!(t.find("AW: [# tb-7 ] x"), Some(7));
        assert_eq!(t.find("order 1042"), None);
        assert_eq!(t.find("[#TB-]"), None);
    }

    #[test]
    fn custom_formats_and_bad_formats() {
        let t = TagFormat::new("(Ticket {n})").unwrap();
        assert_eq!(t.find("Odp: (ticket 55) faktura"), Some(55));
        assert!(TagFormat::new("TB").is_err());
        assert!(TagFormat::new("{n}").is_err());
        assert!(TagFormat::new("[{n}-{n}]").is_err());
    }

    #[test]
    fn strips_prefixes_in_many_languages() {
        for s in [
            "Re: Printer",
            "RE: Re: Printer",
            "AW: WG: Printer",
            "Odp: Printer",
            "Fwd: Printer",
            "השב: Printer",
            "Re[2]: Printer",
            "SV: Printer",
        ] {
            assert_eq!(strip_prefixes(s), ("Printer", true), "{s}");
        }
        assert_eq!(
            strip_prefixes("Printer: broken"),
            ("Printer: broken", false)
        );
        assert_eq!(
            strip_prefixes("Request for quote"),
            ("Request for quote", false)
        );
    }

    #[test]
    fn normalize_removes_tag_prefix_and_case() {
        assert_eq!(normalize("Re: [#TB-9]  The  Printer", &tb()), "the printer");
        assert_eq!(normalize("Odp: Faktura VAT", &tb()), "faktura vat");
    }
}

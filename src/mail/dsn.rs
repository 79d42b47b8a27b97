//! What a bounce says: for each recipient that failed (or is delayed), the
//! address, the status code, and the server's words. Structured reports
//! (RFC 3464 `message/delivery-status`) are read field by field; many real
//! bounces are plain text (qmail, exim, Google Groups, Japanese carriers),
//! and for those the status and the address are looked for in the text,
//! with the commonest phrasings mapped to their status when no code is
//! given. Pure: bytes in, a report out.

use mail_parser::{Message, MimeHeaders, PartType};
use regex::Regex;
use std::sync::LazyLock;

/// One recipient a bounce reports on.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Failed {
    /// The address that failed (Final-Recipient, else Original-Recipient,
    /// else the address the text names); empty when none could be found.
    pub address: String,
    /// `5.1.1`: the first digit says permanent (5) or not yet (4).
    pub status: String,
    /// `failed` or `delayed`.
    pub action: String,
    /// The remote server's words (Diagnostic-Code, or the text's line).
    pub diagnostic: String,
}

impl Failed {
    /// A permanent failure (5.x.x): mail to the address will not arrive.
    pub fn is_permanent(&self) -> bool {
        self.status.starts_with('5')
    }
}

/// What a bounce reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub failed: Vec<Failed>,
    /// Whether it came as an RFC 3464 report (else read from text).
    pub structured: bool,
}

static STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d.])([45])\.(\d{1,3})\.(\d{1,3})(?:[^\d.]|$)").expect("a valid pattern")
});
static REPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|\s|:)(5[0-5]\d|4[2-5]\d)[ -]").expect("a valid pattern")
});
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<?([A-Za-z0-9._%+=/'!#$&*?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?")
        .expect("a valid pattern")
});

/// Phrasings of the commonest failures and the status they stand for
/// (RFC 3463), for bounces that give no code.
const PHRASES: &[(&str, &str)] = &[
    ("user unknown", "5.1.1"),
    ("unknown user", "5.1.1"),
    ("no such user", "5.1.1"),
    ("does not exist", "5.1.1"),
    ("no mailbox here", "5.1.1"),
    ("invalid recipient", "5.1.1"),
    ("recipient address rejected", "5.1.1"),
    ("address rejected", "5.1.1"),
    ("not our customer", "5.1.1"),
    ("user not found", "5.1.1"),
    ("not recognized", "5.1.1"),
    ("unknown recipient", "5.1.1"),
    ("recipient unknown", "5.1.1"),
    ("no such recipient", "5.1.1"),
    ("address unknown", "5.1.1"),
    ("mailbox not found", "5.1.1"),
    ("not listed in", "5.1.1"),
    ("invalid address", "5.1.1"),
    ("account has been disabled", "5.2.1"),
    ("account is disabled", "5.2.1"),
    ("mailbox exceeded", "4.2.2"),
    ("size limit exceeded", "5.3.4"),
    ("mailbox unavailable", "5.1.1"),
    ("host not found", "5.1.2"),
    ("host or domain name not found", "5.1.2"),
    ("name service error", "5.1.2"),
    ("domain not found", "5.1.2"),
    ("mailbox is full", "4.2.2"),
    ("mailbox full", "4.2.2"),
    ("over quota", "4.2.2"),
    ("quota exceeded", "4.2.2"),
    ("exceeded storage", "4.2.2"),
    ("message too large", "5.3.4"),
    ("message size exceeds", "5.3.4"),
    ("too long in queue", "4.4.7"),
    ("retry timeout exceeded", "4.4.7"),
    ("could not be delivered for", "4.4.7"),
    ("connection timed out", "4.4.1"),
    ("connection refused", "4.4.1"),
    ("spam", "5.7.1"),
    ("blocked", "5.7.1"),
    ("rejected", "5.7.1"),
    ("denied", "5.7.1"),
];

/// RFC 3464: the `message/delivery-status` part, field by field; `None`
/// when the message has none (cheap: read for every message at parse).
pub fn structured(msg: &Message<'_>) -> Option<Report> {
    let part = msg.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let body = match &part.body {
        PartType::Text(t) => t.as_bytes().to_vec(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        _ => msg
            .raw_message()
            .get(part.offset_body as usize..part.offset_end as usize)?
            .to_vec(),
    };
    let text = String::from_utf8_lossy(&body).replace("\r\n", "\n");
    let mut failed = Vec::new();
    // Blocks apart by blank lines: the first is about the message, each
    // other one about a recipient.
    for block in text.split("\n\n").skip(1) {
        let fields = unfold(block);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let action = get("Action")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if matches!(action.as_str(), "delivered" | "relayed" | "expanded") {
            continue;
        }
        let address = get("Final-Recipient")
            .or_else(|| get("Original-Recipient"))
            .map(typed_address)
            .unwrap_or_default();
        let diagnostic = get("Diagnostic-Code")
            .map(|d| d.split_once(';').map_or(d, |(_, v)| v).trim().to_owned())
            .unwrap_or_default();
        let mut status = get("Status").and_then(status_in).unwrap_or_default();
        // A report that says only "5.0.0" often has the real code in the
        // server's own words.
        if (status.is_empty() || status.ends_with(".0.0"))
            && let Some(better) = status_in(&diagnostic).filter(|s| !s.ends_with(".0.0"))
        {
            status = better;
        }
        if address.is_empty() && status.is_empty() {
            continue;
        }
        failed.push(Failed {
            address,
            status,
            action: if action.is_empty() {
                "failed".into()
            } else {
                action
            },
            diagnostic: crate::text::one_line(&diagnostic, 500),
        });
    }
    (!failed.is_empty()).then_some(Report {
        failed,
        structured: true,
    })
}

/// `Name: value` fields of a block, continuation lines joined.
fn unfold(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// `rfc822; someone@example.com` → `someone@example.com`.
fn typed_address(v: &str) -> String {
    let a = v.split_once(';').map_or(v, |(_, a)| a);
    a.trim()
        .trim_matches(['<', '>'])
        .trim()
        .to_ascii_lowercase()
}

/// The status a server's reply gives (`550 5.1.1 …` → `5.1.1`; a bare
/// `550 …` → `5.0.0`), for refusals met while sending.
pub fn status_of_reply(reply: &str) -> Option<String> {
    status_in(reply).or_else(|| REPLY.captures(reply).map(|c| format!("{}.0.0", &c[1][..1])))
}

/// The first enhanced status code in `s` (`5.1.1`).
fn status_in(s: &str) -> Option<String> {
    STATUS
        .captures(s)
        .map(|c| format!("{}.{}.{}", &c[1], &c[2], &c[3]))
}

/// A plain-text bounce: the first status code (or a reply code, or a
/// phrase) and the address it is about. Only for a message already known
/// to be a bounce: any text with a number like 5.1.1 would do.
pub fn from_text(text: &str) -> Option<Report> {
    // The part before the returned message: its own headers would bring
    // addresses and codes that are not the failure's.
    let cut = [
        "------ This is a copy of the message",
        "--- Below this line is a copy of the message",
        "Original message follows",
        "----- Original message -----",
        "------- Returned Message --------",
        "Received: from",
    ]
    .iter()
    .filter_map(|m| text.find(m))
    .min()
    .unwrap_or(text.len());
    let head = &text[..cut];
    let lower = head.to_ascii_lowercase();
    let line_of = |at: usize| {
        let start = head[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = head[at..].find('\n').map_or(head.len(), |i| at + i);
        head[start..end].trim().to_owned()
    };
    let (status, at) = if let Some(m) = STATUS.captures(head) {
        let whole = m.get(0).map_or(0, |g| g.start());
        (format!("{}.{}.{}", &m[1], &m[2], &m[3]), whole)
    } else if let Some((phrase, code)) = PHRASES.iter().find(|(p, _)| lower.contains(p)) {
        (code.to_string(), lower.find(phrase).unwrap_or(0))
    } else if let Some(m) = REPLY.captures(head) {
        let code = &m[1];
        let at = m.get(1).map_or(0, |g| g.start());
        (format!("{}.0.0", &code[..1]), at)
    } else if let Some(at) = lower.find("permanent") {
        // No code and no known phrase: at least whether it is final.
        ("5.0.0".to_owned(), at)
    } else if let Some(at) = ["temporar", "delayed", "will keep trying"]
        .iter()
        .find_map(|w| lower.find(w))
    {
        ("4.0.0".to_owned(), at)
    } else {
        return None;
    };
    // The address: the nearest one on or before the line with the code,
    // else the first in the text.
    let mut address = String::new();
    for m in ADDRESS.captures_iter(head) {
        let pos = m.get(0).map_or(0, |g| g.start());
        if pos > at + 200 && !address.is_empty() {
            break;
        }
        let a = m[1].to_ascii_lowercase();
        if a.starts_with("mailer-daemon@") || a.starts_with("postmaster@") {
            continue;
        }
        address = a;
        if pos >= at {
            break;
        }
    }
    Some(Report {
        failed: vec![Failed {
            address,
            status,
            action: "failed".into(),
            diagnostic: crate::text::one_line(&line_of(at), 500),
        }],
        structured: false,
    })
}

#[cfg(test)]
mod tests;

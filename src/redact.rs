//! Secrets never leave the process inside a message.
//!
//! Servers echo what they were sent: a failed `AUTH PLAIN` may come back
//! as `535 5.7.8 Authentication failed: AGFubkBleGFtcGxlAGh1bnRlcjI=`, the
//! base64 of the user and password, and such a reply ends up in a log line
//! or in the outbox's stored `last_error`. A [`Redactor`] knows the secrets
//! of one connection (and the encodings a protocol sends them in) and
//! replaces each with `[redacted]` in any text before it is logged or kept.
//!
//! Libraries log too: at `RUST_LOG=trace` the IMAP library writes every
//! command it sends, `LOGIN "user" "password"` included. So every secret
//! read from the config is also [`remember`]ed in one process-wide
//! redactor, and the log writer passes each line through [`scrub`]: no
//! password reaches the log at any level, whoever wrote the line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;
use std::sync::RwLock;

/// Every secret this process has read, for [`scrub`].
static KNOWN: RwLock<Redactor> = RwLock::new(Redactor {
    needles: Vec::new(),
});

/// Adds a login's secrets to the process-wide redactor.
pub fn remember(user: &str, password: &str) {
    let new = Redactor::for_login(user, password);
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    known.needles.extend(new.needles);
    known.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    known.needles.dedup();
}

/// `text` without any secret this process has read.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    if known.needles.iter().any(|n| text.contains(n.as_str())) {
        Cow::Owned(known.redact(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// Replaces known secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    needles: Vec<String>,
}

/// Secrets shorter than this are not replaced: a one-letter password would
/// blank out every occurrence of that letter and hide the message.
const MIN_LEN: usize = 4;

impl Redactor {
    /// A redactor for a login of `user` with `password`: the password as
    /// is, and the base64 forms SASL PLAIN and LOGIN send.
    pub fn for_login(user: &str, password: &str) -> Redactor {
        let mut needles = vec![
            password.to_owned(),
            // As an IMAP quoted string writes it.
            password.replace('\\', "\\\\").replace('"', "\\\""),
            STANDARD.encode(password),
            STANDARD.encode(format!("\0{user}\0{password}")),
            STANDARD.encode(format!("{user}\0{user}\0{password}")),
        ];
        // Inside a longer blob the password's base64 depends on how many
        // bytes come before it (mod 3): for each alignment, the groups of
        // three bytes that lie wholly within the password encode the same
        // whatever surrounds them.
        for pad in 0..3 {
            let enc = STANDARD.encode(format!("{}{password}", "\0".repeat(pad)));
            let (first, end) = (pad.div_ceil(3), (pad + password.len()) / 3);
            if let Some(core) = enc.get(4 * first..4 * end.max(first)) {
                needles.push(core.to_owned());
            }
        }
        needles.retain(|n| n.len() >= MIN_LEN);
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "[redacted]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_and_its_encodings_are_replaced() {
        let r = Redactor::for_login("ann@example.com", "hunter2-secret");
        let plain = STANDARD.encode("\0ann@example.com\0hunter2-secret");
        let echoed = format!("535 5.7.8 Authentication failed: {plain}");
        assert_eq!(
            r.redact(&echoed),
            "535 5.7.8 Authentication failed: [redacted]"
        );
        assert_eq!(
            r.redact("LOGIN \"ann\" \"hunter2-secret\""),
            "LOGIN \"ann\" \"[redacted]\""
        );
        let login = STANDARD.encode("hunter2-secret");
        assert!(!r.redact(&format!("334 {login}")).contains(&login));
        assert_eq!(r.redact("250 OK"), "250 OK");
    }

    #[test]
    fn the_password_inside_another_blob_is_caught_at_any_alignment() {
        let r = Redactor::for_login("u", "correct horse battery staple");
        for prefix in ["", "x", "xy", "xyz", "user\0"] {
            let blob = STANDARD.encode(format!("{prefix}correct horse battery staple and more"));
            assert!(r.redact(&blob).contains("[redacted]"), "{prefix:?}: {blob}");
        }
    }

    #[test]
    fn what_the_process_read_is_scrubbed_from_any_text() {
        remember("imap-user", "pa\"ss\\word-77");
        assert_eq!(
            scrub(r#"A1 LOGIN "imap-user" "pa\"ss\\word-77""#),
            r#"A1 LOGIN "imap-user" "[redacted]""#
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn tiny_secrets_do_not_blank_the_text() {
        let r = Redactor::for_login("u", "x");
        assert_eq!(r.redact("xxx error"), "xxx error");
    }
}

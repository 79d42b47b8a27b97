//! Where a message came from, as the store records it (a line of text,
//! for the admin) and as the code reads it back (recovering a message
//! after a crash needs its mailbox, for the mailbox's queue). One type
//! writes both, so the two cannot drift.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A message of an IMAP mailbox (by the mailbox's configured name).
    Imap { mailbox: String, uid: u32 },
    /// A quarantined message an admin released; where it came from first.
    Released(Box<Origin>),
    /// A file, a Maildir message, stdin, the control socket: shown as it
    /// was given.
    Other(String),
}

impl Origin {
    /// Reads an origin back from its text; what is not ours to read is
    /// [`Origin::Other`].
    pub fn parse(text: &str) -> Origin {
        if let Some(inner) = text.strip_prefix("released:") {
            return Origin::Released(Box::new(Origin::parse(inner)));
        }
        if let Some(rest) = text.strip_prefix("imap:")
            && let Some((mailbox, uid)) = rest.rsplit_once('/')
            && let Ok(uid) = uid.parse()
            && !mailbox.is_empty()
        {
            return Origin::Imap {
                mailbox: mailbox.to_owned(),
                uid,
            };
        }
        Origin::Other(text.to_owned())
    }

    /// The recipient the MTA handed it over for (LMTP, `ticketbox
    /// deliver --recipient`), released or not.
    pub fn recipient(&self) -> Option<&str> {
        match self {
            Origin::Released(inner) => inner.recipient(),
            Origin::Other(text) => text
                .strip_prefix("lmtp:")
                .or_else(|| text.strip_prefix("deliver:"))
                .filter(|r| r.contains('@')),
            Origin::Imap { .. } => None,
        }
    }

    /// The IMAP mailbox it came from, released or not.
    pub fn mailbox(&self) -> Option<&str> {
        match self {
            Origin::Imap { mailbox, .. } => Some(mailbox),
            Origin::Released(inner) => inner.mailbox(),
            Origin::Other(_) => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Imap { mailbox, uid } => write!(f, "imap:{mailbox}/{uid}"),
            Origin::Released(inner) => write!(f, "released:{inner}"),
            Origin::Other(text) => f.write_str(text),
        }
    }
}

/// The key that marks an IMAP message as taken in: its mailbox, the
/// mailbox's UIDVALIDITY and its UID (a renumbered mailbox is new mail).
pub fn imap_source_key(mailbox: &str, validity: u32, uid: u32) -> String {
    format!("imap:{mailbox}:{validity}:{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_read_back_as_written() {
        let imap = Origin::Imap {
            mailbox: "support/billing".into(),
            uid: 42,
        };
        for o in [
            imap.clone(),
            Origin::Released(Box::new(imap.clone())),
            Origin::Other("/var/mail/new/1.eml".into()),
            Origin::Other("stdin#3".into()),
        ] {
            assert_eq!(Origin::parse(&o.to_string()), o, "{o}");
        }
        assert_eq!(imap.to_string(), "imap:support/billing/42");
        assert_eq!(
            Origin::parse("released:lmtp:support+billing@example.com").recipient(),
            Some("support+billing@example.com")
        );
        assert_eq!(
            Origin::parse("deliver:help@example.com").recipient(),
            Some("help@example.com")
        );
        assert_eq!(Origin::parse("deliver:stdin").recipient(), None);
        assert_eq!(imap.recipient(), None);
        assert_eq!(
            Origin::Released(Box::new(imap)).mailbox(),
            Some("support/billing")
        );
        // Not ours: kept as given.
        for text in ["imap:", "imap:/7", "imap:x/notanumber", "maildir:/a"] {
            assert_eq!(Origin::parse(text), Origin::Other(text.into()), "{text}");
        }
    }
}

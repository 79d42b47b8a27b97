//! Addresses our mail no longer reaches. A permanent failure (5.x.x) in a
//! bounce puts the address on the list at once; temporary ones (4.x.x, a
//! full mailbox) do when `bounces.soft_limit` of them come within
//! `bounces.soft_window_days`. Mail to a listed address is held in the
//! outbox with the reason instead of being sent into the void (and
//! bouncing again); `ticketbox unsuppress` lifts it. Pure: the book is
//! data, kept as typed state in the store and changed in the commit of
//! the bounce that changed it.

use crate::mail::dsn::Failed;
use crate::model::TicketId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is known about one address that bounced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Since when mail to it is held; `None` while it is only watched
    /// (temporary failures below the limit).
    pub suppressed_since: Option<DateTime<Utc>>,
    /// The last bounce's status and the server's words.
    pub status: String,
    pub diagnostic: String,
    /// The ticket whose mail bounced last.
    pub ticket: Option<TicketId>,
    pub last: DateTime<Utc>,
    /// Temporary failures inside the window.
    #[serde(default)]
    pub soft: Vec<DateTime<Utc>>,
}

/// Every address that bounced, by address (lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub addresses: BTreeMap<String, Entry>,
}

/// When temporary failures add up to a suppression.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub soft_limit: u32,
    pub soft_window_days: u32,
}

impl Book {
    /// Mail to `address` is held: the entry that says why.
    pub fn suppressed(&self, address: &str) -> Option<&Entry> {
        self.addresses
            .get(&address.trim().to_ascii_lowercase())
            .filter(|e| e.suppressed_since.is_some())
    }

    /// Records one failed recipient of a bounce of `ticket`'s mail;
    /// returns what changed, for the ticket's record.
    pub fn record(
        &mut self,
        f: &Failed,
        ticket: Option<TicketId>,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> String {
        let address = f.address.trim().to_ascii_lowercase();
        if address.is_empty() {
            return format!("a recipient bounced ({}), address not given", f.status);
        }
        let e = self.addresses.entry(address.clone()).or_insert(Entry {
            suppressed_since: None,
            status: String::new(),
            diagnostic: String::new(),
            ticket,
            last: now,
            soft: Vec::new(),
        });
        e.status.clone_from(&f.status);
        e.diagnostic.clone_from(&f.diagnostic);
        e.ticket = ticket.or(e.ticket);
        e.last = now;
        let what = if f.diagnostic.is_empty() {
            format!("{address} bounced: {}", f.status)
        } else {
            format!("{address} bounced: {} ({})", f.status, f.diagnostic)
        };
        if e.suppressed_since.is_some() {
            return format!("{what}; mail to it was already held");
        }
        if f.is_permanent() {
            e.suppressed_since = Some(now);
            return format!("{what}; a permanent failure: mail to it is held from now on");
        }
        let window = chrono::Duration::days(i64::from(policy.soft_window_days.max(1)));
        e.soft.retain(|t| now - *t < window);
        e.soft.push(now);
        let n = e.soft.len();
        if policy.soft_limit > 0 && n >= policy.soft_limit as usize {
            e.suppressed_since = Some(now);
            format!(
                "{what}; {n} temporary failures within {} days: mail to it is held from now on",
                policy.soft_window_days
            )
        } else {
            format!(
                "{what}; temporary ({n} of {} before mail to it is held)",
                policy.soft_limit
            )
        }
    }

    /// Lifts the hold on `address`; false when it was not held.
    pub fn lift(&mut self, address: &str) -> bool {
        self.addresses
            .remove(&address.trim().to_ascii_lowercase())
            .is_some_and(|e| e.suppressed_since.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn failed(address: &str, status: &str) -> Failed {
        Failed {
            address: address.into(),
            status: status.into(),
            action: "failed".into(),
            diagnostic: "550 5.1.1 user unknown".into(),
        }
    }

    const P: Policy = Policy {
        soft_limit: 3,
        soft_window_days: 7,
    };

    #[test]
    fn a_permanent_failure_holds_mail_at_once_and_lifting_ends_it() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let mut b = Book::default();
        let note = b.record(
            &failed("Dana@Customer.example", "5.1.1"),
            Some(1000),
            P,
            now,
        );
        assert!(
            note.contains("dana@customer.example bounced: 5.1.1"),
            "{note}"
        );
        assert!(note.contains("held from now on"), "{note}");
        assert_eq!(
            b.suppressed("DANA@customer.example").unwrap().ticket,
            Some(1000)
        );
        assert!(b.lift("dana@customer.example"));
        assert!(b.suppressed("dana@customer.example").is_none());
        assert!(!b.lift("dana@customer.example"));
    }

    #[test]
    fn temporary_failures_hold_mail_only_when_they_add_up_within_the_window() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut b = Book::default();
        let full = failed("ann@c.example", "4.2.2");
        b.record(&full, Some(1), P, t0);
        // Eight days later the first one no longer counts.
        b.record(&full, Some(1), P, t0 + chrono::Duration::days(8));
        let note = b.record(&full, Some(1), P, t0 + chrono::Duration::days(9));
        assert!(note.contains("2 of 3"), "{note}");
        assert!(b.suppressed("ann@c.example").is_none());
        let note = b.record(&full, Some(1), P, t0 + chrono::Duration::days(10));
        assert!(
            note.contains("3 temporary failures within 7 days"),
            "{note}"
        );
        assert!(b.suppressed("ann@c.example").is_some());
    }
}

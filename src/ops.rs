//! Changes an admin or agent makes outside mail: a ticket's status, a
//! customer's language and time zone, releasing a quarantined message,
//! lifting the hold on an address that bounced. They run on the committer
//! thread when a worker is running (the only writer), else directly.

use crate::intake::RawMail;
use crate::model::{Status, TicketId};
use crate::pipeline::Engine;
use crate::pipeline::timing;
use crate::store::{Commit, Store, StoreError};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets a ticket's status (pending stops the SLA clock when the policy
/// says so; open restarts it; closed records when).
pub fn set_status<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    id: TicketId,
    status: Status,
    now: DateTime<Utc>,
) -> Result<String, OpError> {
    let mut t = store
        .ticket(id)?
        .ok_or_else(|| OpError::Input(format!("no ticket {}", engine.threading.tags.format(id))))?;
    let before = t.status;
    timing::set_status(engine, &mut t, status, now);
    let mut commit = Commit::default();
    // A ticket closed before anyone answered no longer waits in its queue.
    if t.first_response_at.is_none() && before.is_open() != status.is_open() {
        let mut stats = store.queue_stats(&t.queue)?;
        stats.awaiting = (stats.awaiting + if status.is_open() { 1 } else { -1 }).max(0);
        commit.queue_stats(&t.queue, &stats);
    }
    let note = format!("{} is now {status}", engine.threading.tags.format(id));
    commit.ticket = Some(t);
    store.commit(&commit)?;
    Ok(note)
}

/// Records a customer's language and time zone for future mail.
pub fn set_customer<S: Store + ?Sized>(
    store: &S,
    address: &str,
    language: Option<String>,
    timezone: Option<String>,
) -> Result<String, OpError> {
    let address = address.trim().to_lowercase();
    if !address.contains('@') {
        return Err(OpError::Input(format!(
            "{address:?} is not an email address"
        )));
    }
    let mut prefs = store.customer_prefs(&address)?;
    if let Some(l) = language {
        let l = l.trim().to_ascii_lowercase();
        if l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(OpError::Input(format!(
                "language {l:?}: expected a two-letter code like he, pl, en"
            )));
        }
        prefs.language = Some(l);
    }
    if let Some(z) = timezone {
        z.parse::<chrono_tz::Tz>().map_err(|_| {
            OpError::Input(format!(
                "time zone {z:?} is not an IANA name like Asia/Jerusalem"
            ))
        })?;
        prefs.timezone = Some(z);
    }
    let value = serde_json::to_string(&prefs).unwrap_or_default();
    let mut commit = Commit::default();
    commit.customer_prefs(&address, &prefs);
    store.commit(&commit)?;
    Ok(format!("{address}: {value}"))
}
/// Lifts the hold on `address` (it bounced; someone says it works again):
/// it leaves the bounce book, and the mail held for it is due now.
pub fn unsuppress<S: Store + ?Sized>(
    store: &S,
    address: &str,
    now: DateTime<Utc>,
) -> Result<String, OpError> {
    let address = address.trim().to_lowercase();
    let mut book = store.bounces()?;
    if !book.lift(&address) {
        return Err(OpError::Input(format!(
            "{address}: mail to it is not held (`ticketbox suppressed` lists what is)"
        )));
    }
    let mut commit = Commit::default();
    commit.bounces(&book);
    store.commit(&commit)?;
    let again: Vec<_> = store
        .outbox_active()?
        .into_iter()
        .filter(|e| {
            e.last_error
                .as_deref()
                .is_some_and(|r| r.starts_with(crate::outbox::HELD))
                && e.recipients
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&address))
        })
        .map(|mut e| {
            e.next_attempt = now;
            e.last_error = None;
            e
        })
        .collect();
    store.put_outbox_all(&again)?;
    Ok(format!(
        "{address}: mail is sent to it again; {} held message(s) go out now",
        again.len()
    ))
}

/// Releases the quarantined message whose hash starts with `prefix`: it is
/// processed again as if it had just arrived, except that spam rules and
/// the agent authentication check let it through.
pub fn release<S: Store + ?Sized>(
    engine: &Engine,
    store: &S,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<crate::pipeline::Outcome, OpError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 6 {
        return Err(OpError::Input(format!(
            "{prefix:?}: give at least 6 characters of the hash `ticketbox quarantine` shows"
        )));
    }
    let found: Vec<_> = store
        .quarantined()?
        .into_iter()
        .filter(|q| q.raw_hash.starts_with(&prefix))
        .collect();
    let q = match found.as_slice() {
        [q] => q,
        [] => return Err(OpError::Input(format!("no quarantined message {prefix}"))),
        many => {
            return Err(OpError::Input(format!(
                "{prefix} matches {} quarantined messages; give more of the hash",
                many.len()
            )));
        }
    };
    let bytes = store.raw(&q.raw_hash)?.ok_or_else(|| {
        OpError::Input(format!("the bytes of {} are not in the store", q.raw_hash))
    })?;
    let origin = crate::intake::Origin::Released(Box::new(crate::intake::Origin::parse(&q.origin)));
    let raw = RawMail::new(bytes, origin.to_string(), None);
    Ok(crate::pipeline::release(engine, store, &raw, now)?)
}

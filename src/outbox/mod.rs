//! The durable queue of outgoing mail and the task that drains it.
//!
//! An entry is created in the same store commit as the decision that caused
//! it, with the complete rendered message, so a retry always sends the same
//! bytes under the same Message-ID. Delivery goes through a [`Transport`].
//!
//! Crash window, stated honestly: an entry is marked `sending` (and flushed)
//! before the transport is called, and its result is recorded (and flushed)
//! as soon as it returns, not at the end of a round; no new send starts
//! while results wait to be recorded. A crash between the transport
//! accepting a mail and that record leaves it `sending`; on restart such
//! entries are delivered again (at-least-once) and a warning is logged. So a
//! kill repeats at most `concurrency` sends. Nothing is ever lost.
//!
//! Results are per recipient: what was taken is delivered and recorded;
//! a recipient refused for good is recorded with the server's reason (and
//! the entry's `notify` address, the agent whose answer it is, is told); a
//! recipient refused for now is tried again alone, later.

mod deliver;
mod smtp;
mod transport;

pub use deliver::{HELD, HELD_FOR, OnRefused, Round, deliver_due, send_loop};
pub use smtp::{SmtpSetupError, SmtpTransport};
pub use transport::{FileTransport, Refusal, SendError, SendFuture, Sent, Transport};

use chrono::Duration;

// The queue's entries are the store's data: the store keeps them.
pub use crate::store::{OutboxEntry, OutboxState, RefusedRecipient};

/// How the outbox retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Attempts before a temporary failure becomes final.
    pub max_attempts: u32,
    /// First retry delay in seconds; doubles per attempt, capped at an hour.
    pub retry_base_seconds: u32,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Most entries handled per round.
    pub limit: usize,
    /// Who drains the outbox, as claims name it: one drainer per process.
    pub holder: String,
    /// How long a claim holds entries for a round before another drainer
    /// may take them (its holder is taken for dead).
    pub lease: chrono::Duration,
    /// Longest wait with nothing due: on a shared store other workers'
    /// mail (a dead worker's claims, retries) can fall due without this
    /// process hearing of it, so it looks again this often.
    pub idle: std::time::Duration,
}

/// The longest idle wait when this process is the store's only writer.
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// This process as a drainer of the outbox (see [`crate::peer`]).
fn this_process() -> String {
    crate::peer::this_process().to_owned()
}

/// A round's claim: long past any send's timeouts.
const LEASE_MINUTES: i64 = 15;

impl Policy {
    /// The retry policy the config asks for; `concurrency` is the
    /// transport's.
    pub fn from_config(cfg: &crate::config::Config) -> Policy {
        Policy {
            max_attempts: cfg.outbox.max_attempts.max(1),
            retry_base_seconds: cfg.outbox.retry_base_seconds,
            // Files are created one at a time: parallel creates in one
            // directory only contend for the file system's locks.
            concurrency: if cfg.outbox.transport == "smtp" {
                cfg.smtp.concurrency
            } else {
                1
            },
            limit: 500,
            holder: this_process(),
            lease: chrono::Duration::minutes(LEASE_MINUTES),
            idle: if cfg.store.is_server() {
                std::time::Duration::from_secs(cfg.store.lease_seconds.max(3) / 3)
            } else {
                IDLE
            },
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 12,
            retry_base_seconds: 30,
            concurrency: 4,
            limit: 500,
            holder: this_process(),
            lease: chrono::Duration::minutes(LEASE_MINUTES),
            idle: IDLE,
        }
    }
}

/// Wait before attempt `attempts + 1`: `base` seconds doubling to an hour,
/// spread by up to a fifth (derived from the id, so it is stable) so that
/// many entries failing together do not retry together.
pub fn backoff(attempts: u32, id: &str, base: u32) -> Duration {
    let base = i64::from(base.max(1))
        .saturating_mul(1i64 << attempts.saturating_sub(1).min(12))
        .min(3600);
    let spread = id
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1000;
    Duration::milliseconds(base * 1000 + base * 200 * spread as i64 / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_spreads() {
        let b1 = backoff(1, "a", 30);
        assert!(
            b1 >= Duration::seconds(30) && b1 <= Duration::seconds(36),
            "{b1}"
        );
        let b2 = backoff(2, "a", 30);
        assert!(
            b2 >= Duration::seconds(60) && b2 <= Duration::seconds(72),
            "{b2}"
        );
        let b20 = backoff(20, "a", 30);
        assert!(
            b20 >= Duration::seconds(3600) && b20 <= Duration::seconds(4320),
            "{b20}"
        );
        assert_ne!(backoff(3, "a", 30), backoff(3, "b", 30));
    }
}

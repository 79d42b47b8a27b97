//! Reading an IMAP mailbox: one task per mailbox, each with its own
//! connection, so fifty mailboxes wait on fifty servers at once rather than
//! one after another.
//!
//! Progress is never judged by `\Seen` (a person opening the mailbox would
//! hide mail from us): each mailbox checkpoints (UIDVALIDITY, last UID) in
//! the store, in the same flush as the mail it covers. A changed UIDVALIDITY
//! means the UIDs were renumbered: everything is fetched again and the
//! store recognises what it already has. The server is told about a message
//! (flag or move) only after the committer has flushed it.
//!
//! New mail wakes an IDLE (re-issued every 25 minutes, under the 29-minute
//! limit); servers without IDLE are polled. Any failure logs one clear line
//! and reconnects with capped exponential backoff and jitter.

mod connect;

pub use connect::{ImapError, ImapSession, open};

use crate::config::{AfterStore, MailboxCfg};
use crate::intake::RawMail;
use crate::store::Store;
use crate::worker::committer::Committer;
use futures::TryStreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// IDLE is re-issued this often (RFC 2177: servers may drop it after 30 min).
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

/// Checkpoint key of a mailbox in the store's meta values.
pub fn checkpoint_key(name: &str) -> String {
    format!("imap:{name}")
}

/// Parses a checkpoint value `"<uidvalidity>:<last uid>"`.
pub fn parse_checkpoint(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Capped exponential backoff with jitter: 1 s, 2 s, 4 s … up to 60 s, each
/// stretched by up to a quarter so reconnects of many mailboxes spread out.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    pub fn next_delay(&mut self, jitter_seed: u64) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(60));
        let jitter = base.as_millis() as u64 * (jitter_seed % 250) / 1000;
        base + Duration::from_millis(jitter)
    }

    pub fn reset(&mut self) {
        *self = Backoff::default();
    }
}

fn jitter_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}

/// One mailbox's reader.
pub struct MailboxReader<S: Store + 'static> {
    pub cfg: MailboxCfg,
    pub committer: Committer,
    pub store: Arc<S>,
    /// Fetch what is there, then return (`run --once`).
    pub once: bool,
}

enum RoundEnd {
    Finished,
    Shutdown,
}

impl<S: Store + 'static> MailboxReader<S> {
    /// Reads until `shutdown` turns true (or, with `once`, until caught up).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), ImapError> {
        let mut backoff = Backoff::default();
        let mut failures = 0;
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            match self.session(&mut shutdown, &mut backoff).await {
                Ok(RoundEnd::Finished | RoundEnd::Shutdown) => return Ok(()),
                Err(e) => {
                    failures += 1;
                    let delay = backoff.next_delay(jitter_seed());
                    if e.needs_admin() {
                        tracing::error!(mailbox = %self.cfg.name, error = %e, retry_in = ?delay, "mailbox unavailable; check its settings");
                    } else {
                        tracing::warn!(mailbox = %self.cfg.name, error = %e, retry_in = ?delay, "mailbox connection failed; reconnecting");
                    }
                    if self.once && failures >= 3 {
                        return Err(e);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return Ok(()),
                    }
                }
            }
        }
    }

    /// One connection's life: connect, catch up, then IDLE or poll.
    async fn session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Result<RoundEnd, ImapError> {
        let cfg = &self.cfg;
        let mut session = open(cfg).await?;
        let mailbox = session.select(&cfg.folder).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let caps = session.capabilities().await?;
        let has_idle = caps.has_str("IDLE");
        let has_move = caps.has_str("MOVE");
        let has_uidplus = caps.has_str("UIDPLUS");
        backoff.reset();
        tracing::info!(mailbox = %cfg.name, host = %cfg.host, folder = %cfg.folder, idle = has_idle, "connected");

        let key = checkpoint_key(&cfg.name);
        let stored = self
            .store
            .meta(&key)
            .map_err(|e| ImapError::Commit(e.to_string()))?
            .and_then(|v| parse_checkpoint(&v));
        let mut last = match stored {
            Some((v, uid)) if v == validity => uid,
            Some((v, _)) => {
                tracing::warn!(mailbox = %cfg.name, old = v, new = validity, "UIDVALIDITY changed: fetching everything again; the store skips what it has");
                0
            }
            None => 0,
        };
        if cfg.after == AfterStore::Move {
            // Ignore "already exists".
            let _ = session.create(&cfg.move_to).await;
            if last > 0 {
                // Mail stored before a crash but not yet moved.
                let left: Vec<u32> = session
                    .uid_search(format!("UID 1:{last}"))
                    .await?
                    .into_iter()
                    .collect();
                let left: Vec<u32> = left.into_iter().filter(|u| *u <= last).collect();
                after_store(&mut session, cfg, &left, has_move, has_uidplus).await?;
            }
        }

        loop {
            last = self
                .catch_up(&mut session, validity, last, has_move, has_uidplus)
                .await?;
            if self.once {
                let _ = session.logout().await;
                return Ok(RoundEnd::Finished);
            }
            let woke = if has_idle {
                let mut idle = session.idle();
                idle.init().await?;
                let (wait, stop) = idle.wait_with_timeout(IDLE_RENEW);
                let outcome = tokio::select! {
                    r = wait => Some(r),
                    _ = tokio::time::sleep(IDLE_RENEW) => None,
                    _ = shutdown.changed() => None,
                };
                drop(stop);
                if let Some(r) = outcome
                    && let async_imap::extensions::idle::IdleResponse::NewData(_) = r?
                {
                    // The start of "our share" of a message's latency.
                    tracing::debug!(mailbox = %cfg.name, "idle woke");
                }
                session = idle.done().await?;
                true
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(cfg.poll_seconds)) => true,
                    _ = shutdown.changed() => false,
                }
            };
            if *shutdown.borrow() || !woke {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                tracing::info!(mailbox = %cfg.name, "logged out");
                return Ok(RoundEnd::Shutdown);
            }
        }
    }

    /// Fetches and stores everything after `last`, in batches; returns the
    /// new last UID.
    async fn catch_up(
        &self,
        session: &mut ImapSession,
        validity: u32,
        mut last: u32,
        has_move: bool,
        has_uidplus: bool,
    ) -> Result<u32, ImapError> {
        let cfg = &self.cfg;
        loop {
            // "UID n:*" always matches the highest UID, even below n.
            let mut uids: Vec<u32> = session
                .uid_search(format!("UID {}:*", last.saturating_add(1)))
                .await?
                .into_iter()
                .filter(|u| *u > last)
                .collect();
            if uids.is_empty() {
                return Ok(last);
            }
            uids.sort_unstable();
            let total = uids.len();
            let mut done = 0;
            for chunk in uids.chunks(cfg.fetch_batch) {
                for group in self.by_size(session, chunk).await? {
                    last = self
                        .fetch_and_store(session, validity, last, &group, has_move, has_uidplus)
                        .await?;
                }
                done += chunk.len();
                if total > cfg.fetch_batch {
                    tracing::info!(mailbox = %cfg.name, done, total, "catching up");
                }
            }
        }
    }

    /// Splits `uids` into groups of at most `fetch_mib` of mail (by the
    /// server's RFC822.SIZE), so big attachments are not all in memory at
    /// once. One message needs no question.
    async fn by_size(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Vec<u32>>, ImapError> {
        if uids.len() < 2 {
            return Ok(vec![uids.to_vec()]);
        }
        let sizes: std::collections::HashMap<u32, u64> = session
            .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
            .await?
            .try_collect::<Vec<_>>()
            .await?
            .iter()
            .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
            .collect();
        let budget = self.cfg.fetch_mib.saturating_mul(1 << 20);
        let groups = budgeted(uids, |u| sizes.get(&u).copied().unwrap_or(0), budget);
        if groups.len() > 1 {
            let bytes: u64 = sizes.values().sum();
            tracing::info!(mailbox = %self.cfg.name, messages = uids.len(), bytes, parts = groups.len(), "large mail: fetching in parts of at most fetch_mib");
        }
        Ok(groups)
    }

    /// Fetches `uids`, hands them to the committer (stored and flushed),
    /// then flags or moves them; returns the new last UID.
    async fn fetch_and_store(
        &self,
        session: &mut ImapSession,
        validity: u32,
        last: u32,
        uids: &[u32],
        has_move: bool,
        has_uidplus: bool,
    ) -> Result<u32, ImapError> {
        let cfg = &self.cfg;
        // BODY.PEEK: fetching must not set \Seen by itself.
        let fetched: Vec<_> = session
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await?;
        let mut mails = Vec::with_capacity(fetched.len());
        let mut stored_uids = Vec::with_capacity(fetched.len());
        for f in &fetched {
            let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                continue;
            };
            if uid <= last {
                continue;
            }
            stored_uids.push(uid);
            mails.push(
                RawMail::new(
                    body.to_vec(),
                    format!("imap:{}/{uid}", cfg.name),
                    Some(format!("imap:{}:{validity}:{uid}", cfg.name)),
                )
                .with_queue(cfg.queue.clone()),
            );
        }
        drop(fetched);
        // UIDs that vanished between SEARCH and FETCH are simply gone.
        let high = uids.iter().copied().max().unwrap_or(last).max(last);
        let checkpoint = (checkpoint_key(&cfg.name), format!("{validity}:{high}"));
        self.committer
            .submit(mails, Some(checkpoint))
            .await
            .map_err(ImapError::Commit)?;
        // Only now, with the mail flushed, may the server know.
        after_store(session, cfg, &stored_uids, has_move, has_uidplus).await?;
        Ok(high)
    }
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Consecutive groups of `uids` whose sizes add up to at most `budget`;
/// a message larger than the budget is a group of its own.
fn budgeted(uids: &[u32], size: impl Fn(u32) -> u64, budget: u64) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for &u in uids {
        let s = size(u);
        if !current.is_empty() && bytes.saturating_add(s) > budget {
            groups.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(u);
        bytes = bytes.saturating_add(s);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Flags or moves stored messages, as configured.
async fn after_store(
    session: &mut ImapSession,
    cfg: &MailboxCfg,
    uids: &[u32],
    has_move: bool,
    has_uidplus: bool,
) -> Result<(), ImapError> {
    if uids.is_empty() || cfg.after == AfterStore::Keep {
        return Ok(());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match cfg.after {
        AfterStore::Keep => {}
        AfterStore::Seen => {
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect()
                .await?;
        }
        AfterStore::Move if has_move => session.uid_mv(&set, &cfg.move_to).await?,
        AfterStore::Move => {
            session.uid_copy(&set, &cfg.move_to).await?;
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect()
                .await?;
            if has_uidplus {
                let _: Vec<_> = session.uid_expunge(&set).await?.try_collect().await?;
            } else {
                let _: Vec<_> = session.expunge().await?.try_collect().await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_parse() {
        assert_eq!(parse_checkpoint("1700000000:42"), Some((1_700_000_000, 42)));
        assert_eq!(parse_checkpoint("x:1"), None);
        assert_eq!(parse_checkpoint("12"), None);
    }

    #[test]
    fn backoff_grows_caps_and_resets() {
        let mut b = Backoff::default();
        let d: Vec<u64> = (0..9).map(|_| b.next_delay(0).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let j = Backoff::default().next_delay(249);
        assert!(
            j > Duration::from_secs(1) && j < Duration::from_millis(1250),
            "{j:?}"
        );
        b.reset();
        assert_eq!(b.next_delay(0), Duration::from_secs(1));
    }

    #[test]
    fn fetches_are_cut_by_size() {
        let mib = 1u64 << 20;
        let sizes = |u: u32| match u {
            3 => 100 * mib, // bigger than the budget: alone
            _ => 20 * mib,
        };
        let uids = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            budgeted(&uids, sizes, 64 * mib),
            vec![vec![1, 2], vec![3], vec![4, 5, 6], vec![7]]
        );
        // Small mail: one group, as many as the count limit allows.
        assert_eq!(budgeted(&uids, |_| 2_000, 64 * mib), vec![uids.to_vec()]);
        assert!(budgeted(&[], |_| 1, 1).is_empty());
    }
}

//! Reading an IMAP mailbox: one task per mailbox, each with its own
//! connection, so fifty mailboxes wait on fifty servers at once rather than
//! one after another.
//!
//! Progress is never judged by `\Seen` (a person opening the mailbox would
//! hide mail from us): each mailbox checkpoints (UIDVALIDITY, last UID) in
//! the store, in the same flush as the mail it covers. A changed UIDVALIDITY
//! means the UIDs were renumbered: everything is fetched again and the
//! store recognises what it already has. The server is told about a message
//! (flag or move) only after the committer has flushed it; mail committed
//! but not yet told (a crash between the two) is told at the next connect.
//!
//! Servers as they are:
//! - every exchange has a timeout (`timeout_seconds`), the greeting too;
//! - IDLE is ended and begun again every `idle_renew_seconds`, and the
//!   server must answer the end: a connection gone silent or half-open is
//!   noticed within about that long, and new mail is looked for even when
//!   a notification was lost; without IDLE, a NOOP before each poll lets
//!   the server show what arrived;
//! - one message the server cannot give is quarantined with the server's
//!   reason and the rest of the mailbox flows; a flag or move the server
//!   refuses is reported with the folder and command, and intake goes on;
//! - SIGTERM ends a reader within seconds whatever the connection does;
//! - folder names are sent in modified UTF-7 ([`utf7`]).
//!
//! Any other failure logs one clear line and reconnects with capped
//! exponential backoff and jitter, which starts again from one second only
//! once a connection has done useful work (a login that then fails at once
//! does not make it retry every second).

mod connect;
pub mod utf7;

pub use connect::{ImapError, ImapSession, open};

use crate::committer::Committer;
use crate::config::{AfterStore, MailboxCfg};
use crate::intake::RawMail;
use crate::store::{Checkpoint, Store};
use connect::timed;
use futures::TryStreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// After SIGTERM, the exchange in hand gets this long to finish.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The end of an IDLE (and a poll's NOOP) must be answered within this: a
/// live server answers at once, so a silent one is known quickly.
const LIVENESS: Duration = Duration::from_secs(10);

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
    /// `intake.history_hours`: with `history = "skip"`, mail older than
    /// this is left in the mailbox.
    pub history_hours: u32,
    /// Where this mailbox says how it is doing (`ticketbox status`, alarms).
    pub health: crate::intake::health::Reporter,
    /// Its OAuth2 client, when it logs in with a token.
    pub oauth: Option<crate::oauth::Login>,
}

enum RoundEnd {
    Finished,
    Shutdown,
}

/// Capabilities that change what we send.
struct Caps {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

impl<S: Store + 'static> MailboxReader<S> {
    fn limit(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout_seconds.max(1))
    }

    /// Reads until `shutdown` turns true (or, with `once`, until caught up).
    /// After shutdown the exchange in hand gets a few seconds, then the
    /// connection is dropped: SIGTERM is obeyed whatever the server does.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), ImapError> {
        let mut stop = shutdown.clone();
        tokio::select! {
            r = self.read(shutdown) => r,
            _ = async {
                let _ = stop.wait_for(|s| *s).await;
                tokio::time::sleep(STOP_GRACE).await;
            } => {
                tracing::warn!(mailbox = %self.cfg.name, "the server did not finish in time after shutdown; connection dropped");
                Ok(())
            }
        }
    }

    async fn read(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), ImapError> {
        let mut backoff = Backoff::default();
        let mut failures = 0;
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            self.health.connecting();
            match self.session(&mut shutdown, &mut backoff).await {
                Ok(RoundEnd::Finished | RoundEnd::Shutdown) => {
                    self.health.stopped();
                    return Ok(());
                }
                Err(e) => {
                    self.health.failed(e.problem(), &e.to_string());
                    failures += 1;
                    // A refused login or a bad certificate will not mend
                    // itself in seconds: a one-shot run says so at once,
                    // once (the caller reports it).
                    if self.once && (failures >= 3 || e.needs_admin()) {
                        return Err(e);
                    }
                    let delay = backoff.next_delay(jitter_seed());
                    if e.needs_admin() {
                        tracing::error!(mailbox = %self.cfg.name, error = %e, retry_in = ?delay, "mailbox unavailable; check its settings");
                    } else {
                        tracing::warn!(mailbox = %self.cfg.name, error = %e, retry_in = ?delay, "mailbox connection failed; reconnecting");
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
        let limit = self.limit();
        let folder = utf7::encode(&cfg.folder);
        let mut session = open(cfg, self.oauth.as_ref()).await?;
        let mailbox = timed(&format!("SELECT {folder}"), limit, session.select(&folder)).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let caps = timed("CAPABILITY", limit, session.capabilities()).await?;
        let caps = Caps {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        tracing::info!(mailbox = %cfg.name, host = %cfg.host, folder = %cfg.folder, idle = caps.idle, "connected");
        self.health.connected();

        let stored = self
            .store
            .checkpoint(&cfg.name)
            .map_err(|e| ImapError::Commit(e.to_string()))?
            .map(|c| (c.validity, c.last));
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
            let _ = timed("CREATE", limit, session.create(utf7::encode(&cfg.move_to))).await;
        }
        if last > 0 {
            // Mail committed before a crash but never flagged or moved.
            self.tell_leftovers(&mut session, last, &caps).await?;
        }

        let mut productive = false;
        loop {
            last = self.catch_up(&mut session, validity, last, &caps).await?;
            if !productive {
                // Only a connection that did its work resets the backoff.
                backoff.reset();
                productive = true;
            }
            if self.once {
                let _ = timed("LOGOUT", limit, session.logout()).await;
                return Ok(RoundEnd::Finished);
            }
            let renew = Duration::from_secs(cfg.idle_renew_seconds.max(1));
            self.health.idle();
            let woke = if caps.idle {
                let mut idle = session.idle();
                timed("IDLE", limit, idle.init()).await?;
                let (wait, stop) = idle.wait_with_timeout(renew);
                let outcome = tokio::select! {
                    r = wait => Some(r),
                    _ = shutdown.changed() => None,
                };
                drop(stop);
                if let Some(r) = outcome
                    && let async_imap::extensions::idle::IdleResponse::NewData(_) = r?
                {
                    // The start of "our share" of a message's latency.
                    tracing::debug!(mailbox = %cfg.name, "idle woke");
                }
                // The server must answer DONE: this is the liveness check.
                session = timed("DONE (end of IDLE)", limit.min(LIVENESS), idle.done()).await?;
                true
            } else {
                let woke = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(cfg.poll_seconds)) => true,
                    _ = shutdown.changed() => false,
                };
                if woke {
                    // Lets the server report what arrived (many update the
                    // selected mailbox only at a command).
                    timed("NOOP", limit.min(LIVENESS), session.noop()).await?;
                }
                woke
            };
            if *shutdown.borrow() || !woke {
                let _ = timed("LOGOUT", limit, session.logout()).await;
                tracing::info!(mailbox = %cfg.name, "logged out");
                return Ok(RoundEnd::Shutdown);
            }
        }
    }

    /// Flags or moves mail up to `last` that is committed but still shows
    /// as new on the server (the process stopped between commit and telling
    /// the server). A refusal is reported, not fatal.
    async fn tell_leftovers(
        &self,
        session: &mut ImapSession,
        last: u32,
        caps: &Caps,
    ) -> Result<(), ImapError> {
        let query = match self.cfg.after {
            AfterStore::Keep => return Ok(()),
            AfterStore::Seen => format!("UID 1:{last} UNSEEN"),
            AfterStore::Move => format!("UID 1:{last}"),
        };
        let left: Vec<u32> = timed("UID SEARCH", self.limit(), session.uid_search(&query))
            .await?
            .into_iter()
            .filter(|u| *u <= last)
            .collect();
        if !left.is_empty() {
            tracing::info!(mailbox = %self.cfg.name, messages = left.len(), "telling the server about mail stored before a restart");
            self.after_store(session, &left, caps).await?;
        }
        Ok(())
    }

    /// Fetches and stores everything after `last`, in batches; returns the
    /// new last UID.
    async fn catch_up(
        &self,
        session: &mut ImapSession,
        validity: u32,
        mut last: u32,
        caps: &Caps,
    ) -> Result<u32, ImapError> {
        let cfg = &self.cfg;
        loop {
            // "UID n:*" always matches the highest UID, even below n.
            let query = format!("UID {}:*", last.saturating_add(1));
            let mut uids: Vec<u32> = timed("UID SEARCH", self.limit(), session.uid_search(&query))
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
            let mut left = 0;
            for chunk in uids.chunks(cfg.fetch_batch) {
                let (wanted, old) = self.leave_old(session, chunk).await?;
                left += old;
                for group in self.by_size(session, &wanted).await? {
                    last = self
                        .fetch_and_store(session, validity, last, &group, caps)
                        .await?;
                }
                if wanted.len() < chunk.len() {
                    // What was left is behind us: the checkpoint moves past it.
                    let high = chunk.iter().copied().max().unwrap_or(last).max(last);
                    if high > last {
                        last = self
                            .store_with_checkpoint(Vec::new(), validity, high)
                            .await?;
                    }
                }
                done += chunk.len();
                if total > cfg.fetch_batch {
                    tracing::info!(mailbox = %cfg.name, done, total, left_in_mailbox = left, "catching up");
                }
            }
            if left > 0 {
                tracing::info!(mailbox = %cfg.name, left, since = ?self.leave_before(), "left old mail in the mailbox unread, as history/history_since ask");
            }
        }
    }

    /// Hands `mails` to the committer with the checkpoint moved to `high`,
    /// in the same commit; returns `high` once it is stored.
    async fn store_with_checkpoint(
        &self,
        mails: Vec<RawMail>,
        validity: u32,
        high: u32,
    ) -> Result<u32, ImapError> {
        let at = Checkpoint {
            validity,
            last: high,
        };
        let n = mails.len();
        self.committer
            .submit(mails, Some((self.cfg.name.clone(), at)))
            .await
            .map_err(ImapError::Commit)?;
        self.health.took(n);
        Ok(high)
    }

    /// Mail that arrived before this is left in the mailbox.
    fn leave_before(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cfg
            .leave_before(self.history_hours, chrono::Utc::now())
    }

    /// The UIDs of `uids` to read, and how many were left in the mailbox
    /// because they arrived (INTERNALDATE) before `history_since`, or are
    /// history and `history = "skip"`. Asks the server only when either is
    /// set.
    async fn leave_old(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<(Vec<u32>, usize), ImapError> {
        let Some(before) = self.leave_before() else {
            return Ok((uids.to_vec(), 0));
        };
        if uids.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let fetch = async {
            session
                .uid_fetch(uid_set(uids), "(UID INTERNALDATE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let old: std::collections::HashSet<u32> =
            timed("UID FETCH (INTERNALDATE)", self.limit(), fetch)
                .await?
                .iter()
                .filter(|f| f.internal_date().is_some_and(|d| d < before))
                .filter_map(|f| f.uid)
                .collect();
        let wanted: Vec<u32> = uids.iter().copied().filter(|u| !old.contains(u)).collect();
        Ok((wanted, old.len()))
    }

    /// Splits `uids` into groups of at most `fetch_mib` of mail (by the
    /// server's RFC822.SIZE), so big attachments are not all in memory at
    /// once. One message needs no question.
    async fn by_size(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Vec<u32>>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        if uids.len() < 2 {
            return Ok(vec![uids.to_vec()]);
        }
        let fetch = async {
            session
                .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let sizes: std::collections::HashMap<u32, u64> =
            timed("UID FETCH (RFC822.SIZE)", self.limit(), fetch)
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

    /// Fetches `uids` with their arrival times (BODY.PEEK: fetching must
    /// not set \Seen by itself).
    async fn fetch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Fetched>, ImapError> {
        let fetch = async {
            session
                .uid_fetch(uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let fetched = timed("UID FETCH", self.limit(), fetch).await?;
        Ok(fetched
            .iter()
            .filter_map(|f| {
                let arrived = f.internal_date().map(|d| d.with_timezone(&chrono::Utc));
                Some((f.uid?, f.body()?.to_vec(), arrived))
            })
            .collect())
    }

    /// Fetches `uids`, hands them to the committer (stored and flushed),
    /// then flags or moves them; returns the new last UID. A message the
    /// server refuses to give (or gives without a body) is found by asking
    /// for each alone, and quarantined with the server's reason: one broken
    /// message must not stop the mailbox.
    async fn fetch_and_store(
        &self,
        session: &mut ImapSession,
        validity: u32,
        last: u32,
        uids: &[u32],
        caps: &Caps,
    ) -> Result<u32, ImapError> {
        let cfg = &self.cfg;
        // A message the server cannot give is simply missing from the
        // answer (async-imap ends the stream quietly at a tagged NO); each
        // missing one is asked for alone below.
        let mut got = match self.fetch(session, uids).await {
            Ok(got) => got,
            Err(ImapError::Protocol(
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_),
            )) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut unreadable = Vec::new();
        for &uid in uids {
            if uid <= last || got.iter().any(|(u, _, _)| *u == uid) {
                continue;
            }
            // Missing from the answer: ask again, alone.
            match timed(
                "UID FETCH (one message)",
                self.limit(),
                fetch_one(session, uid),
            )
            .await?
            {
                Ok(body) => got.push((uid, body, None)),
                Err(why) => unreadable.push((uid, why)),
            }
        }
        got.sort_by_key(|(u, _, _)| *u);
        if !unreadable.is_empty() {
            self.quarantine_unreadable(validity, &unreadable).await?;
        }
        let mut mails = Vec::with_capacity(got.len());
        let mut stored_uids = Vec::with_capacity(got.len());
        for (uid, body, arrived) in got {
            if uid <= last {
                continue;
            }
            stored_uids.push(uid);
            mails.push(
                RawMail::new(
                    body,
                    crate::intake::Origin::Imap {
                        mailbox: cfg.name.clone(),
                        uid,
                    }
                    .to_string(),
                    Some(crate::intake::imap_source_key(&cfg.name, validity, uid)),
                )
                .with_queue(cfg.queue.clone())
                .arrived_at(arrived),
            );
        }
        // UIDs that vanished between SEARCH and FETCH are simply gone.
        let high = uids.iter().copied().max().unwrap_or(last).max(last);
        self.store_with_checkpoint(mails, validity, high).await?;
        // Only now, with the mail flushed, may the server know. What could
        // not be read stays where it is, unflagged, for a person to look
        // at; the checkpoint keeps us from asking for it again.
        self.after_store(session, &stored_uids, caps).await?;
        Ok(high)
    }

    /// Records mail the server would not give, in quarantine (with what
    /// the server said), so it is listed and not asked for forever.
    async fn quarantine_unreadable(
        &self,
        validity: u32,
        unreadable: &[(u32, String)],
    ) -> Result<(), ImapError> {
        let name = self.cfg.name.clone();
        let items: Vec<(u32, String)> = unreadable.to_vec();
        for (uid, why) in &items {
            tracing::error!(mailbox = %name, uid, reason = %why, "the server could not give this message; quarantined, the rest of the mailbox flows");
        }
        let task: crate::committer::Task = Box::new(move |_engine, store, now| {
            for (uid, why) in &items {
                crate::committer::isolate::quarantine_unfetchable(
                    store,
                    &crate::intake::Origin::Imap {
                        mailbox: name.clone(),
                        uid: *uid,
                    }
                    .to_string(),
                    &crate::intake::imap_source_key(&name, validity, *uid),
                    why,
                    now,
                )
                .map_err(|e| e.to_string())?;
            }
            Ok(format!("{} unreadable message(s) quarantined", items.len()))
        });
        self.committer.run(task).await.map_err(ImapError::Commit)?;
        Ok(())
    }

    /// Flags or moves stored messages, as configured. A refusal is logged
    /// with the folder and command and does not end the session: the mail
    /// is safe in the store, and intake must go on.
    async fn after_store(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        caps: &Caps,
    ) -> Result<(), ImapError> {
        let cfg = &self.cfg;
        if uids.is_empty() || cfg.after == AfterStore::Keep {
            return Ok(());
        }
        let set = uid_set(uids);
        let limit = self.limit();
        let target = utf7::encode(&cfg.move_to);
        let (command, result) = match cfg.after {
            AfterStore::Keep => return Ok(()),
            AfterStore::Seen => {
                let store = async {
                    session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                };
                (
                    "UID STORE +FLAGS (\\Seen)",
                    timed("UID STORE", limit, store).await.map(drop),
                )
            }
            AfterStore::Move if caps.mv => (
                "UID MOVE",
                timed("UID MOVE", limit, session.uid_mv(&set, &target)).await,
            ),
            AfterStore::Move => {
                let r = async {
                    timed("UID COPY", limit, session.uid_copy(&set, &target)).await?;
                    let del = async {
                        session
                            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                            .await?
                            .try_collect::<Vec<_>>()
                            .await
                    };
                    timed("UID STORE +FLAGS (\\Deleted)", limit, del).await?;
                    if caps.uidplus {
                        let ex = async {
                            session
                                .uid_expunge(&set)
                                .await?
                                .try_collect::<Vec<_>>()
                                .await
                        };
                        timed("UID EXPUNGE", limit, ex).await?;
                    } else {
                        let ex = async { session.expunge().await?.try_collect::<Vec<_>>().await };
                        timed("EXPUNGE", limit, ex).await?;
                    }
                    Ok::<_, ImapError>(())
                }
                .await;
                ("UID COPY + EXPUNGE", r)
            }
        };
        match result {
            Ok(()) => Ok(()),
            // The server refused: say what and where; go on.
            Err(ImapError::Protocol(
                async_imap::error::Error::No(why) | async_imap::error::Error::Bad(why),
            )) => {
                tracing::error!(
                    mailbox = %cfg.name,
                    command,
                    folder = %cfg.folder,
                    move_to = %cfg.move_to,
                    messages = uids.len(),
                    reason = %why,
                    "the server refused to mark or move stored mail; the mail is safe in the store and intake goes on (check the folder and its rights)"
                );
                Ok(())
            }
            // A dead connection is a reconnect.
            Err(e) => Err(e),
        }
    }
}

/// One message by UID, reading the replies ourselves: async-imap's FETCH
/// stream ends quietly at a tagged `NO`, and the server's reason is what
/// the quarantine must say. `Ok(Err(reason))`: the server would not give
/// it; `Err`: the connection failed.
async fn fetch_one(
    session: &mut ImapSession,
    uid: u32,
) -> Result<Result<Vec<u8>, String>, ImapError> {
    use async_imap::imap_proto::{AttributeValue, Response, Status};
    let tag = session
        .run_command(format!("UID FETCH {uid} (UID BODY.PEEK[])"))
        .await?;
    let mut body = None;
    loop {
        let Some(resp) = session
            .read_response()
            .await
            .map_err(async_imap::error::Error::from)?
        else {
            return Err(ImapError::Closed);
        };
        match resp.parsed() {
            Response::Fetch(_, attrs) => {
                let this = attrs
                    .iter()
                    .any(|a| matches!(a, AttributeValue::Uid(u) if *u == uid));
                for a in attrs {
                    if let AttributeValue::BodySection { data: Some(d), .. } = a
                        && this
                    {
                        body = Some(d.to_vec());
                    }
                }
            }
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                let said = match (&outcome.code, &outcome.information) {
                    (Some(code), Some(text)) => format!("[{code:?}] {text}"),
                    (None, Some(text)) => text.to_string(),
                    (Some(code), None) => format!("[{code:?}]"),
                    (None, None) => String::new(),
                };
                return Ok(match (status, body) {
                    (Status::Ok, Some(b)) => Ok(b),
                    (Status::Ok, None) => Err(format!(
                        "the server answered the FETCH of UID {uid} without the message ({said})"
                    )),
                    (other, _) => Err(format!("the server answered {other:?}: {said}")),
                });
            }
            _ => {}
        }
    }
}

/// A fetched message: UID, bytes, and when it arrived (INTERNALDATE).
type Fetched = (u32, Vec<u8>, Option<chrono::DateTime<chrono::Utc>>);

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

/// An IMAP mailbox as one of the worker's sources.
impl<S: Store + 'static> crate::intake::Source for MailboxReader<S> {
    fn name(&self) -> String {
        format!("mailbox {}", self.cfg.name)
    }

    fn run(
        self: Box<Self>,
        once: bool,
        shutdown: watch::Receiver<bool>,
    ) -> crate::intake::SourceRun {
        let reader = MailboxReader { once, ..*self };
        Box::pin(async move {
            reader.run(shutdown).await?;
            Ok(crate::intake::Taken::default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Durable state behind one small trait.
//!
//! The core never names sled: it reads through [`View`] (which includes
//! [`ThreadView`]) and writes one [`Commit`] per message, applied atomically.
//! Big write-once bytes (raw mail, outgoing messages) go through the blob
//! port ([`blobs`]), apart from the records.
//! [`Store::flush`] is the durability point; the worker calls it once per
//! batch (group commit) and only then tells the source the mail is safe.
//! [`DiskStore`] (sled) is the embedded default, [`MemoryStore`] serves the core's
//! tests; a server-backed store implements the same trait, and the
//! conformance suite (`conformance.rs`) holds every backend to the same
//! invariants.

pub mod blobs;
#[cfg(test)]
mod conformance;
pub mod dump;
mod memory;
pub mod moving;
mod open;
mod postgres;
mod queue;
mod sled_store;
mod staged;

pub use blobs::{BlobKind, Blobs};
pub use memory::MemoryStore;
pub use open::{Location, Opened, open};
/// The server store: PostgreSQL, shared by several workers.
pub use postgres::PgStore as ServerStore;
#[doc(hidden)]
pub use postgres::testdb::TestDb as TestDatabase;
/// The embedded default: data on local disk, one process at a time. Its
/// engine (sled) is named nowhere outside `store/`.
pub use sled_store::SledStore as DiskStore;
#[cfg(test)]
use sled_store::SledStore;
pub use staged::Staged;

use crate::model::{CustomerPrefs, MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
pub use queue::{Claim, Due, OutboxEntry, OutboxState, RefusedRecipient};
use serde::{Deserialize, Serialize};

pub use crate::model::ACKS_KEPT;

/// Bumped when the stored layout changes; opening a newer store fails.
///
/// 2: typed state (checkpoints, queue statistics, customer preferences)
/// in a tree of its own instead of strings among the named values; a
/// version 1 store is migrated when opened.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed; `fatal` when it takes no more writes in this
    /// process (a failed log write, a corruption): only a restart, once the
    /// cause is gone, brings it back.
    #[error("store: {message}")]
    Backend { message: String, fatal: bool },
    /// A stored record that no longer reads, named by its kind (`tickets`,
    /// `messages` …) and key.
    #[error("store: the {kind} record {key:?} is unreadable: {source}")]
    Corrupt {
        kind: &'static str,
        key: String,
        source: serde_json::Error,
    },
    #[error(
        "store: schema version {found} is newer than this ticketbox understands ({SCHEMA_VERSION}); upgrade ticketbox"
    )]
    TooNew { found: u32 },
    #[error("store: the data directory {path} is in use by another ticketbox process")]
    Locked { path: String },
    /// The disk is too full to take more (see [`crate::space`]).
    #[error("{0}")]
    NoSpace(String),
    #[error("store: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether the store can take no more writes in this process (an
    /// embedded store stops for good after an I/O error in its log: a full
    /// disk, a failing device; or a corruption). Only a restart, once the
    /// cause is gone, brings it back.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StoreError::Backend { fatal: true, .. })
    }

    /// Whether the store as a whole failed (I/O, a full disk, a lock), as
    /// opposed to one record that does not read: the first is no message's
    /// fault, so the message is offered again later rather than set aside.
    pub fn is_systemic(&self) -> bool {
        !matches!(self, StoreError::Corrupt { .. })
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A customer's ticket at a glance (kept in the customer index, so history
/// needs no ticket to be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerTicket {
    pub id: TicketId,
    pub created: DateTime<Utc>,
    pub open: bool,
    pub closed: Option<DateTime<Utc>>,
}

impl From<&Ticket> for CustomerTicket {
    fn from(t: &Ticket) -> Self {
        CustomerTicket {
            id: t.id,
            created: t.created,
            open: t.status.is_open(),
            closed: t.closed,
        }
    }
}

/// An acknowledgement counted under `key` at `at`; the latest `keep`
/// times of a key are kept (at most [`ACKS_KEPT`]): what its limit needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub key: String,
    pub at: DateTime<Utc>,
    pub keep: usize,
}

impl Acked {
    /// Counts this acknowledgement into `times` (oldest first), keeping
    /// the latest `keep` (1 to [`ACKS_KEPT`]): every backend keeps them so.
    pub fn count_into(&self, times: &mut Vec<DateTime<Utc>>) {
        times.push(self.at);
        let skip = times.len().saturating_sub(self.keep.clamp(1, ACKS_KEPT));
        times.drain(..skip);
    }
}

/// A raw message stored but not yet committed, and how often processing it
/// began (counted durably before each try: a message that takes the whole
/// process down, by panic, abort or the kernel's OOM killer, shows up here
/// with its tries, so it can be set aside instead of tried forever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMail {
    pub hash: String,
    pub origin: String,
    pub attempts: Attempts,
}

/// Tries at processing one pending message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    /// Every try, in a batch or alone.
    pub total: u32,
    /// Tries in which it was the only message being processed: when such a
    /// try never finished, this message was the cause.
    pub alone: u32,
}

impl Attempts {
    /// One more try, `alone` when the message was processed by itself.
    pub fn count(&mut self, alone: bool) {
        self.total = self.total.saturating_add(1);
        if alone {
            self.alone = self.alone.saturating_add(1);
        }
    }
}

/// A message that could not be made into a ticket entry, kept with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    pub raw_hash: String,
    pub reason: String,
    pub received: DateTime<Utc>,
    /// Where it came from (file path, mailbox), for the admin.
    pub origin: String,
    pub size: usize,
    /// The rule that marked it as spam (otherwise it could not be read).
    #[serde(default)]
    pub spam_rule: Option<String>,
}

/// Held while this process decides and commits alone (see
/// [`Store::exclusive`]); dropping it lets the other processes go on.
pub struct Exclusive<'a> {
    release: Option<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Exclusive<'a> {
    /// Nothing to hold: no other process writes this store.
    pub fn none() -> Exclusive<'a> {
        Exclusive { release: None }
    }

    /// Held until dropped, then `release` runs.
    pub fn until_dropped(release: impl FnOnce() + 'a) -> Exclusive<'a> {
        Exclusive {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// The lease a worker on a shared store renews while it lives: its
/// outbox claims count only while it does.
pub fn alive_lease(holder: &str) -> String {
    format!("alive:{holder}")
}

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

impl Lease {
    /// Whether `holder` may take (or keep) this lease at `now`.
    pub fn open_to(&self, holder: &str, now: DateTime<Utc>) -> bool {
        self.holder == holder || self.until <= now
    }
}

/// Where a mailbox reader stands: the server's UIDVALIDITY and the last
/// UID stored. Written in the same commit as the mail it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub validity: u32,
    pub last: u32,
}

/// Typed state kept under a name: a mailbox reader's place, a queue's
/// statistics, a customer's preferences. Each kind has its own key space;
/// a commit sets any of them with the mail that changed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum State {
    Checkpoint {
        source: String,
        at: Checkpoint,
    },
    QueueStats {
        queue: String,
        stats: crate::model::QueueStats,
    },
    Prefs {
        address: String,
        prefs: CustomerPrefs,
    },
    /// An intake incident open on a source (see [`crate::health`]).
    Incident {
        source: String,
        incident: crate::health::Incident,
    },
    /// Addresses that bounced, and which of them mail is held for.
    Bounces {
        book: crate::bounces::Book,
    },
}

/// Which state, and whose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    Checkpoint(String),
    QueueStats(String),
    Prefs(String),
    Incident(String),
    /// The one bounce book.
    Bounces,
}

impl State {
    pub fn key(&self) -> StateKey {
        match self {
            State::Checkpoint { source, .. } => StateKey::Checkpoint(source.clone()),
            State::QueueStats { queue, .. } => StateKey::QueueStats(queue.clone()),
            State::Prefs { address, .. } => StateKey::Prefs(address.clone()),
            State::Incident { source, .. } => StateKey::Incident(source.clone()),
            State::Bounces { .. } => StateKey::Bounces,
        }
    }
}

/// Everything one message changes, written in one atomic step.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub raw_hash: String,
    /// Marks the source item as read (Maildir file name, IMAP uid).
    pub source_key: Option<String>,
    /// The incoming message, and any outgoing ones it caused (acks).
    pub messages: Vec<MessageRecord>,
    /// The ticket as it is after this message (written whole).
    pub ticket: Option<Ticket>,
    /// Message-IDs that now point at a ticket (kept if already present):
    /// ids a message merely references.
    pub index: Vec<(String, TicketId)>,
    /// Message-IDs of messages now in a ticket: they lead there, replacing
    /// an entry an earlier reference made (a reply that came first, or a
    /// stranger naming the id), so a message's own id always names the
    /// ticket it is in.
    pub placed: Vec<(String, TicketId)>,
    /// Outlook conversation id → ticket (kept if already present).
    pub conversation: Option<(String, TicketId)>,
    pub outbox: Vec<OutboxEntry>,
    /// An acknowledgement went out, counted under each of these keys (its
    /// address, its domain, its text: see `pacing`).
    pub acked: Vec<Acked>,
    /// Typed state written with the rest (queue statistics, preferences,
    /// checkpoints), in order: a later value of the same key wins. Set
    /// through the setters below.
    pub state: Vec<State>,
    /// The raw message leaves quarantine (an admin released it); applied
    /// before `quarantine`, so a message quarantined again stays there.
    pub released: bool,
    pub quarantine: Option<Quarantined>,
    /// Not stored: mail the decision could not build (a template that
    /// failed), for the caller to log.
    pub problems: Vec<String>,
}

impl Commit {
    /// A queue's statistics after this commit.
    pub fn queue_stats(&mut self, queue: &str, stats: &crate::model::QueueStats) {
        self.state.push(State::QueueStats {
            queue: queue.to_owned(),
            stats: stats.clone(),
        });
    }

    /// What a customer told us about themselves, after this commit.
    pub fn customer_prefs(&mut self, address: &str, prefs: &CustomerPrefs) {
        self.state.push(State::Prefs {
            address: address.to_owned(),
            prefs: prefs.clone(),
        });
    }

    /// The bounce book after this commit.
    pub fn bounces(&mut self, book: &crate::bounces::Book) {
        self.state.push(State::Bounces { book: book.clone() });
    }

    /// A mailbox reader's place, with the mail it covers.
    pub fn checkpoint(&mut self, source: &str, at: Checkpoint) {
        self.state.push(State::Checkpoint {
            source: source.to_owned(),
            at,
        });
    }
}

/// What deciding may look at: a read-only view of the store. Every read
/// is consistent with every commit applied before it. The core's
/// [`crate::pipeline::decide`] takes a `View`, so it cannot write.
pub trait View: ThreadView<Error = StoreError> + Send + Sync {
    /// A blob (see [`blobs`]): raw mail, an outgoing message.
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>>;
    /// A message as it arrived, by content hash.
    fn raw(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        self.blob(BlobKind::Mail, hash)
    }
    /// Raw messages stored but never committed (a crash in between), in
    /// the order they arrived.
    fn pending(&self) -> Result<Vec<PendingMail>>;
    /// Tries at processing a pending message so far (none when it is not
    /// pending).
    fn attempts(&self, hash: &str) -> Result<Attempts>;
    fn source_seen(&self, key: &str) -> Result<bool>;

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>>;
    fn is_quarantined(&self, hash: &str) -> Result<bool>;
    fn quarantined(&self) -> Result<Vec<Quarantined>>;
    fn tickets(&self) -> Result<Vec<Ticket>>;
    /// Tickets not closed, in id order (the escalation timer's work list:
    /// it must not grow with the store's history).
    fn open_tickets(&self) -> Result<Vec<Ticket>> {
        let mut all = self.tickets()?;
        all.retain(|t| t.status.is_open());
        Ok(all)
    }
    /// The customer's tickets at a glance, oldest first.
    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>>;
    /// Only a ticket's subject (a new ticket's acknowledgement names the
    /// customer's other tickets by it): a backend that stores tickets
    /// encoded may read it without decoding the rest.
    fn ticket_subject(&self, id: TicketId) -> Result<Option<String>> {
        Ok(self.ticket(id)?.map(|t| t.subject))
    }
    /// The number the next new ticket would get (a look: dry runs).
    fn next_ticket_id(&self) -> Result<TicketId>;
    /// When acknowledgements were counted under `key` (an address, a
    /// domain, a text: see `pacing`), most recent last; the latest
    /// [`ACKS_KEPT`] are kept.
    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>>;

    /// Every outbox entry, active and done, without their messages (`raw`).
    fn outbox(&self) -> Result<Vec<OutboxEntry>>;
    /// Entries still to deliver (pending or sending), without `raw`.
    fn outbox_active(&self) -> Result<Vec<OutboxEntry>>;
    /// One entry with its complete message.
    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>>;

    /// Small named values: instance id, checkpoints.
    fn meta(&self, key: &str) -> Result<Option<String>>;

    /// Whether other processes may write to this store while this one
    /// does (a server store shared by workers).
    fn is_shared(&self) -> bool {
        false
    }

    /// Typed state under `key`, if any (none, when unreadable).
    fn state(&self, key: &StateKey) -> Result<Option<State>>;

    /// A queue's recent first responses and backlog.
    fn queue_stats(&self, queue: &str) -> Result<crate::model::QueueStats> {
        Ok(match self.state(&StateKey::QueueStats(queue.to_owned()))? {
            Some(State::QueueStats { stats, .. }) => stats,
            _ => Default::default(),
        })
    }

    /// The addresses that bounced (empty when none did).
    fn bounces(&self) -> Result<crate::bounces::Book> {
        Ok(match self.state(&StateKey::Bounces)? {
            Some(State::Bounces { book }) => book,
            _ => crate::bounces::Book::default(),
        })
    }

    /// Where mailbox `source`'s reader stands.
    fn checkpoint(&self, source: &str) -> Result<Option<Checkpoint>> {
        Ok(
            match self.state(&StateKey::Checkpoint(source.to_owned()))? {
                Some(State::Checkpoint { at, .. }) => Some(at),
                _ => None,
            },
        )
    }

    /// This installation's id, once made.
    fn instance_id(&self) -> Result<Option<String>> {
        self.meta("instance_id")
    }

    /// What a customer told us about themselves.
    fn customer_prefs(&self, address: &str) -> Result<CustomerPrefs> {
        Ok(match self.state(&StateKey::Prefs(address.to_owned()))? {
            Some(State::Prefs { prefs, .. }) => prefs,
            _ => Default::default(),
        })
    }
}

/// A store of tickets: its [`View`], and the writes. Intake stores raw
/// bytes (and marks them pending) before any decision; `commit` applies
/// one decision atomically and clears the mark.
pub trait Store: View {
    /// Puts a blob (see [`blobs`]); written once, durable with the next
    /// flush, before the records naming it.
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()>;
    /// Marks a stored raw message pending (arrived, not yet committed),
    /// keeping a mark already there: it holds the arrival order and the
    /// tries so far. A quarantined message is not marked.
    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()>;
    /// Stores a raw message and marks it pending: the first thing that
    /// happens to mail.
    fn put_raw(&self, hash: &str, bytes: &[u8], origin: &str) -> Result<()> {
        self.put_blob(BlobKind::Mail, hash, bytes)?;
        self.mark_pending(hash, origin)
    }
    /// [`Store::put_raw`] for a batch (hash, bytes, origin), in arrival
    /// order: one step where the backend can (a server store's round
    /// trips and commits are per call).
    fn put_raws(&self, mails: &[(&str, &[u8], &str)]) -> Result<()> {
        mails
            .iter()
            .try_for_each(|(hash, bytes, origin)| self.put_raw(hash, bytes, origin))
    }
    /// Counts a try at processing each of `hashes` (pending messages; a
    /// hash given twice is one message, one try), `alone` when the try is
    /// for one message by itself. Durable with the next flush, which must
    /// come before the try.
    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()>;
    /// [`Store::put_raws`], then [`Store::count_attempts`] for the same
    /// mail: how intake takes a batch in. One pass where the backend can
    /// (the embedded store reads and writes each mark once, not twice).
    fn put_raws_tried(&self, mails: &[(&str, &[u8], &str)], alone: bool) -> Result<()> {
        self.put_raws(mails)?;
        let hashes: Vec<&str> = mails.iter().map(|m| m.0).collect();
        self.count_attempts(&hashes, alone)
    }
    /// Takes the next ticket number: no two callers, in this process or
    /// another, ever get the same one. A number taken for a message whose
    /// commit never happens (a crash, a panic) is not given again: numbers
    /// can skip, never repeat.
    fn allocate_ticket_id(&self) -> Result<TicketId>;

    fn commit(&self, c: &Commit) -> Result<()>;
    /// [`Store::commit`] of a commit the caller is done with: a store that
    /// holds commits before writing them ([`Staged`]) keeps this one
    /// instead of a copy (a commit carries its rendered mail).
    fn commit_owned(&self, c: Commit) -> Result<()> {
        self.commit(&c)
    }
    /// Several commits, in order, as one atomic step where the backend can
    /// (see [`Staged`]).
    fn commit_all(&self, commits: &[Commit]) -> Result<()> {
        commits.iter().try_for_each(|c| self.commit(c))
    }
    /// Makes every commit so far durable.
    fn flush(&self) -> Result<()>;
    /// Makes durable what intake put straight into the store (raw mail,
    /// pending marks, counted tries), and may leave commits held back by a
    /// batch still on their way (see [`Staged`]): intake need not wait for
    /// the previous batch's writes before deciding the next.
    fn flush_intake(&self) -> Result<()> {
        self.flush()
    }

    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()>;
    /// Claims for `holder` until `until` at most `limit` of the entries it
    /// may take at `now` ([`OutboxEntry::claimable`]), oldest first, in one
    /// atomic step: two drainers never hold the same entry. The claim ends
    /// when the entry's result is written (its `claim` cleared), or runs
    /// out. Durable at the next flush, like any write. A shared store also
    /// frees at once the claims of a holder whose [`alive_lease`] has run
    /// out (a worker that died mid-round): its mail waits a lease's time,
    /// not the whole claim's.
    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Due>;
    /// Several entries in one step (a delivery round records its results
    /// together).
    fn put_outbox_all(&self, entries: &[OutboxEntry]) -> Result<()> {
        entries.iter().try_for_each(|e| self.put_outbox(e))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()>;

    /// Sets `key` to `value` unless it has a value already, in one step;
    /// returns the value it has now. Of several processes making an
    /// installation secret at once, all end up with the first one's.
    /// Durable when it returns.
    fn init_meta(&self, key: &str, value: &str) -> Result<String>;

    /// Hands every record to `f` (see [`moving::Record`]), blobs first
    /// unless `with_blobs` is false (a pass that only looks at the records
    /// need not read every raw message): `ticketbox export` and `backup`.
    /// Backends that keep their own backups (PostgreSQL: `pg_dump`) say so.
    fn export_records(
        &self,
        _with_blobs: bool,
        _f: &mut dyn FnMut(moving::Record) -> Result<()>,
    ) -> Result<()> {
        Err(StoreError::Other(
            "this store does not export its records; back it up with its own tools (pg_dump)"
                .into(),
        ))
    }

    /// Writes records of an export into this store (an empty one).
    fn import_records(&self, _records: &[moving::Record]) -> Result<()> {
        Err(StoreError::Other(
            "this store does not import records".into(),
        ))
    }

    /// Takes or renews the lease `name` (a mailbox to read, the minute
    /// timers) for `holder` until `until`, when it is free, has run out at
    /// `now`, or is `holder`'s already; true when `holder` holds it now.
    /// One step: of several processes asking at once, one gets it. Leases
    /// need no flush: a lease lost in a crash is one that runs out.
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Gives up `holder`'s lease `name` (a clean stop), so another process
    /// need not wait for it to run out.
    fn release(&self, name: &str, holder: &str) -> Result<()>;

    /// How many leases whose name starts with `prefix` still run at
    /// `now`: on a shared store, the live workers (their `alive:` leases),
    /// so each takes its share of the sources. A store one process holds
    /// has no peers to share with: none.
    fn live_leases(&self, _prefix: &str, _now: DateTime<Utc>) -> Result<usize> {
        Ok(0)
    }

    /// Waits until no other process is deciding on this store, and keeps
    /// it so while the returned guard lives: decisions read the store and
    /// then commit, and two workers deciding at once on two messages of
    /// one thread would each see no ticket and each open one. A store one
    /// process holds (embedded, in memory) has nobody to wait for; a
    /// shared one takes a lock in the database, which a dead worker's
    /// connection gives back.
    fn exclusive(&self) -> Result<Exclusive<'_>> {
        Ok(Exclusive::none())
    }

    /// Records mailbox `source`'s place (for a batch without mail: what it
    /// covers was left in the mailbox, or the UIDs were renumbered).
    fn set_checkpoint(&self, source: &str, at: Checkpoint) -> Result<()> {
        let mut c = Commit::default();
        c.checkpoint(source, at);
        self.commit(&c)
    }

    fn set_instance_id(&self, id: &str) -> Result<()> {
        self.set_meta("instance_id", id)
    }
}

//! The embedded store: one sled database, a tree per kind of record.
//!
//! | tree | key → value |
//! |---|---|
//! | `raw_at`, `raw_big`, `outbox_at`, `outbox_raw` (and `raw` in older stores) | where the blobs are: raw mail and outgoing messages, in the blob log or files (see `blobs.rs`) |
//! | `pending` | content hash → arrival number, origin (stored, not yet committed) |
//! | `sources` | source item key → content hash |
//! | `messages` | Message-ID → [`MessageRecord`] |
//! | `tickets` | ticket id (u64 BE) → [`Ticket`] |
//! | `msgid` | Message-ID (seen, sent or referenced) → ticket id |
//! | `conversations` | Outlook conversation id → ticket id |
//! | `customers` | address, NUL, ticket id (u64 BE) → ticket summary |
//! | `open` | ticket id (u64 BE) of a ticket not closed → nothing |
//! | `outbox` | Message-ID → [`OutboxEntry`] still to deliver |
//! | `outbox_due` | next attempt (ms, i64 order-preserving BE), Message-ID → nothing, for each entry in `outbox` |
//! | `outbox_done` | Message-ID → [`OutboxEntry`] sent or failed |
//! | `senders` | address → acknowledgement times |
//! | `quarantine` | content hash → [`Quarantined`] |
//! | `meta` | name → value (schema version, next ticket id, instance id) |
//! | `journal` | `group` → writes to several trees on their way, all or none (see `journal.rs`) |
//! | `state` | kind (`c` checkpoint, `s` queue statistics, `p` customer preferences), NUL, name → [`State`] (since schema 2; see `migrate.rs`) |
//!
//! Values are JSON: readable with any sled tool, and fast enough (the
//! benchmarks say where time goes). Ticket ids are big-endian so trees
//! iterate in ticket order.

use super::{
    Attempts, Commit, CustomerTicket, PendingMail, Quarantined, Result, SCHEMA_VERSION, Store,
    StoreError,
};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::store::{OutboxEntry, State, StateKey, View};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::{Db, Tree};
use std::collections::{HashMap, hash_map::Entry};
use std::path::Path;

mod blob_log;
mod blobs;
mod export;
mod journal;
mod migrate;
mod raw_files;
#[cfg(test)]
mod tests;
mod write;

use crate::store::blobs::{BlobKind, Blobs};
use blob_log::BlobLog;
use blobs::SledBlobs;
use journal::{Group, T};
use raw_files::RawFiles;

const NEXT_TICKET: &str = "next_ticket";
/// Attempts, 20 ms apart, to open a store that is still locked.
const LOCK_RETRIES: u32 = 50;
/// Set once the `open` tree indexes every open ticket.
const OPEN_INDEX: &str = "open_index";
/// Set once the `outbox_due` tree indexes every entry still to deliver.
const DUE_INDEX: &str = "outbox_due_index";

/// The value of a `pending` entry: arrival number (recovery keeps arrival
/// order: a reply after the message it answers), tries so far, origin.
struct PendingMark {
    seq: u64,
    attempts: Attempts,
    origin: String,
}

impl PendingMark {
    /// Version 1: `1`, seq (u64 BE), tries (u32 BE), tries alone (u32 BE),
    /// origin.
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17 + self.origin.len());
        v.push(1u8);
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.attempts.total.to_be_bytes());
        v.extend_from_slice(&self.attempts.alone.to_be_bytes());
        v.extend_from_slice(self.origin.as_bytes());
        v
    }

    /// Reads every version: 1 above; 0 is `0`, seq, origin; older stores
    /// kept the origin alone.
    fn decode(v: &[u8]) -> PendingMark {
        let u64_at = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
        let u32_at = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or_default());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match v.split_first() {
            Some((1, rest)) if rest.len() >= 16 => PendingMark {
                seq: u64_at(&rest[..8]),
                attempts: Attempts {
                    total: u32_at(&rest[8..12]),
                    alone: u32_at(&rest[12..16]),
                },
                origin: text(&rest[16..]),
            },
            Some((0, rest)) if rest.len() >= 8 => PendingMark {
                seq: u64_at(&rest[..8]),
                attempts: Attempts::default(),
                origin: text(&rest[8..]),
            },
            _ => PendingMark {
                seq: 0,
                attempts: Attempts::default(),
                origin: text(v),
            },
        }
    }
}

pub struct SledStore {
    db: Db,
    /// Raw mail and outgoing messages (see `blobs.rs`).
    blobs: SledBlobs,
    pending: Tree,
    sources: Tree,
    messages: Tree,
    tickets: Tree,
    open: Tree,
    msgid: Tree,
    conversations: Tree,
    customers: Tree,
    outbox: Tree,
    outbox_done: Tree,
    /// Entries still to deliver by when they are next due (see [`due_key`]).
    outbox_due: Tree,
    senders: Tree,
    quarantine: Tree,
    meta: Tree,
    /// Typed state (see [`State`]), under [`state_key`].
    state: Tree,
    /// Writes to several keys on their way (see `journal.rs`).
    journal: Tree,
    /// The writers' turn (see `journal.rs`).
    writing: std::sync::Mutex<()>,
    /// A group of writes failed halfway: no more writes until a restart
    /// completes it (see `journal.rs`).
    cut_short: std::sync::atomic::AtomicBool,
    /// Tickets' subjects as last written or read (see [`Subjects`]).
    subjects: Subjects,
    first_ticket: TicketId,
}

/// Page cache of a store opened with [`SledStore::open`].
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// sled's errors, in the store's terms: an I/O error in its log, a
/// corruption or a bug leave it taking no more writes.
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        let fatal = matches!(
            e,
            sled::Error::Io(_) | sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)
        );
        StoreError::Backend {
            message: e.to_string(),
            fatal,
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with the default cache.
    /// `first_ticket` is the number the first ticket gets in a new store.
    pub fn open(dir: &Path, first_ticket: TicketId) -> Result<SledStore> {
        SledStore::open_with_cache(dir, first_ticket, DEFAULT_CACHE_BYTES)
    }

    /// Opens the store keeping at most `cache_bytes` of pages in memory.
    /// sled's own default (1 GiB) would let a long-lived worker grow to
    /// the size of its whole history; ticket work touches recent pages.
    pub fn open_with_cache(
        dir: &Path,
        first_ticket: TicketId,
        cache_bytes: u64,
    ) -> Result<SledStore> {
        prepare_dir(dir).map_err(io)?;
        let open = || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                // Group commit: the worker flushes once per batch itself.
                .flush_every_ms(None)
                .open()
                .map_err(|e| match e {
                    sled::Error::Io(io)
                        if io.kind() == std::io::ErrorKind::WouldBlock
                            || io.to_string().contains("lock") =>
                    {
                        StoreError::Locked {
                            path: dir.display().to_string(),
                        }
                    }
                    other => StoreError::from(other),
                })
        };
        // A process that just closed the store (a restart) may hold the
        // lock a moment longer while sled's threads wind down.
        let mut tries = 0;
        let db = loop {
            match open() {
                Err(StoreError::Locked { .. }) if tries < LOCK_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let t = |name: &str| db.open_tree(name);
        let store = SledStore {
            blobs: SledBlobs {
                raw: t("raw")?,
                raw_at: t("raw_at")?,
                raw_big: t("raw_big")?,
                outbox_raw: t("outbox_raw")?,
                outbox_at: t("outbox_at")?,
                files: RawFiles::new(dir),
                log: BlobLog::open(&dir.join("log")).map_err(io)?,
                naming: Default::default(),
                syncing: Default::default(),
            },
            pending: t("pending")?,
            sources: t("sources")?,
            messages: t("messages")?,
            tickets: t("tickets")?,
            open: t("open")?,
            msgid: t("msgid")?,
            conversations: t("conversations")?,
            customers: t("customers")?,
            outbox: t("outbox")?,
            outbox_done: t("outbox_done")?,
            outbox_due: t("outbox_due")?,
            senders: t("senders")?,
            quarantine: t("quarantine")?,
            meta: t("meta")?,
            state: t("state")?,
            journal: t("journal")?,
            writing: Default::default(),
            cut_short: Default::default(),
            subjects: Default::default(),
            db,
            first_ticket,
        };
        // Before anything reads: a crash may have cut a group of writes short.
        store.replay_journal()?;
        match store.meta("schema_version")? {
            None => {
                store.set_meta("schema_version", &SCHEMA_VERSION.to_string())?;
                store.db.flush()?;
            }
            Some(v) => {
                let found: u32 = v.parse().map_err(|_| {
                    StoreError::Other(format!("schema_version {v:?} is not a number"))
                })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew { found });
                }
                // Older versions migrate here, one step at a time.
                if found < 2 {
                    migrate::typed_state(&store)?;
                }
            }
        }
        if store.meta(OPEN_INDEX)?.is_none() {
            // Stores from before the open-ticket index: build it once.
            for t in store.tickets()? {
                if t.status.is_open() {
                    store.open.insert(id_key(t.id), &[])?;
                }
            }
            store.set_meta(OPEN_INDEX, "1")?;
            store.db.flush()?;
        }
        if store.meta(DUE_INDEX)?.is_none() {
            // Stores from before the due-time index: build it once.
            for e in store.outbox_active()? {
                store
                    .outbox_due
                    .insert(due_key(e.next_attempt, &e.id), &[])?;
            }
            store.set_meta(DUE_INDEX, "1")?;
            store.db.flush()?;
        }
        // One process at a time holds this store: whatever claims and
        // leases are on record belong to a process that is gone.
        store.drop_claims()?;
        for kv in store.meta.scan_prefix(b"lease\0") {
            let (k, _) = kv?;
            store.meta.remove(k)?;
        }
        Ok(store)
    }

    /// Bytes on disk (sled's own estimate).
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

/// The due-time index's key: when the entry is next due, in an order that
/// sorts as time does (the sign bit flipped, big-endian), then its id.
pub(super) fn due_key(at: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut k = due_prefix(at.timestamp_millis()).to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

pub(super) fn due_prefix(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time a due-time key starts with.
pub(super) fn due_time(key: &[u8]) -> Option<DateTime<Utc>> {
    let b: [u8; 8] = key.get(..8)?.try_into().ok()?;
    DateTime::from_timestamp_millis((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// A lease's key among the named values: a NUL keeps it apart from
/// every name `set_meta` is given.
fn lease_key(name: &str) -> Vec<u8> {
    let mut k = b"lease\0".to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// The key of typed state: its kind, a NUL, and whose it is.
pub(super) fn state_key(key: &StateKey) -> Vec<u8> {
    let (kind, name) = match key {
        StateKey::Checkpoint(source) => (b'c', source),
        StateKey::QueueStats(queue) => (b's', queue),
        StateKey::Prefs(address) => (b'p', address),
        StateKey::Incident(source) => (b'i', source),
        StateKey::Bounces => (b'b', &String::new()),
    };
    let mut k = Vec::with_capacity(name.len() + 2);
    k.push(kind);
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

/// A ticket's entry in the customer index: created, open, closed (seconds).
fn summary(t: &Ticket) -> [u8; 17] {
    let mut b = [0u8; 17];
    b[..8].copy_from_slice(&t.created.timestamp().to_be_bytes());
    b[8] = u8::from(t.status.is_open());
    b[9..].copy_from_slice(&t.closed.map_or(0, |c| c.timestamp()).to_be_bytes());
    b
}

fn from_summary(id: TicketId, b: &[u8]) -> Option<CustomerTicket> {
    let secs = |r: std::ops::Range<usize>| Some(i64::from_be_bytes(b.get(r)?.try_into().ok()?));
    let at = |s: i64| chrono::TimeZone::timestamp_opt(&Utc, s, 0).single();
    let closed = secs(9..17)?;
    Some(CustomerTicket {
        id,
        created: at(secs(0..8)?)?,
        open: *b.get(8)? == 1,
        closed: if closed == 0 { None } else { at(closed) },
    })
}

/// Before sled opens `dir`: the directory and what is directly in it are
/// the owner's alone (customer mail; whatever the umask was when they were
/// made), and an unfinished snapshot is removed.
///
/// Why the snapshot: sled writes `snap.<lsn>.generating`, syncs it, then
/// renames it to `snap.<lsn>`; but when it opens a store it reads the
/// newest file starting with `snap.`, and `.generating` sorts last. A
/// snapshot cut short by a full disk (or a crash) therefore made every
/// later open fail with "Read corrupted data" until the file was deleted
/// by hand. A `.generating` file is by construction not a finished
/// snapshot; without it sled reads the previous one and replays its log.
fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_file() && name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing an unfinished store snapshot (left by a full disk or a crash)");
            std::fs::remove_file(entry.path())?;
            continue;
        }
        let mode = if kind.is_dir() { 0o700 } else { 0o600 };
        if (kind.is_dir() || kind.is_file())
            && entry.metadata()?.permissions().mode() & 0o777 != mode
        {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("data directory: {e}"))
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing our own plain structs to JSON cannot fail (no maps with
    // non-string keys, no failing Serialize impls).
    serde_json::to_vec(v).unwrap_or_default()
}

fn dec<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        kind: tree,
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

/// Tickets' subjects by id, as last written or read. A new ticket's
/// acknowledgement names the customer's other open tickets by subject:
/// up to twenty reads of a ticket record each, for a few bytes that
/// seldom change. Every ticket write goes through a commit, which sets
/// its subject here once applied, so a subject read here is at most that
/// commit's few microseconds old. Bounded: emptied when full.
#[derive(Default)]
struct Subjects(std::sync::Mutex<Kept>);

#[derive(Default)]
struct Kept {
    by_id: HashMap<TicketId, String>,
    /// Times the map was emptied: a read from the store is kept only if
    /// no emptying came between it and its keeping.
    emptied: u64,
}

/// Subjects kept at most (~100 bytes each with the map's own).
const SUBJECTS_KEPT: usize = 16_384;

impl Subjects {
    /// The subject kept for `id`, else when the store may be read for it.
    fn get(&self, id: TicketId) -> std::result::Result<String, u64> {
        let kept = self.lock();
        kept.by_id.get(&id).cloned().ok_or(kept.emptied)
    }

    /// As a commit wrote it (after the write).
    fn put(&self, id: TicketId, subject: &str) {
        let mut kept = self.room();
        match kept.by_id.get_mut(&id) {
            Some(s) if s == subject => {}
            Some(s) => subject.clone_into(s),
            None => {
                kept.by_id.insert(id, subject.to_owned());
            }
        }
    }

    /// As read from the store after [`Subjects::get`] answered `asked`:
    /// kept only when nothing is and the map was not emptied since, so
    /// that a read made before a commit changed the subject never
    /// replaces what that commit set.
    fn put_read(&self, id: TicketId, subject: &str, asked: u64) {
        let mut kept = self.room();
        if kept.emptied == asked {
            kept.by_id.entry(id).or_insert_with(|| subject.to_owned());
        }
    }

    fn room(&self) -> std::sync::MutexGuard<'_, Kept> {
        let mut kept = self.lock();
        if kept.by_id.len() >= SUBJECTS_KEPT {
            kept.by_id.clear();
            kept.emptied += 1;
        }
        kept
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A map of copies: whatever a panic left is still usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The subject of a ticket's record as [`enc`] writes it, `{"id":N,
/// "subject":"…",` (the order `Ticket` declares its fields in), read up
/// to the end of the subject's string and no further: the record's other
/// few hundred bytes go unread. `None` when the record does not start so.
fn leading_subject(record: &[u8]) -> Option<String> {
    let rest = record.strip_prefix(b"{\"id\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest.get(digits..)?.strip_prefix(b",\"subject\":")?;
    serde_json::Deserializer::from_slice(rest)
        .into_iter::<String>()
        .next()?
        .ok()
}

fn get<T: DeserializeOwned>(tree: &Tree, name: &'static str, key: &[u8]) -> Result<Option<T>> {
    tree.get(key)?.map(|v| dec(name, key, &v)).transpose()
}

fn id_key(id: TicketId) -> [u8; 8] {
    id.to_be_bytes()
}

fn id_from(bytes: &[u8]) -> Option<TicketId> {
    Some(TicketId::from_be_bytes(bytes.try_into().ok()?))
}

fn customer_key(address: &str, id: TicketId) -> Vec<u8> {
    let mut k = address.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id_key(id));
    k
}

impl ThreadView for SledStore {
    type Error = StoreError;

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        get(&self.tickets, "tickets", &id_key(id))
    }

    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        Ok(self.msgid.get(id.as_bytes())?.and_then(|v| id_from(&v)))
    }

    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        Ok(self
            .conversations
            .get(key.as_bytes())?
            .and_then(|v| id_from(&v)))
    }

    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        let mut prefix = address.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.customers.scan_prefix(&prefix) {
            let (k, _) = kv?;
            if let Some(id) = k.get(prefix.len()..).and_then(id_from) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

impl View for SledStore {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        self.blobs.get(kind, key)
    }

    fn pending(&self) -> Result<Vec<PendingMail>> {
        let mut all = Vec::new();
        for kv in self.pending.iter() {
            let (k, v) = kv?;
            let mark = PendingMark::decode(&v);
            all.push((
                mark.seq,
                PendingMail {
                    hash: String::from_utf8_lossy(&k).into_owned(),
                    origin: mark.origin,
                    attempts: mark.attempts,
                },
            ));
        }
        all.sort_by_key(|p| p.0);
        Ok(all.into_iter().map(|(_, p)| p).collect())
    }

    fn attempts(&self, hash: &str) -> Result<Attempts> {
        Ok(self
            .pending
            .get(hash.as_bytes())?
            .map(|v| PendingMark::decode(&v).attempts)
            .unwrap_or_default())
    }

    fn source_seen(&self, key: &str) -> Result<bool> {
        Ok(self.sources.contains_key(key.as_bytes())?)
    }

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        get(&self.messages, "messages", message_id.as_bytes())
    }

    fn is_quarantined(&self, hash: &str) -> Result<bool> {
        Ok(self.quarantine.contains_key(hash.as_bytes())?)
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        self.quarantine
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                dec("quarantine", &k, &v)
            })
            .collect()
    }

    fn tickets(&self) -> Result<Vec<Ticket>> {
        self.tickets
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                dec("tickets", &k, &v)
            })
            .collect()
    }

    fn open_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for kv in self.open.iter() {
            let (k, _) = kv?;
            if let Some(v) = self.tickets.get(&k)? {
                out.push(dec("tickets", &k, &v)?);
            }
        }
        Ok(out)
    }

    fn ticket_subject(&self, id: TicketId) -> Result<Option<String>> {
        let asked = match self.subjects.get(id) {
            Ok(subject) => return Ok(Some(subject)),
            Err(asked) => asked,
        };
        let key = id_key(id);
        let Some(bytes) = self.tickets.get(key)? else {
            return Ok(None);
        };
        if let Some(subject) = leading_subject(&bytes) {
            self.subjects.put_read(id, &subject, asked);
            return Ok(Some(subject));
        }
        // Only the field asked for is decoded: the rest of the record
        // (message ids, due times, rules fired) is skipped over unparsed.
        #[derive(serde::Deserialize)]
        struct Subject {
            subject: String,
        }
        Ok(Some(dec::<Subject>("tickets", &key, &bytes)?.subject))
    }

    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        let mut prefix = address.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.customers.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let Some(id) = k.get(prefix.len()..).and_then(id_from) else {
                continue;
            };
            match from_summary(id, &v) {
                Some(glance) => out.push(glance),
                // Written before the index held summaries: read the ticket.
                None => {
                    if let Some(t) = self.ticket(id)? {
                        out.push(CustomerTicket::from(&t));
                    }
                }
            }
        }
        Ok(out)
    }

    fn next_ticket_id(&self) -> Result<TicketId> {
        Ok(self
            .meta(NEXT_TICKET)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.first_ticket))
    }

    fn acks_to(&self, address: &str) -> Result<Vec<DateTime<Utc>>> {
        let Some(v) = self.senders.get(address.as_bytes())? else {
            return Ok(Vec::new());
        };
        // Stored as JSON strings in RFC 3339, as the encoder writes dates:
        // read with chrono's RFC 3339 reader (its general parser, which
        // serde's reading of a date uses, was most of this read's time),
        // and the general way when a value is written otherwise.
        if let Ok(texts) = serde_json::from_slice::<Vec<&str>>(&v)
            && let Ok(times) = texts
                .iter()
                .map(|t| DateTime::parse_from_rfc3339(t).map(|d| d.with_timezone(&Utc)))
                .collect::<std::result::Result<Vec<_>, _>>()
        {
            return Ok(times);
        }
        dec("senders", address.as_bytes(), &v)
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let mut all = self.outbox_active()?;
        for kv in self.outbox_done.iter() {
            let (k, v) = kv?;
            all.push(dec("outbox_done", &k, &v)?);
        }
        all.sort_by_key(|e: &OutboxEntry| e.created);
        Ok(all)
    }

    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                dec("outbox", &k, &v)
            })
            .collect()
    }

    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        let found: Option<OutboxEntry> = match get(&self.outbox, "outbox", id.as_bytes())? {
            Some(e) => Some(e),
            None => get(&self.outbox_done, "outbox_done", id.as_bytes())?,
        };
        let Some(mut e) = found else { return Ok(None) };
        if e.raw.is_empty()
            && let Some(raw) = self.blobs.get(BlobKind::Outgoing, id)?
        {
            e.raw = String::from_utf8(raw)
                .unwrap_or_else(|bad| String::from_utf8_lossy(bad.as_bytes()).into_owned());
        }
        Ok(Some(e))
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .meta
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn state(&self, key: &StateKey) -> Result<Option<State>> {
        // Unreadable state is no state: a preference or a statistic is
        // not worth refusing mail over.
        Ok(self
            .state
            .get(state_key(key))?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }
}

impl Store for SledStore {
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        self.blobs.put(kind, key, bytes)
    }

    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()> {
        // Pending until a commit says what became of it. A mark already
        // there stays: it holds the arrival order and the tries so far.
        let _turn = self.writing();
        if !self.pending.contains_key(hash.as_bytes())? && !self.is_quarantined(hash)? {
            let mark = PendingMark {
                seq: self.db.generate_id()?,
                attempts: Attempts::default(),
                origin: origin.to_owned(),
            };
            self.pending.insert(hash.as_bytes(), mark.encode())?;
        }
        Ok(())
    }

    fn put_raws_tried(&self, mails: &[(&str, &[u8], &str)], alone: bool) -> Result<()> {
        // Each mark read once and written once with its try counted (a
        // message twice in the batch is one message: one try).
        let blobs: Vec<(&str, &[u8])> = mails.iter().map(|&(h, b, _)| (h, b)).collect();
        self.blobs.put_mails(&blobs)?;
        let mut marks: HashMap<&str, Option<PendingMark>> = HashMap::new();
        let _turn = self.writing();
        for &(hash, _, origin) in mails {
            if let Entry::Vacant(v) = marks.entry(hash) {
                let mark = match self.pending.get(hash.as_bytes())? {
                    Some(v) => Some(PendingMark::decode(&v)),
                    // A quarantined message is not marked (nor counted).
                    None if self.is_quarantined(hash)? => None,
                    None => Some(PendingMark {
                        seq: self.db.generate_id()?,
                        attempts: Attempts::default(),
                        origin: origin.to_owned(),
                    }),
                };
                v.insert(mark.map(|mut m| {
                    m.attempts.count(alone);
                    m
                }));
            }
        }
        let mut g = Group::default();
        for (hash, mark) in marks {
            if let Some(m) = mark {
                g.put(T::Pending, hash.as_bytes(), &m.encode());
            }
        }
        self.apply_group(&g)
    }

    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()> {
        let mut g = Group::default();
        let distinct: std::collections::BTreeSet<&str> = hashes.iter().copied().collect();
        let _turn = self.writing();
        for hash in distinct {
            if let Some(v) = self.pending.get(hash.as_bytes())? {
                let mut mark = PendingMark::decode(&v);
                mark.attempts.count(alone);
                g.put(T::Pending, hash.as_bytes(), &mark.encode());
            }
        }
        self.apply_group(&g)
    }

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        // One compare-and-swap on the counter: atomic whoever else writes.
        let first = self.first_ticket;
        let parse = |v: Option<&[u8]>| {
            v.and_then(|b| std::str::from_utf8(b).ok()?.parse::<TicketId>().ok())
                .unwrap_or(first)
        };
        let after = self.meta.update_and_fetch(NEXT_TICKET, |old| {
            Some(parse(old).saturating_add(1).to_string().into_bytes())
        })?;
        Ok(parse(after.as_deref()).saturating_sub(1))
    }

    fn commit(&self, c: &Commit) -> Result<()> {
        self.commit_all(std::slice::from_ref(c))
    }

    fn commit_all(&self, commits: &[Commit]) -> Result<()> {
        self.write_commits(commits)
    }

    fn flush(&self) -> Result<()> {
        // Blobs first: a flushed store must never name a blob not on disk.
        self.blobs.sync_then(|| {
            self.db.flush()?;
            Ok(())
        })
    }

    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        self.put_outbox_all(std::slice::from_ref(entry))
    }

    fn put_outbox_all(&self, entries: &[OutboxEntry]) -> Result<()> {
        self.write_outbox(entries)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.meta.insert(key.as_bytes(), value.as_bytes())?;
        Ok(())
    }

    fn export_records(
        &self,
        with_blobs: bool,
        f: &mut dyn FnMut(crate::store::moving::Record) -> Result<()>,
    ) -> Result<()> {
        self.export(with_blobs, f)
    }

    fn import_records(&self, records: &[crate::store::moving::Record]) -> Result<()> {
        self.import(records)
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let now = match self.meta.compare_and_swap(
            key.as_bytes(),
            None::<&[u8]>,
            Some(value.as_bytes()),
        )? {
            Ok(()) => value.to_owned(),
            Err(held) => held
                .current
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_else(|| value.to_owned()),
        };
        self.db.flush()?;
        Ok(now)
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        // One process holds an embedded store, but its tasks (mailbox
        // readers, timers) ask the same way they would of a shared one.
        let key = lease_key(name);
        let mut held = false;
        self.meta.update_and_fetch(&key, |old| {
            let current = old.and_then(|v| serde_json::from_slice::<super::Lease>(v).ok());
            held = current.as_ref().is_none_or(|l| l.open_to(holder, now));
            if held {
                Some(enc(&super::Lease {
                    holder: holder.to_owned(),
                    until,
                }))
            } else {
                old.map(<[u8]>::to_vec)
            }
        })?;
        Ok(held)
    }

    fn release(&self, name: &str, holder: &str) -> Result<()> {
        let key = lease_key(name);
        self.meta.update_and_fetch(&key, |old| {
            match old.and_then(|v| serde_json::from_slice::<super::Lease>(v).ok()) {
                Some(l) if l.holder == holder => None,
                _ => old.map(<[u8]>::to_vec),
            }
        })?;
        Ok(())
    }

    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<crate::store::Due> {
        self.write_claims(holder, now, until, limit)
    }
}

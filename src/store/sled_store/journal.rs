//! Writes to several keys, all or none, without sled's transactions.
//!
//! Why not a transaction: once any sled transaction or batch has run in a
//! process, every sled read takes the read side of one process-wide lock,
//! and a transaction holds its write side for its whole closure. The
//! deciding thread's reads then wait for the writer thread's commits (in
//! the pipeline benchmark it spent a third of its time blocked there).
//!
//! Instead a [`Group`] of writes is recorded whole under one key of the
//! `journal` tree (one insert, atomic on its own), then applied with plain
//! inserts and removes, then its record is removed. After a crash sled
//! recovers a prefix of its log, in the order the writes were made: when a
//! group's writes were cut short its record survives (it was written
//! before them) and [`SledStore::replay_journal`] applies it again at
//! open; when its record is gone, so was every write after it, or all of
//! the group's writes were done. Each write puts or removes a whole value,
//! so applying a group twice ends as applying it once.
//!
//! Writers take [`SledStore::writing`] in turn, one group at a time: what a
//! writer reads to build its group (the first index entry wins, the outbox
//! entry it replaces) is not half-changed by another writer. Readers take
//! no lock: one may see a group half-applied, which the store's readers
//! tolerate (the batch overlay in `staged.rs` answers for commits on their
//! way; an outbox entry whose due-time key is not there yet is found by the
//! next claim round).

use super::SledStore;
use crate::store::{Result, StoreError};
use sled::Tree;
use std::sync::atomic::Ordering;
use std::sync::{MutexGuard, PoisonError};

/// The key of the one record: writers take turns, so at most one group is
/// in flight.
const RECORD: &[u8] = b"group";
/// The record's format version, its first byte.
const VERSION: u8 = 1;

/// The trees a group may write, by the number its record stores (never
/// renumber: a record written by one release is replayed by the next).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum T {
    Pending = 0,
    Sources = 1,
    Messages = 2,
    Tickets = 3,
    Open = 4,
    Msgid = 5,
    Conversations = 6,
    Customers = 7,
    Outbox = 8,
    OutboxDone = 9,
    OutboxDue = 10,
    Senders = 11,
    Quarantine = 12,
    Meta = 13,
    State = 14,
}

impl T {
    /// Every tree, at the index of its number.
    const ALL: [T; 15] = [
        T::Pending,
        T::Sources,
        T::Messages,
        T::Tickets,
        T::Open,
        T::Msgid,
        T::Conversations,
        T::Customers,
        T::Outbox,
        T::OutboxDone,
        T::OutboxDue,
        T::Senders,
        T::Quarantine,
        T::Meta,
        T::State,
    ];
}

/// Writes to apply all or none, in order: each op is a tag (`1` put, `0`
/// remove), the tree's number, the key's length (u32 BE) and the key,
/// and for a put the value's length (u32 BE) and the value.
pub(super) struct Group {
    buf: Vec<u8>,
    ops: usize,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            buf: vec![VERSION],
            ops: 0,
        }
    }
}

impl Group {
    pub(super) fn put(&mut self, tree: T, key: &[u8], value: &[u8]) {
        self.op(1, tree, key);
        self.bytes(value);
    }

    pub(super) fn remove(&mut self, tree: T, key: &[u8]) {
        self.op(0, tree, key);
    }

    fn op(&mut self, tag: u8, tree: T, key: &[u8]) {
        self.buf.push(tag);
        self.buf.push(tree as u8);
        self.bytes(key);
        self.ops += 1;
    }

    fn bytes(&mut self, b: &[u8]) {
        // A key or value past 4 GiB is not one sled takes either.
        self.buf
            .extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
        self.buf.extend_from_slice(b);
    }
}

/// One write read back from a record.
struct Op<'a> {
    tree: u8,
    key: &'a [u8],
    /// `None`: remove.
    value: Option<&'a [u8]>,
}

/// The writes of a record, in order; an error names what does not read.
fn ops(record: &[u8]) -> impl Iterator<Item = std::result::Result<Op<'_>, String>> {
    let (mut rest, mut failed): (&[u8], _) = match record.split_first() {
        Some((&VERSION, rest)) => (rest, None),
        Some((v, _)) => (&[], Some(format!("format version {v} is unknown"))),
        None => (&[], Some("it is empty".to_owned())),
    };
    std::iter::from_fn(move || {
        if let Some(e) = failed.take() {
            return Some(Err(e));
        }
        if rest.is_empty() {
            return None;
        }
        let parsed = read_op(&mut rest);
        if parsed.is_err() {
            rest = &[];
        }
        Some(parsed)
    })
}

fn read_op<'a>(r: &mut &'a [u8]) -> std::result::Result<Op<'a>, String> {
    fn take<'a>(r: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if r.len() < n {
            return Err(format!("it ends {} bytes short", n - r.len()));
        }
        let (head, tail) = r.split_at(n);
        *r = tail;
        Ok(head)
    }
    fn sized<'a>(r: &mut &'a [u8]) -> std::result::Result<&'a [u8], String> {
        let len = take(r, 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        take(r, len)
    }
    let head = take(r, 2)?;
    let (tag, tree) = (head[0], head[1]);
    let key = sized(r)?;
    let value = match tag {
        0 => None,
        1 => Some(sized(r)?),
        other => return Err(format!("write kind {other} is unknown")),
    };
    Ok(Op { tree, key, value })
}

impl SledStore {
    /// The writers' turn: held while a group is built from what the store
    /// holds and applied.
    pub(super) fn writing(&self) -> MutexGuard<'_, ()> {
        // Nothing is guarded but the turn itself: a panic leaves no
        // half-changed data behind the lock (the journal covers the store).
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `g`, all or none across a crash (see the module's doc). The
    /// caller holds [`SledStore::writing`].
    pub(super) fn apply_group(&self, g: &Group) -> Result<()> {
        // After a group failed halfway its record must stay the one the
        // next start replays: a later write would be overwritten by that
        // replay, or its record would take the place of the unfinished one.
        if self.cut_short.load(Ordering::Acquire) {
            return Err(corrupt(
                "a group of writes failed halfway; the store takes no more writes until a restart completes it from its journal",
            ));
        }
        match g.ops {
            0 => return Ok(()),
            // One write is atomic on its own.
            1 => return self.apply_record(&g.buf),
            _ => {}
        }
        self.journal.insert(RECORD, g.buf.as_slice())?;
        if let Err(e) = self.apply_record(&g.buf) {
            self.cut_short.store(true, Ordering::Release);
            return Err(e);
        }
        self.journal.remove(RECORD)?;
        Ok(())
    }

    /// Applies what a crash left recorded and not known to be applied; at
    /// open, before anything reads the store. Returns the writes applied.
    pub(super) fn replay_journal(&self) -> Result<usize> {
        let Some(record) = self.journal.get(RECORD)? else {
            return Ok(0);
        };
        self.apply_record(&record)?;
        self.journal.remove(RECORD)?;
        self.db.flush()?;
        let n = ops(&record).count();
        tracing::info!(
            writes = n,
            "store: writes cut short by a crash completed from the journal"
        );
        Ok(n)
    }

    fn apply_record(&self, record: &[u8]) -> Result<()> {
        self.apply_ops(ops(record))
    }

    fn apply_ops<'a>(
        &self,
        ops: impl Iterator<Item = std::result::Result<Op<'a>, String>>,
    ) -> Result<()> {
        for op in ops {
            let op =
                op.map_err(|e| corrupt(&format!("the journal's record does not read: {e}")))?;
            let tree = self
                .journal_tree(op.tree)
                .ok_or_else(|| corrupt(&format!("the journal names tree {}", op.tree)))?;
            match op.value {
                Some(v) => tree.insert(op.key, v)?,
                None => tree.remove(op.key)?,
            };
        }
        Ok(())
    }

    fn journal_tree(&self, n: u8) -> Option<&Tree> {
        let t = *T::ALL.get(usize::from(n))?;
        Some(match t {
            T::Pending => &self.pending,
            T::Sources => &self.sources,
            T::Messages => &self.messages,
            T::Tickets => &self.tickets,
            T::Open => &self.open,
            T::Msgid => &self.msgid,
            T::Conversations => &self.conversations,
            T::Customers => &self.customers,
            T::Outbox => &self.outbox,
            T::OutboxDone => &self.outbox_done,
            T::OutboxDue => &self.outbox_due,
            T::Senders => &self.senders,
            T::Quarantine => &self.quarantine,
            T::Meta => &self.meta,
            T::State => &self.state,
        })
    }
}

#[cfg(test)]
impl SledStore {
    /// What a crash `applied` writes into `g` leaves behind once sled's log
    /// is on disk: the record, and only the first `applied` writes done.
    pub(super) fn cut_short(&self, g: &Group, applied: usize) {
        self.journal.insert(RECORD, g.buf.as_slice()).unwrap();
        self.apply_ops(ops(&g.buf).take(applied)).unwrap();
        self.db.flush().unwrap();
    }
}

#[cfg(test)]
impl Group {
    pub(super) fn len(&self) -> usize {
        self.ops
    }
}

/// A journal that does not read: the store stops taking writes (a restart
/// with the cause gone is the only way on), as for sled's own corruption.
fn corrupt(message: &str) -> StoreError {
    StoreError::Backend {
        message: message.to_owned(),
        fatal: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_reads_back_as_written() {
        let mut g = Group::default();
        g.put(T::Tickets, b"k1", b"value");
        g.remove(T::OutboxDue, b"");
        g.put(T::State, b"", b"");
        let read: Vec<_> = ops(&g.buf)
            .map(|op| op.map(|o| (o.tree, o.key.to_vec(), o.value.map(<[u8]>::to_vec))))
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(
            read,
            vec![
                (T::Tickets as u8, b"k1".to_vec(), Some(b"value".to_vec())),
                (T::OutboxDue as u8, Vec::new(), None),
                (T::State as u8, Vec::new(), Some(Vec::new())),
            ]
        );
    }

    #[test]
    fn each_tree_is_found_by_its_number() {
        for (i, t) in T::ALL.iter().enumerate() {
            assert_eq!(*t as u8 as usize, i, "{t:?}");
        }
    }

    #[test]
    fn a_cut_or_foreign_record_is_an_error_not_a_guess() {
        let mut g = Group::default();
        g.put(T::Tickets, b"key", b"value");
        let cut = &g.buf[..g.buf.len() - 2];
        let errs: Vec<String> = ops(cut).filter_map(|o| o.err()).collect();
        assert_eq!(errs, vec!["it ends 2 bytes short".to_owned()]);
        let errs: Vec<String> = ops(&[9, 1, 2]).filter_map(|o| o.err()).collect();
        assert_eq!(errs, vec!["format version 9 is unknown".to_owned()]);
        let errs: Vec<String> = ops(&[VERSION, 7, 0, 0, 0, 0, 0])
            .filter_map(|o| o.err())
            .collect();
        assert_eq!(errs, vec!["write kind 7 is unknown".to_owned()]);
    }
}

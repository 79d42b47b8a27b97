//! Commits gathered in memory and written to the store several at a time.
//!
//! [`Staged`] sits in front of a store for one batch: it keeps each
//! message's [`Commit`] in memory, answers reads from what it holds first
//! (so a reply later in the batch finds the ticket an earlier message
//! opened), and hands the commits to [`Store::commit_all`] in chunks: a
//! server store takes a chunk in one round trip, and the embedded store's
//! writer thread (below) works through a chunk while the next is decided.
//!
//! Nothing changes for durability: no commit was durable before the batch's
//! flush anyway, and the raw messages are stored (and marked pending) directly,
//! so a crash before the flush reprocesses them as before.
//!
//! Writing behind ([`Staged::for_batches`]): for a big batch the chunks
//! go to a writer thread of their own, so the store's work on one chunk
//! (a third of the committing thread's time on the embedded store)
//! overlaps the deciding of the next. What is sent stays in the overlay
//! until a [`Staged::write_out`] has seen every chunk written, so reads
//! answer the same whether a chunk is still on its way or already in the
//! store; chunks are written in order, one at a time; a chunk that fails
//! stops the rest, and the next `write_out` (or `flush`) returns the
//! error with every commit not written held again, as without the writer.

use super::{
    Attempts, Commit, CustomerTicket, PendingMail, Quarantined, Result, State, StateKey, Store,
    StoreError, View,
};
use super::{BlobKind, OutboxEntry};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};

/// Commits held before they are written together: enough to make the
/// per-call cost (a round trip to a server store) vanish, small enough to
/// keep memory flat.
const CHUNK: usize = 128;

/// The chunk with a writer thread: smaller, so most of a batch's writing
/// overlaps its deciding (the last chunk is written at the flush).
const CHUNK_BEHIND: usize = 64;

/// What the held commits change, for reads.
#[derive(Default)]
struct Overlay {
    /// Not yet handed to the store (or to the writer).
    commits: Vec<Commit>,
    /// The raw mail of every commit held or on its way to the store.
    hashes: HashSet<String>,
    tickets: HashMap<TicketId, Ticket>,
    msgid: HashMap<String, TicketId>,
    /// Own ids of messages placed in this batch (they win over the store).
    placed: HashMap<String, TicketId>,
    conversations: HashMap<String, TicketId>,
    messages: HashMap<String, MessageRecord>,
    sources: HashSet<String>,
    /// `None`: released from quarantine by a held commit.
    quarantine: HashMap<String, Option<Quarantined>>,
    /// Acknowledgement times as the held commits leave them, and as the
    /// store held them when read during the batch.
    acks: HashMap<String, Vec<DateTime<Utc>>>,
    state: HashMap<StateKey, State>,
    outbox: HashMap<String, OutboxEntry>,
    /// The customer index as the store held it when read during the
    /// batch, by address (the held tickets are laid over it).
    customers: HashMap<String, Vec<CustomerTicket>>,
}

impl Overlay {
    /// Empty, keeping the room its maps grew to (the next batch is about
    /// as big: growing them again was a fiftieth of the deciding).
    fn clear(&mut self) {
        // Every field named: a new one is not forgotten here.
        let Overlay {
            commits,
            hashes,
            tickets,
            msgid,
            placed,
            conversations,
            messages,
            sources,
            quarantine,
            acks,
            state,
            outbox,
            customers,
        } = self;
        commits.clear();
        hashes.clear();
        tickets.clear();
        msgid.clear();
        placed.clear();
        conversations.clear();
        messages.clear();
        sources.clear();
        quarantine.clear();
        acks.clear();
        state.clear();
        outbox.clear();
        customers.clear();
    }
}

/// A store seen through the commits of the batch in hand.
pub struct Staged<'a, S: Store + ?Sized> {
    inner: &'a S,
    held: Mutex<Overlay>,
    writer: Option<Writer>,
    /// Commits held before they are handed on.
    chunk: usize,
}

/// The handle on a writer thread (see the module's doc).
struct Writer {
    chunks: mpsc::Sender<Vec<Commit>>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
}

/// What the writer thread has done with the chunks sent to it.
#[derive(Default)]
struct Progress {
    /// Sent and not yet written (or set aside after a failure).
    in_flight: usize,
    /// The first failure, and every commit not written since, in order.
    failed: Option<(StoreError, Vec<Commit>)>,
}

/// The writer thread: each chunk in order, until the channel closes.
fn write_chunks<S: Store + ?Sized>(
    inner: &S,
    received: mpsc::Receiver<Vec<Commit>>,
    progress: &(Mutex<Progress>, Condvar),
) {
    let (lock, done) = progress;
    for chunk in received {
        let failed = locked(lock).failed.is_some();
        // After a failure nothing more is written: later commits must not
        // land before earlier ones.
        let result = if failed {
            Err(chunk)
        } else {
            inner.commit_all(&chunk).map_err(|e| {
                locked(lock).failed = Some((e, Vec::new()));
                chunk
            })
        };
        let mut p = locked(lock);
        if let (Err(chunk), Some((_, unwritten))) = (result, p.failed.as_mut()) {
            unwritten.extend(chunk);
        }
        p.in_flight -= 1;
        done.notify_all();
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Messages in a batch below which a writer thread is not worth starting:
/// a chunk or so is written at the flush anyway.
const WORTH_A_WRITER: usize = 2 * CHUNK_BEHIND;

impl<'a, S: Store + ?Sized> Staged<'a, S> {
    pub fn new(inner: &'a S) -> Self {
        Staged {
            inner,
            held: Mutex::new(Overlay::default()),
            writer: None,
            chunk: CHUNK,
        }
    }

    /// Runs `f` with a [`Staged`] for batches of `batch` messages, each
    /// flushed before the next: written behind (see the module's doc)
    /// when a batch is big enough for chunks to be written while the rest
    /// of it is decided, in place otherwise. Flush (or
    /// [`Staged::write_out`]) before `f` returns: what is still held then
    /// is dropped, not written.
    pub fn for_batches<R>(inner: &'a S, batch: usize, f: impl FnOnce(&Staged<'a, S>) -> R) -> R {
        if batch > WORTH_A_WRITER {
            Staged::with_writer(inner, f)
        } else {
            f(&Staged::new(inner))
        }
    }

    /// Runs `f` with a [`Staged`] whose chunks are written on a thread of
    /// their own while `f` goes on deciding.
    fn with_writer<R>(inner: &'a S, f: impl FnOnce(&Staged<'a, S>) -> R) -> R {
        std::thread::scope(|scope| {
            let staged = Staged::behind(inner, CHUNK_BEHIND, |work| {
                std::thread::Builder::new()
                    .name("ticketbox-write".into())
                    .spawn_scoped(scope, work)
                    .is_ok()
            });
            f(&staged)
            // `staged` goes here, closing the channel: the writer ends
            // after what it was sent, and the scope waits for it.
        })
    }

    /// A [`Staged`] handing chunks of `chunk` commits to the writer that
    /// `spawn` starts with the work it is given; when no thread starts
    /// (none to spare), chunks are written in place, as with `new`.
    fn behind(
        inner: &'a S,
        chunk: usize,
        spawn: impl FnOnce(Box<dyn FnOnce() + Send + 'a>) -> bool,
    ) -> Self {
        let (chunks, received) = mpsc::channel::<Vec<Commit>>();
        let progress = Arc::new((Mutex::new(Progress::default()), Condvar::new()));
        let shared = progress.clone();
        let started = spawn(Box::new(move || write_chunks(inner, received, &shared)));
        Staged {
            inner,
            held: Mutex::new(Overlay::default()),
            writer: started.then_some(Writer { chunks, progress }),
            chunk: if started { chunk } else { CHUNK },
        }
    }

    /// A [`Staged`] that hands every commit to a writer thread at once
    /// (the conformance suite's: reads must answer the same while commits
    /// are on their way).
    #[cfg(test)]
    pub(crate) fn behind_every_commit(inner: &'static S) -> Staged<'static, S>
    where
        S: 'static,
    {
        Staged::behind(inner, 1, |work| {
            std::thread::spawn(work);
            true
        })
    }

    /// Writes what is held, and waits for every chunk sent to the writer
    /// (not yet durable: flush the store after).
    pub fn write_out(&self) -> Result<()> {
        let mut held = self.lock();
        if let Some(w) = &self.writer {
            let (lock, done) = &*w.progress;
            let mut p = locked(lock);
            while p.in_flight > 0 {
                p = done.wait(p).unwrap_or_else(PoisonError::into_inner);
            }
            if let Some((e, mut unwritten)) = p.failed.take() {
                // Held again, ahead of what came after them: a later
                // write_out tries them first.
                unwritten.append(&mut held.commits);
                held.commits = unwritten;
                return Err(e);
            }
        }
        if !held.commits.is_empty() {
            self.inner.commit_all(&held.commits)?;
        }
        held.clear();
        Ok(())
    }

    /// Hands the held commits to the writer without waiting; their
    /// changes stay readable in the overlay. Without a writer: written
    /// in place.
    fn write_behind(&self) -> Result<()> {
        let Some(w) = &self.writer else {
            return self.write_out();
        };
        let mut held = self.lock();
        let chunk = std::mem::take(&mut held.commits);
        locked(&w.progress.0).in_flight += 1;
        if let Err(mpsc::SendError(chunk)) = w.chunks.send(chunk) {
            // The writer is gone (it panicked): written here instead.
            let mut p = locked(&w.progress.0);
            p.in_flight -= 1;
            drop(p);
            held.commits = chunk;
            drop(held);
            return self.write_out();
        }
        Ok(())
    }

    /// Keeps `c` in the overlay (see [`Store::commit`]), handing a full
    /// chunk on.
    fn hold(&self, c: Commit) -> Result<()> {
        let full = {
            let mut acked = Vec::with_capacity(c.acked.len());
            for a in &c.acked {
                let mut times = self.acks_to(&a.key)?;
                a.count_into(&mut times);
                acked.push((a.key.clone(), times));
            }
            let inner_has = |id: &str| self.inner.ticket_for_message_id(id);
            let mut new_ids = Vec::new();
            for (id, t) in &c.index {
                if inner_has(id)?.is_none() {
                    new_ids.push((id.clone(), *t));
                }
            }
            let new_conversation = match &c.conversation {
                Some((k, t)) if self.inner.ticket_for_conversation(k)?.is_none() => {
                    Some((k.clone(), *t))
                }
                _ => None,
            };

            let mut held = self.lock();
            for (key, times) in acked {
                held.acks.insert(key, times);
            }
            for (id, t) in new_ids {
                held.msgid.entry(id).or_insert(t);
            }
            for (id, t) in &c.placed {
                held.placed.insert(id.clone(), *t);
            }
            if let Some((k, t)) = new_conversation {
                held.conversations.entry(k).or_insert(t);
            }
            if let Some(key) = &c.source_key {
                held.sources.insert(key.clone());
            }
            for m in &c.messages {
                held.messages.insert(m.message_id.clone(), m.clone());
            }
            if let Some(t) = &c.ticket {
                held.tickets.insert(t.id, t.clone());
            }
            for e in &c.outbox {
                held.outbox.insert(e.id.clone(), e.clone());
            }
            for st in &c.state {
                held.state.insert(st.key(), st.clone());
            }
            if c.released {
                held.quarantine.insert(c.raw_hash.clone(), None);
            }
            if let Some(q) = &c.quarantine {
                held.quarantine.insert(q.raw_hash.clone(), Some(q.clone()));
            }
            if !c.raw_hash.is_empty() {
                held.hashes.insert(c.raw_hash.clone());
            }
            held.commits.push(c);
            held.commits.len() >= self.chunk
        };
        if full {
            self.write_behind()?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Overlay> {
        locked(&self.held)
    }
}

impl<S: Store + ?Sized> ThreadView for Staged<'_, S> {
    type Error = super::StoreError;

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        if let Some(t) = self.lock().tickets.get(&id) {
            return Ok(Some(t.clone()));
        }
        self.inner.ticket(id)
    }

    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        // A message placed in this batch names its ticket; otherwise the
        // store's entry wins (references keep the first ticket named).
        if let Some(t) = self.lock().placed.get(id) {
            return Ok(Some(*t));
        }
        match self.inner.ticket_for_message_id(id)? {
            Some(t) => Ok(Some(t)),
            None => Ok(self.lock().msgid.get(id).copied()),
        }
    }

    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        match self.inner.ticket_for_conversation(key)? {
            Some(t) => Ok(Some(t)),
            None => Ok(self.lock().conversations.get(key).copied()),
        }
    }

    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        let mut ids = self.inner.tickets_of_customer(address)?;
        let held = self.lock();
        ids.extend(
            held.tickets
                .values()
                .filter(|t| t.customer.address == address)
                .map(|t| t.id),
        );
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

impl<S: Store + ?Sized> View for Staged<'_, S> {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        // A held commit's outgoing message is not a blob yet.
        if kind == BlobKind::Outgoing
            && let Some(e) = self.lock().outbox.get(key)
            && !e.raw.is_empty()
        {
            return Ok(Some(e.raw.as_bytes().to_vec()));
        }
        self.inner.blob(kind, key)
    }

    fn pending(&self) -> Result<Vec<PendingMail>> {
        let mut pending = self.inner.pending()?;
        let held = self.lock();
        pending.retain(|p| !held.hashes.contains(&p.hash));
        Ok(pending)
    }

    fn attempts(&self, hash: &str) -> Result<Attempts> {
        if self.lock().hashes.contains(hash) {
            return Ok(Attempts::default());
        }
        self.inner.attempts(hash)
    }

    fn source_seen(&self, key: &str) -> Result<bool> {
        Ok(self.lock().sources.contains(key) || self.inner.source_seen(key)?)
    }

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        if let Some(m) = self.lock().messages.get(message_id) {
            return Ok(Some(m.clone()));
        }
        self.inner.message(message_id)
    }

    fn is_quarantined(&self, hash: &str) -> Result<bool> {
        match self.lock().quarantine.get(hash) {
            Some(held) => Ok(held.is_some()),
            None => self.inner.is_quarantined(hash),
        }
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        let held = self.lock();
        let mut all = self.inner.quarantined()?;
        all.retain(|q| !held.quarantine.contains_key(&q.raw_hash));
        all.extend(held.quarantine.values().flatten().cloned());
        Ok(all)
    }

    fn tickets(&self) -> Result<Vec<Ticket>> {
        let held = self.lock();
        let mut all = self.inner.tickets()?;
        all.retain(|t| !held.tickets.contains_key(&t.id));
        all.extend(held.tickets.values().cloned());
        all.sort_by_key(|t| t.id);
        Ok(all)
    }

    fn open_tickets(&self) -> Result<Vec<Ticket>> {
        let held = self.lock();
        let mut open = self.inner.open_tickets()?;
        open.retain(|t| !held.tickets.contains_key(&t.id));
        open.extend(
            held.tickets
                .values()
                .filter(|t| t.status.is_open())
                .cloned(),
        );
        open.sort_by_key(|t| t.id);
        Ok(open)
    }

    fn ticket_subject(&self, id: TicketId) -> Result<Option<String>> {
        if let Some(t) = self.lock().tickets.get(&id) {
            return Ok(Some(t.subject.clone()));
        }
        self.inner.ticket_subject(id)
    }

    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        // What the store held is kept for the batch: a new ticket's
        // decision reads it twice (its acknowledgement, the pacing of
        // robots), and the batch's own tickets are laid over it here
        // whether or not the writer has stored them yet.
        let stored = self.lock().customers.get(address).cloned();
        let mut all = match stored {
            Some(all) => all,
            None => {
                let all = self.inner.customer_tickets(address)?;
                self.lock()
                    .customers
                    .insert(address.to_owned(), all.clone());
                all
            }
        };
        let held = self.lock();
        all.retain(|c| !held.tickets.contains_key(&c.id));
        all.extend(
            held.tickets
                .values()
                .filter(|t| t.customer.address == address)
                .map(CustomerTicket::from),
        );
        all.sort_by_key(|c| c.id);
        Ok(all)
    }

    fn next_ticket_id(&self) -> Result<TicketId> {
        let stored = self.inner.next_ticket_id()?;
        let held = self.lock().tickets.keys().max().map(|id| id + 1);
        Ok(held.map_or(stored, |h| h.max(stored)))
    }

    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>> {
        if let Some(times) = self.lock().acks.get(key) {
            return Ok(times.clone());
        }
        // Kept for the batch: the commit that follows the decision reads
        // the same key again. Only this batch's commits change it, and
        // each one sets it here.
        let times = self.inner.acks_to(key)?;
        self.lock().acks.insert(key.to_owned(), times.clone());
        Ok(times)
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.write_out()?;
        self.inner.outbox()
    }

    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        self.write_out()?;
        self.inner.outbox_active()
    }

    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        if let Some(e) = self.lock().outbox.get(id) {
            return Ok(Some(e.clone()));
        }
        self.inner.outbox_entry(id)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.inner.meta(key)
    }

    fn state(&self, key: &StateKey) -> Result<Option<State>> {
        if let Some(v) = self.lock().state.get(key) {
            return Ok(Some(v.clone()));
        }
        self.inner.state(key)
    }
}

impl<S: Store + ?Sized> Store for Staged<'_, S> {
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        // Straight through: blobs (the raw message first) are never held back.
        self.inner.put_blob(kind, key, bytes)
    }

    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()> {
        self.inner.mark_pending(hash, origin)
    }

    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()> {
        // Straight through, like the raw message: never held back.
        self.inner.count_attempts(hashes, alone)
    }

    fn put_raws_tried(&self, mails: &[(&str, &[u8], &str)], alone: bool) -> Result<()> {
        self.inner.put_raws_tried(mails, alone)
    }

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        // Numbers come from the store itself, never from the batch: they
        // must not repeat whoever else takes them.
        self.inner.allocate_ticket_id()
    }

    fn commit(&self, c: &Commit) -> Result<()> {
        self.hold(c.clone())
    }

    fn commit_owned(&self, c: Commit) -> Result<()> {
        self.hold(c)
    }

    fn flush(&self) -> Result<()> {
        self.write_out()?;
        self.inner.flush()
    }

    fn flush_intake(&self) -> Result<()> {
        // Raw mail, marks and tries went straight through to the inner
        // store: its flush covers them, whatever the writer is doing.
        self.inner.flush()
    }

    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        // Keep the order of writes: what is held goes first.
        self.write_out()?;
        self.inner.put_outbox(entry)
    }

    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<super::Due> {
        // Held entries must be claimable too: written out first.
        self.write_out()?;
        self.inner.claim_due(holder, now, until, limit)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        // Keep the order of writes: what is held goes first.
        self.write_out()?;
        self.inner.set_meta(key, value)
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        self.write_out()?;
        self.inner.init_meta(key, value)
    }

    fn export_records(
        &self,
        with_blobs: bool,
        f: &mut dyn FnMut(super::moving::Record) -> Result<()>,
    ) -> Result<()> {
        // What is held is part of the store: written out first.
        self.write_out()?;
        self.inner.export_records(with_blobs, f)
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        // Not part of any batch: a lease is about processes, not mail.
        self.inner.lease(name, holder, now, until)
    }

    fn release(&self, name: &str, holder: &str) -> Result<()> {
        self.inner.release(name, holder)
    }

    fn live_leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<usize> {
        self.inner.live_leases(prefix, now)
    }

    fn exclusive(&self) -> Result<super::Exclusive<'_>> {
        self.inner.exclusive()
    }

    fn put_raws(&self, mails: &[(&str, &[u8], &str)]) -> Result<()> {
        // Raw mail is never held: it goes first, before any decision.
        self.inner.put_raws(mails)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::atomic::Ordering;

    fn opening(id: TicketId) -> Commit {
        let t = crate::model::Ticket::new(
            id,
            format!("question {id}"),
            "general".into(),
            crate::model::Priority::Normal,
            crate::model::Party::new(None, "ann@example.net"),
            chrono::DateTime::UNIX_EPOCH,
        );
        Commit {
            raw_hash: format!("hash{id}"),
            ticket: Some(t),
            index: vec![(format!("m{id}@x"), id)],
            ..Commit::default()
        }
    }

    #[test]
    fn intake_is_made_durable_without_writing_out_what_is_held() {
        let base = MemoryStore::new(1000);
        let staged = Staged::new(&base);
        staged.commit(&opening(1000)).unwrap();
        staged
            .put_raws(&[("hash1001", b"Subject: x\r\n\r\ny".as_slice(), "maildir")])
            .unwrap();
        staged.flush_intake().unwrap();
        // The raw mail went straight through; the commit is still held.
        assert!(base.raw("hash1001").unwrap().is_some());
        assert_eq!(base.ticket(1000).unwrap(), None);
        assert!(staged.ticket(1000).unwrap().is_some());
        staged.flush().unwrap();
        assert!(base.ticket(1000).unwrap().is_some());
    }

    #[test]
    fn a_writer_thread_writes_every_chunk_in_order_and_reads_never_miss_one() {
        let base = MemoryStore::new(1000);
        Staged::with_writer(&base, |staged| {
            for id in 1000..1300 {
                staged.commit(&opening(id)).unwrap();
                // Whatever is on its way is read as if written.
                assert_eq!(staged.ticket_for_message_id("m1000@x").unwrap(), Some(1000));
                assert_eq!(staged.next_ticket_id().unwrap(), id + 1);
            }
            staged.flush().unwrap();
        });
        assert_eq!(base.tickets().unwrap().len(), 300);
        assert_eq!(base.ticket_for_message_id("m1299@x").unwrap(), Some(1299));
    }

    #[test]
    fn a_chunk_the_store_refuses_is_held_again_with_everything_after_it() {
        let base = MemoryStore::new(1000);
        Staged::with_writer(&base, |staged| {
            for id in 1000..1064 {
                staged.commit(&opening(id)).unwrap();
            }
            staged.write_out().unwrap();
            base.refuse.store(true, Ordering::SeqCst);
            for id in 1064..1200 {
                staged.commit(&opening(id)).unwrap();
            }
            let e = staged.flush().unwrap_err().to_string();
            assert!(e.contains("refused"), "{e}");
            // Nothing after the refusal reached the store, and the overlay
            // still answers for all of it.
            assert_eq!(base.tickets().unwrap().len(), 64);
            assert_eq!(staged.tickets().unwrap().len(), 200);
            base.refuse.store(false, Ordering::SeqCst);
            staged.flush().unwrap();
        });
        let ids: Vec<TicketId> = base.tickets().unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, (1000..1200).collect::<Vec<_>>());
    }
}

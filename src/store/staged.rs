//! Commits gathered in memory and written to the store several at a time.
//!
//! sled makes every transaction write (and wait for) its log buffer, twice,
//! whatever the size of the transaction: committing each message on its own
//! costs two synchronous disk writes per message even though the worker only
//! flushes once per batch. [`Staged`] sits in front of a store for one batch:
//! it keeps each message's [`Commit`] in memory, answers reads from what it
//! holds first (so a reply later in the batch finds the ticket an earlier
//! message opened), and hands the commits to [`Store::commit_all`] in chunks.
//!
//! Nothing changes for durability: no commit was durable before the batch's
//! flush anyway, and the raw messages are stored (and marked pending) directly,
//! so a crash before the flush reprocesses them as before.

use super::{
    Attempts, Commit, CustomerTicket, PendingMail, Quarantined, Result, State, StateKey, Store,
    View,
};
use super::{BlobKind, OutboxEntry};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Commits held before they are written as one transaction: enough to make
/// the per-transaction cost vanish, small enough to keep memory flat.
const CHUNK: usize = 128;

/// What the held commits change, for reads.
#[derive(Default)]
struct Overlay {
    commits: Vec<Commit>,
    tickets: HashMap<TicketId, Ticket>,
    msgid: HashMap<String, TicketId>,
    /// Own ids of messages placed in this batch (they win over the store).
    placed: HashMap<String, TicketId>,
    conversations: HashMap<String, TicketId>,
    messages: HashMap<String, MessageRecord>,
    sources: HashSet<String>,
    /// `None`: released from quarantine by a held commit.
    quarantine: HashMap<String, Option<Quarantined>>,
    acks: HashMap<String, Vec<DateTime<Utc>>>,
    state: HashMap<StateKey, State>,
    outbox: HashMap<String, OutboxEntry>,
}

/// A store seen through the commits of the batch in hand.
pub struct Staged<'a, S: Store + ?Sized> {
    inner: &'a S,
    held: Mutex<Overlay>,
}

impl<'a, S: Store + ?Sized> Staged<'a, S> {
    pub fn new(inner: &'a S) -> Self {
        Staged {
            inner,
            held: Mutex::new(Overlay::default()),
        }
    }

    /// Writes what is held (not yet durable: flush the store after).
    pub fn write_out(&self) -> Result<()> {
        let mut held = self.lock();
        if !held.commits.is_empty() {
            self.inner.commit_all(&held.commits)?;
        }
        *held = Overlay::default();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        // A panic while holding the lock leaves plain maps behind: usable.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
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
        pending.retain(|p| !held.commits.iter().any(|c| c.raw_hash == p.hash));
        Ok(pending)
    }

    fn attempts(&self, hash: &str) -> Result<Attempts> {
        if self.lock().commits.iter().any(|c| c.raw_hash == hash) {
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

    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        let held = self.lock();
        let mut all = self.inner.customer_tickets(address)?;
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
        self.inner.acks_to(key)
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

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        // Numbers come from the store itself, never from the batch: they
        // must not repeat whoever else takes them.
        self.inner.allocate_ticket_id()
    }

    fn commit(&self, c: &Commit) -> Result<()> {
        let full = {
            let mut acked = Vec::with_capacity(c.acked.len());
            for a in &c.acked {
                let mut times = self.acks_to(&a.key)?;
                times.push(a.at);
                let skip = times
                    .len()
                    .saturating_sub(a.keep.clamp(1, super::ACKS_KEPT));
                times.drain(..skip);
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
            held.commits.push(c.clone());
            held.commits.len() >= CHUNK
        };
        if full {
            self.write_out()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.write_out()?;
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

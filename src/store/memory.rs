//! A store in memory: the same contract as the sled store, no disk.
//!
//! It serves the core's tests (no temporary directories, no flushes) and
//! is held to the same invariants as every backend by the conformance
//! suite in `store/conformance.rs`. Everything sits behind one mutex, so
//! each commit is atomic by construction; `flush` has nothing to do.

use super::blobs::{BlobKind, Blobs, MemoryBlobs};
use super::{Attempts, Commit, CustomerTicket, PendingMail, Quarantined, Result, Store, View};
use super::{Due, OutboxEntry, OutboxState};
use super::{State, StateKey};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Mem {
    /// Pending raw mail: arrival number, tries, origin.
    pending: HashMap<String, (u64, Attempts, String)>,
    arrivals: u64,
    sources: HashSet<String>,
    messages: HashMap<String, MessageRecord>,
    tickets: BTreeMap<TicketId, Ticket>,
    next_ticket: Option<TicketId>,
    msgid: HashMap<String, TicketId>,
    conversations: HashMap<String, TicketId>,
    /// (customer address, ticket) → the ticket at a glance.
    customers: BTreeMap<(String, TicketId), CustomerTicket>,
    /// Entries without their messages (blobs), by id.
    outbox: BTreeMap<String, OutboxEntry>,
    acks: HashMap<String, Vec<DateTime<Utc>>>,
    quarantine: BTreeMap<String, Quarantined>,
    meta: BTreeMap<String, String>,
    state: HashMap<StateKey, State>,
    leases: HashMap<String, super::Lease>,
}

/// The in-memory store. `first_ticket` is the number of the first ticket.
pub struct MemoryStore {
    first_ticket: TicketId,
    mem: Mutex<Mem>,
    blobs: MemoryBlobs,
    /// Tests: commits fail while set (a store that stops taking writes).
    #[cfg(test)]
    pub(crate) refuse: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn new(first_ticket: TicketId) -> MemoryStore {
        MemoryStore {
            first_ticket,
            mem: Mutex::new(Mem::default()),
            blobs: MemoryBlobs::default(),
            #[cfg(test)]
            refuse: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mem> {
        // Plain maps: a panic elsewhere leaves them usable.
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn is_done(e: &OutboxEntry) -> bool {
    matches!(e.state, OutboxState::Sent | OutboxState::Failed)
}

impl ThreadView for MemoryStore {
    type Error = super::StoreError;

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        Ok(self.lock().tickets.get(&id).cloned())
    }

    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        Ok(self.lock().msgid.get(id).copied())
    }

    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        Ok(self.lock().conversations.get(key).copied())
    }

    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        Ok(self
            .customer_tickets(address)?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }
}

impl View for MemoryStore {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        self.blobs.get(kind, key)
    }

    fn pending(&self) -> Result<Vec<PendingMail>> {
        let m = self.lock();
        let mut all: Vec<_> = m
            .pending
            .iter()
            .map(|(hash, (seq, attempts, origin))| {
                (
                    *seq,
                    PendingMail {
                        hash: hash.clone(),
                        origin: origin.clone(),
                        attempts: *attempts,
                    },
                )
            })
            .collect();
        all.sort_by_key(|p| p.0);
        Ok(all.into_iter().map(|(_, p)| p).collect())
    }

    fn attempts(&self, hash: &str) -> Result<Attempts> {
        Ok(self
            .lock()
            .pending
            .get(hash)
            .map(|p| p.1)
            .unwrap_or_default())
    }

    fn source_seen(&self, key: &str) -> Result<bool> {
        Ok(self.lock().sources.contains(key))
    }

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        Ok(self.lock().messages.get(message_id).cloned())
    }

    fn is_quarantined(&self, hash: &str) -> Result<bool> {
        Ok(self.lock().quarantine.contains_key(hash))
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(self.lock().quarantine.values().cloned().collect())
    }

    fn tickets(&self) -> Result<Vec<Ticket>> {
        Ok(self.lock().tickets.values().cloned().collect())
    }

    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        let m = self.lock();
        Ok(m.customers
            .range((address.to_owned(), 0)..=(address.to_owned(), TicketId::MAX))
            .map(|(_, c)| *c)
            .collect())
    }

    fn next_ticket_id(&self) -> Result<TicketId> {
        Ok(self.lock().next_ticket.unwrap_or(self.first_ticket))
    }

    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>> {
        Ok(self.lock().acks.get(key).cloned().unwrap_or_default())
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let m = self.lock();
        // Active first, then done, each by id; then by creation (stable),
        // as the sled store lists them.
        let mut all: Vec<OutboxEntry> = m
            .outbox
            .values()
            .filter(|e| !is_done(e))
            .chain(m.outbox.values().filter(|e| is_done(e)))
            .map(OutboxEntry::without_raw)
            .collect();
        all.sort_by_key(|e| e.created);
        Ok(all)
    }

    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|e| !is_done(e))
            .map(OutboxEntry::without_raw)
            .collect())
    }

    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        let Some(mut e) = self.lock().outbox.get(id).cloned() else {
            return Ok(None);
        };
        if let Some(raw) = self.blobs.get(BlobKind::Outgoing, id)? {
            e.raw = String::from_utf8_lossy(&raw).into_owned();
        }
        Ok(Some(e))
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.lock().meta.get(key).cloned())
    }

    fn state(&self, key: &StateKey) -> Result<Option<State>> {
        Ok(self.lock().state.get(key).cloned())
    }
}

impl Store for MemoryStore {
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        self.blobs.put(kind, key, bytes)
    }

    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()> {
        let mut m = self.lock();
        // A mark already there keeps its arrival order and tries.
        if !m.pending.contains_key(hash) && !m.quarantine.contains_key(hash) {
            m.arrivals += 1;
            let seq = m.arrivals;
            m.pending.insert(
                hash.to_owned(),
                (seq, Attempts::default(), origin.to_owned()),
            );
        }
        Ok(())
    }

    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()> {
        let mut m = self.lock();
        let distinct: std::collections::BTreeSet<&str> = hashes.iter().copied().collect();
        for hash in distinct {
            if let Some((_, a, _)) = m.pending.get_mut(hash) {
                a.count(alone);
            }
        }
        Ok(())
    }

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        let mut m = self.lock();
        let id = m.next_ticket.unwrap_or(self.first_ticket);
        m.next_ticket = Some(id.saturating_add(1));
        Ok(id)
    }

    fn commit(&self, c: &Commit) -> Result<()> {
        #[cfg(test)]
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(super::StoreError::Other("refused by the test".into()));
        }
        let mut m = self.lock();
        if !c.raw_hash.is_empty() {
            m.pending.remove(&c.raw_hash);
        }
        if let Some(key) = &c.source_key {
            m.sources.insert(key.clone());
        }
        for r in &c.messages {
            m.messages.insert(r.message_id.clone(), r.clone());
        }
        if let Some(t) = &c.ticket {
            m.customers
                .insert((t.customer.address.clone(), t.id), CustomerTicket::from(t));
            let next = m.next_ticket.unwrap_or(self.first_ticket);
            if t.id >= next {
                m.next_ticket = Some(t.id.saturating_add(1));
            }
            m.tickets.insert(t.id, t.clone());
        }
        // References never move an entry; a message's own id does.
        for (id, t) in &c.index {
            m.msgid.entry(id.clone()).or_insert(*t);
        }
        for (id, t) in &c.placed {
            m.msgid.insert(id.clone(), *t);
        }
        if let Some((key, t)) = &c.conversation {
            m.conversations.entry(key.clone()).or_insert(*t);
        }
        for e in c.outbox.iter() {
            if !e.raw.is_empty() {
                self.blobs
                    .put(BlobKind::Outgoing, &e.id, e.raw.as_bytes())?;
            }
            m.outbox.insert(e.id.clone(), e.without_raw());
        }
        for a in &c.acked {
            let times = m.acks.entry(a.key.clone()).or_default();
            a.count_into(times);
        }
        for st in &c.state {
            m.state.insert(st.key(), st.clone());
        }
        if c.released {
            m.quarantine.remove(&c.raw_hash);
        }
        if let Some(q) = &c.quarantine {
            m.quarantine.insert(c.raw_hash.clone(), q.clone());
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        // The message is a blob, written once: later writes carry the state.
        if !entry.raw.is_empty() {
            self.blobs
                .put(BlobKind::Outgoing, &entry.id, entry.raw.as_bytes())?;
        }
        self.lock()
            .outbox
            .insert(entry.id.clone(), entry.without_raw());
        Ok(())
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.lock().meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        let mut m = self.lock();
        Ok(m.meta
            .entry(key.to_owned())
            .or_insert_with(|| value.to_owned())
            .clone())
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut m = self.lock();
        if m.leases.get(name).is_some_and(|l| !l.open_to(holder, now)) {
            return Ok(false);
        }
        m.leases.insert(
            name.to_owned(),
            super::Lease {
                holder: holder.to_owned(),
                until,
            },
        );
        Ok(true)
    }

    fn release(&self, name: &str, holder: &str) -> Result<()> {
        let mut m = self.lock();
        if m.leases.get(name).is_some_and(|l| l.holder == holder) {
            m.leases.remove(name);
        }
        Ok(())
    }

    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Due> {
        // Under the one lock: picking and marking are one step.
        let mut m = self.lock();
        let active: Vec<OutboxEntry> = m
            .outbox
            .values()
            .filter(|e| !e.state.is_done())
            .map(OutboxEntry::without_raw)
            .collect();
        let due = OutboxEntry::pick_due(active, holder, now, until, limit);
        for e in &due.claimed {
            if let Some(stored) = m.outbox.get_mut(&e.id) {
                stored.claim.clone_from(&e.claim);
            }
        }
        Ok(due)
    }
}

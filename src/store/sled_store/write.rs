//! Writing to the sled store: commits and outbox entries, each a group
//! of writes applied all or none (see `journal.rs`), the writers taking
//! turns.

use super::journal::{Group, T};
use super::{
    NEXT_TICKET, SledStore, customer_key, due_key, due_prefix, due_time, enc, get, id_key,
    state_key, summary,
};
use crate::model::TicketId;
use crate::store::View;
use crate::store::blobs::{BlobKind, Blobs};
use crate::store::{Commit, Result};
use crate::store::{OutboxEntry, OutboxState};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// One commit's values, encoded before the writers' turn is taken.
struct Encoded<'a> {
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    ticket: Option<EncodedTicket<'a>>,
    /// Entry key, entry without its message (the message is a blob), its
    /// due-time key.
    outbox: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    quarantine: Option<Vec<u8>>,
    state: Vec<(Vec<u8>, Vec<u8>)>,
}

struct EncodedTicket<'a> {
    id: TicketId,
    customer: &'a str,
    bytes: Vec<u8>,
    /// Its entry in the customer index.
    glance: [u8; 17],
    open: bool,
}

impl<'a> Encoded<'a> {
    fn new(c: &'a Commit) -> Self {
        Encoded {
            messages: c
                .messages
                .iter()
                .map(|m| (m.message_id.as_bytes().to_vec(), enc(m)))
                .collect(),
            ticket: c.ticket.as_ref().map(|t| EncodedTicket {
                id: t.id,
                customer: t.customer.address.as_str(),
                bytes: enc(t),
                glance: summary(t),
                open: t.status.is_open(),
            }),
            outbox: c
                .outbox
                .iter()
                .map(|e| {
                    (
                        e.id.as_bytes().to_vec(),
                        enc(&e.without_raw()),
                        due_key(e.next_attempt, &e.id),
                    )
                })
                .collect(),
            quarantine: c.quarantine.as_ref().map(enc),
            state: c
                .state
                .iter()
                .map(|st| (state_key(&st.key()), enc(st)))
                .collect(),
        }
    }
}

impl SledStore {
    /// The messages of `entries` as blobs, before the entries name them
    /// (written once: an entry rewritten per attempt carries no message).
    fn outgoing_blobs<'e>(&self, entries: impl Iterator<Item = &'e OutboxEntry>) -> Result<()> {
        for e in entries.filter(|e| !e.raw.is_empty()) {
            self.blobs
                .put(BlobKind::Outgoing, &e.id, e.raw.as_bytes())?;
        }
        Ok(())
    }

    /// Every commit, in order, each all or none (a journal group).
    pub(super) fn write_commits(&self, commits: &[Commit]) -> Result<()> {
        self.outgoing_blobs(commits.iter().flat_map(|c| &c.outbox))?;
        for c in commits {
            // Encoded before the writers' turn is taken: other writers
            // (the intake's marks, the outbox's results) wait less.
            let e = Encoded::new(c);
            if let Some(t) = &e.ticket {
                self.raise_next_ticket(t.id)?;
            }
            let _turn = self.writing();
            let mut g = Group::default();
            self.commit_group(c, &e, &mut g)?;
            self.apply_group(&g)?;
            if let Some(t) = &c.ticket {
                self.subjects.put(t.id, &t.subject);
            }
        }
        Ok(())
    }

    /// The ticket counter past `id`, when a commit brings a number it
    /// never gave (a store filled by import). A compare-and-swap, like
    /// [`crate::store::Store::allocate_ticket_id`], which takes no turn:
    /// the counter only ever grows. Ahead of the commit it covers: after a
    /// crash in between, a number is skipped, never given twice.
    fn raise_next_ticket(&self, id: TicketId) -> Result<()> {
        let first = self.first_ticket;
        let next = |v: Option<&[u8]>| {
            v.and_then(|v| std::str::from_utf8(v).ok()?.parse::<TicketId>().ok())
                .unwrap_or(first)
        };
        // Mostly the number was taken from the counter: nothing to write
        // (the counter never goes down, so a look is enough).
        if id < next(self.meta.get(NEXT_TICKET)?.as_deref()) {
            return Ok(());
        }
        self.meta.update_and_fetch(NEXT_TICKET, |old| {
            (id >= next(old))
                .then(|| id.saturating_add(1).to_string().into_bytes())
                .or_else(|| old.map(<[u8]>::to_vec))
        })?;
        Ok(())
    }

    /// A commit's writes, read against the store as it is (the caller
    /// holds the writers' turn).
    fn commit_group(&self, c: &Commit, e: &Encoded<'_>, g: &mut Group) -> Result<()> {
        if !c.raw_hash.is_empty() {
            g.remove(T::Pending, c.raw_hash.as_bytes());
        }
        if let Some(key) = &c.source_key {
            g.put(T::Sources, key.as_bytes(), c.raw_hash.as_bytes());
        }
        for (k, v) in &e.messages {
            g.put(T::Messages, k, v);
        }
        if let Some(t) = &e.ticket {
            g.put(T::Tickets, &id_key(t.id), &t.bytes);
            if t.open {
                g.put(T::Open, &id_key(t.id), &[]);
            } else {
                g.remove(T::Open, &id_key(t.id));
            }
            g.put(T::Customers, &customer_key(t.customer, t.id), &t.glance);
        }
        // The first ticket an id or a conversation named wins, also within
        // the commit.
        let mut named = std::collections::HashSet::new();
        for (id, t) in &c.index {
            if self.msgid.get(id.as_bytes())?.is_none() && named.insert(id.as_str()) {
                g.put(T::Msgid, id.as_bytes(), &id_key(*t));
            }
        }
        for (id, t) in &c.placed {
            g.put(T::Msgid, id.as_bytes(), &id_key(*t));
        }
        if let Some((key, t)) = &c.conversation
            && self.conversations.get(key.as_bytes())?.is_none()
        {
            g.put(T::Conversations, key.as_bytes(), &id_key(*t));
        }
        let mut queued = std::collections::HashMap::new();
        for (k, v, due) in &e.outbox {
            // The entry it replaces, from the store or earlier in the commit.
            let old = match queued.get(k.as_slice()) {
                Some(d) => Some(Vec::clone(d)),
                None => self.outbox.get(k)?.and_then(|old| old_due(k, &old)),
            };
            if let Some(old) = old {
                g.remove(T::OutboxDue, &old);
            }
            g.put(T::OutboxDue, due, &[]);
            g.put(T::Outbox, k, v);
            queued.insert(k.as_slice(), due.clone());
        }
        // Acknowledgement times: the latest kept, counting earlier ones of
        // the same commit.
        let mut acks: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
        for a in &c.acked {
            let times = match acks.entry(a.key.as_str()) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(self.acks_to(&a.key)?),
            };
            a.count_into(times);
            g.put(T::Senders, a.key.as_bytes(), &enc(&*times));
        }
        for (k, v) in &e.state {
            g.put(T::State, k, v);
        }
        if c.released {
            g.remove(T::Quarantine, c.raw_hash.as_bytes());
        }
        if let Some(q) = &e.quarantine {
            g.put(T::Quarantine, c.raw_hash.as_bytes(), q);
        }
        Ok(())
    }

    /// The writes `c` makes on the store as it is now.
    #[cfg(test)]
    pub(super) fn commit_writes(&self, c: &Commit) -> Group {
        let mut g = Group::default();
        self.commit_group(c, &Encoded::new(c), &mut g).unwrap();
        g
    }

    /// Outbox entries, each moved all or none to the tree its state says
    /// (never in both or neither), the due-time index naming exactly the
    /// active ones.
    pub(super) fn write_outbox(&self, entries: &[OutboxEntry]) -> Result<()> {
        self.outgoing_blobs(entries.iter())?;
        for e in entries {
            let key = e.id.as_bytes();
            let value = enc(&e.without_raw());
            let done = matches!(e.state, OutboxState::Sent | OutboxState::Failed);
            let _turn = self.writing();
            let mut g = Group::default();
            if let Some(old) = self.outbox.get(key)?.and_then(|old| old_due(key, &old)) {
                g.remove(T::OutboxDue, &old);
            }
            if done {
                g.put(T::OutboxDone, key, &value);
                g.remove(T::Outbox, key);
            } else {
                g.remove(T::OutboxDone, key);
                g.put(T::OutboxDue, &due_key(e.next_attempt, &e.id), &[]);
                g.put(T::Outbox, key, &value);
            }
            self.apply_group(&g)?;
        }
        Ok(())
    }

    /// Claims entries for a drainer: picked from the active tree and
    /// marked, each checked still claimable in the writers' turn.
    pub(super) fn write_claims(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<crate::store::Due> {
        // Only what is due by now is read (the index), not every entry
        // waiting for a retry hours away.
        let upto = due_prefix(now.timestamp_millis().saturating_add(1));
        let mut due = Vec::new();
        for kv in self.outbox_due.range(..upto.as_slice()) {
            let (k, _) = kv?;
            // A key left behind by an entry that moved on names it no more.
            if let Some(e) = get::<OutboxEntry>(&self.outbox, "outbox", &k[8..])?
                && due_key(e.next_attempt, &e.id) == *k
            {
                due.push(e);
            }
        }
        let later = match self.outbox_due.range(upto.as_slice()..).next() {
            Some(kv) => due_time(&kv?.0),
            None => None,
        };
        let mut picked = OutboxEntry::pick_due(due, holder, now, until, limit);
        if let Some(at) = later {
            picked.next = Some(picked.next.map_or(at, |n| n.min(at)));
        }
        let claim = crate::store::Claim {
            holder: holder.to_owned(),
            until,
        };
        let mut claimed = Vec::with_capacity(picked.claimed.len());
        let _turn = self.writing();
        for e in &picked.claimed {
            // One write each: atomic without a journal.
            let Some(v) = self.outbox.get(e.id.as_bytes())? else {
                continue;
            };
            let Ok(mut now_stored) = serde_json::from_slice::<OutboxEntry>(&v) else {
                continue;
            };
            if !now_stored.claimable(holder, now) {
                continue;
            }
            now_stored.claim = Some(claim.clone());
            self.outbox.insert(e.id.as_bytes(), enc(&now_stored))?;
            claimed.push(now_stored);
        }
        Ok(crate::store::Due {
            claimed,
            next: picked.next,
        })
    }
    /// Clears every claim on record (at open: their holders are gone).
    pub(super) fn drop_claims(&self) -> Result<()> {
        let held: Vec<OutboxEntry> = self
            .outbox_active()?
            .into_iter()
            .filter(|e| e.claim.is_some())
            .map(|mut e| {
                e.claim = None;
                e
            })
            .collect();
        if !held.is_empty() {
            self.write_outbox(&held)?;
            self.db.flush()?;
        }
        Ok(())
    }
}

/// An entry's due-time key as it was stored (`old`, its value then); none
/// when that value no longer reads (a claim round skips keys whose entry
/// is gone or not due).
fn old_due(id: &[u8], old: &[u8]) -> Option<Vec<u8>> {
    let e = serde_json::from_slice::<OutboxEntry>(old).ok()?;
    let mut k = due_prefix(e.next_attempt.timestamp_millis()).to_vec();
    k.extend_from_slice(id);
    Some(k)
}

//! Writing to the sled store: commits and outbox entries, several per
//! transaction (each sled transaction costs two synchronous log writes,
//! whatever its size).

use super::{
    ACKS_KEPT, NEXT_TICKET, SledStore, customer_key, due_key, due_prefix, due_time, enc, get,
    id_key, state_key, summary,
};
use crate::model::TicketId;
use crate::store::View;
use crate::store::blobs::{BlobKind, Blobs};
use crate::store::{Commit, Result, StoreError};
use crate::store::{OutboxEntry, OutboxState};
use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// One commit's values, encoded before the transaction starts.
struct Encoded<'a> {
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    ticket: Option<EncodedTicket<'a>>,
    /// Entry key, entry without its message (the message is a blob), its
    /// due-time key.
    outbox: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    acked: Vec<(&'a str, Vec<u8>)>,
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
    fn new(c: &'a Commit, acked: Vec<(&'a str, Vec<u8>)>) -> Self {
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
            acked,
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

    /// Every commit, in order, in one transaction.
    pub(super) fn write_commits(&self, commits: &[Commit]) -> Result<()> {
        self.outgoing_blobs(commits.iter().flat_map(|c| &c.outbox))?;
        // Encode outside the transaction: the closure may run more than once.
        let mut acks: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
        let mut encoded = Vec::with_capacity(commits.len());
        for c in commits {
            let mut acked = Vec::with_capacity(c.acked.len());
            for a in &c.acked {
                let times = match acks.entry(a.key.as_str()) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => v.insert(self.acks_to(&a.key)?),
                };
                times.push(a.at);
                let skip = times.len().saturating_sub(a.keep.clamp(1, ACKS_KEPT));
                times.drain(..skip);
                acked.push((a.key.as_str(), enc(&*times)));
            }
            encoded.push(Encoded::new(c, acked));
        }

        let trees = (
            &self.pending,
            &self.sources,
            &self.messages,
            &self.tickets,
            &self.open,
            &self.msgid,
            &self.conversations,
            &self.customers,
            &self.outbox,
            &self.outbox_due,
            &self.senders,
            &self.quarantine,
            &self.meta,
            &self.state,
        );
        trees
            .transaction(
                |(
                    pending,
                    sources,
                    msgs,
                    tickets,
                    open,
                    msgid,
                    convs,
                    customers,
                    outbox_t,
                    due_t,
                    senders,
                    quar,
                    meta,
                    state,
                )| {
                    for (c, e) in commits.iter().zip(&encoded) {
                        if !c.raw_hash.is_empty() {
                            pending.remove(c.raw_hash.as_bytes())?;
                        }
                        if let Some(key) = &c.source_key {
                            sources.insert(key.as_bytes(), c.raw_hash.as_bytes())?;
                        }
                        for (k, v) in &e.messages {
                            msgs.insert(k.as_slice(), v.as_slice())?;
                        }
                        if let Some(EncodedTicket {
                            id,
                            customer,
                            bytes,
                            glance,
                            open: is_open,
                        }) = &e.ticket
                        {
                            tickets.insert(&id_key(*id), bytes.as_slice())?;
                            if *is_open {
                                open.insert(&id_key(*id), &[])?;
                            } else {
                                open.remove(&id_key(*id))?;
                            }
                            customers.insert(customer_key(customer, *id), glance.as_slice())?;
                            let next = meta
                                .get(NEXT_TICKET)?
                                .and_then(|v| {
                                    std::str::from_utf8(&v).ok()?.parse::<TicketId>().ok()
                                })
                                .unwrap_or(self.first_ticket);
                            if *id >= next {
                                meta.insert(
                                    NEXT_TICKET,
                                    id.saturating_add(1).to_string().as_bytes(),
                                )?;
                            }
                        }
                        for (id, t) in &c.index {
                            if msgid.get(id.as_bytes())?.is_none() {
                                msgid.insert(id.as_bytes(), &id_key(*t))?;
                            }
                        }
                        for (id, t) in &c.placed {
                            msgid.insert(id.as_bytes(), &id_key(*t))?;
                        }
                        if let Some((key, t)) = &c.conversation
                            && convs.get(key.as_bytes())?.is_none()
                        {
                            convs.insert(key.as_bytes(), &id_key(*t))?;
                        }
                        for (k, v, due) in &e.outbox {
                            if let Some(old) = outbox_t.insert(k.as_slice(), v.as_slice())? {
                                unindex(due_t, k, &old)?;
                            }
                            due_t.insert(due.as_slice(), &[])?;
                        }
                        for (key, times) in &e.acked {
                            senders.insert(key.as_bytes(), times.as_slice())?;
                        }
                        for (k, v) in &e.state {
                            state.insert(k.as_slice(), v.as_slice())?;
                        }
                        if c.released {
                            quar.remove(c.raw_hash.as_bytes())?;
                        }
                        if let Some(q) = &e.quarantine {
                            quar.insert(c.raw_hash.as_bytes(), q.as_slice())?;
                        }
                    }
                    Ok::<(), ConflictableTransactionError<StoreError>>(())
                },
            )
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })
    }

    /// Outbox entries in one transaction, each in the tree its state says.
    pub(super) fn write_outbox(&self, entries: &[OutboxEntry]) -> Result<()> {
        self.outgoing_blobs(entries.iter())?;
        let mut values = Vec::with_capacity(entries.len());
        for e in entries {
            let key = e.id.as_bytes();
            let done = matches!(e.state, OutboxState::Sent | OutboxState::Failed);
            values.push((
                key,
                enc(&e.without_raw()),
                done,
                due_key(e.next_attempt, &e.id),
            ));
        }
        // Moving between trees is one transaction: an entry is never in both
        // or neither, and the due-time index names exactly the active ones.
        (&self.outbox, &self.outbox_done, &self.outbox_due)
            .transaction(|(active, done_t, due_t)| {
                for (key, value, done, due) in &values {
                    let old = if *done {
                        done_t.insert(*key, value.as_slice())?;
                        active.remove(*key)?
                    } else {
                        done_t.remove(*key)?;
                        due_t.insert(due.as_slice(), &[])?;
                        active.insert(*key, value.as_slice())?
                    };
                    if let Some(old) = old {
                        unindex(due_t, key, &old)?;
                        if !*done {
                            // The same due time as before: put back.
                            due_t.insert(due.as_slice(), &[])?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })
    }

    /// Claims entries for a drainer: picked from the active tree and
    /// marked in one transaction that checks each is still claimable.
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
        let claimed = self
            .outbox
            .transaction(|active| {
                let mut claimed = Vec::with_capacity(picked.claimed.len());
                for e in &picked.claimed {
                    let Some(v) = active.get(e.id.as_bytes())? else {
                        continue;
                    };
                    let Ok(mut now_stored) = serde_json::from_slice::<OutboxEntry>(&v) else {
                        continue;
                    };
                    if !now_stored.claimable(holder, now) {
                        continue;
                    }
                    now_stored.claim = Some(claim.clone());
                    active.insert(e.id.as_bytes(), enc(&now_stored))?;
                    claimed.push(now_stored);
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(claimed)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })?;
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

/// Takes an entry's old due-time key out of the index (its value as it was
/// stored, `old`). An entry that no longer reads leaves its key behind: a
/// claim round skips keys whose entry is gone or not due.
fn unindex(
    due: &TransactionalTree,
    id: &[u8],
    old: &[u8],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    if let Ok(e) = serde_json::from_slice::<OutboxEntry>(old) {
        let mut k = due_prefix(e.next_attempt.timestamp_millis()).to_vec();
        k.extend_from_slice(id);
        due.remove(k)?;
    }
    Ok(())
}

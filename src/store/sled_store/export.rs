//! Reading every record out of the embedded store, for a move to another
//! backend (see `store::moving`) and for `ticketbox export`; writing
//! them into an empty one (`ticketbox import`, `restore`).

use super::{DUE_INDEX, NEXT_TICKET, OPEN_INDEX, PendingMark, SledStore, dec, enc, id_from};
use crate::store::blobs::{BlobKind, Blobs};
use crate::store::moving::Record;
use crate::store::{Commit, Result, Store, View};

/// Named values that describe the embedded store itself, not the
/// helpdesk's data: a target keeps its own.
const OWN_VALUES: [&str; 4] = ["schema_version", NEXT_TICKET, OPEN_INDEX, DUE_INDEX];

impl SledStore {
    /// Hands every record to `f`: blobs first (a record never names a
    /// blob the target does not have yet; none when not `with_blobs`),
    /// then the records.
    pub(in crate::store) fn export(
        &self,
        with_blobs: bool,
        f: &mut dyn FnMut(Record) -> Result<()>,
    ) -> Result<()> {
        if with_blobs {
            self.export_blobs(f)?;
        }
        self.export_records_only(f)
    }

    fn export_blobs(&self, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        for kv in self.blobs.raw.iter() {
            let (k, v) = kv?;
            f(Record::Blob {
                kind: BlobKind::Mail,
                key: String::from_utf8_lossy(&k).into_owned(),
                bytes: v.to_vec(),
            })?;
        }
        for (tree, kind) in [
            (&self.blobs.raw_at, BlobKind::Mail),
            (&self.blobs.raw_big, BlobKind::Mail),
            (&self.blobs.outbox_at, BlobKind::Outgoing),
            (&self.blobs.outbox_raw, BlobKind::Outgoing),
        ] {
            for kv in tree.iter() {
                let (k, _) = kv?;
                let key = String::from_utf8_lossy(&k).into_owned();
                if let Some(bytes) = self.blobs.get(kind, &key)? {
                    f(Record::Blob { kind, key, bytes })?;
                }
            }
        }
        Ok(())
    }

    fn export_records_only(&self, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        for kv in self.meta.iter() {
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if OWN_VALUES.contains(&key.as_str()) || key.starts_with("lease\0") {
                continue;
            }
            f(Record::Meta {
                key,
                value: String::from_utf8_lossy(&v).into_owned(),
            })?;
        }
        f(Record::NextTicket {
            next: self.next_ticket_id()?,
        })?;
        // In arrival order: the target numbers them again in this order.
        for p in self.pending()? {
            f(Record::Pending(p))?;
        }
        for kv in self.sources.iter() {
            let (k, v) = kv?;
            f(Record::Source {
                key: String::from_utf8_lossy(&k).into_owned(),
                hash: String::from_utf8_lossy(&v).into_owned(),
            })?;
        }
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            f(Record::Message(Box::new(dec("messages", &k, &v)?)))?;
        }
        for t in self.tickets()? {
            f(Record::Ticket(Box::new(t)))?;
        }
        for kv in self.msgid.iter() {
            let (k, v) = kv?;
            if let Some(ticket) = id_from(&v) {
                f(Record::MessageId {
                    id: String::from_utf8_lossy(&k).into_owned(),
                    ticket,
                })?;
            }
        }
        for kv in self.conversations.iter() {
            let (k, v) = kv?;
            if let Some(ticket) = id_from(&v) {
                f(Record::Conversation {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    ticket,
                })?;
            }
        }
        // The outbox sender may move an entry from the active tree to the
        // done one while this reads both: it is then seen twice, and the
        // later (newer) state is the one kept.
        let mut entries = std::collections::BTreeMap::new();
        for e in self.outbox()? {
            entries.insert(e.id.clone(), e);
        }
        for e in entries.into_values() {
            f(Record::Outbox(Box::new(e)))?;
        }
        for kv in self.senders.iter() {
            let (k, v) = kv?;
            f(Record::Acks {
                key: String::from_utf8_lossy(&k).into_owned(),
                times: dec("senders", &k, &v)?,
            })?;
        }
        for kv in self.quarantine.iter() {
            let (k, v) = kv?;
            f(Record::Quarantine {
                hash: String::from_utf8_lossy(&k).into_owned(),
                record: dec("quarantine", &k, &v)?,
            })?;
        }
        for kv in self.state.iter() {
            let (k, v) = kv?;
            f(Record::State {
                state: dec("state", &k, &v)?,
            })?;
        }
        Ok(())
    }

    /// Writes `records` (from an export, in its order: blobs before the
    /// records naming them) into this store, which should be empty.
    pub(in crate::store) fn import(&self, records: &[Record]) -> Result<()> {
        for r in records {
            match r {
                Record::Meta { key, value } => self.set_meta(key, value)?,
                Record::Blob { kind, key, bytes } => self.blobs.put(*kind, key, bytes)?,
                Record::Pending(p) => {
                    let mark = PendingMark {
                        seq: self.db.generate_id()?,
                        attempts: p.attempts,
                        origin: p.origin.clone(),
                    };
                    self.pending.insert(p.hash.as_bytes(), mark.encode())?;
                }
                Record::Source { key, hash } => {
                    self.sources.insert(key.as_bytes(), hash.as_bytes())?;
                }
                Record::Message(m) => self.commit(&Commit {
                    messages: vec![(**m).clone()],
                    ..Commit::default()
                })?,
                Record::Ticket(t) => self.commit(&Commit {
                    ticket: Some((**t).clone()),
                    ..Commit::default()
                })?,
                Record::MessageId { id, ticket } => self.commit(&Commit {
                    placed: vec![(id.clone(), *ticket)],
                    ..Commit::default()
                })?,
                Record::Conversation { key, ticket } => self.commit(&Commit {
                    conversation: Some((key.clone(), *ticket)),
                    ..Commit::default()
                })?,
                Record::Outbox(e) => self.write_outbox(std::slice::from_ref(&**e))?,
                Record::Acks { key, times } => {
                    self.senders.insert(key.as_bytes(), enc(times))?;
                }
                Record::Quarantine { hash, record } => {
                    self.quarantine.insert(hash.as_bytes(), enc(record))?;
                }
                Record::State { state } => self.commit(&Commit {
                    state: vec![state.clone()],
                    ..Commit::default()
                })?,
                Record::NextTicket { next } => {
                    // Past every number the source gave: numbers skip,
                    // never repeat.
                    if *next > self.next_ticket_id()? {
                        self.meta.insert(NEXT_TICKET, next.to_string().as_bytes())?;
                    }
                }
            }
        }
        Ok(())
    }
}

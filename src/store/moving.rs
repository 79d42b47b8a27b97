//! Moving a store to another backend: `ticketbox migrate --to
//! postgres://…` takes an embedded store's every record (tickets,
//! messages, indexes, raw mail, the outbox with its messages, pending
//! mail, quarantine, checkpoints, preferences, statistics,
//! acknowledgement times, the ticket counter) into an empty server store,
//! then reads each one back from the target and compares.

use super::blobs::BlobKind;
use super::{Opened, OutboxEntry, PendingMail, Quarantined, Result, State, StoreError, View};
use crate::model::{MessageRecord, Ticket, TicketId};
use chrono::{DateTime, Utc};

/// One stored record as a move carries it, and as `ticketbox export`
/// writes it: one JSON object per line, its `type` first (`ticket`,
/// `message`, `blob` with the bytes in base64 …).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Meta {
        key: String,
        value: String,
    },
    Blob {
        kind: BlobKind,
        key: String,
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    },
    Pending(PendingMail),
    Source {
        key: String,
        hash: String,
    },
    Message(Box<MessageRecord>),
    Ticket(Box<Ticket>),
    MessageId {
        id: String,
        ticket: TicketId,
    },
    Conversation {
        key: String,
        ticket: TicketId,
    },
    /// Without its message (a blob of its own).
    Outbox(Box<OutboxEntry>),
    Acks {
        key: String,
        times: Vec<DateTime<Utc>>,
    },
    Quarantine {
        hash: String,
        record: Quarantined,
    },
    State {
        state: State,
    },
    /// The number the next new ticket gets.
    NextTicket {
        next: TicketId,
    },
}

/// Bytes as base64 text in JSON.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// What a move carried, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    pub tickets: usize,
    pub messages: usize,
    pub message_ids: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub outbox: usize,
    pub pending: usize,
    pub quarantined: usize,
    pub other: usize,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tickets, {} messages, {} Message-ID index entries, {} blobs ({} bytes), {} outbox entries, {} pending, {} quarantined, {} other records",
            self.tickets,
            self.messages,
            self.message_ids,
            self.blobs,
            self.blob_bytes,
            self.outbox,
            self.pending,
            self.quarantined,
            self.other
        )
    }
}

impl Moved {
    pub(super) fn count(&mut self, r: &Record) {
        match r {
            Record::Ticket(_) => self.tickets += 1,
            Record::Message(_) => self.messages += 1,
            Record::MessageId { .. } => self.message_ids += 1,
            Record::Blob { bytes, .. } => {
                self.blobs += 1;
                self.blob_bytes += bytes.len() as u64;
            }
            Record::Outbox(_) => self.outbox += 1,
            Record::Pending(_) => self.pending += 1,
            Record::Quarantine { .. } => self.quarantined += 1,
            _ => self.other += 1,
        }
    }
}

/// Records moved per transaction of the target.
const CHUNK: usize = 500;

/// Moves every record of `from` (an embedded store) into `to` (an empty
/// server store) and checks each one there. The source is not changed.
pub fn move_all(from: &Opened, to: &Opened) -> Result<Moved> {
    let (Opened::Embedded(source), Opened::Server(target)) = (from, to) else {
        return Err(StoreError::Other(
            "a store moves from the embedded store to a server store".into(),
        ));
    };
    if !target.tickets()?.is_empty() || !target.pending()?.is_empty() {
        return Err(StoreError::Other(
            "the target database already holds tickets or mail; move into an empty one".into(),
        ));
    }
    let mut moved = Moved::default();
    let mut chunk = Vec::with_capacity(CHUNK);
    source.export(true, &mut |r| {
        moved.count(&r);
        chunk.push(r);
        if chunk.len() >= CHUNK {
            target.import(&std::mem::take(&mut chunk))?;
        }
        Ok(())
    })?;
    target.import(&chunk)?;
    // Read everything back from the target: the same records, byte for
    // byte.
    let mut checked = Moved::default();
    let lists = read_lists(to)?;
    source.export(true, &mut |r| {
        check_record(to, &lists, &r)?;
        checked.count(&r);
        Ok(())
    })?;
    if checked != moved {
        return Err(StoreError::Other(format!(
            "the source changed during the move (moved {moved}; found {checked} after): stop its worker and move again into an empty database"
        )));
    }
    Ok(moved)
}

/// What the target holds as lists: pending mail and quarantine.
pub(super) struct Lists {
    pending: Vec<PendingMail>,
    quarantined: Vec<Quarantined>,
}

/// The target's lists, read once rather than once per record.
pub(super) fn read_lists<S: super::Store + ?Sized>(to: &S) -> Result<Lists> {
    Ok(Lists {
        pending: to.pending()?,
        quarantined: to.quarantined()?,
    })
}

/// Whether `r` is in `to` as it was in the source.
pub(super) fn check_record<S: super::Store + ?Sized>(
    to: &S,
    lists: &Lists,
    r: &Record,
) -> Result<()> {
    let differs = |what: String| {
        Err(StoreError::Other(format!(
            "after the move, {what} differs in the target"
        )))
    };
    match r {
        Record::Meta { key, value } => {
            if to.meta(key)?.as_deref() != Some(value.as_str()) {
                return differs(format!("the value {key:?}"));
            }
        }
        Record::Blob { kind, key, bytes } => {
            if to.blob(*kind, key)?.as_deref() != Some(bytes.as_slice()) {
                return differs(format!("the {kind:?} blob {key:?}"));
            }
        }
        Record::Pending(p) => {
            if !lists
                .pending
                .iter()
                .any(|q| q.hash == p.hash && q.attempts == p.attempts)
            {
                return differs(format!("pending mail {}", p.hash));
            }
        }
        Record::Source { key, .. } => {
            if !to.source_seen(key)? {
                return differs(format!("the source item {key:?}"));
            }
        }
        Record::Message(m) => {
            if to.message(&m.message_id)?.as_ref() != Some(&**m) {
                return differs(format!("the message {}", m.message_id));
            }
        }
        Record::Ticket(t) => {
            if to.ticket(t.id)?.as_ref() != Some(&**t) {
                return differs(format!("ticket {}", t.id));
            }
        }
        Record::MessageId { id, ticket } => {
            if to.ticket_for_message_id(id)? != Some(*ticket) {
                return differs(format!("the index entry of {id}"));
            }
        }
        Record::Conversation { key, ticket } => {
            if to.ticket_for_conversation(key)? != Some(*ticket) {
                return differs(format!("the conversation {key}"));
            }
        }
        Record::Outbox(e) => {
            let found = to.outbox_entry(&e.id)?.map(|f| f.without_raw());
            if found.as_ref() != Some(&**e) {
                return differs(format!("the outbox entry {}", e.id));
            }
        }
        Record::Acks { key, times } => {
            if &to.acks_to(key)? != times {
                return differs(format!("the acknowledgement times of {key}"));
            }
        }
        Record::Quarantine { hash, record } => {
            if !lists
                .quarantined
                .iter()
                .any(|q| q.raw_hash == *hash && q == record)
            {
                return differs(format!("the quarantined message {hash}"));
            }
        }
        Record::State { state: st } => {
            if to.state(&st.key())?.as_ref() != Some(st) {
                return differs(format!("the state {:?}", st.key()));
            }
        }
        Record::NextTicket { next: n } => {
            if to.next_ticket_id()? < *n {
                return differs("the next ticket number".into());
            }
        }
    }
    Ok(())
}

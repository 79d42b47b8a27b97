//! Opening the store the admin chose: the embedded one in a directory, or
//! the server one at a URL. [`Opened`] is either, behind the same ports,
//! so the commands and the worker are written once for both.

use super::blobs::BlobKind;
use super::postgres::PgStore;
use super::sled_store::SledStore;
use super::{
    Attempts, Commit, CustomerTicket, Due, OutboxEntry, PendingMail, Quarantined, Result, State,
    StateKey, Store, StoreError, View,
};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Where the store is.
#[derive(Debug, Clone)]
pub enum Location {
    /// On this machine's disk, for one process at a time.
    Embedded { dir: PathBuf, cache_bytes: u64 },
    /// A database server (`postgres://…`), shared by any number of
    /// workers; the password apart from the URL (never logged).
    Server {
        url: String,
        password: Option<String>,
        /// A CA certificate to trust for TLS besides Mozilla's roots.
        ca_file: Option<PathBuf>,
    },
}

impl Location {
    /// Whether several workers may share it (the server store).
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Server { .. })
    }
}

/// A store as opened: embedded or server.
// One per process, held for its life: the size difference costs nothing,
// a box would cost a pointer chase on every read.
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    Embedded(SledStore),
    Server(PgStore),
}

/// Opens (creating or migrating) the store at `at`; `first_ticket` is the
/// number of the first ticket in a new one.
pub fn open(at: &Location, first_ticket: TicketId) -> Result<Opened> {
    match at {
        Location::Embedded { dir, cache_bytes } => Ok(Opened::Embedded(
            SledStore::open_with_cache(dir, first_ticket, *cache_bytes)?,
        )),
        Location::Server {
            url,
            password,
            ca_file,
        } => Ok(Opened::Server(PgStore::connect(
            url,
            password.as_deref(),
            ca_file.as_deref(),
            first_ticket,
        )?)),
    }
}

/// Calls the same method on whichever store this is.
macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Opened::Embedded($s) => $call,
            Opened::Server($s) => $call,
        }
    };
}

impl ThreadView for Opened {
    type Error = StoreError;
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        each!(self, s => s.ticket(id))
    }
    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        each!(self, s => s.ticket_for_message_id(id))
    }
    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        each!(self, s => s.ticket_for_conversation(key))
    }
    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        each!(self, s => s.tickets_of_customer(address))
    }
}

impl View for Opened {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        each!(self, s => s.blob(kind, key))
    }
    fn pending(&self) -> Result<Vec<PendingMail>> {
        each!(self, s => s.pending())
    }
    fn attempts(&self, hash: &str) -> Result<Attempts> {
        each!(self, s => s.attempts(hash))
    }
    fn source_seen(&self, key: &str) -> Result<bool> {
        each!(self, s => s.source_seen(key))
    }
    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        each!(self, s => s.message(message_id))
    }
    fn is_quarantined(&self, hash: &str) -> Result<bool> {
        each!(self, s => s.is_quarantined(hash))
    }
    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        each!(self, s => s.quarantined())
    }
    fn tickets(&self) -> Result<Vec<Ticket>> {
        each!(self, s => s.tickets())
    }
    fn open_tickets(&self) -> Result<Vec<Ticket>> {
        each!(self, s => s.open_tickets())
    }
    fn ticket_subject(&self, id: TicketId) -> Result<Option<String>> {
        each!(self, s => s.ticket_subject(id))
    }
    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        each!(self, s => s.customer_tickets(address))
    }
    fn next_ticket_id(&self) -> Result<TicketId> {
        each!(self, s => s.next_ticket_id())
    }
    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>> {
        each!(self, s => s.acks_to(key))
    }
    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        each!(self, s => s.outbox())
    }
    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        each!(self, s => s.outbox_active())
    }
    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        each!(self, s => s.outbox_entry(id))
    }
    fn meta(&self, key: &str) -> Result<Option<String>> {
        each!(self, s => s.meta(key))
    }
    fn state(&self, key: &StateKey) -> Result<Option<State>> {
        each!(self, s => s.state(key))
    }
    fn is_shared(&self) -> bool {
        each!(self, s => s.is_shared())
    }
}

impl Store for Opened {
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        each!(self, s => s.put_blob(kind, key, bytes))
    }
    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()> {
        each!(self, s => s.mark_pending(hash, origin))
    }
    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()> {
        each!(self, s => s.count_attempts(hashes, alone))
    }
    fn put_raws_tried(&self, mails: &[(&str, &[u8], &str)], alone: bool) -> Result<()> {
        each!(self, s => s.put_raws_tried(mails, alone))
    }
    fn allocate_ticket_id(&self) -> Result<TicketId> {
        each!(self, s => s.allocate_ticket_id())
    }
    fn commit(&self, c: &Commit) -> Result<()> {
        each!(self, s => s.commit(c))
    }
    fn commit_all(&self, commits: &[Commit]) -> Result<()> {
        each!(self, s => s.commit_all(commits))
    }
    fn flush(&self) -> Result<()> {
        each!(self, s => s.flush())
    }
    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        each!(self, s => s.put_outbox(entry))
    }
    fn put_outbox_all(&self, entries: &[OutboxEntry]) -> Result<()> {
        each!(self, s => s.put_outbox_all(entries))
    }
    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Due> {
        each!(self, s => s.claim_due(holder, now, until, limit))
    }
    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        each!(self, s => s.set_meta(key, value))
    }
    fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        each!(self, s => s.init_meta(key, value))
    }
    fn export_records(
        &self,
        with_blobs: bool,
        f: &mut dyn FnMut(super::moving::Record) -> Result<()>,
    ) -> Result<()> {
        each!(self, s => s.export_records(with_blobs, f))
    }
    fn import_records(&self, records: &[super::moving::Record]) -> Result<()> {
        each!(self, s => s.import_records(records))
    }
    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        each!(self, s => s.lease(name, holder, now, until))
    }
    fn release(&self, name: &str, holder: &str) -> Result<()> {
        each!(self, s => s.release(name, holder))
    }
    fn live_leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<usize> {
        each!(self, s => s.live_leases(prefix, now))
    }
    fn exclusive(&self) -> Result<super::Exclusive<'_>> {
        each!(self, s => s.exclusive())
    }
    fn put_raws(&self, mails: &[(&str, &[u8], &str)]) -> Result<()> {
        each!(self, s => s.put_raws(mails))
    }
}

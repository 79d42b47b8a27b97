//! The store as it stood before a ticket: what a replay decides against.
//!
//! Replaying a stored ticket's mail through [`crate::pipeline::decide`]
//! needs the store as live processing met each message: without the
//! ticket itself (its messages must not read as duplicates, its ids must
//! not thread), without tickets opened after the message, and with the
//! customer's other tickets open or closed as they were then. Writes are
//! refused; a replay keeps its own commits in a [`crate::store::Staged`]
//! overlay in front of this view and never writes them out.

use crate::model::{MessageRecord, Ticket, TicketId};
use crate::store::{
    Attempts, BlobKind, Commit, CustomerTicket, OutboxEntry, PendingMail, Quarantined, Store,
    StoreError, View,
};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Mutex;

type Result<T> = std::result::Result<T, StoreError>;

pub(super) struct AsItStood<'a, V: View + ?Sized> {
    inner: &'a V,
    /// The ticket being replayed, and its messages.
    replayed: TicketId,
    its_messages: HashSet<String>,
    /// The moment the replay stands at (the arrival of its current message).
    at: Mutex<DateTime<Utc>>,
}

impl<'a, V: View + ?Sized> AsItStood<'a, V> {
    pub(super) fn new(inner: &'a V, t: &Ticket) -> Self {
        AsItStood {
            inner,
            replayed: t.id,
            its_messages: t.messages.iter().cloned().collect(),
            at: Mutex::new(t.created),
        }
    }

    /// Moves the replay to `at`.
    pub(super) fn stand_at(&self, at: DateTime<Utc>) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    fn at(&self) -> DateTime<Utc> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether ticket `id` existed, apart from the one replayed.
    fn existed(&self, t: &Ticket) -> bool {
        t.id != self.replayed && t.created < self.at()
    }

    fn visible(&self, id: Option<TicketId>) -> Result<Option<TicketId>> {
        match id {
            Some(id) => Ok(self.ticket(id)?.map(|t| t.id)),
            None => Ok(None),
        }
    }
}

impl<V: View + ?Sized> ThreadView for AsItStood<'_, V> {
    type Error = StoreError;

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        Ok(self.inner.ticket(id)?.filter(|t| self.existed(t)))
    }

    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        if self.its_messages.contains(id) {
            return Ok(None);
        }
        let found = self.inner.ticket_for_message_id(id)?;
        self.visible(found)
    }

    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        let found = self.inner.ticket_for_conversation(key)?;
        self.visible(found)
    }

    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        Ok(self
            .customer_tickets(address)?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }
}

impl<V: View + ?Sized> View for AsItStood<'_, V> {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.blob(kind, key)
    }

    fn pending(&self) -> Result<Vec<PendingMail>> {
        Ok(Vec::new())
    }

    fn attempts(&self, _hash: &str) -> Result<Attempts> {
        Ok(Attempts::default())
    }

    fn source_seen(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        if self.its_messages.contains(message_id) {
            return Ok(None);
        }
        self.inner.message(message_id)
    }

    fn is_quarantined(&self, _hash: &str) -> Result<bool> {
        // Whatever sits in quarantine now, live processing took it then.
        Ok(false)
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        Ok(Vec::new())
    }

    fn tickets(&self) -> Result<Vec<Ticket>> {
        let mut all = self.inner.tickets()?;
        all.retain(|t| self.existed(t));
        Ok(all)
    }

    /// The customer's tickets as they stood: opened before now, open
    /// unless closed by then (a ticket closed, reopened and closed again
    /// later counts as open: only its last closing is known).
    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        let at = self.at();
        Ok(self
            .inner
            .customer_tickets(address)?
            .into_iter()
            .filter(|c| c.id != self.replayed && c.created < at)
            .map(|c| CustomerTicket {
                open: c.closed.is_none_or(|closed| closed > at),
                ..c
            })
            .collect())
    }

    fn next_ticket_id(&self) -> Result<TicketId> {
        self.inner.next_ticket_id()
    }

    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>> {
        let at = self.at();
        let mut times = self.inner.acks_to(key)?;
        times.retain(|t| *t < at);
        Ok(times)
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        Ok(Vec::new())
    }

    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        Ok(Vec::new())
    }

    fn outbox_entry(&self, _id: &str) -> Result<Option<OutboxEntry>> {
        Ok(None)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.inner.meta(key)
    }

    fn state(&self, key: &crate::store::StateKey) -> Result<Option<crate::store::State>> {
        self.inner.state(key)
    }
}

/// A replay writes nothing: its commits stay in the overlay in front.
impl<V: View + ?Sized> Store for AsItStood<'_, V> {
    fn put_blob(&self, _kind: BlobKind, _key: &str, _bytes: &[u8]) -> Result<()> {
        Err(refused())
    }

    fn mark_pending(&self, _hash: &str, _origin: &str) -> Result<()> {
        Err(refused())
    }

    fn count_attempts(&self, _hashes: &[&str], _alone: bool) -> Result<()> {
        Err(refused())
    }

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        Err(refused())
    }

    fn commit(&self, _c: &Commit) -> Result<()> {
        Err(refused())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn put_outbox(&self, _entry: &OutboxEntry) -> Result<()> {
        Err(refused())
    }

    fn set_meta(&self, _key: &str, _value: &str) -> Result<()> {
        Err(refused())
    }

    fn init_meta(&self, _key: &str, _value: &str) -> Result<String> {
        Err(refused())
    }

    fn lease(
        &self,
        _name: &str,
        _holder: &str,
        _now: DateTime<Utc>,
        _until: DateTime<Utc>,
    ) -> Result<bool> {
        Err(refused())
    }

    fn release(&self, _name: &str, _holder: &str) -> Result<()> {
        Err(refused())
    }

    fn claim_due(
        &self,
        _holder: &str,
        _now: DateTime<Utc>,
        _until: DateTime<Utc>,
        _limit: usize,
    ) -> Result<crate::store::Due> {
        Err(refused())
    }
}

fn refused() -> StoreError {
    StoreError::Other("a replay writes nothing".into())
}

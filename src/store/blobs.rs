//! The blob port: big, write-once bytes kept apart from the records that
//! name them, as Stalwart keeps its blob store apart from its data store.
//!
//! Two kinds live here: raw mail (by content hash) and the complete body
//! of each outgoing message (by its Message-ID). Records stay small and
//! are rewritten often (a ticket per message, an outbox entry per
//! attempt); the bytes are written once and read rarely (a resend, a
//! replay, `ticketbox show --raw`). Keeping them apart lets a backend put
//! them where big bytes belong (files, a table of their own, an object
//! store) without touching how records commit.
//!
//! The order that keeps nothing lost: a blob is put before any record
//! naming it is committed, and [`Blobs::sync`] makes it durable before
//! the commit that names it is made durable. A blob whose record never
//! commits (a crash in between) is an orphan, harmless: the same bytes
//! are put again when the mail comes again.

use super::Result;
use std::collections::HashMap;
use std::sync::Mutex;

/// What a blob holds; each kind is its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// A message as it arrived, under its content hash.
    Mail,
    /// A message we send, complete, under its Message-ID.
    Outgoing,
}

/// Where a backend keeps its blobs.
pub trait Blobs: Send + Sync {
    /// Stores `bytes` under `key`. Blobs never change: when a whole blob
    /// is already there it stays as it is.
    fn put(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()>;
    fn get(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>>;
    /// Makes every blob put so far durable (called before the records
    /// naming them are made durable).
    fn sync(&self) -> Result<()>;
}

/// Blobs in a map: the in-memory store's.
#[derive(Default)]
pub struct MemoryBlobs {
    map: Mutex<HashMap<(BlobKind, String), Vec<u8>>>,
}

impl Blobs for MemoryBlobs {
    fn put(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((kind, key.to_owned()))
            .or_insert_with(|| bytes.to_vec());
        Ok(())
    }

    fn get(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kind, key.to_owned()))
            .cloned())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

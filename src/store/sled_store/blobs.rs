//! The sled store's blobs: small ones appended to the blob log (see
//! [`super::blob_log`] for why not in sled's trees), big ones as files
//! beside the database (see [`super::raw_files`] for why).
//!
//! | kind | small (up to [`INLINE_MAX`]) | big |
//! |---|---|---|
//! | mail | `raw_at`: hash → [`Location`] in the log | `raw_big`: hash → length; the file `raw/<2 hex>/<hash>` |
//! | outgoing | `outbox_at`: Message-ID → [`Location`] | `outbox_raw`: Message-ID → empty; the file named by [`outbox_file_key`] |
//!
//! Stores written before the log keep small blobs inside sled (`raw`:
//! hash → bytes, `outbox_raw`: Message-ID → bytes); they are read where
//! they are, never moved.

use super::blob_log::{BlobLog, Location};
use super::raw_files::{INLINE_MAX, RawFiles};
use crate::store::blobs::{BlobKind, Blobs};
use crate::store::{Result, StoreError};
use sled::Tree;
use std::sync::{PoisonError, RwLock};

pub(super) struct SledBlobs {
    pub(super) raw: Tree,
    pub(super) raw_at: Tree,
    pub(super) raw_big: Tree,
    pub(super) outbox_raw: Tree,
    pub(super) outbox_at: Tree,
    pub(super) files: RawFiles,
    pub(super) log: BlobLog,
    /// Held (shared) while a blob is written and named, and (alone) while
    /// the store is made durable: a flush on one thread must not make
    /// durable the name of a blob another thread wrote after the blobs
    /// were synced (the writer thread stores outgoing mail while intake
    /// flushes its raw mail).
    pub(super) naming: RwLock<()>,
    /// One sync at a time (see `sync`).
    pub(super) syncing: std::sync::Mutex<()>,
}

/// The file name of a big outgoing message: Message-IDs are not file names.
fn outbox_file_key(id: &str) -> String {
    crate::intake::content_hash(format!("outbox\n{id}").as_bytes())
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("blob file: {e}"))
}

impl SledBlobs {
    /// Syncs the blobs, then `flush_db` (the trees that name them), with
    /// no blob written and named between the two.
    pub(super) fn sync_then(&self, flush_db: impl FnOnce() -> Result<()>) -> Result<()> {
        // The bulk first, while other threads go on writing and naming
        // blobs; then, alone, whatever they wrote meanwhile (mostly
        // nothing, and a sync with nothing to write does not wait for the
        // disk) and the trees.
        self.sync()?;
        let _alone = self.naming.write().unwrap_or_else(PoisonError::into_inner);
        self.sync()?;
        flush_db()
    }

    /// Writes the file for a big blob unless it is there whole: after a
    /// power failure sled may remember a file that is missing or short.
    fn file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if !self.files.has(name, bytes.len()).map_err(io)? {
            self.files.write(name, bytes).map_err(io)?;
        }
        Ok(())
    }

    /// Appends a small blob to the log and names it in `index`, unless
    /// `index` names a location that reads back whole (the same reason as
    /// for files).
    fn logged(&self, index: &Tree, key: &str, bytes: &[u8]) -> Result<()> {
        if self.logged_whole(index, key)? {
            return Ok(());
        }
        let at = self.log.append(bytes).map_err(io)?;
        index.insert(key.as_bytes(), &at.encode())?;
        Ok(())
    }

    /// Raw mail ([`Blobs::put`] of one is this), each stored once: a big
    /// one in a file of its own, the small ones appended to the log in
    /// one write.
    pub(super) fn put_mails(&self, mails: &[(&str, &[u8])]) -> Result<()> {
        let _naming = self.naming.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys = Vec::new();
        let mut bytes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &(key, b) in mails {
            if !seen.insert(key) {
                continue;
            }
            if b.len() > INLINE_MAX {
                self.file(key, b)?;
                self.raw_big
                    .insert(key.as_bytes(), &(b.len() as u64).to_be_bytes())?;
            } else if !self.raw.contains_key(key.as_bytes())?
                && !self.logged_whole(&self.raw_at, key)?
            {
                keys.push(key);
                bytes.push(b);
            }
        }
        let at = self.log.append_all(&bytes).map_err(io)?;
        for (key, at) in keys.into_iter().zip(at) {
            self.raw_at.insert(key.as_bytes(), &at.encode())?;
        }
        Ok(())
    }

    /// Whether `index` names a location of `key` that reads back whole.
    fn logged_whole(&self, index: &Tree, key: &str) -> Result<bool> {
        Ok(index
            .get(key.as_bytes())?
            .and_then(|v| Location::decode(&v))
            .is_some_and(|at| self.log.holds(&at)))
    }

    fn read_logged(&self, index: &Tree, key: &str) -> Result<Option<Vec<u8>>> {
        match index.get(key.as_bytes())? {
            None => Ok(None),
            Some(v) => {
                let at = Location::decode(&v).ok_or_else(|| {
                    StoreError::Other(format!("blob {key:?}: a location of {} bytes", v.len()))
                })?;
                self.log.read(&at).map(Some).map_err(io)
            }
        }
    }
}

impl Blobs for SledBlobs {
    fn put(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        if kind == BlobKind::Mail {
            return self.put_mails(&[(key, bytes)]);
        }
        let _naming = self.naming.read().unwrap_or_else(PoisonError::into_inner);
        if bytes.len() > INLINE_MAX {
            self.file(&outbox_file_key(key), bytes)?;
            if !self.outbox_raw.contains_key(key.as_bytes())? {
                self.outbox_raw.insert(key.as_bytes(), &[])?;
            }
        } else if !self.outbox_raw.contains_key(key.as_bytes())? {
            self.logged(&self.outbox_at, key, bytes)?;
        }
        Ok(())
    }

    fn get(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        match kind {
            BlobKind::Mail => {
                if let Some(b) = self.read_logged(&self.raw_at, key)? {
                    return Ok(Some(b));
                }
                if let Some(v) = self.raw.get(key.as_bytes())? {
                    return Ok(Some(v.to_vec()));
                }
                if self.raw_big.contains_key(key.as_bytes())? {
                    return self.files.read(key).map_err(io);
                }
                Ok(None)
            }
            BlobKind::Outgoing => {
                if let Some(b) = self.read_logged(&self.outbox_at, key)? {
                    return Ok(Some(b));
                }
                match self.outbox_raw.get(key.as_bytes())? {
                    None => Ok(None),
                    Some(v) if v.is_empty() => self.files.read(&outbox_file_key(key)).map_err(io),
                    Some(v) => Ok(Some(v.to_vec())),
                }
            }
        }
    }

    fn sync(&self) -> Result<()> {
        // One at a time: a second sync must not return while the first
        // still waits for what both need on disk (each takes the files it
        // syncs off the list of those written).
        let _turn = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        // The trees are made durable by the database's own flush, which
        // comes after this one: a flushed store never names a lost blob.
        // A failed sync of the log is fatal, as a failed write of sled's
        // own log is: what it held may be gone without a trace.
        self.log.sync().map_err(|e| StoreError::Backend {
            message: format!("blob log: {e}"),
            fatal: true,
        })?;
        self.files.sync().map_err(io)
    }
}

//! The sled store's blobs: small ones in trees of their own, big ones as
//! files beside the database (see [`super::raw_files`] for why).
//!
//! | kind | small (up to [`INLINE_MAX`]) | big |
//! |---|---|---|
//! | mail | `raw`: hash → bytes | `raw_big`: hash → length; the file `raw/<2 hex>/<hash>` |
//! | outgoing | `outbox_raw`: Message-ID → bytes | `outbox_raw`: Message-ID → empty; the file named by [`outbox_file_key`] |

use super::raw_files::{INLINE_MAX, RawFiles};
use crate::store::blobs::{BlobKind, Blobs};
use crate::store::{Result, StoreError};
use sled::Tree;

pub(super) struct SledBlobs {
    pub(super) raw: Tree,
    pub(super) raw_big: Tree,
    pub(super) outbox_raw: Tree,
    pub(super) files: RawFiles,
}

/// The file name of a big outgoing message: Message-IDs are not file names.
fn outbox_file_key(id: &str) -> String {
    crate::intake::content_hash(format!("outbox\n{id}").as_bytes())
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("blob file: {e}"))
}

impl SledBlobs {
    /// Writes the file for a big blob unless it is there whole: after a
    /// power failure sled may remember a file that is missing or short.
    fn file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if !self.files.has(name, bytes.len()).map_err(io)? {
            self.files.write(name, bytes).map_err(io)?;
        }
        Ok(())
    }
}

impl Blobs for SledBlobs {
    fn put(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        let big = bytes.len() > INLINE_MAX;
        match kind {
            BlobKind::Mail if big => {
                self.file(key, bytes)?;
                self.raw_big
                    .insert(key.as_bytes(), &(bytes.len() as u64).to_be_bytes())?;
            }
            BlobKind::Mail => {
                if !self.raw.contains_key(key.as_bytes())? {
                    self.raw.insert(key.as_bytes(), bytes)?;
                }
            }
            BlobKind::Outgoing => {
                if big {
                    self.file(&outbox_file_key(key), bytes)?;
                }
                if !self.outbox_raw.contains_key(key.as_bytes())? {
                    let inline: &[u8] = if big { &[] } else { bytes };
                    self.outbox_raw.insert(key.as_bytes(), inline)?;
                }
            }
        }
        Ok(())
    }

    fn get(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        match kind {
            BlobKind::Mail => {
                if let Some(v) = self.raw.get(key.as_bytes())? {
                    return Ok(Some(v.to_vec()));
                }
                if self.raw_big.contains_key(key.as_bytes())? {
                    return self.files.read(key).map_err(io);
                }
                Ok(None)
            }
            BlobKind::Outgoing => match self.outbox_raw.get(key.as_bytes())? {
                None => Ok(None),
                Some(v) if v.is_empty() => self.files.read(&outbox_file_key(key)).map_err(io),
                Some(v) => Ok(Some(v.to_vec())),
            },
        }
    }

    fn sync(&self) -> Result<()> {
        // The trees are made durable by the database's own flush, which
        // comes after this one: a flushed store never names a lost file.
        self.files.sync().map_err(io)
    }
}

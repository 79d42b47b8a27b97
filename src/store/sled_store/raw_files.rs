//! Big raw messages live in files beside the sled database, not in it.
//!
//! sled keeps what it inserts in memory and counts large values by their
//! small on-disk pointer, so a backlog of messages with big attachments
//! would all sit in RAM whatever the cache size. Small mail (most of it)
//! stays in sled, where it is cheap; a message above [`INLINE_MAX`] is a
//! file `raw/<2 hex>/<hash>` written whole (temporary name, then rename).
//! Files are synced before the store's flush, so a flushed store never
//! names a file that could be lost; a file that is missing or short after
//! a power failure is written again when its mail is fetched again (the
//! source was never told it was safe).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest message kept inside sled.
pub const INLINE_MAX: usize = 256 * 1024;

pub(super) struct RawFiles {
    dir: PathBuf,
    /// Files written since the last sync (and whether their folder is new).
    unsynced: Mutex<Vec<(PathBuf, bool)>>,
}

impl RawFiles {
    pub(super) fn new(data_dir: &Path) -> RawFiles {
        RawFiles {
            dir: data_dir.join("raw"),
            unsynced: Mutex::new(Vec::new()),
        }
    }

    fn path(&self, hash: &str) -> std::io::Result<PathBuf> {
        // Hashes are ours (hex SHA-256); anything else must not become a path.
        if hash.len() < 3 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{hash:?} is not a content hash"),
            ));
        }
        Ok(self.dir.join(&hash[..2]).join(hash))
    }

    /// Whether the file for `hash` is there, whole.
    pub(super) fn has(&self, hash: &str, len: usize) -> std::io::Result<bool> {
        match std::fs::metadata(self.path(hash)?) {
            Ok(m) => Ok(m.len() == len as u64),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) fn write(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(hash)?;
        let folder = path.parent().unwrap_or(&self.dir).to_owned();
        let new_folder = !folder.exists();
        std::fs::create_dir_all(&folder)?;
        let tmp = folder.join(format!(".{hash}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        self.lock().push((path, new_folder));
        Ok(())
    }

    pub(super) fn read(&self, hash: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(hash)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes every file written so far durable, with the folders naming them.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        let written = std::mem::take(&mut *self.lock());
        if written.is_empty() {
            return Ok(());
        }
        let mut folders = std::collections::BTreeSet::new();
        for (path, new_folder) in &written {
            File::open(path)?.sync_all()?;
            if let Some(p) = path.parent() {
                folders.insert(p.to_owned());
            }
            if *new_folder {
                folders.insert(self.dir.clone());
            }
        }
        for f in folders {
            File::open(f)?.sync_all()?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, bool)>> {
        // A panic elsewhere while holding it leaves a plain list behind.
        self.unsynced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

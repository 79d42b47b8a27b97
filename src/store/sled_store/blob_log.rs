//! Small blobs in append-only segment files beside the sled database.
//!
//! Why not in sled: sled keeps values inside its tree nodes and copies a
//! node whole on every change to it, so a tree of 1–5 KB raw messages and
//! acknowledgements is rewritten over and over while mail flows; that
//! copying (and the allocation behind it) was the biggest single cost of
//! committing a message. Blobs are written once and read rarely, so they
//! go where such bytes are cheapest: appended to a segment file (one
//! `write` each, one `fdatasync` per flush), with sled keeping only their
//! 20-byte [`Location`]. Blobs are never deleted, so segments are never
//! rewritten and need no compaction.
//!
//! Order and crashes: a blob is appended before the tree names it, and
//! [`BlobLog::sync`] runs before the database's flush, so a flushed
//! store never names bytes that are not on disk. A crash can leave a torn
//! or unnamed tail; new blobs go after it and nothing points into it. A
//! location is checked against its CRC-32 when read; after a power
//! failure that reordered writes, a blob put again (its mail fetched
//! again) finds its old location bad and is appended anew.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A segment is closed for writing once it is this large.
const SEGMENT_MAX: u64 = 256 << 20;

/// Where one blob's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Location {
    segment: u32,
    offset: u64,
    len: u32,
    crc: u32,
}

impl Location {
    pub(super) fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..12].copy_from_slice(&self.offset.to_be_bytes());
        b[12..16].copy_from_slice(&self.len.to_be_bytes());
        b[16..].copy_from_slice(&self.crc.to_be_bytes());
        b
    }

    pub(super) fn decode(b: &[u8]) -> Option<Location> {
        let b: &[u8; 20] = b.try_into().ok()?;
        let (seg, rest) = b.split_at(4);
        let (off, rest) = rest.split_at(8);
        let (len, crc) = rest.split_at(4);
        Some(Location {
            segment: u32::from_be_bytes(seg.try_into().ok()?),
            offset: u64::from_be_bytes(off.try_into().ok()?),
            len: u32::from_be_bytes(len.try_into().ok()?),
            crc: u32::from_be_bytes(crc.try_into().ok()?),
        })
    }
}

/// The segment being appended to.
struct Tail {
    segment: u32,
    /// Shared with a sync under way, which waits for the disk without
    /// holding the tail.
    file: Arc<File>,
    len: u64,
    /// Written to since the last sync.
    dirty: bool,
    /// Segments closed since the last sync, still to be synced.
    closed: Vec<Arc<File>>,
    /// A segment was created since the last sync: the folder must be
    /// synced for its name to last.
    new_name: bool,
    /// A sync failed: what was written since the one before may be lost
    /// without a trace (Linux marks the pages clean all the same), so
    /// nothing more is taken until a restart reads the log again.
    broken: bool,
}

pub(super) struct BlobLog {
    dir: PathBuf,
    tail: Mutex<Tail>,
    /// One sync at a time (see [`BlobLog::sync`]).
    syncing: Mutex<()>,
    /// Segments opened for reading, kept open: the outbox sender reads
    /// every message it delivers, and an open per read cost a system call
    /// pair each.
    readers: Mutex<std::collections::HashMap<u32, std::sync::Arc<File>>>,
    /// [`SEGMENT_MAX`], smaller in tests.
    segment_max: u64,
}

fn segment_name(n: u32) -> String {
    format!("{n:08}.seg")
}

fn broken() -> std::io::Error {
    std::io::Error::other(
        "the blob log could not be synced earlier; restart once the disk is healthy",
    )
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl BlobLog {
    /// Opens the log in `dir` (created when missing), appending to its
    /// newest segment.
    pub(super) fn open(dir: &Path) -> std::io::Result<BlobLog> {
        let fresh = !dir.exists();
        std::fs::create_dir_all(dir)?;
        if fresh {
            // The folder's name must last as long as what it will hold.
            if let Some(parent) = dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        let mut newest = None;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let n = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u32>().ok());
            newest = newest.max(n);
        }
        let segment = newest.unwrap_or(0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(segment_name(segment)))?;
        let len = file.metadata()?.len();
        Ok(BlobLog {
            dir: dir.to_path_buf(),
            tail: Mutex::new(Tail {
                segment,
                file: Arc::new(file),
                len,
                dirty: false,
                closed: Vec::new(),
                new_name: newest.is_none(),
                broken: false,
            }),
            syncing: Mutex::default(),
            segment_max: SEGMENT_MAX,
            readers: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Tail> {
        // A panic while holding it leaves a tail whose length is re-read
        // on the next failure at worst.
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `bytes` (not yet durable: see [`BlobLog::sync`]).
    pub(super) fn append(&self, bytes: &[u8]) -> std::io::Result<Location> {
        let mut at = self.append_all(&[bytes])?;
        at.pop()
            .ok_or_else(|| bad("an append wrote nothing".to_owned()))
    }

    /// Appends each of `blobs`, in one `write` (a batch's raw mail: a
    /// system call each was a tenth of taking a batch in).
    pub(super) fn append_all(&self, blobs: &[&[u8]]) -> std::io::Result<Vec<Location>> {
        let mut lens = Vec::with_capacity(blobs.len());
        for b in blobs {
            lens.push(
                u32::try_from(b.len())
                    .map_err(|_| bad(format!("a blob of {} bytes is too big", b.len())))?,
            );
        }
        let total: u64 = lens.iter().map(|&l| u64::from(l)).sum();
        if blobs.len() > 1 && total > self.segment_max {
            // More than a segment holds: one at a time, across segments.
            return blobs.iter().map(|b| self.append(b)).collect();
        }
        let mut tail = self.lock();
        if tail.broken {
            return Err(broken());
        }
        if tail.len > 0 && tail.len + total > self.segment_max {
            let segment = tail.segment.saturating_add(1);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(segment_name(segment)))?;
            let len = file.metadata()?.len();
            let old = std::mem::replace(&mut tail.file, Arc::new(file));
            if tail.dirty {
                tail.closed.push(old);
            }
            tail.segment = segment;
            tail.len = len;
            tail.new_name = true;
        }
        tail.dirty = true;
        let joined;
        let bytes: &[u8] = match blobs {
            [one] => one,
            many => {
                joined = many.concat();
                &joined
            }
        };
        if let Err(e) = (&*tail.file).write_all(bytes) {
            // Part of it may be there: new blobs go after whatever is.
            tail.len = tail.file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
            return Err(e);
        }
        // The file is opened for appending, so the bytes went to its end,
        // wherever that is; the position after the write says where.
        tail.len = (&*tail.file).stream_position()?;
        let mut offset = tail.len.saturating_sub(total);
        let segment = tail.segment;
        Ok(blobs
            .iter()
            .zip(lens)
            .map(|(b, len)| {
                let at = Location {
                    segment,
                    offset,
                    len,
                    crc: crc32fast::hash(b),
                };
                offset += u64::from(len);
                at
            })
            .collect())
    }

    /// The bytes at `at`, checked against their CRC.
    pub(super) fn read(&self, at: &Location) -> std::io::Result<Vec<u8>> {
        let path = self.dir.join(segment_name(at.segment));
        let file = {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            match readers.get(&at.segment) {
                Some(f) => f.clone(),
                None => {
                    let f = std::sync::Arc::new(File::open(&path)?);
                    readers.insert(at.segment, f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0u8; at.len as usize];
        file.read_exact_at(&mut buf, at.offset).map_err(|e| {
            bad(format!(
                "{}: {} bytes at {}: {e}",
                path.display(),
                at.len,
                at.offset
            ))
        })?;
        if crc32fast::hash(&buf) != at.crc {
            return Err(bad(format!(
                "{}: {} bytes at {} do not match their checksum",
                path.display(),
                at.len,
                at.offset
            )));
        }
        Ok(buf)
    }

    /// Whether `at` reads back whole and intact.
    pub(super) fn holds(&self, at: &Location) -> bool {
        self.read(at).is_ok()
    }

    /// Makes everything appended before the call durable. After a failure
    /// the log takes nothing more (see `broken`).
    ///
    /// The wait for the disk happens without the tail: appends go on
    /// meanwhile (the next sync covers them), so the writer thread storing
    /// outgoing mail does not wait for intake's sync. Syncs take turns: a
    /// second one must not return while the first still waits for what
    /// both need on disk.
    pub(super) fn sync(&self) -> std::io::Result<()> {
        let _turn = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let (closed, file, new_name) = {
            let mut tail = self.lock();
            if tail.broken {
                return Err(broken());
            }
            let file = std::mem::take(&mut tail.dirty).then(|| tail.file.clone());
            (
                std::mem::take(&mut tail.closed),
                file,
                std::mem::take(&mut tail.new_name),
            )
        };
        let synced = (|| {
            for f in closed {
                f.sync_data()?;
            }
            if let Some(f) = file {
                f.sync_data()?;
            }
            if new_name {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if synced.is_err() {
            self.lock().broken = true;
        }
        synced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_read_back_across_segments_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BlobLog::open(&dir.path().join("log")).unwrap();
        log.segment_max = 24;
        let a = log.append(b"first blob").unwrap();
        let b = log.append(b"").unwrap();
        let c = log.append("zweiter Blob, ąę, שלום".as_bytes()).unwrap();
        log.sync().unwrap();
        assert_eq!(log.read(&a).unwrap(), b"first blob");
        assert_eq!(log.read(&b).unwrap(), b"");
        assert_eq!(Location::decode(&c.encode()), Some(c));
        // The third did not fit in the first segment's 24 bytes.
        assert_eq!((a.segment, b.segment, c.segment), (0, 0, 1));
        drop(log);
        let log = BlobLog::open(&dir.path().join("log")).unwrap();
        let d = log.append(b"after reopening").unwrap();
        assert_eq!((d.segment, d.offset), (1, c.len as u64));
        assert_eq!(log.read(&c).unwrap(), "zweiter Blob, ąę, שלום".as_bytes());
        assert_eq!(log.read(&d).unwrap(), b"after reopening");
    }

    #[test]
    fn a_torn_tail_is_skipped_and_a_bad_location_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = BlobLog::open(&path).unwrap();
        let a = log.append(b"kept").unwrap();
        log.sync().unwrap();
        drop(log);
        // A crash in the middle of an append.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path.join(segment_name(0)))
            .unwrap();
        f.write_all(b"torn hal").unwrap();
        let log = BlobLog::open(&path).unwrap();
        let b = log.append(b"next").unwrap();
        assert_eq!(b.offset, 4 + 8);
        assert_eq!(log.read(&a).unwrap(), b"kept");
        assert_eq!(log.read(&b).unwrap(), b"next");
        // A location the disk does not back (lost in a power failure).
        let lost = Location { offset: 100, ..b };
        assert!(!log.holds(&lost));
        let wrong = Location {
            crc: b.crc ^ 1,
            ..b
        };
        let e = log.read(&wrong).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
    }

    #[test]
    fn blobs_appended_together_read_back_each_and_roll_over_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BlobLog::open(&dir.path().join("log")).unwrap();
        log.segment_max = 40;
        let first = log.append(b"0123456789").unwrap();
        let blobs: [&[u8]; 4] = [b"alpha", b"", "בטא, ąę".as_bytes(), b"gamma"];
        let at = log.append_all(&blobs).unwrap();
        assert_eq!(at.len(), 4);
        for (a, b) in at.iter().zip(blobs) {
            assert_eq!(log.read(a).unwrap(), b);
        }
        // Together they fit after the first blob: one segment, in order.
        assert!(at.iter().all(|a| a.segment == 0));
        assert_eq!(at[0].offset, first.len as u64);
        // Together they do not fit any more: the whole batch goes to the
        // next segment, none split from the rest.
        let later = log.append_all(&[b"0123456789", b"0123456789"]).unwrap();
        assert_eq!((later[0].segment, later[0].offset), (1, 0));
        assert_eq!((later[1].segment, later[1].offset), (1, 10));
        // More than a segment holds: one at a time, across segments.
        let big = [b"0123456789012345678901234567890".as_slice(); 2];
        let spread = log.append_all(&big).unwrap();
        assert_eq!((spread[0].segment, spread[1].segment), (2, 3));
        log.sync().unwrap();
        for a in later.iter().chain(&spread) {
            assert!(log.holds(a));
        }
        assert!(log.append_all(&[]).unwrap().is_empty());
    }
}

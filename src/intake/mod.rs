//! Where raw mail comes from: a Maildir, a single `.eml`, an mbox file, a
//! directory of files, or stdin. Sources yield [`Item`]s (cheap references)
//! that are read into [`RawMail`] only when their batch is processed, so a
//! 10,000-message Maildir is never in memory at once.
//!
//! Maildir items carry a source key (directory + the file's unique name, the
//! part before `:2,`), remembered in the store once committed, so a restart
//! does not even read them again; the store's duplicate check is the
//! backstop when a file is renamed or copied.

pub mod health;
mod origin;
mod source;

pub use origin::{Origin, imap_source_key};
pub use source::{GaveUp, Source, SourceRun, Taken};

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A message's bytes and where they came from.
#[derive(Debug, Clone)]
pub struct RawMail {
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub hash: String,
    /// Human-readable origin (path, `stdin`, mailbox/uid).
    pub origin: String,
    /// Remembered once committed, so the source item is not read again.
    pub source_key: Option<String>,
    /// Queue for a ticket this message opens, unless a rule picks one (the
    /// queue of the mailbox it came to).
    pub queue: Option<String>,
    /// When the mail reached its mailbox, as the mailbox knows it (IMAP
    /// INTERNALDATE, a Maildir file's delivery time), not the sender's Date
    /// header, which anyone can write. Mail that arrived long before it is
    /// read is history: filed without acknowledgement (see
    /// `intake.history_hours`).
    pub arrived: Option<chrono::DateTime<chrono::Utc>>,
}

impl RawMail {
    pub fn new(bytes: Vec<u8>, origin: String, source_key: Option<String>) -> RawMail {
        RawMail {
            hash: content_hash(&bytes),
            bytes,
            origin,
            source_key,
            queue: None,
            arrived: None,
        }
    }

    pub fn arrived_at(mut self, at: Option<chrono::DateTime<chrono::Utc>>) -> RawMail {
        self.arrived = at;
        self
    }

    pub fn with_queue(mut self, queue: Option<String>) -> RawMail {
        self.queue = queue;
        self
    }
}

/// Hex SHA-256: the key raw messages are stored under.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Something to ingest, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// One message in one file.
    File {
        path: PathBuf,
        source_key: Option<String>,
    },
    /// Bytes already in hand (stdin, one message of an mbox).
    Bytes { bytes: Vec<u8>, origin: String },
}

impl Item {
    pub fn source_key(&self) -> Option<&str> {
        match self {
            Item::File { source_key, .. } => source_key.as_deref(),
            Item::Bytes { .. } => None,
        }
    }

    pub fn read(self) -> std::io::Result<RawMail> {
        match self {
            Item::File { path, source_key } => {
                let bytes = std::fs::read(&path)?;
                // A file in a Maildir arrived when it was delivered, which
                // its modification time keeps; a loose file says nothing.
                let arrived = source_key
                    .as_ref()
                    .and_then(|_| std::fs::metadata(&path).ok()?.modified().ok())
                    .map(chrono::DateTime::<chrono::Utc>::from);
                Ok(RawMail::new(bytes, path.display().to_string(), source_key).arrived_at(arrived))
            }
            Item::Bytes { bytes, origin } => Ok(RawMail::new(bytes, origin, None)),
        }
    }
}

/// Whether `dir` looks like a Maildir (has `new/` or `cur/`).
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("new").is_dir() || dir.join("cur").is_dir()
}

/// The source key of a Maildir file: directory plus the unique part of the
/// name, so a client renaming `new/x` to `cur/x:2,S` does not make it new.
pub fn maildir_key(maildir: &Path, file: &Path) -> Option<String> {
    key_under(&canonical(maildir), file)
}

fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// [`maildir_key`] with the directory already canonical (once per scan,
/// not once per message).
fn key_under(canonical_dir: &Path, file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let unique = name.split(':').next().unwrap_or(name);
    Some(format!("maildir:{}:{unique}", canonical_dir.display()))
}

/// The messages of a Maildir (`new/` and `cur/`), oldest first: Maildir
/// names start with the delivery time, so name order is arrival order.
pub fn scan_maildir(dir: &Path) -> std::io::Result<Vec<Item>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            files.push((name, entry.path()));
        }
    }
    files.sort();
    let dir = canonical(dir);
    Ok(files
        .into_iter()
        .map(|(_, path)| Item::File {
            source_key: key_under(&dir, &path),
            path,
        })
        .collect())
}

/// Items for a path: a Maildir, a directory of message files (recursive,
/// name order), an mbox file, or a single message file.
pub fn items_for_path(path: &Path) -> std::io::Result<Vec<Item>> {
    if path.is_dir() {
        if is_maildir(path) {
            return scan_maildir(path);
        }
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        files.sort();
        let mut items = Vec::new();
        for f in files {
            items.extend(items_for_file(&f)?);
        }
        return Ok(items);
    }
    items_for_file(path)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = entry.file_type()?;
        if ft.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if ft.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn items_for_file(path: &Path) -> std::io::Result<Vec<Item>> {
    let mut head = [0u8; 5];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    if &head[..n] == b"From " {
        let bytes = std::fs::read(path)?;
        return Ok(split_mbox(&bytes, &path.display().to_string()));
    }
    Ok(vec![Item::File {
        path: path.to_path_buf(),
        source_key: None,
    }])
}

/// Items from bytes on stdin: an mbox when it starts with `From `, else one
/// message.
pub fn items_from_stdin(bytes: Vec<u8>) -> Vec<Item> {
    if bytes.starts_with(b"From ") {
        split_mbox(&bytes, "stdin")
    } else {
        vec![Item::Bytes {
            bytes,
            origin: "stdin".into(),
        }]
    }
}

/// Splits an mbox (mboxrd/mboxo) into messages, undoing `>From ` quoting.
pub fn split_mbox(bytes: &[u8], origin: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let end = bytes[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| i + p + 1);
        let line = &bytes[i..end];
        if at_line_start && line.starts_with(b"From ") {
            if let Some(msg) = current.take() {
                items.push(msg);
            }
            current = Some(Vec::new());
        } else if let Some(msg) = current.as_mut() {
            // mboxrd: ">From " → "From ", ">>From " → ">From ".
            let unquoted = match line.iter().position(|&b| b != b'>') {
                Some(p) if p > 0 && line[p..].starts_with(b"From ") => &line[1..],
                _ => line,
            };
            msg.extend_from_slice(unquoted);
        }
        at_line_start = line.ends_with(b"\n");
        i = end;
    }
    if let Some(msg) = current {
        items.push(msg);
    }
    items
        .into_iter()
        .enumerate()
        .map(|(n, mut bytes)| {
            // The blank line before the next "From " belongs to the format.
            if bytes.ends_with(b"\n\n") {
                bytes.pop();
            }
            Item::Bytes {
                bytes,
                origin: format!("{origin}#{}", n + 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_hex_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn mbox_splits_and_unquotes() {
        let mbox = b"From a@x Mon Nov 23 10:00:00 2026\nSubject: one\n\n>From the start\n\nFrom b@x Mon Nov 23 10:01:00 2026\nSubject: two\n\nbody\n";
        let items = split_mbox(mbox, "m");
        assert_eq!(items.len(), 2);
        let Item::Bytes { bytes, origin } = &items[0] else {
            panic!()
        };
        assert_eq!(origin, "m#1");
        assert_eq!(bytes, b"Subject: one\n\nFrom the start\n");
    }

    #[test]
    fn maildir_key_ignores_flags() {
        let d = Path::new("/nonexistent/md");
        assert_eq!(
            maildir_key(d, Path::new("/nonexistent/md/new/123.abc.host")),
            maildir_key(d, Path::new("/nonexistent/md/cur/123.abc.host:2,S"))
        );
    }
}

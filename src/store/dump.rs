//! `ticketbox export` / `import` (and `backup` / `restore`, which use them):
//! a store as JSON lines.
//!
//! The first line is a header: `{"type":"header","format":"ticketbox-export",
//! "version":1,"schema":N,"created":"…","since":…}`. Every other line is one
//! [`Record`] with its `type` (`blob`, `meta`, `next_ticket`, `pending`,
//! `source`, `message`, `ticket`, `message_id`, `conversation`, `outbox`,
//! `acks`, `quarantine`, `state`), blobs (raw mail, outgoing messages;
//! bytes in base64) before the records that name them. Readers skip
//! nothing and guess nothing: a line that does not read is an error with
//! its number. Version 1 is this layout; a later version that changes it
//! gets a new number, and `import` refuses versions it does not know.

use super::moving::{Moved, Record, check_record, read_lists};
use super::{Result, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Write};

/// The format's name and version in the header.
pub const FORMAT: &str = "ticketbox-export";
pub const VERSION: u32 = 1;

/// Records written into the store per call while importing.
const CHUNK: usize = 500;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    format: String,
    version: u32,
    /// The embedded store's schema version it was read from.
    schema: u32,
    created: DateTime<Utc>,
    /// Only what changed since then (an incremental export).
    since: Option<DateTime<Utc>>,
}

/// Writes `store`'s records (those of tickets, mail and outgoing mail
/// since `since`, when given) to `out` as JSON lines; returns what it
/// wrote. Run it where nothing writes meanwhile (the committer thread of a
/// running worker) for a consistent snapshot.
pub fn export<S: Store + ?Sized>(
    store: &S,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<Moved> {
    let io = |e: std::io::Error| StoreError::Other(format!("writing the export: {e}"));
    let header = Header {
        kind: "header".into(),
        format: FORMAT.into(),
        version: VERSION,
        schema: super::SCHEMA_VERSION,
        created: now,
        since,
    };
    serde_json::to_writer(&mut *out, &header).map_err(|e| StoreError::Other(e.to_string()))?;
    out.write_all(b"\n").map_err(io)?;
    let keep = match since {
        Some(s) => Some(Keep::since(store, s)?),
        None => None,
    };
    let mut wrote = Moved::default();
    store.export_records(true, &mut |r| {
        if keep.as_ref().is_some_and(|k| !k.keeps(&r)) {
            return Ok(());
        }
        wrote.count(&r);
        serde_json::to_writer(&mut *out, &r).map_err(|e| StoreError::Other(e.to_string()))?;
        out.write_all(b"\n").map_err(io)
    })?;
    out.flush().map_err(io)?;
    Ok(wrote)
}

/// [`export`] into the file `path`, written whole (a temporary name, then
/// renamed) and synced: a backup that exists is complete.
pub fn write_file<S: Store + ?Sized>(
    store: &S,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    path: &std::path::Path,
) -> Result<Moved> {
    let io = |e: std::io::Error| StoreError::Other(format!("{}: {e}", path.display()));
    let tmp = path.with_extension("jsonl.tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    let wrote = export(store, since, now, &mut w)?;
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(wrote)
}

/// What an incremental export keeps: records of what changed since a
/// moment, and the blobs they name.
struct Keep {
    since: DateTime<Utc>,
    /// Raw mail of the messages kept, pending and quarantined mail.
    hashes: HashSet<String>,
    outbox: HashSet<String>,
    tickets: HashSet<u64>,
}

impl Keep {
    fn since<S: Store + ?Sized>(store: &S, since: DateTime<Utc>) -> Result<Keep> {
        let mut k = Keep {
            since,
            hashes: HashSet::new(),
            outbox: HashSet::new(),
            tickets: HashSet::new(),
        };
        // First pass, records only: which are new enough, and so which
        // blobs the second pass keeps.
        store.export_records(false, &mut |r| {
            match &r {
                Record::Message(m) if m.received >= since => {
                    k.hashes.insert(m.raw_hash.clone());
                }
                Record::Pending(p) => {
                    k.hashes.insert(p.hash.clone());
                }
                Record::Quarantine { hash, record } if record.received >= since => {
                    k.hashes.insert(hash.clone());
                }
                Record::Outbox(e) if e.created >= since || e.sent.is_none_or(|s| s >= since) => {
                    k.outbox.insert(e.id.clone());
                }
                Record::Ticket(t) if t.updated >= since => {
                    k.tickets.insert(t.id);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(k)
    }

    fn keeps(&self, r: &Record) -> bool {
        match r {
            Record::Blob { kind, key, .. } => match kind {
                super::BlobKind::Mail => self.hashes.contains(key),
                super::BlobKind::Outgoing => self.outbox.contains(key),
            },
            Record::Message(m) => m.received >= self.since,
            Record::Quarantine { record, .. } => record.received >= self.since,
            Record::Outbox(e) => self.outbox.contains(&e.id),
            Record::Ticket(t) => self.tickets.contains(&t.id),
            Record::MessageId { ticket, .. } | Record::Conversation { ticket, .. } => {
                self.tickets.contains(ticket)
            }
            // Small and always current: counters, settings, checkpoints,
            // pending mail, sources seen, acknowledgement times.
            _ => true,
        }
    }
}

/// Reads an export from `input` into `store`, which must hold no tickets
/// and no mail; then reads `again` (the same export from the start) and
/// checks every record is in the store as exported. Returns what it took.
pub fn import<S: Store + ?Sized>(
    store: &S,
    input: &mut dyn BufRead,
    again: &mut dyn BufRead,
) -> Result<Moved> {
    if !store.tickets()?.is_empty() || !store.pending()?.is_empty() {
        return Err(StoreError::Other(
            "the store already holds tickets or mail; import into an empty one (a new data directory or database)"
                .into(),
        ));
    }
    let mut took = Moved::default();
    let mut chunk = Vec::with_capacity(CHUNK);
    read(input, &mut |r| {
        took.count(&r);
        chunk.push(r);
        if chunk.len() >= CHUNK {
            store.import_records(&std::mem::take(&mut chunk))?;
        }
        Ok(())
    })?;
    store.import_records(&chunk)?;
    store.flush()?;
    let lists = read_lists(store)?;
    let mut checked = Moved::default();
    read(again, &mut |r| {
        check_record(store, &lists, &r)?;
        checked.count(&r);
        Ok(())
    })?;
    if checked != took {
        return Err(StoreError::Other(format!(
            "the export changed while it was read (took {took}; found {checked})"
        )));
    }
    Ok(took)
}

/// Reads an export's lines, the header checked, each record handed to `f`.
fn read(input: &mut dyn BufRead, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
    let bad = |n: usize, what: String| StoreError::Other(format!("export line {n}: {what}"));
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let got = input
            .read_line(&mut line)
            .map_err(|e| bad(n + 1, format!("cannot read: {e}")))?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        if n == 1 {
            let h: Header = serde_json::from_str(&line)
                .map_err(|e| bad(1, format!("not a ticketbox export header: {e}")))?;
            if h.format != FORMAT || h.kind != "header" {
                return Err(bad(1, format!("format {:?}, expected {FORMAT}", h.format)));
            }
            if h.version != VERSION {
                return Err(bad(
                    1,
                    format!(
                        "version {} of the format; this ticketbox reads version {VERSION}",
                        h.version
                    ),
                ));
            }
            continue;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| bad(n, e.to_string()))?;
        f(r)?;
    }
    if n == 0 {
        return Err(StoreError::Other("the export is empty".into()));
    }
    Ok(())
}

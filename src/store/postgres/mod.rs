//! The server store: PostgreSQL, shared by any number of workers.
//!
//! | table | row |
//! |---|---|
//! | `blobs` | kind (0 mail, 1 outgoing), key → bytes |
//! | `pending` | content hash → arrival number, origin, tries |
//! | `sources` | source item key → content hash |
//! | `messages` | Message-ID → [`MessageRecord`] (JSON) |
//! | `tickets` | ticket id → open, [`Ticket`] (JSON) |
//! | `msgid`, `conversations` | Message-ID or Outlook conversation → ticket |
//! | `customers` | address, ticket → created, open, closed |
//! | `outbox` | Message-ID → done, created, next attempt, claim, [`OutboxEntry`] without its message (JSON) |
//! | `acks` | key → acknowledgement times (JSON) |
//! | `quarantine` | content hash → [`Quarantined`] (JSON) |
//! | `state` | kind, name → [`State`] (JSON) |
//! | `meta` | name → value (schema version, instance id) |
//! | `leases` | name → holder, until (a mailbox's reader, the timers) |
//! | sequence `ticket_numbers` | the next ticket number |
//!
//! The database keeps the invariants, not one process: numbers come from
//! a sequence, a commit is one transaction (retried when the database
//! reports a serialization failure or a deadlock), the first reference to
//! a Message-ID wins by `ON CONFLICT DO NOTHING`, and outbox claims lock
//! their rows with `FOR UPDATE SKIP LOCKED`, so two workers never take
//! one mail. A write is durable when it returns: `flush` has nothing to
//! do.
//!
//! The client is the blocking one (the store's ports are synchronous).
//! It runs its own small runtime, which may not be entered from a thread
//! that is already driving async tasks, so a call made there runs on a
//! scoped helper thread (see [`PgStore::with`]); the committer, which
//! makes almost every call, runs on a thread of its own and calls
//! directly.

mod conn;
mod schema;
#[doc(hidden)]
pub mod testdb;
#[cfg(test)]
mod tests;

use super::blobs::BlobKind;
use super::moving::Record;
use super::{
    Acked, Attempts, Commit, CustomerTicket, Due, OutboxEntry, PendingMail, Quarantined, Result,
    State, StateKey, Store, StoreError, View,
};
use crate::model::{MessageRecord, Ticket, TicketId};
use crate::thread::ThreadView;
use chrono::{DateTime, Utc};
use conn::{Conn, Held, Slot, Sql, Tx};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Connections one process keeps: the committer, the outbox sender and a
/// timer or CLI call can each have one without waiting for the others.
const CONNECTIONS: usize = 4;
/// Tries of one transaction the database asked to retry.
const RETRIES: u32 = 20;

pub struct PgStore {
    /// [`CONNECTIONS`] for the work, then one that holds the deciding
    /// lock (see [`Store::exclusive`]): apart, so work done while holding
    /// the lock never waits for its connection. Each on a thread of its
    /// own (see `conn.rs`).
    pool: Vec<Slot>,
}

/// The advisory lock deciding workers take in turn ("tbdc").
const DECIDING_LOCK: i64 = 0x7462_6463;

/// The driver's errors, in the store's terms (the password is never in
/// them: the driver does not print its configuration).
pub(super) fn pg_err(e: postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("database: {} ({})", db.message(), db.code().code()),
        None => {
            // The driver's own words are short ("error performing TLS
            // handshake"); what went wrong is in the causes.
            let mut m = format!("database: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                m.push_str(&format!(": {c}"));
                cause = c.source();
            }
            if m.contains("certificate") {
                m.push_str(
                    " (set [store] ca_file to the certificate that signed the database's, \
                     or sslmode=disable in the URL on a network you trust)",
                );
            }
            m
        }
    };
    StoreError::Backend {
        message,
        fatal: false,
    }
}

/// Whether the database asks for the transaction to be tried again.
fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

fn enc<T: Serialize>(v: &T) -> String {
    // Our own plain structs always serialize (see the embedded store).
    serde_json::to_string(v).unwrap_or_default()
}

fn dec<T: DeserializeOwned>(kind: &'static str, key: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
        kind,
        key: key.to_owned(),
        source,
    })
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
}

fn id_col(id: TicketId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn id_from(v: i64) -> TicketId {
    TicketId::try_from(v).unwrap_or_default()
}

fn kind_col(kind: BlobKind) -> i16 {
    match kind {
        BlobKind::Mail => 0,
        BlobKind::Outgoing => 1,
    }
}

fn state_col(key: &StateKey) -> (i8, &str) {
    match key {
        StateKey::Checkpoint(source) => (b'c' as i8, source),
        StateKey::QueueStats(queue) => (b's' as i8, queue),
        StateKey::Prefs(address) => (b'p' as i8, address),
        StateKey::Incident(source) => (b'i' as i8, source.as_str()),
        StateKey::Bounces => (b'b' as i8, ""),
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or a
    /// libpq key=value string) with `password` when given apart from it,
    /// and creates or migrates its tables. `first_ticket` is the number
    /// the first ticket gets in a new database.
    pub fn connect(
        url: &str,
        password: Option<&str>,
        ca_file: Option<&std::path::Path>,
        first_ticket: TicketId,
    ) -> Result<PgStore> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Other(format!("the database URL does not read: {e}")))?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_application_name().is_none() {
            config.application_name("ticketbox");
        }
        // TLS as the URL's sslmode says (prefer, require, disable), with
        // the same rustls as mail.
        let tls = crate::tls::client_config(ca_file)
            .map_err(|e| StoreError::Other(format!("database TLS: {e}")))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
        let pool = (0..=CONNECTIONS)
            .map(|_| {
                let (config, tls) = (config.clone(), tls.clone());
                Slot::start(move || config.connect(tls))
            })
            .collect::<Result<Vec<_>>>()?;
        let store = PgStore { pool };
        store.with(|c| schema::migrate(&mut c.client, first_ticket))?;
        Ok(store)
    }

    /// A free connection, or the first one when all are busy.
    fn conn(&self) -> Held<'_> {
        self.pool[..CONNECTIONS]
            .iter()
            .find_map(Slot::try_hold)
            .unwrap_or_else(|| self.pool[0].hold())
    }

    /// Runs `f` on a connection (on its thread).
    fn with<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T> + Send) -> Result<T> {
        self.conn().call(f)
    }

    /// Runs `f` in a transaction, again while the database asks for that.
    fn tx<T: Send>(
        &self,
        f: impl Fn(&mut Tx<'_>) -> std::result::Result<T, TxError> + Send + Sync,
    ) -> Result<T> {
        self.with(|c| {
            let mut tries = 0;
            loop {
                tries += 1;
                let mut tx = c.transaction().map_err(pg_err)?;
                let result = match f(&mut tx) {
                    Ok(v) => tx.commit().map(|()| v).map_err(TxError::Db),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(v) => return Ok(v),
                    Err(TxError::Db(e)) if retryable(&e) && tries < RETRIES => continue,
                    Err(TxError::Db(e)) => return Err(pg_err(e)),
                    Err(TxError::Store(e)) => return Err(e),
                }
            }
        })
    }

    fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        f: impl FnOnce(&postgres::Row) -> Result<T> + Send,
    ) -> Result<Option<T>>
    where
        T: Send,
    {
        self.with(|c| match c.query_opt(sql, params).map_err(pg_err)? {
            Some(row) => f(&row).map(Some),
            None => Ok(None),
        })
    }

    fn all<T: Send>(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        f: impl Fn(&postgres::Row) -> Result<T> + Send,
    ) -> Result<Vec<T>> {
        self.with(|c| {
            c.query(sql, params)
                .map_err(pg_err)?
                .iter()
                .map(f)
                .collect()
        })
    }
}

/// What a transaction's body fails with: the database (maybe worth a
/// retry) or the store's own judgement.
enum TxError {
    Db(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> TxError {
        TxError::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> TxError {
        TxError::Store(e)
    }
}

impl ThreadView for PgStore {
    type Error = StoreError;

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        self.one(
            "SELECT record FROM tickets WHERE id = $1",
            &[&id_col(id)],
            |r| dec("tickets", &id.to_string(), r.get(0)),
        )
    }

    fn ticket_for_message_id(&self, id: &str) -> Result<Option<TicketId>> {
        self.one(
            "SELECT ticket FROM msgid WHERE message_id = $1",
            &[&id],
            |r| Ok(id_from(r.get(0))),
        )
    }

    fn ticket_for_conversation(&self, key: &str) -> Result<Option<TicketId>> {
        self.one(
            "SELECT ticket FROM conversations WHERE key = $1",
            &[&key],
            |r| Ok(id_from(r.get(0))),
        )
    }

    fn tickets_of_customer(&self, address: &str) -> Result<Vec<TicketId>> {
        self.all(
            "SELECT ticket FROM customers WHERE address = $1 ORDER BY ticket",
            &[&address],
            |r| Ok(id_from(r.get(0))),
        )
    }
}

impl View for PgStore {
    fn blob(&self, kind: BlobKind, key: &str) -> Result<Option<Vec<u8>>> {
        self.one(
            "SELECT bytes FROM blobs WHERE kind = $1 AND key = $2",
            &[&kind_col(kind), &key],
            |r| Ok(r.get(0)),
        )
    }

    fn pending(&self) -> Result<Vec<PendingMail>> {
        self.all(
            "SELECT hash, origin, total, alone FROM pending ORDER BY seq",
            &[],
            |r| {
                Ok(PendingMail {
                    hash: r.get(0),
                    origin: r.get(1),
                    attempts: attempts(r.get(2), r.get(3)),
                })
            },
        )
    }

    fn attempts(&self, hash: &str) -> Result<Attempts> {
        Ok(self
            .one(
                "SELECT total, alone FROM pending WHERE hash = $1",
                &[&hash],
                |r| Ok(attempts(r.get(0), r.get(1))),
            )?
            .unwrap_or_default())
    }

    fn source_seen(&self, key: &str) -> Result<bool> {
        Ok(self
            .one("SELECT 1 FROM sources WHERE key = $1", &[&key], |_| Ok(()))?
            .is_some())
    }

    fn message(&self, message_id: &str) -> Result<Option<MessageRecord>> {
        self.one(
            "SELECT record FROM messages WHERE message_id = $1",
            &[&message_id],
            |r| dec("messages", message_id, r.get(0)),
        )
    }

    fn is_quarantined(&self, hash: &str) -> Result<bool> {
        Ok(self
            .one("SELECT 1 FROM quarantine WHERE hash = $1", &[&hash], |_| {
                Ok(())
            })?
            .is_some())
    }

    fn quarantined(&self) -> Result<Vec<Quarantined>> {
        self.all(
            "SELECT hash, record FROM quarantine ORDER BY hash",
            &[],
            |r| dec("quarantine", r.get(0), r.get(1)),
        )
    }

    fn tickets(&self) -> Result<Vec<Ticket>> {
        self.all("SELECT id, record FROM tickets ORDER BY id", &[], |r| {
            dec("tickets", &r.get::<_, i64>(0).to_string(), r.get(1))
        })
    }

    fn open_tickets(&self) -> Result<Vec<Ticket>> {
        self.all(
            "SELECT id, record FROM tickets WHERE open ORDER BY id",
            &[],
            |r| dec("tickets", &r.get::<_, i64>(0).to_string(), r.get(1)),
        )
    }

    fn customer_tickets(&self, address: &str) -> Result<Vec<CustomerTicket>> {
        self.all(
            "SELECT ticket, created, open, closed FROM customers WHERE address = $1 ORDER BY ticket",
            &[&address],
            |r| {
                let created: i64 = r.get(1);
                let closed: Option<i64> = r.get(3);
                Ok(CustomerTicket {
                    id: id_from(r.get(0)),
                    created: from_ms(created).unwrap_or_default(),
                    open: r.get(2),
                    closed: closed.and_then(from_ms),
                })
            },
        )
    }

    fn next_ticket_id(&self) -> Result<TicketId> {
        self.with(next_number)
    }

    fn acks_to(&self, key: &str) -> Result<Vec<DateTime<Utc>>> {
        Ok(self
            .one("SELECT times FROM acks WHERE key = $1", &[&key], |r| {
                dec("acks", key, r.get(0))
            })?
            .unwrap_or_default())
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.all(
            "SELECT id, entry FROM outbox ORDER BY created, done, id",
            &[],
            |r| dec("outbox", r.get(0), r.get(1)),
        )
    }

    fn outbox_active(&self) -> Result<Vec<OutboxEntry>> {
        self.all(
            "SELECT id, entry FROM outbox WHERE NOT done ORDER BY id",
            &[],
            |r| dec("outbox", r.get(0), r.get(1)),
        )
    }

    fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        self.one(
            "SELECT o.entry, b.bytes FROM outbox o \
             LEFT JOIN blobs b ON b.kind = 1 AND b.key = o.id WHERE o.id = $1",
            &[&id],
            |r| {
                let mut e: OutboxEntry = dec("outbox", id, r.get(0))?;
                if let Some(raw) = r.get::<_, Option<Vec<u8>>>(1) {
                    e.raw = String::from_utf8(raw)
                        .unwrap_or_else(|bad| String::from_utf8_lossy(bad.as_bytes()).into_owned());
                }
                Ok(e)
            },
        )
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = $1", &[&key], |r| {
            Ok(r.get(0))
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn state(&self, key: &StateKey) -> Result<Option<State>> {
        let (kind, name) = state_col(key);
        // Unreadable state is no state (as in the embedded store).
        Ok(self
            .one(
                "SELECT value FROM state WHERE kind = $1 AND name = $2",
                &[&kind, &name],
                |r| Ok(serde_json::from_str::<State>(r.get(0)).ok()),
            )?
            .flatten())
    }
}

fn attempts(total: i32, alone: i32) -> Attempts {
    Attempts {
        total: u32::try_from(total).unwrap_or_default(),
        alone: u32::try_from(alone).unwrap_or_default(),
    }
}

/// The number `nextval` would give, without taking it.
fn next_number(c: &mut impl Sql) -> Result<TicketId> {
    let row = c
        .query_one("SELECT last_value, is_called FROM ticket_numbers", &[])
        .map_err(pg_err)?;
    let last: i64 = row.get(0);
    let called: bool = row.get(1);
    Ok(id_from(if called { last.saturating_add(1) } else { last }))
}

impl Store for PgStore {
    fn put_blob(&self, kind: BlobKind, key: &str, bytes: &[u8]) -> Result<()> {
        self.with(|c| put_blob_in(c, kind, key, bytes).map_err(pg_err))
    }

    fn put_raw(&self, hash: &str, bytes: &[u8], origin: &str) -> Result<()> {
        // The blob and its mark in one transaction, not two commits.
        self.put_raws(&[(hash, bytes, origin)])
    }

    fn put_raws(&self, mails: &[(&str, &[u8], &str)]) -> Result<()> {
        // One transaction, one commit to wait for, whatever the batch.
        self.tx(|tx| {
            for (hash, bytes, origin) in mails {
                put_blob_in(tx, BlobKind::Mail, hash, bytes)?;
                mark_pending_in(tx, hash, origin)?;
            }
            Ok(())
        })
    }

    fn mark_pending(&self, hash: &str, origin: &str) -> Result<()> {
        self.with(|c| mark_pending_in(c, hash, origin).map_err(pg_err))
    }

    fn count_attempts(&self, hashes: &[&str], alone: bool) -> Result<()> {
        let hashes: Vec<&str> = hashes.to_vec();
        let alone = i32::from(alone);
        self.with(|c| {
            c.execute(
                "UPDATE pending SET total = total + 1, alone = alone + $2 WHERE hash = ANY($1)",
                &[&hashes, &alone],
            )
            .map(drop)
            .map_err(pg_err)
        })
    }

    fn allocate_ticket_id(&self) -> Result<TicketId> {
        self.with(|c| {
            let v: i64 = c
                .query_one("SELECT nextval('ticket_numbers')", &[])
                .map_err(pg_err)?
                .get(0);
            Ok(id_from(v))
        })
    }

    fn commit(&self, c: &Commit) -> Result<()> {
        self.commit_all(std::slice::from_ref(c))
    }

    fn commit_all(&self, commits: &[Commit]) -> Result<()> {
        self.tx(|tx| {
            for c in commits {
                write_commit(tx, c)?;
            }
            Ok(())
        })
    }

    fn flush(&self) -> Result<()> {
        // Every write is a committed transaction when it returns.
        Ok(())
    }

    fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        self.put_outbox_all(std::slice::from_ref(entry))
    }

    fn put_outbox_all(&self, entries: &[OutboxEntry]) -> Result<()> {
        self.tx(|tx| {
            for e in entries {
                write_outbox(tx, e)?;
            }
            Ok(())
        })
    }

    fn claim_due(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Due> {
        let (now_ms, until_ms) = (ms(now), ms(until));
        let take = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        self.tx(|tx| {
            // What this holder may take now, oldest first; rows another
            // worker is claiming this instant are passed over, not waited
            // for.
            let rows = tx.query(
                "SELECT id, entry FROM outbox \
                 WHERE NOT done AND next_attempt <= $1 \
                   AND (claim_holder IS NULL OR claim_holder = $2 OR claim_until <= $1 \
                        OR EXISTS (SELECT 1 FROM leases l \
                                   WHERE l.name = 'alive:' || outbox.claim_holder AND l.until <= $1)) \
                 ORDER BY created, id LIMIT $3 FOR UPDATE SKIP LOCKED",
                &[&now_ms, &holder, &take],
            )?;
            let mut due = Due::default();
            for row in &rows {
                if due.claimed.len() >= limit {
                    // More is ready than this round takes: come back now.
                    due.next = Some(now);
                    break;
                }
                let mut e: OutboxEntry = dec("outbox", row.get(0), row.get(1))?;
                e.claim = Some(super::Claim {
                    holder: holder.to_owned(),
                    until,
                });
                tx.execute(
                    "UPDATE outbox SET claim_holder = $2, claim_until = $3, entry = $4 WHERE id = $1",
                    &[&e.id, &holder, &until_ms, &enc(&e)],
                )?;
                due.claimed.push(e);
            }
            let claimed: Vec<&str> = due.claimed.iter().map(|e| e.id.as_str()).collect();
            // When the rest could next be taken by this holder.
            let later: Option<i64> = tx
                .query_one(
                    // A claim ends when it runs out or when its holder's
                    // sign of life does, whichever comes first.
                    "SELECT min(CASE WHEN claim_holder IS NOT NULL AND claim_holder <> $1 \
                                     THEN greatest(next_attempt, least(claim_until, \
                                          coalesce((SELECT l.until FROM leases l \
                                                    WHERE l.name = 'alive:' || outbox.claim_holder), \
                                                   claim_until))) \
                                     ELSE next_attempt END) \
                     FROM outbox WHERE NOT done AND NOT (id = ANY($2))",
                    &[&holder, &claimed],
                )?
                .get(0);
            if let Some(at) = later.and_then(from_ms) {
                due.next = Some(due.next.map_or(at, |n| n.min(at)));
            }
            Ok(due)
        })
    }

    fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        // One statement: the row's lock decides between workers asking at
        // once; the update happens only where the lease is open to us.
        self.with(|c| {
            Ok(c.query_opt(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE leases.holder = excluded.holder OR leases.until <= $3 \
                 RETURNING holder",
                &[&name, &holder, &ms(now), &ms(until)],
            )
            .map_err(pg_err)?
            .is_some())
        })
    }

    fn live_leases(&self, prefix: &str, now: DateTime<Utc>) -> Result<usize> {
        let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM leases WHERE name LIKE $1 AND until > $2",
                    &[&pattern, &ms(now)],
                )
                .map_err(pg_err)?
                .get(0);
            Ok(usize::try_from(n).unwrap_or_default())
        })
    }

    fn release(&self, name: &str, holder: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .map(drop)
            .map_err(pg_err)
        })
    }

    fn exclusive(&self) -> Result<super::Exclusive<'_>> {
        let held = self.pool[CONNECTIONS].hold();
        held.call(|c| {
            c.execute("SELECT pg_advisory_lock($1)", &[&DECIDING_LOCK])
                .map(drop)
                .map_err(pg_err)
        })?;
        Ok(super::Exclusive::until_dropped(move || {
            // Failing to unlock means the connection is broken, and a
            // broken connection's locks are gone with it.
            let _ = held.call(|c| c.execute("SELECT pg_advisory_unlock($1)", &[&DECIDING_LOCK]));
        }))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .map(drop)
            .map_err(pg_err)
        })
    }

    fn import_records(&self, records: &[Record]) -> Result<()> {
        self.import(records)
    }

    fn init_meta(&self, key: &str, value: &str) -> Result<String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &value],
            )
            .map_err(pg_err)?;
            let row = c
                .query_one("SELECT value FROM meta WHERE key = $1", &[&key])
                .map_err(pg_err)?;
            Ok(row.get::<_, String>(0))
        })
    }
}

/// A blob, written once: when it is there already it stays as it is.
fn put_blob_in(
    c: &mut impl Sql,
    kind: BlobKind,
    key: &str,
    bytes: &[u8],
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO blobs (kind, key, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&kind_col(kind), &key, &bytes],
    )
    .map(drop)
}

/// Marks stored mail pending. A mark already there keeps its arrival
/// number and tries; quarantined mail is not pending again.
fn mark_pending_in(
    c: &mut impl Sql,
    hash: &str,
    origin: &str,
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO pending (hash, origin) \
         SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM quarantine WHERE hash = $1) \
         ON CONFLICT DO NOTHING",
        &[&hash, &origin],
    )
    .map(drop)
}

/// One commit's writes, in the order the other backends apply them.
fn write_commit(tx: &mut Tx<'_>, c: &Commit) -> std::result::Result<(), TxError> {
    if !c.raw_hash.is_empty() {
        tx.execute("DELETE FROM pending WHERE hash = $1", &[&c.raw_hash])?;
    }
    if let Some(key) = &c.source_key {
        tx.execute(
            "INSERT INTO sources (key, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[key, &c.raw_hash],
        )?;
    }
    for r in &c.messages {
        tx.execute(
            "INSERT INTO messages (message_id, record) VALUES ($1, $2) \
             ON CONFLICT (message_id) DO UPDATE SET record = excluded.record",
            &[&r.message_id, &enc(r)],
        )?;
    }
    if let Some(t) = &c.ticket {
        let id = id_col(t.id);
        let open = t.status.is_open();
        tx.execute(
            "INSERT INTO tickets (id, open, record) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET open = excluded.open, record = excluded.record",
            &[&id, &open, &enc(t)],
        )?;
        let closed = t.closed.map(ms);
        tx.execute(
            "INSERT INTO customers (address, ticket, created, open, closed) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address, ticket) DO UPDATE \
             SET created = excluded.created, open = excluded.open, closed = excluded.closed",
            &[&t.customer.address, &id, &ms(t.created), &open, &closed],
        )?;
        // A ticket numbered at or past the counter (a store filled from
        // elsewhere): the counter moves past it. Numbers taken here come
        // from the sequence and are always below it.
        if t.id >= next_number(tx)? {
            tx.execute("SELECT setval('ticket_numbers', $1, true)", &[&id])?;
        }
    }
    // References never move an entry; a message's own id does.
    for (id, t) in &c.index {
        tx.execute(
            "INSERT INTO msgid (message_id, ticket) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[id, &id_col(*t)],
        )?;
    }
    for (id, t) in &c.placed {
        tx.execute(
            "INSERT INTO msgid (message_id, ticket) VALUES ($1, $2) \
             ON CONFLICT (message_id) DO UPDATE SET ticket = excluded.ticket",
            &[id, &id_col(*t)],
        )?;
    }
    if let Some((key, t)) = &c.conversation {
        tx.execute(
            "INSERT INTO conversations (key, ticket) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[key, &id_col(*t)],
        )?;
    }
    for e in &c.outbox {
        write_outbox(tx, e)?;
    }
    for a in &c.acked {
        write_ack(tx, a)?;
    }
    for st in &c.state {
        let key = st.key();
        let (kind, name) = state_col(&key);
        tx.execute(
            "INSERT INTO state (kind, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value",
            &[&kind, &name, &enc(st)],
        )?;
    }
    if c.released {
        tx.execute("DELETE FROM quarantine WHERE hash = $1", &[&c.raw_hash])?;
    }
    if let Some(q) = &c.quarantine {
        tx.execute(
            "INSERT INTO quarantine (hash, record) VALUES ($1, $2) \
             ON CONFLICT (hash) DO UPDATE SET record = excluded.record",
            &[&c.raw_hash, &enc(q)],
        )?;
    }
    Ok(())
}

/// An outbox entry's row; its message, when it has one, is a blob written
/// once (later writes carry the delivery state only).
fn write_outbox(tx: &mut Tx<'_>, e: &OutboxEntry) -> std::result::Result<(), TxError> {
    if !e.raw.is_empty() {
        put_blob_in(tx, BlobKind::Outgoing, &e.id, e.raw.as_bytes())?;
    }
    let (holder, until) = match &e.claim {
        Some(c) => (Some(c.holder.as_str()), Some(ms(c.until))),
        None => (None, None),
    };
    tx.execute(
        "INSERT INTO outbox (id, done, created, next_attempt, claim_holder, claim_until, entry) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET done = excluded.done, created = excluded.created, \
           next_attempt = excluded.next_attempt, claim_holder = excluded.claim_holder, \
           claim_until = excluded.claim_until, entry = excluded.entry",
        &[
            &e.id,
            &e.state.is_done(),
            &ms(e.created),
            &ms(e.next_attempt),
            &holder,
            &until,
            &enc(&e.without_raw()),
        ],
    )?;
    Ok(())
}

/// One more acknowledgement time under a key, keeping the latest.
fn write_ack(tx: &mut Tx<'_>, a: &Acked) -> std::result::Result<(), TxError> {
    // The row is locked (or its insert is) for the rest of the
    // transaction, so two workers counting at once both count.
    tx.execute(
        "INSERT INTO acks (key, times) VALUES ($1, '[]') ON CONFLICT DO NOTHING",
        &[&a.key],
    )?;
    let row = tx.query_one(
        "SELECT times FROM acks WHERE key = $1 FOR UPDATE",
        &[&a.key],
    )?;
    let mut times: Vec<DateTime<Utc>> = dec("acks", &a.key, row.get(0))?;
    a.count_into(&mut times);
    tx.execute(
        "UPDATE acks SET times = $2 WHERE key = $1",
        &[&a.key, &enc(&times)],
    )?;
    Ok(())
}

impl PgStore {
    /// Writes records a move brought (see `store::moving`), in one
    /// transaction: the same writes commits make, so the indexes derived
    /// from them (a customer's tickets, the open tickets) come out the
    /// same.
    pub(in crate::store) fn import(&self, records: &[Record]) -> Result<()> {
        self.tx(|tx| {
            for r in records {
                import_one(tx, r)?;
            }
            Ok(())
        })
    }
}

fn import_one(tx: &mut Tx<'_>, r: &Record) -> std::result::Result<(), TxError> {
    match r {
        Record::Meta { key, value } => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key, value],
            )?;
        }
        Record::Blob { kind, key, bytes } => put_blob_in(tx, *kind, key, bytes)?,
        Record::Pending(p) => {
            let (total, alone) = (
                i32::try_from(p.attempts.total).unwrap_or(i32::MAX),
                i32::try_from(p.attempts.alone).unwrap_or(i32::MAX),
            );
            tx.execute(
                "INSERT INTO pending (hash, origin, total, alone) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                &[&p.hash, &p.origin, &total, &alone],
            )?;
        }
        Record::Source { key, hash } => {
            tx.execute(
                "INSERT INTO sources (key, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[key, hash],
            )?;
        }
        Record::Message(m) => write_commit(
            tx,
            &Commit {
                messages: vec![(**m).clone()],
                ..Commit::default()
            },
        )?,
        Record::Ticket(t) => write_commit(
            tx,
            &Commit {
                ticket: Some((**t).clone()),
                ..Commit::default()
            },
        )?,
        Record::MessageId { id, ticket } => write_commit(
            tx,
            &Commit {
                placed: vec![(id.clone(), *ticket)],
                ..Commit::default()
            },
        )?,
        Record::Conversation { key, ticket } => write_commit(
            tx,
            &Commit {
                conversation: Some((key.clone(), *ticket)),
                ..Commit::default()
            },
        )?,
        Record::Outbox(e) => write_outbox(tx, e)?,
        Record::Acks { key, times } => {
            tx.execute(
                "INSERT INTO acks (key, times) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET times = excluded.times",
                &[key, &enc(times)],
            )?;
        }
        Record::Quarantine { hash, record } => {
            tx.execute(
                "INSERT INTO quarantine (hash, record) VALUES ($1, $2) \
                 ON CONFLICT (hash) DO UPDATE SET record = excluded.record",
                &[hash, &enc(record)],
            )?;
        }
        Record::State { state: st } => write_commit(
            tx,
            &Commit {
                state: vec![st.clone()],
                ..Commit::default()
            },
        )?,
        Record::NextTicket { next: n } => {
            // Past every number the source gave (numbers skip, never
            // repeat).
            if *n > next_number(tx)? {
                let last = id_col(n.saturating_sub(1));
                tx.execute("SELECT setval('ticket_numbers', $1, true)", &[&last])?;
            }
        }
    }
    Ok(())
}

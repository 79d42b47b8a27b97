//! The server store's tables, created and migrated by ticketbox itself.
//!
//! Each step is one transaction under an advisory lock, so workers that
//! start together migrate once; the version is a row in `meta`, and a
//! database newer than this ticketbox is refused before anything is
//! written.

use super::pg_err;
use crate::model::TicketId;
use crate::store::{Result, SCHEMA_VERSION, StoreError};
use postgres::Client;

/// The advisory lock every migration takes (any number, fixed: "tbox").
const MIGRATION_LOCK: i64 = 0x7462_6f78;

/// The layout at schema 2, the version the embedded store had when the
/// server store was added: the same records, a table per kind.
///
/// Records are JSON text (the same encoding the embedded store writes),
/// with the columns queries select on beside them; times are
/// milliseconds since the epoch.
const SCHEMA_2: &str = "
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    kind smallint NOT NULL, key text NOT NULL, bytes bytea NOT NULL,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS pending (
    hash text PRIMARY KEY, seq bigserial NOT NULL, origin text NOT NULL,
    total integer NOT NULL DEFAULT 0, alone integer NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sources (key text PRIMARY KEY, hash text NOT NULL);
CREATE TABLE IF NOT EXISTS messages (message_id text PRIMARY KEY, record text NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id bigint PRIMARY KEY, open boolean NOT NULL, record text NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_open ON tickets (id) WHERE open;
CREATE TABLE IF NOT EXISTS msgid (message_id text PRIMARY KEY, ticket bigint NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (key text PRIMARY KEY, ticket bigint NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    address text NOT NULL, ticket bigint NOT NULL, created bigint NOT NULL,
    open boolean NOT NULL, closed bigint,
    PRIMARY KEY (address, ticket));
CREATE TABLE IF NOT EXISTS outbox (
    id text PRIMARY KEY, done boolean NOT NULL, created bigint NOT NULL,
    next_attempt bigint NOT NULL, claim_holder text, claim_until bigint,
    entry text NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt) WHERE NOT done;
CREATE TABLE IF NOT EXISTS acks (key text PRIMARY KEY, times text NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (hash text PRIMARY KEY, record text NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text NOT NULL, until bigint NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    kind \"char\" NOT NULL, name text NOT NULL, value text NOT NULL,
    PRIMARY KEY (kind, name));
";

/// Brings the database to [`SCHEMA_VERSION`]: creates the tables in an
/// empty one, refuses one written by a newer ticketbox.
pub(super) fn migrate(client: &mut Client, first_ticket: TicketId) -> Result<()> {
    let mut tx = client.transaction().map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg_err)?;
    let has_meta: bool = tx
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
        .map_err(pg_err)?
        .get(0);
    let found: Option<u32> = if has_meta {
        tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .map_err(pg_err)?
            .map(|row| {
                let v: String = row.get(0);
                v.parse()
                    .map_err(|_| StoreError::Other(format!("schema_version {v:?} is not a number")))
            })
            .transpose()?
    } else {
        None
    };
    match found {
        Some(v) if v > SCHEMA_VERSION => return Err(StoreError::TooNew { found: v }),
        Some(_) => {}
        None => {
            tx.batch_execute(SCHEMA_2).map_err(pg_err)?;
            // Ticket numbers: a sequence, so no two workers ever take one
            // number, whatever their transactions do.
            let start = i64::try_from(first_ticket).unwrap_or(i64::MAX);
            tx.batch_execute(&format!(
                "CREATE SEQUENCE IF NOT EXISTS ticket_numbers START WITH {start} MINVALUE 0"
            ))
            .map_err(pg_err)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )
            .map_err(pg_err)?;
        }
    }
    // Later versions migrate here, one step at a time, in this transaction.
    tx.commit().map_err(pg_err)
}

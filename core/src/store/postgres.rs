//! `postgres://…`: keys shared by many processes and machines.
//!
//! Every lifecycle change is one transaction that also sends
//! `NOTIFY gatepass_keys`; a listener thread per store turns each notification
//! into an epoch bump, which empties every process's verification cache. While
//! the listener is not connected, `epoch` never repeats, so the cache is
//! bypassed and every verify reads the store: slower, never stale.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use super::row::{key_columns_of, read_key_row, to_i64, KeyRow, KEY_COLUMNS, KEY_COLUMN_COUNT};
use super::{Change, Found, Store, UsageDelta};
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::key::{KeyRecord, ListQuery};
use crate::token::TokenDigest;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 1;
/// The notification channel of lifecycle changes; the payload is the key id.
pub const CHANNEL: &str = "gatepass_keys";
/// Arbitrary constant for `pg_advisory_xact_lock`, serialising migrations.
const MIGRATION_LOCK: i64 = 0x6761_7465_7061_7373; // "gatepass"
/// How long the listener waits for a notification before checking that its
/// connection is still alive.
const LISTEN_POLL: Duration = Duration::from_millis(250);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS gatepass_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    start        TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    subject      TEXT,
    resource     TEXT,
    metadata     TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    usage_count  BIGINT NOT NULL DEFAULT 0,
    rate_limit   TEXT,
    remaining    BIGINT
);
CREATE INDEX IF NOT EXISTS gatepass_keys_order ON gatepass_keys (created_at, id);
CREATE INDEX IF NOT EXISTS gatepass_keys_subject ON gatepass_keys (subject, created_at, id);
CREATE TABLE IF NOT EXISTS gatepass_secrets (
    digest     BYTEA PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES gatepass_keys (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX IF NOT EXISTS gatepass_secrets_key ON gatepass_secrets (key_id);
";

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::unavailable(e)
    }
}

impl From<postgres::Error> for GateError {
    fn from(e: postgres::Error) -> Self {
        GateError::Store(StoreError::unavailable(e))
    }
}

/// Shared between the store and its listener thread.
#[derive(Debug, Default)]
struct Invalidation {
    epoch: AtomicU64,
    listening: AtomicBool,
    stopped: AtomicBool,
}

#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    invalidation: Arc<Invalidation>,
}

fn read_row(row: &Row) -> Result<KeyRow, postgres::Error> {
    Ok(read_key_row!(row, try_get))
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS gatepass_schema (version INTEGER NOT NULL)")?;
    let version: i32 = tx
        .query_opt("SELECT version FROM gatepass_schema", &[])?
        .map(|r| r.try_get(0))
        .transpose()?
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: i64::from(version),
            supported: i64::from(SCHEMA_VERSION),
        });
    }
    if version < 1 {
        tx.batch_execute(SCHEMA_V1)?;
        tx.execute("DELETE FROM gatepass_schema", &[])?;
        tx.execute(
            "INSERT INTO gatepass_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Keeps one `LISTEN` connection open, reconnecting after failures, and bumps
/// the epoch on every notification and on every (re)connect (notifications
/// sent while it was away are lost, so everything cached before is suspect).
fn listen(config: postgres::Config, state: Arc<Invalidation>) {
    while !state.stopped.load(Ordering::Acquire) {
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(RECONNECT_BACKOFF);
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            std::thread::sleep(RECONNECT_BACKOFF);
            continue;
        }
        state.epoch.fetch_add(1, Ordering::AcqRel);
        state.listening.store(true, Ordering::Release);
        while !state.stopped.load(Ordering::Acquire) {
            let next = client.notifications().timeout_iter(LISTEN_POLL).next();
            match next {
                Ok(Some(_)) => {
                    state.epoch.fetch_add(1, Ordering::AcqRel);
                }
                // A quiet interval: make sure the connection is still there,
                // since a silent connection and a dead one look alike.
                Ok(None) => {
                    if client.is_closed() || client.simple_query("SELECT 1").is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        state.listening.store(false, Ordering::Release);
        state.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

impl PostgresStore {
    /// Connects, migrates the schema and starts the listener thread.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|_| StoreError::InvalidUrl("postgres"))?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)
            .map_err(StoreError::unavailable)?;
        migrate(&mut *pool.get().map_err(StoreError::unavailable)?)?;
        let invalidation = Arc::new(Invalidation::default());
        let state = Arc::clone(&invalidation);
        std::thread::Builder::new()
            .name("gatepass-listen".into())
            .spawn(move || listen(config, state))
            .map_err(StoreError::unavailable)?;
        Ok(Self { pool, invalidation })
    }

    /// Whether the notification listener is connected (tests and health checks).
    pub fn is_listening(&self) -> bool {
        self.invalidation.listening.load(Ordering::Acquire)
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool.get().map_err(StoreError::unavailable)
    }

    fn read_key(
        tx: &mut Transaction<'_>,
        id: &str,
        lock: bool,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM gatepass_keys WHERE id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        tx.query_opt(&sql, &[&id])?
            .map(|r| {
                read_row(&r)
                    .map_err(StoreError::from)
                    .and_then(KeyRow::into_record)
            })
            .transpose()
    }

    fn modify_in(
        &self,
        id: &str,
        change: Change<'_>,
        then: impl FnOnce(&mut Transaction<'_>, &KeyRecord) -> Result<(), GateError>,
    ) -> Result<KeyRecord, GateError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let mut key =
            Self::read_key(&mut tx, id, true)?.ok_or_else(|| GateError::NotFound(id.to_owned()))?;
        change(&mut key)?;
        let r = KeyRow::from_record(&key)?;
        // usage_count and last_used_at are only changed by add_usage.
        tx.execute(
            "UPDATE gatepass_keys SET name = $2, kind = $3, start = $4, scopes = $5, subject = $6, \
             resource = $7, metadata = $8, status = $9, updated_at = $10, expires_at = $11, \
             revoked_at = $12, rate_limit = $13, remaining = $14 WHERE id = $1",
            &[
                &r.id,
                &r.name,
                &r.kind,
                &r.start,
                &r.scopes,
                &r.subject,
                &r.resource,
                &r.metadata,
                &r.status,
                &r.updated_at,
                &r.expires_at,
                &r.revoked_at,
                &r.rate_limit,
                &r.remaining,
            ],
        )?;
        then(&mut tx, &key)?;
        notify(&mut tx, id)?;
        tx.commit()?;
        Ok(key)
    }
}

/// Sent inside the change's transaction, so listeners hear of it exactly when
/// it commits, and never of a change that rolled back.
fn notify(tx: &mut Transaction<'_>, id: &str) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])
        .map(|_| ())
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The listener notices within one poll interval and exits.
        self.invalidation.stopped.store(true, Ordering::Release);
    }
}

impl Store for PostgresStore {
    fn insert(&self, key: &KeyRecord, digest: &TokenDigest) -> Result<(), StoreError> {
        let r = KeyRow::from_record(key)?;
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        tx.execute(
            &format!(
                "INSERT INTO gatepass_keys ({KEY_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ),
            &[
                &r.id,
                &r.name,
                &r.kind,
                &r.start,
                &r.scopes,
                &r.subject,
                &r.resource,
                &r.metadata,
                &r.status,
                &r.created_at,
                &r.updated_at,
                &r.expires_at,
                &r.revoked_at,
                &r.last_used_at,
                &r.usage_count,
                &r.rate_limit,
                &r.remaining,
            ],
        )?;
        tx.execute(
            "INSERT INTO gatepass_secrets (digest, key_id, created_at, expires_at) VALUES ($1, $2, $3, NULL)",
            &[&&digest.as_bytes()[..], &r.id, &r.created_at],
        )?;
        // Verification caches remember digests the store did not have; a
        // new secret must reach them too, as on SQLite, where the epoch
        // moves with every inserted secret.
        notify(&mut tx, &r.id)?;
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let key = Self::read_key(&mut tx, id, false)?;
        tx.commit()?;
        Ok(key)
    }

    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        let mut client = self.client()?;
        let row = client.query_opt(
            &format!(
                "SELECT {}, s.expires_at FROM gatepass_secrets s \
                 JOIN gatepass_keys k ON k.id = s.key_id WHERE s.digest = $1",
                key_columns_of("k")
            ),
            &[&&digest.as_bytes()[..]],
        )?;
        row.map(|row| {
            Ok(Found {
                key: Arc::new(read_row(&row)?.into_record()?),
                secret_expires_at: row.try_get(KEY_COLUMN_COUNT)?,
            })
        })
        .transpose()
    }

    fn list(&self, q: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        let (after_t, after_id) = q
            .after
            .as_ref()
            .map_or((i64::MIN, String::new()), |c| (c.created_at, c.id.clone()));
        let status = q.status.map(|s| s.as_str());
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let mut client = self.client()?;
        let rows = client.query(
            &format!(
                "SELECT {KEY_COLUMNS} FROM gatepass_keys \
                 WHERE ($1::TEXT IS NULL OR subject = $1) AND ($2::TEXT IS NULL OR kind = $2) \
                 AND ($3::TEXT IS NULL OR status = $3) AND (created_at, id) > ($4, $5) \
                 ORDER BY created_at, id LIMIT $6"
            ),
            &[&q.subject, &q.kind, &status, &after_t, &after_id, &limit],
        )?;
        rows.iter()
            .map(|r| {
                read_row(r)
                    .map_err(StoreError::from)
                    .and_then(KeyRow::into_record)
            })
            .collect()
    }

    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        self.modify_in(id, change, |_, _| Ok(()))
    }

    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: Millis,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        self.modify_in(id, change, |tx, key| {
            tx.execute(
                "UPDATE gatepass_secrets SET expires_at = LEAST(COALESCE(expires_at, $2), $2) WHERE key_id = $1",
                &[&id, &old_until],
            )?;
            tx.execute(
                "INSERT INTO gatepass_secrets (digest, key_id, created_at, expires_at) VALUES ($1, $2, $3, NULL)",
                &[&&new_digest.as_bytes()[..], &id, &key.updated_at],
            )?;
            Ok(())
        })
    }

    fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        // Secrets go with the key through ON DELETE CASCADE.
        let n = tx.execute("DELETE FROM gatepass_keys WHERE id = $1", &[&id])?;
        notify(&mut tx, id)?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Lock rows in one order in every process, so concurrent flushes
        // cannot deadlock.
        let mut sorted: Vec<&UsageDelta> = batch.iter().collect();
        sorted.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let stmt = tx.prepare(
            "UPDATE gatepass_keys SET usage_count = usage_count + $2, \
             last_used_at = GREATEST(COALESCE(last_used_at, $3), $3) WHERE id = $1",
        )?;
        for d in sorted {
            tx.execute(&stmt, &[&d.key_id, &to_i64(d.count), &d.last_used_at])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let mut client = self.client()?;
        let row = client.query_opt(
            "UPDATE gatepass_keys SET remaining = remaining - 1 WHERE id = $1 AND remaining > 0 RETURNING remaining",
            &[&id],
        )?;
        Ok(row
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?
            .map(|r| u64::try_from(r).unwrap_or(0)))
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        let state = &self.invalidation;
        if state.listening.load(Ordering::Acquire) {
            Ok(state.epoch.load(Ordering::Acquire))
        } else {
            // No notifications: make every call a cache miss.
            Ok(state.epoch.fetch_add(1, Ordering::AcqRel) + 1)
        }
    }

    /// Known while the listener is connected; otherwise only a read of
    /// Postgres can be trusted.
    fn epoch_now(&self) -> Option<u64> {
        let state = &self.invalidation;
        state
            .listening
            .load(Ordering::Acquire)
            .then(|| state.epoch.load(Ordering::Acquire))
    }
}

//! `sqlite:///path`: the embedded default. One file, shared safely by several
//! threads and several processes: WAL mode, a busy timeout instead of
//! "database is locked" errors, `BEGIN IMMEDIATE` for every read-modify-write,
//! additive usage updates, and a change counter kept by triggers as the cache
//! epoch, so a revocation committed by another process is seen on the very
//! next verify (read only when the WAL-index header shows a commit, see
//! `wal_index`), while usage counting, which commits about once a second,
//! leaves every process's cache alone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};

use super::row::{key_columns_of, read_key_row, to_i64, KeyRow, KEY_COLUMNS, KEY_COLUMN_COUNT};
use super::wal_index::WalIndexWatch;
use super::{Change, Found, PolicyRecord, Store, UsageDelta};
use crate::audit::{self, Event, EventFilter, StoredEvent};
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::history::{HistoryRow, Step, TotalsRow, COUNTED, DAY};
use crate::key::{ExpiryFilter, KeyRecord, ListQuery};
use crate::token::TokenDigest;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;

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
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    usage_count  INTEGER NOT NULL DEFAULT 0,
    rate_limit   TEXT,
    remaining    INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS gatepass_keys_order ON gatepass_keys (created_at, id);
CREATE INDEX IF NOT EXISTS gatepass_keys_subject ON gatepass_keys (subject, created_at, id);
CREATE TABLE IF NOT EXISTS gatepass_secrets (
    digest     BLOB PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES gatepass_keys (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gatepass_secrets_key ON gatepass_secrets (key_id);
";

/// The cache epoch: `gatepass_changes.n` moves in the same transaction as
/// every change a verification can see, whoever makes it (triggers, so every
/// writer and every process counts), but not with usage counting or spent
/// credits: those commit all the time, and moving the epoch would empty every
/// process's cache each time. A verification shows them as of its cached
/// record; `get` reads them fresh.
///
/// `UPDATE OF` fires when a listed column is assigned, changed or not:
/// `update_key` assigns all of them, `add_usage` and `consume_credit` none.
/// A new column a verification reads belongs in this list.
const SCHEMA_V2: &str = "
CREATE TABLE gatepass_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO gatepass_changes (id, n) VALUES (1, 0);
CREATE TRIGGER gatepass_keys_changed
AFTER UPDATE OF id, name, kind, start, scopes, subject, resource, metadata, status,
    created_at, updated_at, expires_at, revoked_at, rate_limit ON gatepass_keys
BEGIN UPDATE gatepass_changes SET n = n + 1; END;
CREATE TRIGGER gatepass_keys_deleted AFTER DELETE ON gatepass_keys
BEGIN UPDATE gatepass_changes SET n = n + 1; END;
CREATE TRIGGER gatepass_secrets_added AFTER INSERT ON gatepass_secrets
BEGIN UPDATE gatepass_changes SET n = n + 1; END;
CREATE TRIGGER gatepass_secrets_changed AFTER UPDATE ON gatepass_secrets
BEGIN UPDATE gatepass_changes SET n = n + 1; END;
CREATE TRIGGER gatepass_secrets_deleted AFTER DELETE ON gatepass_secrets
BEGIN UPDATE gatepass_changes SET n = n + 1; END;
";

/// The policies gates recorded (see [`PolicyRecord`]), newest last. Created
/// on first use rather than by a schema version, so a file of any version
/// gains it in place. No trigger: recording a policy changes no key, so it
/// leaves every process's cache alone.
const POLICY_TABLE: &str = "
CREATE TABLE IF NOT EXISTS gatepass_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    document    TEXT NOT NULL,
    source      TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;
";

/// The audit trail (see `crate::audit`), created in place in a file of any
/// schema version: events are written in the transaction of the change they
/// record. `seq` is `AUTOINCREMENT` so a number is never reused after a
/// prune, which keeps page cursors exact. No trigger watches this table: an
/// event never moves the cache epoch.
const SCHEMA_EVENTS: &str = "
CREATE TABLE IF NOT EXISTS gatepass_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    at         INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    owner      TEXT,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    changes    TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS gatepass_events_key ON gatepass_events (key_id, seq);
CREATE INDEX IF NOT EXISTS gatepass_events_owner ON gatepass_events (owner, seq);
CREATE INDEX IF NOT EXISTS gatepass_events_at ON gatepass_events (at);
";

const EVENT_COLUMNS: &str = "seq, id, at, key_id, owner, action, actor, changes, ip, user_agent";

fn insert_event(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO gatepass_events (id, at, key_id, owner, action, actor, changes, ip, user_agent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        event.id,
        event.at,
        event.key_id,
        event.owner,
        event.action.as_str(),
        event.actor,
        audit::changes_text(&event.changes)?,
        event.ip,
        event.user_agent,
    ])?;
    Ok(())
}

type EventRow = (
    i64,
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn read_event_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn event_of(row: EventRow) -> Result<StoredEvent, StoreError> {
    let (seq, id, at, key_id, owner, action, actor, changes, ip, user_agent) = row;
    Ok(StoredEvent {
        seq,
        event: Event {
            action: audit::action_from_text(&id, &action)?,
            changes: audit::changes_from_text(&id, &changes)?,
            id,
            at,
            key_id,
            owner,
            actor,
            ip,
            user_agent,
        },
    })
}

/// Usage history (see `history.rs`): one row per key, bucket and outcome,
/// added to by every process's flush. Created on every open when missing,
/// so an existing file gains it in place without a version step. Rows go
/// with their key (the trigger; no foreign key, so a flush that names a key
/// deleted meanwhile drops its counts instead of failing the batch).
const USAGE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gatepass_usage (
    key_id  TEXT NOT NULL,
    step    TEXT NOT NULL,
    start   INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (key_id, step, start, outcome)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gatepass_usage_age ON gatepass_usage (step, start);
CREATE TRIGGER IF NOT EXISTS gatepass_usage_key_deleted AFTER DELETE ON gatepass_keys
BEGIN DELETE FROM gatepass_usage WHERE key_id = old.id; END;
";

#[derive(Debug)]
pub struct SqliteStore {
    /// Locked before `read` when both are needed, never after. Declared
    /// before the connections, so it is dropped before them: it reads the
    /// WAL index through the mapping SQLite keeps for `read`.
    epoch: Mutex<EpochCheck>,
    /// Reads and the epoch check. A separate connection from `write`, so that
    /// our own commits change its `data_version` (the check without a WAL
    /// index) just like other processes' do.
    read: Mutex<Connection>,
    write: Mutex<Connection>,
}

/// The change counter last read, and what it was read under: the WAL-index
/// header, or without one the `data_version`.
#[derive(Debug)]
struct EpochCheck {
    watch: Option<WalIndexWatch>,
    data_version: u64,
    changes: u64,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::unavailable(e)
    }
}

impl From<rusqlite::Error> for GateError {
    fn from(e: rusqlite::Error) -> Self {
        GateError::Store(StoreError::unavailable(e))
    }
}

/// Creates the database file readable and writable by its owner only (0600)
/// when it does not exist yet. SQLite would create it 0644 less the umask
/// (readable by every local user under the common 022), and it gives the
/// `-wal` and `-shm` files it creates the database file's permissions
/// whatever the umask, so those follow. An existing file keeps the
/// permissions it has: a deployment may share it with a group on purpose.
#[cfg(unix)]
fn create_owner_only(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;

    /// Held from creating the file until its descriptor is closed, and taken
    /// by every store before it opens its file: on Linux, closing any
    /// descriptor of a file drops every POSIX lock the process holds on it,
    /// SQLite's included. A file just created has no SQLite connection of
    /// this process on it yet, and no store can attach one until the lock is
    /// released.
    static CREATING: Mutex<()> = Mutex::new(());

    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return;
    }
    let _creating = CREATING.lock();
    // Errors (a missing directory, no permission) are SQLite's to report,
    // with its own message, when it opens the file next.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

#[cfg(not(unix))]
fn create_owner_only(_path: &Path) {}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Wait for other processes' write transactions rather than failing.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode is durable against application crashes; a power loss
    // may lose the last transactions but never corrupts the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Changes whenever another connection (ours included: reads and writes use
/// two) commits.
fn data_version(conn: &Connection) -> Result<u64, StoreError> {
    let v: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    Ok(v as u64)
}

/// The change counter (see [`SCHEMA_V2`]).
fn changes(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT n FROM gatepass_changes WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock first, so two processes opening a new file
    // at once cannot both create the schema.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if version < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.execute_batch(SCHEMA_EVENTS)?;
    tx.execute_batch(USAGE_SCHEMA)?;
    tx.commit()?;
    Ok(())
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(read_key_row!(row, get))
}

fn insert_key(conn: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    let r = KeyRow::from_record(key)?;
    conn.prepare_cached(&format!(
        "INSERT INTO gatepass_keys ({KEY_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    ))?
    .execute(params![
        r.id,
        r.name,
        r.kind,
        r.start,
        r.scopes,
        r.subject,
        r.resource,
        r.metadata,
        r.status,
        r.created_at,
        r.updated_at,
        r.expires_at,
        r.revoked_at,
        r.last_used_at,
        r.usage_count,
        r.rate_limit,
        r.remaining,
    ])?;
    Ok(())
}

/// Writes a changed key back. `usage_count` and `last_used_at` are left out:
/// only `add_usage` changes them, additively, so a lifecycle change can never
/// overwrite counts added by another process.
fn update_key(conn: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    let r = KeyRow::from_record(key)?;
    conn.prepare_cached(
        "UPDATE gatepass_keys SET name = ?2, kind = ?3, start = ?4, scopes = ?5, subject = ?6, \
         resource = ?7, metadata = ?8, status = ?9, updated_at = ?10, expires_at = ?11, \
         revoked_at = ?12, rate_limit = ?13, remaining = ?14 WHERE id = ?1",
    )?
    .execute(params![
        r.id,
        r.name,
        r.kind,
        r.start,
        r.scopes,
        r.subject,
        r.resource,
        r.metadata,
        r.status,
        r.updated_at,
        r.expires_at,
        r.revoked_at,
        r.rate_limit,
        r.remaining,
    ])?;
    Ok(())
}

/// A stored history row as the core reads it; a row it cannot read is
/// corrupt data, reported rather than skipped.
pub(super) fn history_row(
    (step, start, outcome, n): (String, i64, String, i64),
) -> Result<HistoryRow, StoreError> {
    let step = match step.as_str() {
        "hour" => Step::Hour,
        "day" => Step::Day,
        _ => {
            return Err(StoreError::Corrupt(
                "a usage row has an unknown step".into(),
            ))
        }
    };
    let n = u64::try_from(n)
        .map_err(|_| StoreError::Corrupt("a usage row has a negative count".into()))?;
    Ok(HistoryRow {
        step,
        start,
        outcome,
        n,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema
    /// up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_owner_only(path);
        let mut write = connect(path)?;
        migrate(&mut write)?;
        let read = connect(path)?;
        // The first read attaches `read` to the WAL index (mapping it).
        let data_version = data_version(&read)?;
        let changes = changes(&read)?;
        let watch = WalIndexWatch::attach(&read);
        Ok(Self {
            epoch: Mutex::new(EpochCheck {
                watch,
                data_version,
                changes,
            }),
            read: Mutex::new(read),
            write: Mutex::new(write),
        })
    }

    fn read_key(conn: &Connection, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM gatepass_keys WHERE id = ?1"
        ))?
        .query_row([id], read_row)
        .optional()?
        .map(KeyRow::into_record)
        .transpose()
    }

    /// Reads, changes and writes the key, its event and `then`'s writes in
    /// one transaction. A change that changed nothing writes nothing, not
    /// even `then`'s (and so commits nothing).
    fn modify_in(
        conn: &mut Connection,
        id: &str,
        change: Change<'_>,
        then: impl FnOnce(&Connection, &KeyRecord) -> Result<(), GateError>,
    ) -> Result<KeyRecord, GateError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut key = Self::read_key(&tx, id)?.ok_or_else(|| GateError::NotFound(id.to_owned()))?;
        let Some(event) = change(&mut key)? else {
            return Ok(key);
        };
        update_key(&tx, &key)?;
        then(&tx, &key)?;
        insert_event(&tx, &event)?;
        tx.commit()?;
        Ok(key)
    }
}

impl Store for SqliteStore {
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut conn = self.write.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_key(&tx, key)?;
        tx.prepare_cached("INSERT INTO gatepass_secrets (digest, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, NULL)")?
            .execute(params![&digest.as_bytes()[..], key.id, key.created_at])?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Self::read_key(&self.read.lock(), id)
    }

    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        let conn = self.read.lock();
        let found = conn
            .prepare_cached(&format!(
                "SELECT {}, s.expires_at FROM gatepass_secrets s \
                 JOIN gatepass_keys k ON k.id = s.key_id WHERE s.digest = ?1",
                key_columns_of("k")
            ))?
            .query_row([&digest.as_bytes()[..]], |row| {
                Ok((read_row(row)?, row.get(KEY_COLUMN_COUNT)?))
            })
            .optional()?;
        found
            .map(|(row, secret_expires_at)| {
                Ok(Found {
                    key: Arc::new(row.into_record()?),
                    secret_expires_at,
                })
            })
            .transpose()
    }

    fn list(&self, q: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.read.lock();
        let (after_t, after_id) = q
            .after
            .as_ref()
            .map_or((i64::MIN, String::new()), |c| (c.created_at, c.id.clone()));
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM gatepass_keys \
             WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR status = ?3) \
             AND (created_at, id) > (?4, ?5) \
             AND (?7 IS NULL OR expires_at IS NULL OR expires_at > ?7) \
             AND (?8 IS NULL OR (expires_at <= ?8 AND status <> 'revoked')) \
             ORDER BY created_at, id LIMIT ?6"
        ))?;
        let (live_at, expired_at) = ExpiryFilter::sql_params(q.expiry);
        let rows = stmt.query_map(
            params![
                q.subject,
                q.kind,
                q.status.map(|s| s.as_str()),
                after_t,
                after_id,
                i64::try_from(q.limit).unwrap_or(i64::MAX),
                live_at,
                expired_at
            ],
            read_row,
        )?;
        rows.map(|r| r.map_err(StoreError::from).and_then(KeyRow::into_record))
            .collect()
    }

    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        Self::modify_in(&mut self.write.lock(), id, change, |_, _| Ok(()))
    }

    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: Millis,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        Self::modify_in(&mut self.write.lock(), id, change, |tx, key| {
            tx.prepare_cached(
                "UPDATE gatepass_secrets SET expires_at = MIN(COALESCE(expires_at, ?2), ?2) WHERE key_id = ?1",
            )?
            .execute(params![id, old_until])?;
            tx.prepare_cached(
                "INSERT INTO gatepass_secrets (digest, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, NULL)",
            )?
            .execute(params![&new_digest.as_bytes()[..], id, key.updated_at])?;
            Ok(())
        })
    }

    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        let mut conn = self.write.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Secrets go with the key through ON DELETE CASCADE.
        let n = tx
            .prepare_cached("DELETE FROM gatepass_keys WHERE id = ?1")?
            .execute([id])?;
        if n > 0 {
            insert_event(&tx, event)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        // Only the filters given, so SQLite can use the index for each.
        let mut conditions = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |condition: &str, value: rusqlite::types::Value| {
            values.push(value);
            conditions.push(format!("{condition} ?{}", values.len()));
        };
        if let Some(key) = &filter.key {
            push("key_id =", key.clone().into());
        }
        if let Some(owner) = &filter.owner {
            push("owner =", owner.clone().into());
        }
        if let Some(since) = filter.since {
            push("at >=", since.into());
        }
        if let Some(before) = filter.before {
            push("seq <", before.into());
        }
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        values.push(limit.into());
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM gatepass_events {}{} ORDER BY seq DESC LIMIT ?{}",
            if conditions.is_empty() { "" } else { "WHERE " },
            conditions.join(" AND "),
            values.len()
        );
        let conn = self.read.lock();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), read_event_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(event_of))
            .collect()
    }

    fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, StoreError> {
        let conn = self.write.lock();
        let n = conn
            .prepare_cached(
                "DELETE FROM gatepass_events WHERE seq IN \
                 (SELECT seq FROM gatepass_events WHERE at < ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![before, i64::try_from(batch).unwrap_or(i64::MAX)])?;
        Ok(n as u64)
    }

    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.write.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE gatepass_keys SET usage_count = usage_count + ?2, \
                 last_used_at = MAX(COALESCE(last_used_at, ?3), ?3) WHERE id = ?1",
            )?;
            // The history goes in the same transaction, so its valid counts
            // and usage_count move together in every process.
            let mut history = tx.prepare_cached(
                "INSERT INTO gatepass_usage (key_id, step, start, outcome, n) \
                 SELECT ?1, 'hour', ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM gatepass_keys WHERE id = ?1) \
                 ON CONFLICT (key_id, step, start, outcome) DO UPDATE SET n = n + excluded.n",
            )?;
            for d in batch {
                if d.count > 0 {
                    stmt.execute(params![d.key_id, to_i64(d.count), d.last_used_at])?;
                }
                for hour in &d.hours {
                    for (outcome, &n) in COUNTED.iter().zip(&hour.counts) {
                        if n > 0 {
                            history.execute(params![
                                d.key_id,
                                hour.start,
                                outcome.code(),
                                to_i64(n)
                            ])?;
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn usage_history(
        &self,
        key_id: &str,
        since: Millis,
        until: Millis,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let conn = self.read.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT step, start, outcome, n FROM gatepass_usage \
             WHERE key_id = ?1 AND start >= ?2 AND start < ?3",
        )?;
        let rows = stmt.query_map(params![key_id, since, until], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        rows.map(|row| history_row(row?)).collect()
    }

    fn usage_totals(
        &self,
        key_ids: &[String],
        since: Millis,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        let ids = serde_json::to_string(key_ids).map_err(StoreError::unavailable)?;
        let conn = self.read.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, outcome, SUM(n), MAX(start) FROM gatepass_usage \
             WHERE key_id IN (SELECT value FROM json_each(?1)) AND start >= ?2 \
             GROUP BY key_id, outcome",
        )?;
        let rows = stmt.query_map(params![ids, since], |r| {
            Ok(TotalsRow {
                key_id: r.get(0)?,
                outcome: r.get(1)?,
                n: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                last: r.get(3)?,
            })
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    fn compact_usage(&self, hourly_before: Millis, keep_after: Millis) -> Result<(), StoreError> {
        let mut conn = self.write.lock();
        // One transaction: the hours move into their days and disappear
        // together, so a count is never in both or neither.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO gatepass_usage (key_id, step, start, outcome, n) \
             SELECT key_id, 'day', start - (((start % ?2) + ?2) % ?2) AS day, outcome, SUM(n) \
             FROM gatepass_usage WHERE step = 'hour' AND start < ?1 GROUP BY key_id, day, outcome \
             ON CONFLICT (key_id, step, start, outcome) DO UPDATE SET n = n + excluded.n",
        )?
        .execute(params![hourly_before, DAY])?;
        tx.prepare_cached("DELETE FROM gatepass_usage WHERE step = 'hour' AND start < ?1")?
            .execute([hourly_before])?;
        tx.prepare_cached("DELETE FROM gatepass_usage WHERE start < ?1")?
            .execute([keep_after])?;
        tx.commit()?;
        Ok(())
    }

    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.write.lock();
        let remaining: Option<i64> = conn
            .prepare_cached(
                "UPDATE gatepass_keys SET remaining = remaining - 1 WHERE id = ?1 AND remaining > 0 RETURNING remaining",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(remaining.map(|r| u64::try_from(r).unwrap_or(0)))
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        let mut guard = self.epoch.lock();
        let check = &mut *guard;
        match check.watch.as_mut() {
            Some(watch) => {
                let header = watch.read();
                if !watch.unchanged(header.as_ref()) {
                    // Something committed: read the counter, which moved only
                    // if that was a change a verification can see.
                    check.changes = changes(&self.read.lock())?;
                    watch.confirm(header);
                }
            }
            None => {
                let read = self.read.lock();
                let version = data_version(&read)?;
                if version != check.data_version {
                    check.changes = changes(&read)?;
                    check.data_version = version;
                }
            }
        }
        Ok(check.changes)
    }

    /// Known when the WAL-index header is the one last confirmed. Gives up
    /// rather than wait for another thread's check in progress.
    fn epoch_now(&self) -> Option<u64> {
        let check = self.epoch.try_lock()?;
        let watch = check.watch.as_ref()?;
        watch
            .unchanged(watch.read().as_ref())
            .then_some(check.changes)
    }

    fn recorded_policy(&self) -> Result<Option<PolicyRecord>, StoreError> {
        let conn = self.write.lock();
        conn.execute_batch(POLICY_TABLE)?;
        let recorded = conn
            .prepare_cached(
                "SELECT document, source, recorded_by, recorded_at FROM gatepass_policies \
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([], |r| {
                Ok(PolicyRecord {
                    document: r.get(0)?,
                    source: r.get(1)?,
                    recorded_by: r.get(2)?,
                    recorded_at: r.get(3)?,
                })
            })
            .optional()?;
        Ok(recorded)
    }

    fn record_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let mut conn = self.write.lock();
        conn.execute_batch(POLICY_TABLE)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Not again when it is already the newest: the workers of one
        // deploy start together, each having read the previous record.
        tx.prepare_cached(
            "INSERT INTO gatepass_policies (document, source, recorded_by, recorded_at) \
             SELECT ?1, ?2, ?3, ?4 WHERE ?1 IS NOT \
             (SELECT document FROM gatepass_policies ORDER BY id DESC LIMIT 1)",
        )?
        .execute(params![
            record.document,
            record.source,
            record.recorded_by,
            record.recorded_at
        ])?;
        tx.prepare_cached(
            "DELETE FROM gatepass_policies WHERE id <= (SELECT MAX(id) FROM gatepass_policies) - ?1",
        )?
        .execute([super::POLICIES_KEPT])?;
        tx.commit()?;
        Ok(())
    }
}

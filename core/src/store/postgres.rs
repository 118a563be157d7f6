//! `postgres://…`: keys shared by many processes and machines.
//!
//! Every lifecycle change is one transaction that also sends
//! `NOTIFY gatepass_keys`; a listener thread per store turns each notification
//! into an epoch bump, which empties every process's verification cache. The
//! listener counts as connected only while it can prove the path end to end:
//! every second a notification on a channel of its own is sent through the
//! pool, as a revocation would be, and must come back within two seconds.
//! While it is not connected, `epoch` never repeats, so the cache is bypassed
//! and every verify reads the store: slower, never stale.
//!
//! While the server is known to be down, calls fail at once with the reason
//! instead of each waiting for the pool's timeout (see [`Health`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::config::SslMode;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::row::{key_columns_of, read_key_row, to_i64, KeyRow, KEY_COLUMNS, KEY_COLUMN_COUNT};
use super::{Change, Found, PolicyRecord, Store, UsageDelta};
use crate::audit::{self, Event, EventFilter, StoredEvent};
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::history::{HistoryRow, TotalsRow, COUNTED, DAY};
use crate::key::{ExpiryFilter, KeyRecord, ListQuery};
use crate::tls::{self, Verify};
use crate::token::TokenDigest;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 1;
/// The notification channel of lifecycle changes; the payload is the key id.
pub const CHANNEL: &str = "gatepass_keys";
/// Arbitrary constant for `pg_advisory_xact_lock`, serialising migrations.
const MIGRATION_LOCK: i64 = 0x6761_7465_7061_7373; // "gatepass"
/// How long the listener waits for a notification before looking at the
/// clock again.
const LISTEN_POLL: Duration = Duration::from_millis(250);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// How often the listener proves its connection with a probe notification…
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// …and how long the probe may take to come back before the connection
/// counts as dead. A revocation is hidden from this process's cache for at
/// most about `PROBE_EVERY + PROBE_WITHIN` when the connection dies silently
/// (a half-open TCP connection, a pooler that drops notifications).
pub const PROBE_WITHIN: Duration = Duration::from_secs(2);
/// While the server is known to be down, calls fail at once; after this long
/// one call tries again (the listener also tries, every `RECONNECT_BACKOFF`).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
const POOL_TIMEOUT: Duration = Duration::from_secs(5);
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// TCP settings applied unless the URL sets them: without them a connection
/// whose peer vanished (no RST: a crashed machine, a dropped NAT entry) blocks
/// its caller until the kernel gives up, which is minutes to hours.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_KEEPALIVES_RETRIES: u32 = 3;
const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

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

/// The audit trail (see `crate::audit`), created in place in a schema of any
/// version; events are written in the transaction of the change they
/// record. `seq` is never reused, which keeps page cursors exact.
const SCHEMA_EVENTS: &str = "
CREATE TABLE IF NOT EXISTS gatepass_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at         BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    owner      TEXT,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    changes    TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX IF NOT EXISTS gatepass_events_key ON gatepass_events (key_id, seq);
CREATE INDEX IF NOT EXISTS gatepass_events_owner ON gatepass_events (owner, seq);
CREATE INDEX IF NOT EXISTS gatepass_events_at ON gatepass_events (at);
";

const EVENT_COLUMNS: &str = "seq, id, at, key_id, owner, action, actor, changes, ip, user_agent";

fn insert_event(tx: &mut Transaction<'_>, event: &Event) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO gatepass_events (id, at, key_id, owner, action, actor, changes, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &event.id,
            &event.at,
            &event.key_id,
            &event.owner,
            &event.action.as_str(),
            &event.actor,
            &audit::changes_text(&event.changes)?,
            &event.ip,
            &event.user_agent,
        ],
    )?;
    Ok(())
}

fn event_of(row: &Row) -> Result<StoredEvent, StoreError> {
    let id: String = row.try_get(1)?;
    let action: String = row.try_get(5)?;
    let changes: String = row.try_get(7)?;
    Ok(StoredEvent {
        seq: row.try_get(0)?,
        event: Event {
            action: audit::action_from_text(&id, &action)?,
            changes: audit::changes_from_text(&id, &changes)?,
            at: row.try_get(2)?,
            key_id: row.try_get(3)?,
            owner: row.try_get(4)?,
            actor: row.try_get(6)?,
            ip: row.try_get(8)?,
            user_agent: row.try_get(9)?,
            id,
        },
    })
}

/// Usage history (see `history.rs`): one row per key, bucket and outcome,
/// added to by every process's flush. Created on every open when missing, so
/// an existing database gains it in place without a version step.
const USAGE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gatepass_usage (
    key_id  TEXT NOT NULL REFERENCES gatepass_keys (id) ON DELETE CASCADE,
    step    TEXT NOT NULL,
    start   BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (key_id, step, start, outcome)
);
CREATE INDEX IF NOT EXISTS gatepass_usage_age ON gatepass_usage (step, start);
";
/// Arbitrary constant for `pg_try_advisory_xact_lock`: one process compacts
/// the history at a time; the others skip their turn.
const COMPACT_LOCK: i64 = 0x6770_7573_6167_6521; // "gpusage!"

type Manager = PostgresConnectionManager<MakeRustlsConnect>;
type Pool = r2d2::Pool<Manager>;

/// What went wrong, said in full: `postgres::Error`'s own `Display` stops at
/// "db error" or "error connecting to server" and leaves the reason in its
/// source. For a server error only the severity, message and SQLSTATE are
/// kept: its detail can quote row values.
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unavailable(e: &postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("postgres: {}", describe(e)))
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        unavailable(&e)
    }
}

impl From<postgres::Error> for GateError {
    fn from(e: postgres::Error) -> Self {
        GateError::Store(unavailable(&e))
    }
}

/// Shared between the store and its listener thread.
#[derive(Debug, Default)]
struct Invalidation {
    epoch: AtomicU64,
    listening: AtomicBool,
    stopped: AtomicBool,
}

/// Whether the server is known to be down, and why.
///
/// Without this, during an outage every call waited the pool's whole timeout
/// and then reported only "timed out waiting for connection". Now the first
/// failure (a pool timeout, or the listener failing to reach the server)
/// opens the circuit with the underlying error; until the listener reconnects
/// or a retry succeeds, calls fail at once with that error. One call per
/// [`RETRY_INTERVAL`] still tries, so recovery does not depend on the
/// listener alone.
#[derive(Debug, Default)]
struct Health {
    /// Checked on every call without taking the lock.
    down: AtomicBool,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// The latest connection error seen by the pool or the listener.
    last_error: Option<String>,
    /// While down: when the next call may try again.
    retry_at: Option<Instant>,
    /// When a failure was last seen (by a call or the listener).
    failed_at: Option<Instant>,
}

impl Health {
    /// `Err` while down and before the next retry; the call that passes after
    /// the retry time is the one that tries (others keep failing fast).
    fn check(&self) -> Result<(), StoreError> {
        if !self.down.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.state.lock();
        let now = Instant::now();
        match state.retry_at {
            Some(at) if now < at => Err(StoreError::Unavailable(format!(
                "postgres: {} (the server is down: failing fast, next attempt in {} ms)",
                state.last_error.as_deref().unwrap_or("unreachable"),
                at.saturating_duration_since(now).as_millis()
            ))),
            _ => {
                state.retry_at = Some(now + RETRY_INTERVAL);
                Ok(())
            }
        }
    }

    fn record(&self, error: String) {
        self.state.lock().last_error = Some(error);
    }

    /// `Err` if the server was found down after `since`: a call waiting for
    /// the pool gives up then rather than at the pool's timeout.
    fn failed_since(&self, since: Instant) -> Result<(), StoreError> {
        if !self.down.load(Ordering::Acquire) {
            return Ok(());
        }
        let state = self.state.lock();
        match state.failed_at {
            Some(at) if at > since => Err(StoreError::Unavailable(format!(
                "postgres: {} (the server is down: failing fast)",
                state.last_error.as_deref().unwrap_or("unreachable")
            ))),
            _ => Ok(()),
        }
    }

    /// Opens the circuit; the returned error says why.
    fn fail(&self, fallback: &str) -> StoreError {
        let mut state = self.state.lock();
        let now = Instant::now();
        state.failed_at = Some(now);
        state.retry_at = Some(now + RETRY_INTERVAL);
        self.down.store(true, Ordering::Release);
        StoreError::Unavailable(format!(
            "postgres: {}",
            state.last_error.as_deref().unwrap_or(fallback)
        ))
    }

    fn up(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            let mut state = self.state.lock();
            state.retry_at = None;
            state.failed_at = None;
            state.last_error = None;
        }
    }
}

/// Hands the pool's connection errors (which r2d2 would otherwise log and
/// replace with "timed out waiting for connection") to [`Health`].
#[derive(Debug)]
struct RecordErrors(Arc<Health>);

impl r2d2::HandleError<postgres::Error> for RecordErrors {
    fn handle_error(&self, error: postgres::Error) {
        self.0.record(describe(&error));
    }
}

pub struct PostgresStore {
    pool: Pool,
    invalidation: Arc<Invalidation>,
    health: Arc<Health>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's configuration holds the password.
        f.debug_struct("PostgresStore")
            .field("invalidation", &self.invalidation)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// A `postgres://` URL with the options gatepass reads itself taken out:
/// `sslmode` (tokio-postgres knows only disable/prefer/require and would let
/// `prefer` fall back to plaintext) and `sslrootcert`.
struct ConnectOptions {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

fn parse_url(url: &str) -> Result<ConnectOptions, StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut sslmode = None;
    let mut sslrootcert = None;
    let mut present = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Match the key as tokio-postgres will read it, percent-decoded: a
        // key written `ssl%6Dode` must not slip past this check and reach
        // tokio-postgres as an `sslmode` we never saw (a silent downgrade).
        let key = percent_encoding::percent_decode_str(raw_key)
            .decode_utf8()
            .map_err(|_| StoreError::InvalidOption("an option name is not UTF-8".into()))?;
        let key = key.as_ref();
        let decoded = || {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| StoreError::InvalidOption(format!("{key} is not UTF-8")))
        };
        match key {
            "sslmode" => sslmode = Some(decoded()?),
            "sslrootcert" => sslrootcert = Some(PathBuf::from(decoded()?)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(StoreError::InvalidOption(
                    "client certificates (sslcert, sslkey) are not supported".into(),
                ))
            }
            _ => {
                present.push(key.to_owned());
                kept.push(pair);
            }
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: postgres::Config = rest
        .parse()
        .map_err(|_| StoreError::InvalidUrl("postgres"))?;
    let verify = match sslmode.as_deref() {
        None | Some("disable") => None,
        // libpq's `require` checks the chain when a CA file is given.
        Some("require") if sslrootcert.is_some() => Some(Verify::Chain),
        Some("require") => Some(Verify::Nothing),
        Some("verify-ca") => Some(Verify::Chain),
        Some("verify-full") => Some(Verify::Full),
        Some("allow" | "prefer") => {
            return Err(StoreError::InvalidOption(
                "sslmode=allow and sslmode=prefer may fall back to plaintext without a word; \
                 gatepass asks for one of disable, require, verify-ca or verify-full"
                    .into(),
            ))
        }
        Some(_) => {
            return Err(StoreError::InvalidOption(
                "sslmode must be one of disable, require, verify-ca or verify-full".into(),
            ))
        }
    };
    if verify.is_none() && sslrootcert.is_some() {
        return Err(StoreError::InvalidOption(
            "sslrootcert needs sslmode=require, verify-ca or verify-full".into(),
        ));
    }
    config.ssl_mode(if verify.is_some() {
        SslMode::Require
    } else {
        SslMode::Disable
    });
    let has = |k: &str| present.iter().any(|p| p == k);
    if !has("connect_timeout") {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if !has("keepalives_idle") {
        config.keepalives_idle(DEFAULT_KEEPALIVES_IDLE);
    }
    if !has("keepalives_interval") {
        config.keepalives_interval(DEFAULT_KEEPALIVES_INTERVAL);
    }
    if !has("keepalives_retries") {
        config.keepalives_retries(DEFAULT_KEEPALIVES_RETRIES);
    }
    if !has("tcp_user_timeout") {
        config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
    }
    // With sslmode=disable the connector is never used; one type keeps the
    // pool's type the same whatever the URL says.
    let client_config = tls::client_config(verify.unwrap_or(Verify::Full), sslrootcert.as_deref())?;
    Ok(ConnectOptions {
        config,
        tls: MakeRustlsConnect::new(client_config),
    })
}

fn read_row(row: &Row) -> Result<KeyRow, postgres::Error> {
    Ok(read_key_row!(row, try_get))
}

/// The policies gates recorded (see [`PolicyRecord`]), newest last. Created
/// on first use, under the migration lock, rather than by a schema version,
/// so a database of any version gains it in place. Recording sends no
/// notification: it changes no key.
const POLICY_TABLE: &str = "
CREATE TABLE IF NOT EXISTS gatepass_policies (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document    TEXT NOT NULL,
    source      TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
";

/// Creates the policy table if needed, inside `tx`: the advisory lock keeps
/// two processes from creating it at once (`IF NOT EXISTS` alone races).
fn policy_table(tx: &mut Transaction<'_>) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(POLICY_TABLE)
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
    // Only when missing: `CREATE INDEX IF NOT EXISTS` locks the table before
    // it looks, so a process starting during a prune would wait for it.
    let has_events: bool = tx
        .query_one("SELECT to_regclass('gatepass_events') IS NOT NULL", &[])?
        .try_get(0)?;
    if !has_events {
        tx.batch_execute(SCHEMA_EVENTS)?;
    }
    tx.batch_execute(USAGE_SCHEMA)?;
    tx.commit()?;
    Ok(())
}

/// Keeps one `LISTEN` connection open, reconnecting after failures, and bumps
/// the epoch on every notification and on every change of state
/// (notifications sent while it was away are lost, so everything cached
/// before is suspect).
///
/// The connection counts as listening only once a probe sent through the pool
/// has come back on it, and stops counting the moment a probe is late: a
/// connection that merely looks open (half-open TCP, a pooler in transaction
/// mode that accepts `LISTEN` and delivers nothing) is not trusted.
fn listen(options: ConnectOptions, pool: Pool, state: Arc<Invalidation>, health: Arc<Health>) {
    let mut id = [0u8; 8];
    let probe_channel = match getrandom::fill(&mut id) {
        Ok(()) => format!("gatepass_probe_{}", hex::encode(id)),
        // Without a unique channel the probes of two processes could answer
        // each other; such a listener never counts as connected.
        Err(_) => return,
    };
    let (probes, requests) = sync_channel::<u64>(1);
    {
        let pool = pool.clone();
        let channel = probe_channel.clone();
        let spawned = std::thread::Builder::new()
            .name("gatepass-probe".into())
            .spawn(move || send_probes(&pool, &channel, &requests));
        if spawned.is_err() {
            return;
        }
    }
    let mut seq: u64 = 0;
    while !state.stopped.load(Ordering::Acquire) {
        let mut client = match options.config.connect(options.tls.clone()) {
            Ok(c) => c,
            Err(e) => {
                // A server that cannot be reached is down for every caller
                // too; a server that answers with an error (a missing
                // database, a bad password) is left to the callers' own tries.
                health.record(describe(&e));
                if e.as_db_error().is_none() {
                    health.fail("unreachable");
                }
                std::thread::sleep(RECONNECT_BACKOFF);
                continue;
            }
        };
        health.up();
        if client
            .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {probe_channel}"))
            .is_err()
        {
            std::thread::sleep(RECONNECT_BACKOFF);
            continue;
        }
        seq += 1;
        let mut awaiting = Some(Instant::now());
        let mut next_probe = Instant::now();
        // A full queue means the last probe is still stuck in the pool; the
        // missing answer then ends this connection.
        let _ = probes.try_send(seq);
        while !state.stopped.load(Ordering::Acquire) {
            match client.notifications().timeout_iter(LISTEN_POLL).next() {
                Ok(Some(n)) if n.channel() == probe_channel => {
                    if n.payload() == seq.to_string() {
                        awaiting = None;
                        next_probe = Instant::now() + PROBE_EVERY;
                        if !state.listening.load(Ordering::Acquire) {
                            // Anything cached before this point was read
                            // before the path was proven.
                            state.epoch.fetch_add(1, Ordering::AcqRel);
                            state.listening.store(true, Ordering::Release);
                        }
                    }
                }
                Ok(Some(_)) => {
                    state.epoch.fetch_add(1, Ordering::AcqRel);
                }
                Ok(None) => {}
                Err(_) => break,
            }
            if client.is_closed() {
                break;
            }
            let now = Instant::now();
            match awaiting {
                Some(sent) if now.duration_since(sent) > PROBE_WITHIN => break,
                Some(_) => {}
                None if now >= next_probe => {
                    seq += 1;
                    awaiting = Some(now);
                    let _ = probes.try_send(seq);
                }
                None => {}
            }
        }
        state.listening.store(false, Ordering::Release);
        state.epoch.fetch_add(1, Ordering::AcqRel);
        // Closing waits for the connection to finish; on a connection that
        // no longer answers that could take as long as the kernel's timeouts.
        let _ = std::thread::Builder::new()
            .name("gatepass-listen-close".into())
            .spawn(move || drop(client));
    }
}

/// Sends each requested probe as any other process's change would arrive:
/// `pg_notify` from a pooled connection. Blocking here (a stuck pool) only
/// delays probes, which the listener then counts as a dead path.
fn send_probes(pool: &Pool, channel: &str, requests: &Receiver<u64>) {
    loop {
        let seq = match requests.recv_timeout(Duration::from_secs(1)) {
            Ok(seq) => seq,
            Err(RecvTimeoutError::Timeout) => continue,
            // The listener is gone: the store was dropped.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Ok(mut client) = pool.get() {
            let _ = client.execute("SELECT pg_notify($1, $2)", &[&channel, &seq.to_string()]);
        }
    }
}

impl PostgresStore {
    /// Connects, migrates the schema and starts the listener thread.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let options = parse_url(url)?;
        // One direct connection first: a wrong address, certificate, password
        // or database name fails here at once with its reason, where the pool
        // would retry until its timeout.
        let mut first = options
            .config
            .connect(options.tls.clone())
            .map_err(|e| unavailable(&e))?;
        migrate(&mut first)?;
        drop(first);
        let health = Arc::new(Health::default());
        let manager = PostgresConnectionManager::new(options.config.clone(), options.tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(POOL_TIMEOUT)
            .error_handler(Box::new(RecordErrors(Arc::clone(&health))))
            .build(manager)
            .map_err(|e| health.fail(&e.to_string()))?;
        let store = Self {
            pool: pool.clone(),
            invalidation: Arc::new(Invalidation::default()),
            health: Arc::clone(&health),
        };
        let state = Arc::clone(&store.invalidation);
        std::thread::Builder::new()
            .name("gatepass-listen".into())
            .spawn(move || listen(options, pool, state, health))
            .map_err(StoreError::unavailable)?;
        Ok(store)
    }

    /// Whether the notification listener is connected and its last probe came
    /// back in time (tests and health checks).
    pub fn is_listening(&self) -> bool {
        self.invalidation.listening.load(Ordering::Acquire)
    }

    /// A pooled connection, or at once an error while the server is known
    /// to be down.
    fn client(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.health.check()?;
        // In slices, so that a caller already waiting learns within one
        // slice that the listener (or another call) found the server down.
        let started = Instant::now();
        loop {
            match self.pool.get_timeout(WAIT_SLICE) {
                Ok(c) => {
                    self.health.up();
                    return Ok(c);
                }
                Err(e) if started.elapsed() >= POOL_TIMEOUT => {
                    return Err(self.health.fail(&e.to_string()))
                }
                Err(_) => self.health.failed_since(started)?,
            }
        }
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
        // Nothing changed: nothing is written (the transaction rolls back).
        let Some(event) = change(&mut key)? else {
            return Ok(key);
        };
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
        insert_event(&mut tx, &event)?;
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
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
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
        insert_event(&mut tx, event)?;
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
        let (live_at, expired_at) = ExpiryFilter::sql_params(q.expiry);
        let mut client = self.client()?;
        let rows = client.query(
            &format!(
                "SELECT {KEY_COLUMNS} FROM gatepass_keys \
                 WHERE ($1::TEXT IS NULL OR subject = $1) AND ($2::TEXT IS NULL OR kind = $2) \
                 AND ($3::TEXT IS NULL OR status = $3) AND (created_at, id) > ($4, $5) \
                 AND ($7::BIGINT IS NULL OR expires_at IS NULL OR expires_at > $7) \
                 AND ($8::BIGINT IS NULL OR (expires_at <= $8 AND status <> 'revoked')) \
                 ORDER BY created_at, id LIMIT $6"
            ),
            &[
                &q.subject,
                &q.kind,
                &status,
                &after_t,
                &after_id,
                &limit,
                &live_at,
                &expired_at,
            ],
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

    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        // Secrets go with the key through ON DELETE CASCADE.
        let n = tx.execute("DELETE FROM gatepass_keys WHERE id = $1", &[&id])?;
        if n > 0 {
            insert_event(&mut tx, event)?;
        }
        notify(&mut tx, id)?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let mut client = self.client()?;
        let rows = client.query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM gatepass_events \
                 WHERE ($1::TEXT IS NULL OR key_id = $1) AND ($2::TEXT IS NULL OR owner = $2) \
                 AND ($3::BIGINT IS NULL OR at >= $3) AND ($4::BIGINT IS NULL OR seq < $4) \
                 ORDER BY seq DESC LIMIT $5"
            ),
            &[
                &filter.key,
                &filter.owner,
                &filter.since,
                &filter.before,
                &limit,
            ],
        )?;
        rows.iter().map(event_of).collect()
    }

    fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, StoreError> {
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let mut client = self.client()?;
        let n = client.execute(
            "DELETE FROM gatepass_events WHERE seq IN \
             (SELECT seq FROM gatepass_events WHERE at < $1 ORDER BY seq LIMIT $2)",
            &[&before, &batch],
        )?;
        Ok(n)
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
        let (mut ids, mut starts, mut outcomes, mut counts) = (vec![], vec![], vec![], vec![]);
        for d in sorted {
            if d.count > 0 {
                tx.execute(&stmt, &[&d.key_id, &to_i64(d.count), &d.last_used_at])?;
            }
            for hour in &d.hours {
                for (outcome, &n) in COUNTED.iter().zip(&hour.counts) {
                    if n > 0 {
                        ids.push(d.key_id.as_str());
                        starts.push(hour.start);
                        outcomes.push(outcome.code());
                        counts.push(to_i64(n));
                    }
                }
            }
        }
        // The history in one statement, in the same transaction as the
        // counts, rows taken in one order in every process (no deadlocks);
        // counts for keys deleted meanwhile are dropped by the join.
        if !ids.is_empty() {
            tx.execute(
                "INSERT INTO gatepass_usage (key_id, step, start, outcome, n) \
                 SELECT u.key_id, 'hour', u.start, u.outcome, u.n \
                 FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[]) AS u (key_id, start, outcome, n) \
                 JOIN gatepass_keys k ON k.id = u.key_id \
                 ORDER BY u.key_id, u.start, u.outcome \
                 ON CONFLICT (key_id, step, start, outcome) DO UPDATE SET n = gatepass_usage.n + excluded.n",
                &[&ids, &starts, &outcomes, &counts],
            )?;
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
        let mut client = self.client()?;
        let rows = client.query(
            "SELECT step, start, outcome, n FROM gatepass_usage \
             WHERE key_id = $1 AND start >= $2 AND start < $3",
            &[&key_id, &since, &until],
        )?;
        rows.iter()
            .map(|r| {
                super::sqlite::history_row((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }

    fn usage_totals(
        &self,
        key_ids: &[String],
        since: Millis,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        let mut client = self.client()?;
        let rows = client.query(
            "SELECT key_id, outcome, SUM(n)::BIGINT, MAX(start) FROM gatepass_usage \
             WHERE key_id = ANY($1) AND start >= $2 GROUP BY key_id, outcome",
            &[&key_ids, &since],
        )?;
        rows.iter()
            .map(|r| {
                Ok(TotalsRow {
                    key_id: r.try_get(0)?,
                    outcome: r.try_get(1)?,
                    n: u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or(0),
                    last: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn compact_usage(&self, hourly_before: Millis, keep_after: Millis) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let mine: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&COMPACT_LOCK])?
            .try_get(0)?;
        if !mine {
            // Another process is at it right now.
            return Ok(());
        }
        // The hours move into their days and disappear in one statement.
        tx.execute(
            "WITH moved AS (DELETE FROM gatepass_usage WHERE step = 'hour' AND start < $1 \
             RETURNING key_id, start, outcome, n) \
             INSERT INTO gatepass_usage (key_id, step, start, outcome, n) \
             SELECT key_id, 'day', start - (((start % $2) + $2) % $2) AS day, outcome, SUM(n)::BIGINT \
             FROM moved GROUP BY key_id, day, outcome ORDER BY key_id, day, outcome \
             ON CONFLICT (key_id, step, start, outcome) DO UPDATE SET n = gatepass_usage.n + excluded.n",
            &[&hourly_before, &DAY],
        )?;
        tx.execute(
            "DELETE FROM gatepass_usage WHERE start < $1",
            &[&keep_after],
        )?;
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

    fn recorded_policy(&self) -> Result<Option<PolicyRecord>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        policy_table(&mut tx)?;
        let row = tx.query_opt(
            "SELECT document, source, recorded_by, recorded_at FROM gatepass_policies \
             ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        tx.commit()?;
        Ok(row
            .map(|r| -> Result<_, postgres::Error> {
                Ok(PolicyRecord {
                    document: r.try_get(0)?,
                    source: r.try_get(1)?,
                    recorded_by: r.try_get(2)?,
                    recorded_at: r.try_get(3)?,
                })
            })
            .transpose()?)
    }

    fn record_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        policy_table(&mut tx)?;
        // Not again when it is already the newest (the advisory lock orders
        // the workers of one deploy, which start together).
        tx.execute(
            "INSERT INTO gatepass_policies (document, source, recorded_by, recorded_at) \
             SELECT $1, $2, $3, $4 WHERE $1 IS DISTINCT FROM \
             (SELECT document FROM gatepass_policies ORDER BY id DESC LIMIT 1)",
            &[
                &record.document,
                &record.source,
                &record.recorded_by,
                &record.recorded_at,
            ],
        )?;
        tx.execute(
            "DELETE FROM gatepass_policies WHERE id <= (SELECT MAX(id) FROM gatepass_policies) - $1",
            &[&super::POLICIES_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn options(url: &str) -> ConnectOptions {
        match parse_url(url) {
            Ok(o) => o,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn other_options_pass_through_as_written_around_ours() {
        let o = options(
            "postgres://u@h/db?options=-csearch_path%3Dgp_x&sslmode=require&application_name=a%20b",
        );
        assert_eq!(o.config.get_options(), Some("-csearch_path=gp_x"));
        assert_eq!(o.config.get_application_name(), Some("a b"));
        assert_eq!(o.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            options("postgres://u@h/db").config.get_ssl_mode(),
            SslMode::Disable
        );
        assert_eq!(
            options("postgres://u@h/db?sslmode=disable")
                .config
                .get_ssl_mode(),
            SslMode::Disable
        );
    }

    #[test]
    fn a_percent_encoded_option_name_is_read_as_decoded() {
        let o = options("postgres://u@h/db?ssl%6Dode=require");
        assert_eq!(o.config.get_ssl_mode(), SslMode::Require);
        let e = parse_url("postgres://u@h/db?%73slmode=prefer").err();
        assert!(matches!(e, Some(StoreError::InvalidOption(_))), "{e:?}");
        let e = parse_url("postgres://u@h/db?ssl%63ert=/x").err();
        assert!(matches!(e, Some(StoreError::InvalidOption(_))), "{e:?}");
        let c = options("postgres://u@h/db?connect%5Ftimeout=7").config;
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(7)));
    }

    #[test]
    fn tcp_timeouts_default_unless_the_url_sets_them() {
        let c = options("postgres://u@h/db").config;
        assert_eq!(c.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(c.get_tcp_user_timeout(), Some(&DEFAULT_TCP_USER_TIMEOUT));
        assert_eq!(c.get_keepalives_idle(), DEFAULT_KEEPALIVES_IDLE);
        assert_eq!(c.get_keepalives_retries(), Some(DEFAULT_KEEPALIVES_RETRIES));
        let c = options(
            "postgres://u@h/db?connect_timeout=7&keepalives_idle=70&keepalives_retries=9&tcp_user_timeout=11",
        )
        .config;
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(70));
        assert_eq!(c.get_keepalives_retries(), Some(9));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(11)));
    }

    #[test]
    fn modes_that_may_fall_back_to_plaintext_are_refused() {
        for mode in ["allow", "prefer", "Verify-Full", "verify_ca", "true"] {
            let e = parse_url(&format!("postgres://u:pw@h/db?sslmode={mode}")).err();
            assert!(
                matches!(e, Some(StoreError::InvalidOption(ref m)) if !m.contains("pw")),
                "{mode}: {e:?}"
            );
        }
    }

    #[test]
    fn health_fails_fast_only_while_down_and_lets_one_call_retry() {
        let health = Health::default();
        assert!(health.check().is_ok());
        health.record("error connecting to server: Connection refused".into());
        let e = health.fail("timed out");
        assert!(e.to_string().contains("Connection refused"), "{e}");
        let fast = health.check().unwrap_err().to_string();
        assert!(fast.contains("failing fast"), "{fast}");
        assert!(fast.contains("Connection refused"), "{fast}");
        // After the retry interval one call passes; the next fails fast again.
        health.state.lock().retry_at = Some(Instant::now());
        assert!(health.check().is_ok());
        assert!(health.check().is_err());
        let before = Instant::now();
        assert!(health.failed_since(before).is_ok());
        let _ = health.fail("timed out");
        assert!(health.failed_since(before).is_err());
        health.up();
        assert!(health.check().is_ok());
        assert!(health.failed_since(before).is_ok());
    }
}

//! Key storage behind one trait, selected by URL.
//!
//! The trait is shaped for more than one process: every lifecycle change is a
//! single atomic `modify`/`rotate` call (a transaction in SQL stores), usage is
//! added rather than overwritten (so concurrent writers never lose counts),
//! credits are consumed with one conditional decrement, and `epoch` tells the
//! verification cache cheaply whether anything may have changed elsewhere
//! (SQLite's `PRAGMA data_version`; a Postgres store will bump it from
//! `LISTEN/NOTIFY`).

use std::sync::Arc;

use crate::audit::{Event, EventFilter, StoredEvent};
use crate::clock::Millis;
use crate::error::{GateError, StoreError};
use crate::history::{HistoryRow, HourCounts, TotalsRow};
use crate::key::{KeyRecord, ListQuery};
use crate::token::TokenDigest;

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
mod row;
pub mod sqlite;
mod wal_index;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A key found by the digest of a presented token.
#[derive(Debug, Clone)]
pub struct Found {
    pub key: Arc<KeyRecord>,
    /// When this particular secret stops working (set by `rotate` on the old
    /// secret; `None` for the current one).
    pub secret_expires_at: Option<Millis>,
}

/// One entry of a usage batch: `count` valid requests, the latest at
/// `last_used_at` (meaningless when `count` is 0: a key only refused), and
/// the same requests and the refusals by hour and outcome for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub key_id: String,
    pub count: u64,
    pub last_used_at: Millis,
    pub hours: Vec<HourCounts>,
}

/// The policy a gate recorded in the store: what a process or tool that
/// opens the store without a policy works under (see [`crate::Gate::open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// The policy's canonical JSON document
    /// ([`crate::Policy::to_canonical_json`]).
    pub document: String,
    /// Where the recording process got it ([`crate::env::PolicySource`] as text).
    pub source: String,
    /// Who recorded it: the user and process that opened the store.
    pub recorded_by: String,
    pub recorded_at: Millis,
}

/// How many recorded policies a SQL store keeps: a history of changes for
/// people, bounded even when two policies take turns in a rolling deploy.
pub(crate) const POLICIES_KEPT: i64 = 100;

/// A change applied to a key inside the store's transaction. It returns the
/// event that records it, written in the same transaction; `None` means the
/// change changed nothing, and the store writes nothing (the record must
/// then be left as it was given).
pub type Change<'a> = &'a mut dyn FnMut(&mut KeyRecord) -> Result<Option<Event>, GateError>;

pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores a new key, the digest of its first secret and the `issued`
    /// event, in one transaction.
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError>;

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;

    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError>;

    /// Keys matching the filters, in (created_at, id) order, after the cursor,
    /// at most `limit`.
    fn list(&self, query: &ListQuery) -> Result<Vec<KeyRecord>, StoreError>;

    /// Reads, changes and writes one key atomically. `NotFound` if absent;
    /// an error from `change` aborts without writing.
    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError>;

    /// Like `modify`, and also adds `new_digest` as the key's current secret
    /// while every older secret of the key stops working at `old_until`. A
    /// change that returns no event (changed nothing) rotates nothing.
    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: Millis,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError>;

    /// Removes the key and all its secrets and writes `event`, in one
    /// transaction; `false` (and no event) if it did not exist. Events of a
    /// deleted key are kept: the trail outlives the key.
    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError>;

    /// Events passing `filter`, newest (highest sequence number) first, at
    /// most `filter.limit`.
    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError>;

    /// Deletes at most `batch` events older than `before`, in one short
    /// transaction that touches no key; returns how many it deleted.
    fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, StoreError>;

    /// Adds usage counts (never overwrites, so processes can't lose each
    /// other's counts) and moves `last_used_at` forward; adds the hourly
    /// history in the same transaction, so the valid counts there add up to
    /// `usage_count`. Counts for a key that no longer exists are dropped.
    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError>;

    /// The history rows of one key whose buckets start in `[since, until)`,
    /// hourly and daily alike, in any order.
    fn usage_history(
        &self,
        _key_id: &str,
        _since: Millis,
        _until: Millis,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        Err(StoreError::Unavailable(
            "this store keeps no usage history".into(),
        ))
    }

    /// Sums per key and outcome of the rows of `key_ids` starting at or
    /// after `since`, in one query.
    fn usage_totals(
        &self,
        _key_ids: &[String],
        _since: Millis,
    ) -> Result<Vec<TotalsRow>, StoreError> {
        Err(StoreError::Unavailable(
            "this store keeps no usage history".into(),
        ))
    }

    /// Rolls hourly rows starting before `hourly_before` up into daily rows
    /// and deletes rows starting before `keep_after`. Safe to run from
    /// several processes at once: no count is lost or added twice.
    fn compact_usage(&self, _hourly_before: Millis, _keep_after: Millis) -> Result<(), StoreError> {
        Ok(())
    }

    /// Takes one credit if any remain: `Some(remaining after)`, or `None`
    /// when the key has run out. Keys without credits are not called.
    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError>;

    /// A value that changes whenever a key or secret may have changed,
    /// including in other processes. Usage updates need not change it.
    fn epoch(&self) -> Result<u64, StoreError>;

    /// [`epoch`](Store::epoch) when it is known without a query or a wait;
    /// `None` sends the caller to `epoch`.
    fn epoch_now(&self) -> Option<u64> {
        None
    }

    /// The policy recorded last, if any. A store that keeps none (a test
    /// double) answers `None`, and gates opened on it without a policy use
    /// the default.
    fn recorded_policy(&self) -> Result<Option<PolicyRecord>, StoreError> {
        Ok(None)
    }

    /// Records `record` as the store's policy; the newest record wins. A
    /// record whose document is already the newest one adds nothing.
    fn record_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        let _ = record;
        Ok(())
    }
}

/// The file a `sqlite:` URL names, read as SQLAlchemy and dj-database-url
/// read it, because that is what Flask and Django users already write:
/// `sqlite:///gatepass.db` is `./gatepass.db` (relative), `sqlite:////var/lib/gp.db`
/// is `/var/lib/gp.db` (absolute). `sqlite://gatepass.db` is accepted as
/// relative too. `None` when the URL names no file.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest
        .strip_prefix("///")
        .or_else(|| rest.strip_prefix("//"))?;
    (!path.is_empty()).then_some(path)
}

/// Opens a store from its URL: `memory://`, `sqlite:///relative.db`,
/// `sqlite:////absolute/path.db` (see [`sqlite_path`]), `postgres://user:pass@host/db`.
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if url.starts_with("sqlite:") {
        let path = sqlite_path(url).ok_or(StoreError::InvalidUrl("sqlite"))?;
        return Ok(Arc::new(SqliteStore::open(path)?));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PostgresStore::open(url)?));
    }
    // Never echo the URL: it may carry a password.
    Err(StoreError::unsupported_url(url))
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_urls_read_as_sqlalchemy_reads_them() {
        assert_eq!(sqlite_path("sqlite:///gatepass.db"), Some("gatepass.db"));
        assert_eq!(sqlite_path("sqlite:///data/gp.db"), Some("data/gp.db"));
        assert_eq!(
            sqlite_path("sqlite:////var/lib/gp.db"),
            Some("/var/lib/gp.db")
        );
        assert_eq!(sqlite_path("sqlite://gatepass.db"), Some("gatepass.db"));
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("sqlite:///"), None);
        assert_eq!(sqlite_path("sqlite:gatepass.db"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}

//! The column form of a [`KeyRecord`], shared by the SQL stores so that the
//! mapping (JSON scopes and metadata, status and rate-limit text, unsigned
//! counters in signed columns) is written once.

use crate::error::StoreError;
use crate::key::KeyRecord;

/// Column list in the order every SQL store selects and inserts them.
pub(crate) const KEY_COLUMNS: &str = "id, name, kind, start, scopes, subject, resource, metadata, status, \
    created_at, updated_at, expires_at, revoked_at, last_used_at, usage_count, rate_limit, remaining";

/// Number of columns in [`KEY_COLUMNS`].
pub(crate) const KEY_COLUMN_COUNT: usize = 17;

/// [`KEY_COLUMNS`] qualified with a table alias, for joins.
pub(crate) fn key_columns_of(alias: &str) -> String {
    KEY_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a [`KeyRow`] from a row selected with [`KEY_COLUMNS`], using the
/// backend's fallible column getter (`get` for SQLite, `try_get` for
/// Postgres), so the column order is written once for every store.
macro_rules! read_key_row {
    ($row:expr, $get:ident) => {
        $crate::store::row::KeyRow {
            id: $row.$get(0)?,
            name: $row.$get(1)?,
            kind: $row.$get(2)?,
            start: $row.$get(3)?,
            scopes: $row.$get(4)?,
            subject: $row.$get(5)?,
            resource: $row.$get(6)?,
            metadata: $row.$get(7)?,
            status: $row.$get(8)?,
            created_at: $row.$get(9)?,
            updated_at: $row.$get(10)?,
            expires_at: $row.$get(11)?,
            revoked_at: $row.$get(12)?,
            last_used_at: $row.$get(13)?,
            usage_count: $row.$get(14)?,
            rate_limit: $row.$get(15)?,
            remaining: $row.$get(16)?,
        }
    };
}
pub(crate) use read_key_row;

#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub start: String,
    pub scopes: String,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub metadata: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub usage_count: i64,
    pub rate_limit: Option<String>,
    pub remaining: Option<i64>,
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Serialising scopes or a JSON map cannot fail in practice; the error is
/// still reported rather than unwrapped.
fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl KeyRow {
    pub fn from_record(key: &KeyRecord) -> Result<Self, StoreError> {
        Ok(Self {
            id: key.id.clone(),
            name: key.name.clone(),
            kind: key.kind.clone(),
            start: key.start.clone(),
            scopes: json(&key.scopes)?,
            subject: key.subject.clone(),
            resource: key.resource.clone(),
            metadata: json(&key.metadata)?,
            status: key.status.as_str().to_owned(),
            created_at: key.created_at,
            updated_at: key.updated_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            last_used_at: key.last_used_at,
            usage_count: to_i64(key.usage_count),
            rate_limit: key.rate_limit.map(|r| r.to_string()),
            remaining: key.remaining.map(to_i64),
        })
    }

    pub fn into_record(self) -> Result<KeyRecord, StoreError> {
        let corrupt = |field: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("key {}: column {field}: {e}", self.id))
        };
        Ok(KeyRecord {
            scopes: serde_json::from_str(&self.scopes).map_err(|e| corrupt("scopes", &e))?,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| corrupt("metadata", &e))?,
            status: self
                .status
                .parse()
                .map_err(|e: String| corrupt("status", &e))?,
            rate_limit: self
                .rate_limit
                .as_deref()
                .map(|r| r.parse().map_err(|e| corrupt("rate_limit", &e)))
                .transpose()?,
            usage_count: to_u64(self.usage_count),
            // Depends on the policy, which the store does not know; the gate sets it.
            effective_rate_limit: None,
            remaining: self.remaining.map(to_u64),
            id: self.id,
            name: self.name,
            kind: self.kind,
            start: self.start,
            subject: self.subject,
            resource: self.resource,
            created_at: self.created_at,
            updated_at: self.updated_at,
            // Gatepass before the bound on expiries could store any i64 (e.g.
            // from `expires_in="3000000d"`); read such a key as expiring at
            // the latest time every binding can show, rather than breaking
            // every read of it (and every `list` of its store).
            expires_at: self.expires_at.map(|t| t.min(crate::clock::MAX_MILLIS)),
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        })
    }
}

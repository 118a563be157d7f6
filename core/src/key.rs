//! Key records: everything gatepass knows about a key except
//! its secret, which is stored only as a SHA-256 digest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::ratelimit::RateLimit;
use crate::scope::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Inactive,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "revoked" => Ok(Self::Revoked),
            other => Err(format!("unknown status {other:?}")),
        }
    }
}

/// The most credits a key may hold: 2^53 − 1, the largest integer a
/// JavaScript number (and a JSON parser that reads numbers as doubles)
/// carries exactly, and well inside the stores' signed 64-bit columns, so
/// the count a caller sets is the count every binding reads back.
pub const MAX_REMAINING: u64 = (1 << 53) - 1;

/// One key. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id, `key_…`; safe for URLs and logs.
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Prefix and first characters of the token, e.g. `gp_aB3x`; not secret.
    pub start: String,
    pub scopes: Vec<Scope>,
    /// Owner: an agent, user or workspace id.
    pub subject: Option<String>,
    /// Optional binding to one resource, e.g. `channel:ch_123`.
    pub resource: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub status: Status,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub usage_count: u64,
    /// The key's own limit; `None` falls back to its kind's default.
    pub rate_limit: Option<RateLimit>,
    /// The limit that applies: the key's own, else its kind's default in the
    /// gate's policy, else none. The gate fills it in on every record it
    /// returns (a store cannot: it does not know the policy), so a listing
    /// shows the kind's `1000/hour` rather than a bare "no limit of its own".
    #[serde(default)]
    pub effective_rate_limit: Option<RateLimit>,
    /// Remaining credits; `None` means unlimited.
    pub remaining: Option<u64>,
}

impl KeyRecord {
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// Filters and paging for `list`. Results are ordered by creation time, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub subject: Option<String>,
    pub kind: Option<String>,
    pub status: Option<Status>,
    /// Return keys strictly after this position (from a previous page).
    pub after: Option<Cursor>,
    pub limit: usize,
    /// Filters by expiry at a moment, so a listing can offer the status
    /// people see (`expired` is derived, not stored); `None` keeps every key.
    pub expiry: Option<ExpiryFilter>,
}

/// The derived `expired` status as a list filter. A revoked key stays
/// revoked whatever its expiry, so `ExpiredAt` leaves revoked keys out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryFilter {
    /// Keys without an expiry or whose expiry is later than this moment.
    LiveAt(Millis),
    /// Keys that are not revoked and whose expiry is at or before this moment.
    ExpiredAt(Millis),
}

impl ExpiryFilter {
    /// Whether `key` passes the filter: the one rule the stores' queries
    /// implement in SQL.
    pub fn keeps(self, key: &KeyRecord) -> bool {
        match self {
            Self::LiveAt(now) => !key.is_expired(now),
            Self::ExpiredAt(now) => key.status != Status::Revoked && key.is_expired(now),
        }
    }

    /// `(live_at, expired_at)`: the two SQL parameters, one of them null.
    pub fn sql_params(filter: Option<Self>) -> (Option<Millis>, Option<Millis>) {
        match filter {
            None => (None, None),
            Some(Self::LiveAt(t)) => (Some(t), None),
            Some(Self::ExpiredAt(t)) => (None, Some(t)),
        }
    }
}

/// An opaque position in the `list` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Millis,
    pub id: String,
}

impl Cursor {
    pub fn of(key: &KeyRecord) -> Self {
        Self {
            created_at: key.created_at,
            id: key.id.clone(),
        }
    }

    /// `<created_at>.<id>`: readable, and validated on the way back in.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (t, id) = s.split_once('.')?;
        let created_at = t.parse().ok()?;
        crate::token::is_valid_key_id(id).then(|| Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub keys: Vec<KeyRecord>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A change to a key's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `Some(None)` removes the expiry (subject to the kind's maximum).
    pub expires_at: Option<Option<Millis>>,
    /// A new lifetime measured from the moment of the update, by the gate's
    /// clock; cannot be combined with `expires_at`.
    pub expires_in: Option<std::time::Duration>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub remaining: Option<Option<u64>>,
}

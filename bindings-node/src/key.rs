//! Key records as JavaScript sees them: camelCase fields, `Date`s for the
//! core's Unix milliseconds, `null` for absent values.

use chrono::{DateTime, Utc};
use gatepass_core::clock::Millis;
use gatepass_core::{Issued, KeyRecord, Page};
use napi_derive::napi;

/// One key. Never carries its secret.
#[napi(object, use_nullable = true)]
pub struct Key {
    /// Public id, `key_…`: safe for URLs and logs.
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Prefix and first characters of the token, e.g. `gp_aB3x`.
    pub start: String,
    pub scopes: Vec<String>,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `active`, `inactive` or `revoked`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub usage_count: i64,
    /// e.g. `1000/hour`; `null` falls back to the kind's default.
    pub rate_limit: Option<String>,
    /// Remaining credits; `null` means unlimited.
    pub remaining: Option<i64>,
}

pub fn date(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<&KeyRecord> for Key {
    fn from(k: &KeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            kind: k.kind.clone(),
            start: k.start.clone(),
            scopes: k.scopes.iter().map(ToString::to_string).collect(),
            subject: k.subject.clone(),
            resource: k.resource.clone(),
            metadata: k.metadata.clone(),
            status: k.status.as_str().to_owned(),
            created_at: date(k.created_at),
            updated_at: date(k.updated_at),
            expires_at: k.expires_at.map(date),
            revoked_at: k.revoked_at.map(date),
            last_used_at: k.last_used_at.map(date),
            usage_count: count(k.usage_count),
            rate_limit: k.rate_limit.map(|r| r.to_string()),
            remaining: k.remaining.map(count),
        }
    }
}

/// A newly issued or rotated key. `index.js` hides `token` from
/// `util.inspect`, `JSON.stringify` and spreading: it is shown once.
#[napi(object)]
pub struct IssuedKey {
    pub token: String,
    pub key: Key,
}

impl From<Issued> for IssuedKey {
    fn from(i: Issued) -> Self {
        Self {
            token: i.token.expose().to_owned(),
            key: Key::from(&i.key),
        }
    }
}

/// One page of `list`; pass `next` back as `after` for the following page.
#[napi(object, use_nullable = true)]
pub struct KeyPage {
    pub keys: Vec<Key>,
    pub next: Option<String>,
}

impl From<Page> for KeyPage {
    fn from(p: Page) -> Self {
        Self {
            keys: p.keys.iter().map(Key::from).collect(),
            next: p.next,
        }
    }
}

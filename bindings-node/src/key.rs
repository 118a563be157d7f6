//! Key records on their way to JavaScript: camelCase fields, the core's Unix
//! milliseconds as numbers and the metadata as JSON text, `null` for absent
//! values. `index.js` turns them into the public `Key` (with `Date`s and a
//! metadata object): building those in JavaScript costs a fraction of
//! building them through N-API.

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
    /// JSON object text.
    pub metadata: String,
    /// `active`, `inactive` or `revoked`.
    pub status: String,
    /// Unix milliseconds.
    pub created_at: f64,
    /// Unix milliseconds.
    pub updated_at: f64,
    pub expires_at: Option<f64>,
    pub revoked_at: Option<f64>,
    pub last_used_at: Option<f64>,
    pub usage_count: i64,
    /// e.g. `1000/hour`; `null` falls back to the kind's default.
    pub rate_limit: Option<String>,
    /// Remaining credits; `null` means unlimited.
    pub remaining: Option<i64>,
}

fn millis(ms: Millis) -> f64 {
    ms as f64
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
            metadata: serde_json::to_string(&k.metadata).unwrap_or_else(|_| "{}".to_owned()),
            status: k.status.as_str().to_owned(),
            created_at: millis(k.created_at),
            updated_at: millis(k.updated_at),
            expires_at: k.expires_at.map(millis),
            revoked_at: k.revoked_at.map(millis),
            last_used_at: k.last_used_at.map(millis),
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

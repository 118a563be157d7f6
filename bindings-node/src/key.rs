//! Key records on their way to JavaScript, as JSON text: an object whose
//! members have their JavaScript names, the core's Unix milliseconds as
//! numbers, `null` for absent values. `keyFrom` in `index.js` makes the
//! `Date`s. One string, `JSON.parse` and an object literal cost a fraction of
//! the same object assembled property by property through N-API (eighteen
//! fields, five of them `Date`s). Members are named, not positional, so the
//! two sides cannot disagree on an order; `tests/node/key-fields.test.js`
//! fails when a name differs.

use gatepass_core::{Issued, KeyRecord, Page};
use napi_derive::napi;
use serde::Serialize;

/// One key, borrowed from the core's record. Never carries its secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Key<'a> {
    /// Public id, `key_…`: safe for URLs and logs.
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    /// Prefix and first characters of the token, e.g. `gp_aB3x`.
    start: &'a str,
    scopes: Vec<String>,
    subject: Option<&'a str>,
    resource: Option<&'a str>,
    metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// `active`, `inactive` or `revoked`.
    status: &'static str,
    /// Unix milliseconds, like the other times.
    created_at: i64,
    updated_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    usage_count: u64,
    /// e.g. `1000/hour`; `null` falls back to the kind's default.
    rate_limit: Option<String>,
    /// Remaining credits; `null` means unlimited.
    remaining: Option<u64>,
    /// The limit that applies: the key's own, else its kind's default.
    effective_rate_limit: Option<String>,
}

impl<'a> From<&'a KeyRecord> for Key<'a> {
    fn from(k: &'a KeyRecord) -> Self {
        Self {
            id: &k.id,
            name: &k.name,
            kind: &k.kind,
            start: &k.start,
            scopes: k.scopes.iter().map(ToString::to_string).collect(),
            subject: k.subject.as_deref(),
            resource: k.resource.as_deref(),
            metadata: &k.metadata,
            status: k.status.as_str(),
            created_at: k.created_at,
            updated_at: k.updated_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            usage_count: k.usage_count,
            rate_limit: k.rate_limit.map(|r| r.to_string()),
            remaining: k.remaining,
            effective_rate_limit: k.effective_rate_limit.map(|r| r.to_string()),
        }
    }
}

/// Serialising strings, numbers and a JSON map cannot fail; `null` is the
/// unreachable fallback.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// A key record as JSON text (see the module docs).
pub fn key_json(k: &KeyRecord) -> String {
    json(&Key::from(k))
}

/// A newly issued or rotated key. `index.js` hides `token` from
/// `util.inspect`, `JSON.stringify` and spreading: it is shown once.
#[napi(object)]
pub struct IssuedKey {
    pub token: String,
    /// The key record as JSON text.
    pub key: String,
}

impl From<Issued> for IssuedKey {
    fn from(i: Issued) -> Self {
        Self {
            token: i.token.expose().to_owned(),
            key: key_json(&i.key),
        }
    }
}

/// One page of `list` as JSON text, `{ keys, next }` with each key an array
/// as above; pass `next` back as
/// `after` for the following page.
pub fn page_json(p: &Page) -> String {
    #[derive(serde::Serialize)]
    struct PageJson<'a> {
        keys: Vec<Key<'a>>,
        next: Option<&'a str>,
    }
    json(&PageJson {
        keys: p.keys.iter().map(Key::from).collect(),
        next: p.next.as_deref(),
    })
}

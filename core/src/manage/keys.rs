//! `keys` routes: list, create, read, change, regenerate and the status
//! changes, and a key as JSON.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, change_body, not_found, problem, query_params};
use super::{time, Principal, Request, Response};
use crate::clock::Millis;
use crate::duration;
use crate::error::GateError;
use crate::gate::{Gate, IssueRequest, Issued};
use crate::history::{self, Step, UsageQuery};
use crate::key::{Cursor, ExpiryFilter, KeyRecord, KeyUpdate, ListQuery, Status};
use crate::policy::Kind;
use crate::scope::{self, Scope, ScopeError};
use crate::token;

/// Default page size of `GET keys`.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page size of `GET keys`.
pub const MAX_PAGE: usize = 100;
/// Most scopes one key may be given through the API.
pub const MAX_SCOPES: usize = 64;
/// Characters of the token shown as its prefix, as people recognise keys
/// (`prod_abc…`).
const PREFIX_CHARS: usize = 8;

/// The status people see: `expired` is derived from the expiry (a revoked
/// key stays revoked), the rest is stored.
#[must_use]
pub fn shown_status(key: &KeyRecord, now: Millis) -> &'static str {
    match key.status {
        Status::Revoked => "revoked",
        _ if key.is_expired(now) => "expired",
        status => status.as_str(),
    }
}

/// The token's first characters as people see them, from the stored
/// `start` (the kind's prefix, `_`, four characters of the secret part):
/// the first eight, but always at least one character past the kind's
/// prefix, so keys of a long prefix (`sk_live`) stay distinguishable.
#[must_use]
pub fn shown_prefix(key: &KeyRecord) -> String {
    let kind_prefix = key.start.rfind('_').unwrap_or(0);
    let chars = PREFIX_CHARS.max(kind_prefix + 2);
    let mut shown: String = key.start.chars().take(chars).collect();
    shown.push('…');
    shown
}

fn time_or_null(t: Option<Millis>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time::format(t)))
}

/// A key as the API answers it. `subject` only in operator mode: an owner
/// knows whose keys these are. `attempts_after_end` counts refusals of a
/// key that was revoked, expired or deactivated: someone is still trying it
/// (`null` when the history could not be read just after a change).
#[must_use]
pub fn key_json(
    key: &KeyRecord,
    now: Millis,
    operator: bool,
    attempts_after_end: Option<u64>,
) -> Value {
    let mut v = json!({
        "id": key.id,
        "name": key.name,
        "kind": key.kind,
        "prefix": shown_prefix(key),
        "created_at": time::format(key.created_at),
        "updated_at": time::format(key.updated_at),
        "expires_at": time_or_null(key.expires_at),
        "last_used_at": time_or_null(key.last_used_at),
        "usage_count": key.usage_count,
        "status": shown_status(key, now),
        "scopes": key.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "resource": key.resource,
        "rate_limit": key.effective_rate_limit.map(|r| r.to_string()),
        "remaining": key.remaining,
        "attempts_after_end": attempts_after_end,
    });
    if operator {
        if let Value::Object(map) = &mut v {
            map.insert("subject".to_owned(), json!(key.subject));
        }
    }
    v
}

/// How far back `attempts_after_end` looks.
const ATTEMPTS_WINDOW: Millis = 30 * history::DAY;

/// The refusals that mean an ended key is still being tried.
const AFTER_END: [&str; 3] = ["revoked", "expired", "inactive"];

/// `attempts_after_end` of each of `keys`, from one usage-totals query.
fn attempts_after_end(gate: &Gate, keys: &[KeyRecord]) -> Result<HashMap<String, u64>, GateError> {
    let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
    let totals = gate.usage_totals(&ids, gate.now().saturating_sub(ATTEMPTS_WINDOW))?;
    Ok(totals
        .into_iter()
        .map(|(id, t)| {
            let n = AFTER_END
                .iter()
                .filter_map(|code| t.refused.get(*code))
                .fold(0u64, |sum, n| sum.saturating_add(*n));
            (id, n)
        })
        .collect())
}

/// Keys as JSON, each with its `attempts_after_end`.
fn keys_json(
    gate: &Gate,
    principal: &Principal,
    keys: &[KeyRecord],
) -> Result<Vec<Value>, GateError> {
    let attempts = attempts_after_end(gate, keys)?;
    let now = gate.now();
    Ok(keys
        .iter()
        .map(|k| {
            let n = attempts.get(&k.id).copied().unwrap_or(0);
            key_json(k, now, principal.is_operator(), Some(n))
        })
        .collect())
}

/// One key's answer: its JSON, or the problem of the query that failed.
fn one_key(gate: &Gate, principal: &Principal, key: &KeyRecord) -> Result<Value, Response> {
    keys_json(gate, principal, std::slice::from_ref(key))
        .map_err(|e| gate_error(&e))?
        .pop()
        .ok_or_else(|| problem(crate::errors::INTERNAL_ERROR, ""))
}

/// `200` with one key, or the problem that kept it from being read.
fn key_answer(gate: &Gate, principal: &Principal, key: &KeyRecord) -> Response {
    match one_key(gate, principal, key) {
        Ok(v) => http::json(200, &v),
        Err(r) => r,
    }
}

/// A key just changed, as JSON. The change is made: should its history
/// fail to read now, the answer still says so (with `attempts_after_end`
/// unknown) rather than a 5xx that would have the client retry it.
fn changed_key(gate: &Gate, principal: &Principal, key: &KeyRecord) -> Value {
    one_key(gate, principal, key)
        .unwrap_or_else(|_| key_json(key, gate.now(), principal.is_operator(), None))
}

/// The answer for a failed lifecycle call. `not_found` never repeats the
/// id; other messages name fields and rules, never a secret.
fn gate_error(e: &GateError) -> Response {
    match e {
        GateError::NotFound(_) => not_found(),
        // The core's message names the policy in force (possibly a file on
        // the server) and all its kinds: for operators' logs, not for a
        // key's owner, who sent no kind here.
        GateError::UnknownKind { .. } => problem(
            e.code(),
            "this key's kind is not in the server's policy; an operator must restore it",
        ),
        e => problem(e.code(), &e.to_string()),
    }
}

/// The key `id` if `principal` may see it; `404` alike for a malformed id,
/// a key that does not exist and another owner's key.
fn owned_key(gate: &Gate, principal: &Principal, id: &str) -> Result<KeyRecord, Response> {
    if !token::is_valid_key_id(id) {
        return Err(not_found());
    }
    let key = gate.get(id).map_err(|e| gate_error(&e))?;
    match &principal.owner {
        Some(owner) if key.subject.as_ref() != Some(owner) => Err(not_found()),
        _ => Ok(key),
    }
}

fn parse_scopes(scopes: &[String], principal: &Principal) -> Result<Vec<Scope>, Response> {
    if scopes.len() > MAX_SCOPES {
        return Err(problem(
            "invalid_argument",
            &format!("a key may be given at most {MAX_SCOPES} scopes"),
        ));
    }
    let parsed = scope::parse_list(scopes).map_err(|e| match e {
        // Its message would repeat what was sent, which may be anything.
        ScopeError::InvalidScope(_) => problem(
            e.code(),
            "a scope must be 'admin' or 'resource:action', each part lowercase [a-z0-9_.-] or '*'",
        ),
        e => problem(e.code(), &e.to_string()),
    })?;
    if let Some(ceiling) = &principal.scope_ceiling {
        if let Some(s) = parsed.iter().find(|s| !ceiling.iter().any(|c| c.covers(s))) {
            return Err(problem(
                "scope_not_permitted",
                &format!("you may not grant the scope {:?}", s.to_string()),
            ));
        }
    }
    Ok(parsed)
}

fn parse_time(field: &str, text: &str) -> Result<Millis, Response> {
    time::parse(text).ok_or_else(|| {
        problem(
            "invalid_argument",
            &format!(
                "{field} must be an RFC 3339 date-time such as \"2030-01-31T12:00:00Z\", \
                 between 1970 and 9999"
            ),
        )
    })
}

fn parse_duration(field: &str, text: &str) -> Result<Duration, Response> {
    // The parser's message repeats the text; this one does not.
    duration::parse(text).map_err(|e| {
        problem(
            e.code(),
            &format!(
                "{field} must be a duration with a unit, such as \"30d\", \"12h\" or \"90m\", \
                 of at most 36525 days"
            ),
        )
    })
}

/// The kinds `principal` may issue, in the policy's order.
pub(super) fn permitted_kinds<'a>(gate: &'a Gate, principal: &Principal) -> Vec<&'a Kind> {
    gate.policy()
        .kinds()
        .iter()
        .filter(|k| {
            principal
                .kinds
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&k.name))
        })
        .collect()
}

/// The kind a create without `kind` issues: the policy's default if the
/// principal may issue it, else the first kind it may.
pub(super) fn default_kind<'a>(gate: &'a Gate, principal: &Principal) -> Option<&'a Kind> {
    let permitted = permitted_kinds(gate, principal);
    let default = gate.policy().default_kind();
    permitted
        .iter()
        .find(|k| k.name == default.name)
        .or_else(|| permitted.first())
        .copied()
}

// ----- GET keys --------------------------------------------------------------

pub(super) fn list(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    let params = match query_params(request.query, &["status", "kind", "after", "limit"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = gate.now();
    let mut query = ListQuery {
        subject: principal.owner.clone(),
        limit: DEFAULT_PAGE,
        ..ListQuery::default()
    };
    for (name, value) in params {
        match name {
            "status" => {
                let (status, expiry) = match value.as_str() {
                    "active" => (Some(Status::Active), Some(ExpiryFilter::LiveAt(now))),
                    "inactive" => (Some(Status::Inactive), Some(ExpiryFilter::LiveAt(now))),
                    "expired" => (None, Some(ExpiryFilter::ExpiredAt(now))),
                    "revoked" => (Some(Status::Revoked), None),
                    _ => {
                        return problem(
                            "invalid_argument",
                            "status must be active, inactive, expired or revoked",
                        )
                    }
                };
                query.status = status;
                query.expiry = expiry;
            }
            "kind" => query.kind = Some(value),
            "after" => match Cursor::decode(&value) {
                Some(c) => query.after = Some(c),
                None => return problem("invalid_argument", "invalid list cursor"),
            },
            _ => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => query.limit = n,
                _ => {
                    return problem(
                        "invalid_argument",
                        &format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                    )
                }
            },
        }
    }
    match gate.list_where(query) {
        Ok(page) => match keys_json(gate, principal, &page.keys) {
            Ok(keys) => http::json(200, &json!({ "keys": keys, "next": page.next })),
            Err(e) => gate_error(&e),
        },
        Err(e) => gate_error(&e),
    }
}

// ----- POST keys -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Omitted or `null`: the kind's default lifetime (none: never expires).
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
    /// Operator mode only: the owner to issue the key to.
    #[serde(default)]
    subject: Option<String>,
}

pub(super) fn create(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    let body: CreateBody = match change_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match issue_request(gate, principal, body) {
        Ok(req) => match gate.issue_as(req, &principal.actor) {
            Ok(issued) => token_answer(gate, principal, 201, &issued),
            Err(e) => gate_error(&e),
        },
        Err(r) => r,
    }
}

fn issue_request(
    gate: &Gate,
    principal: &Principal,
    body: CreateBody,
) -> Result<IssueRequest, Response> {
    let kind = match &body.kind {
        Some(name) => {
            if gate.policy().kind(name).is_none() {
                // Not repeated: whatever was sent (a token, once) stays out
                // of answers and the logs that keep them.
                return Err(problem(
                    "unknown_kind",
                    "no such kind: GET meta lists the kinds you may issue",
                ));
            }
            if !permitted_kinds(gate, principal)
                .iter()
                .any(|k| k.name == *name)
            {
                return Err(problem(
                    "kind_not_permitted",
                    &format!("you may not issue keys of kind {name:?}"),
                ));
            }
            name.clone()
        }
        None => match default_kind(gate, principal) {
            Some(k) => k.name.clone(),
            None => {
                return Err(problem(
                    "kind_not_permitted",
                    "you may not issue keys of any kind",
                ))
            }
        },
    };
    let subject = match (&principal.owner, body.subject) {
        (Some(owner), None) => Some(owner.clone()),
        (Some(_), Some(_)) => {
            return Err(problem(
                "invalid_body",
                "subject is not accepted: keys are issued to the logged-in owner",
            ))
        }
        (None, subject) => subject,
    };
    let scopes = parse_scopes(body.scopes.as_deref().unwrap_or_default(), principal)?;
    let (expires_at, expires_in) = match (body.expires_at, body.expires_in) {
        (Some(_), Some(_)) => {
            return Err(problem(
                "invalid_argument",
                "pass expires_at or expires_in, not both",
            ))
        }
        (Some(at), None) => (Some(parse_time("expires_at", &at)?), None),
        (None, Some(d)) => (None, Some(parse_duration("expires_in", &d)?)),
        (None, None) => (None, None),
    };
    Ok(IssueRequest {
        name: body.name,
        kind: Some(kind),
        scopes,
        subject,
        expires_at,
        expires_in,
        ..IssueRequest::default()
    })
}

/// The only answers that ever hold a token: create and regenerate.
fn token_answer(gate: &Gate, principal: &Principal, status: u16, issued: &Issued) -> Response {
    // The token exists only in this answer: it is never lost to a failed read.
    let key = changed_key(gate, principal, &issued.key);
    let mut r = http::json(
        status,
        &json!({
            "token": issued.token.expose(),
            "key": key,
        }),
    );
    if status == 201 {
        r.headers
            .push(("Location".to_owned(), format!("keys/{}", issued.key.id)));
    }
    r
}

// ----- GET / PATCH keys/{id} -------------------------------------------------

pub(super) fn get(gate: &Gate, principal: &Principal, id: &str) -> Response {
    match owned_key(gate, principal, id) {
        Ok(key) => key_answer(gate, principal, &key),
        Err(r) => r,
    }
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// `null` removes the expiry (within the kind's maximum lifetime).
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<String>>,
    #[serde(default)]
    expires_in: Option<String>,
}

pub(super) fn update(
    gate: &Gate,
    principal: &Principal,
    request: &Request<'_>,
    id: &str,
) -> Response {
    let body: UpdateBody = match change_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = owned_key(gate, principal, id) {
        return r;
    }
    let update = match key_update(principal, body) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match gate.update_as(id, update, &principal.actor) {
        Ok(key) => http::json(200, &changed_key(gate, principal, &key)),
        Err(e) => gate_error(&e),
    }
}

fn key_update(principal: &Principal, body: UpdateBody) -> Result<KeyUpdate, Response> {
    let scopes = body
        .scopes
        .map(|s| parse_scopes(&s, principal))
        .transpose()?;
    let expires_at = match body.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(at)) => Some(Some(parse_time("expires_at", &at)?)),
    };
    let expires_in = body
        .expires_in
        .map(|d| parse_duration("expires_in", &d))
        .transpose()?;
    Ok(KeyUpdate {
        name: body.name,
        scopes,
        expires_at,
        expires_in,
        ..KeyUpdate::default()
    })
}

// ----- POST keys/{id}/… ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegenerateBody {
    /// How long the old token keeps working (`"1h"`); none by default.
    #[serde(default)]
    grace: Option<String>,
}

pub(super) fn regenerate(
    gate: &Gate,
    principal: &Principal,
    request: &Request<'_>,
    id: &str,
) -> Response {
    let body: RegenerateBody = match change_body(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let grace = match body.grace.map(|g| parse_duration("grace", &g)).transpose() {
        Ok(g) => g.unwrap_or(Duration::ZERO),
        Err(r) => return r,
    };
    if let Err(r) = owned_key(gate, principal, id) {
        return r;
    }
    match gate.rotate_as(id, grace, &principal.actor) {
        Ok(issued) => token_answer(gate, principal, 200, &issued),
        Err(e) => gate_error(&e),
    }
}

/// The status changes take an empty object: nothing to choose.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

pub(super) fn set_status(
    gate: &Gate,
    principal: &Principal,
    request: &Request<'_>,
    id: &str,
    action: &str,
) -> Response {
    if let Err(r) = change_body::<EmptyBody>(request) {
        return r;
    }
    if let Err(r) = owned_key(gate, principal, id) {
        return r;
    }
    let result = match action {
        "deactivate" => gate.deactivate_as(id, &principal.actor),
        "activate" => gate.activate_as(id, &principal.actor),
        _ => gate.revoke_as(id, &principal.actor),
    };
    match result {
        Ok(key) => http::json(200, &changed_key(gate, principal, &key)),
        Err(e) => gate_error(&e),
    }
}

// ----- GET keys/{id}/usage ---------------------------------------------------

pub(super) fn usage(
    gate: &Gate,
    principal: &Principal,
    request: &Request<'_>,
    id: &str,
) -> Response {
    let params = match query_params(request.query, &["since", "until", "step"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = owned_key(gate, principal, id) {
        return r;
    }
    let mut step = Step::Day;
    let (mut since, mut until) = (None, None);
    for (name, value) in params {
        match name {
            "step" => match Step::parse(&value) {
                Ok(s) => step = s,
                Err(e) => return gate_error(&e),
            },
            "since" => match parse_time("since", &value) {
                Ok(t) => since = Some(t),
                Err(r) => return r,
            },
            _ => match parse_time("until", &value) {
                Ok(t) => until = Some(t),
                Err(r) => return r,
            },
        }
    }
    // The default range is the bindings' and the CLI's: one rule, in history.
    match gate.usage(id, &UsageQuery::recent(since, until, step, gate.now())) {
        Ok(buckets) => {
            let buckets: Vec<Value> = buckets
                .iter()
                .map(|b| {
                    json!({
                        "start": time::format(b.start),
                        "valid": b.valid,
                        "refused": b.refused,
                    })
                })
                .collect();
            http::json(200, &json!({ "step": step.as_str(), "buckets": buckets }))
        }
        Err(e) => gate_error(&e),
    }
}

//! `GET events`: the audit trail of the principal's keys, newest first.

use serde_json::{json, Value};

use super::http::{self, problem, query_params};
use super::{time, Principal, Request, Response};
use crate::audit::{Event, EventQuery};
use crate::gate::Gate;

/// Default page size of `GET events`.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page size of `GET events`.
pub const MAX_PAGE: usize = 100;

/// An event as the API answers it to `principal`; `owner` only in operator
/// mode. An owner sees where a change came from (`ip`, `user_agent`) only
/// for its own changes: the events of its keys also record staff working on
/// them (the Django admin, the operator console, the CLI, a support tool),
/// and a customer must not learn their addresses and browsers. Operators see
/// everything.
#[must_use]
pub fn event_json(event: &Event, principal: &Principal) -> Value {
    let operator = principal.is_operator();
    let source_shown = operator || event.actor == principal.actor.name;
    let mut v = json!({
        "id": event.id,
        "at": time::format(event.at),
        "key_id": event.key_id,
        "action": event.action.as_str(),
        "actor": event.actor,
        "changes": event.changes,
        "ip": if source_shown { event.ip.as_deref() } else { None },
        "user_agent": if source_shown { event.user_agent.as_deref() } else { None },
    });
    if operator {
        if let Value::Object(map) = &mut v {
            map.insert("owner".to_owned(), json!(event.owner));
        }
    }
    v
}

/// An owner sees the events of its own keys only: the owner filter is always
/// its own, whatever `key` names, so another owner's key id answers an empty
/// page, exactly like an id that never existed. The events of a deleted key
/// of its own stay readable.
pub(super) fn list(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    let known: &[&str] = if principal.is_operator() {
        &["key", "owner", "since", "after", "limit"]
    } else {
        &["key", "since", "after", "limit"]
    };
    let params = match query_params(request.query, known) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut query = EventQuery {
        owner: principal.owner.clone(),
        limit: DEFAULT_PAGE,
        ..EventQuery::default()
    };
    for (name, value) in params {
        match name {
            "key" => {
                if !crate::token::is_valid_key_id(&value) {
                    return problem(
                        "invalid_argument",
                        "key must be a key id: \"key_\" followed by 16 letters or digits",
                    );
                }
                query.key = Some(value);
            }
            "owner" => query.owner = Some(value),
            "since" => match time::parse(&value) {
                Some(t) => query.since = Some(t),
                None => {
                    return problem(
                        "invalid_argument",
                        "since must be an RFC 3339 date-time such as \"2030-01-31T12:00:00Z\"",
                    )
                }
            },
            "after" => query.after = Some(value),
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
    match gate.events(&query) {
        Ok(page) => {
            let events: Vec<Value> = page
                .events
                .iter()
                .map(|e| event_json(e, principal))
                .collect();
            http::json(200, &json!({ "events": events, "next": page.next }))
        }
        Err(e) => problem(e.code(), &e.to_string()),
    }
}

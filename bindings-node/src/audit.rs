//! The audit trail on its way to and from JavaScript: the `{ actor, ip,
//! userAgent }` of every lifecycle call, the options of `events`, and event
//! pages as JSON text (`eventsFrom` in `index.js` makes the `Date`s).

use gatepass_core::audit::{Actor, EventPage, EventQuery};
use napi_derive::napi;
use serde_json::json;

use crate::error::NodeError;

/// Who makes a change, and from where; recorded in the audit trail.
#[napi(object)]
pub struct ActorOptions {
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ActorOptions {
    /// `None` when nothing was given (the core then records this process);
    /// else the named actor, or this process, with the request's source.
    pub fn actor(who: Option<Self>) -> Option<Actor> {
        let who = who?;
        if who.actor.is_none() && who.ip.is_none() && who.user_agent.is_none() {
            return None;
        }
        let mut a = who.actor.map_or_else(Actor::process, Actor::new);
        a.ip = who.ip;
        a.user_agent = who.user_agent;
        Some(a)
    }
}

#[napi(object)]
pub struct EventOptions {
    pub key: Option<String>,
    pub owner: Option<String>,
    /// Unix milliseconds.
    pub since: Option<f64>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

impl EventOptions {
    pub fn query(options: Option<Self>) -> Result<EventQuery, NodeError> {
        let Some(o) = options else {
            return Ok(EventQuery::default());
        };
        let since = o
            .since
            .map(|ms| {
                if ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 9.0e15 {
                    Ok(ms as i64)
                } else {
                    Err(NodeError::invalid_argument(
                        "since must be a Date or whole Unix milliseconds",
                    ))
                }
            })
            .transpose()?;
        Ok(EventQuery {
            key: o.key,
            owner: o.owner,
            since,
            after: o.after,
            limit: o.limit.map_or(0, |l| l as usize),
        })
    }
}

/// `{"events": [{id, at, keyId, owner, action, actor, changes, ip, userAgent}], "next"}`
/// with `at` in Unix milliseconds.
pub fn event_page_json(page: &EventPage) -> String {
    let events: Vec<serde_json::Value> = page
        .events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": e.at,
                "keyId": e.key_id,
                "owner": e.owner,
                "action": e.action.as_str(),
                "actor": e.actor,
                "changes": e.changes,
                "ip": e.ip,
                "userAgent": e.user_agent,
            })
        })
        .collect();
    json!({ "events": events, "next": page.next }).to_string()
}

//! `gate.manage(request)`: the management API as data. `manage.js` cuts an
//! Express request down to this shape and asks the host's login for the
//! principal; the core answers on the libuv pool.

use gatepass_core::audit::Actor;
use gatepass_core::manage::{self, Principal, Request, Response};
use gatepass_core::scope::parse_list;
use gatepass_core::Gate as CoreGate;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::NodeError;

/// Who is asking, as the host's login decided (`manage.js` checks the shape).
#[napi(object)]
pub struct ManagePrincipal {
    /// `null` only together with `operator: true`.
    pub owner: Option<String>,
    pub operator: Option<bool>,
    pub actor: String,
    pub kinds: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[napi(object)]
pub struct ManageRequest {
    pub method: String,
    /// Relative to the mount point, without the leading `/`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    /// `scheme://host[:port]` as this request reached the server.
    pub self_origin: Option<String>,
    pub body: Buffer,
    /// `null`: nobody is logged in (answered 401 `login_required`).
    pub principal: Option<ManagePrincipal>,
}

#[napi(object)]
pub struct ManageAnswer {
    pub status: u32,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    pub body: Buffer,
}

/// A request copied out of JavaScript's memory, ready for the pool.
pub struct Prepared {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    self_origin: Option<String>,
    body: Vec<u8>,
    principal: Option<Principal>,
}

fn principal(p: ManagePrincipal) -> Result<Principal, NodeError> {
    // An owner missing by accident (a user without a workspace) must not
    // turn into "every owner's keys": operator mode is asked for by name.
    let operator = p.operator.unwrap_or(false);
    match (&p.owner, operator) {
        (None, false) => {
            return Err(NodeError::invalid_argument(
                "principal has no owner; return { operator: true, actor } for operator mode (every owner's keys)",
            ))
        }
        (Some(_), true) => {
            return Err(NodeError::invalid_argument(
                "principal: an owner and operator: true exclude each other",
            ))
        }
        _ => {}
    }
    if p.actor.is_empty() {
        return Err(NodeError::invalid_argument(
            "principal needs an actor, who the audit trail records (e.g. \"user:42\")",
        ));
    }
    let mut actor = Actor::new(p.actor);
    if let Some(ip) = p.ip {
        actor = actor.with_ip(ip);
    }
    if let Some(ua) = p.user_agent {
        actor = actor.with_user_agent(ua);
    }
    Ok(Principal {
        owner: p.owner,
        actor,
        kinds: p.kinds,
        scope_ceiling: p.scopes.map(|s| parse_list(&s)).transpose()?,
    })
}

/// Checks and copies the request on the main thread.
pub fn prepare(r: ManageRequest) -> Result<Prepared, NodeError> {
    let headers = r
        .headers
        .into_iter()
        .map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Ok((name, value)),
            Err(_) => Err(NodeError::invalid_argument(
                "headers must be [name, value] pairs",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        method: r.method,
        path: r.path,
        query: r.query,
        headers,
        self_origin: r.self_origin,
        body: r.body.to_vec(),
        principal: r.principal.map(principal).transpose()?,
    })
}

/// The core's answer (on the pool).
pub fn answer(gate: &CoreGate, r: &Prepared) -> ManageAnswer {
    let Response {
        status,
        headers,
        body,
    } = match &r.principal {
        None => manage::login_required(),
        Some(principal) => manage::handle(
            gate,
            principal,
            &Request {
                method: &r.method,
                path: &r.path,
                query: &r.query,
                headers: &r.headers,
                self_origin: r.self_origin.as_deref(),
                body: &r.body,
            },
        ),
    };
    ManageAnswer {
        status: u32::from(status),
        headers: headers.into_iter().map(|(n, v)| vec![n, v]).collect(),
        body: body.into(),
    }
}

/// The largest request body the management API reads; `manage.js` reads at
/// most one byte more, so a larger body is refused by the core unread.
#[napi]
pub fn manage_max_body_bytes() -> u32 {
    u32::try_from(manage::MAX_BODY_BYTES).unwrap_or(u32::MAX)
}

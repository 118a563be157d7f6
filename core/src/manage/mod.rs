//! The management API as data: the JSON API behind an "API Tokens" page,
//! answered by the core from `(method, path, query, headers, body)` so every
//! framework mounts the same API with a few lines and every rule (owner
//! isolation, same-origin changes, bounded input, the problem table) lives
//! here once.
//!
//! A [`Principal`] comes from the host application's own login: the owner
//! whose keys it manages (matched against a key's `subject`), or operator
//! mode (every owner); the actor recorded for changes; which kinds it may
//! issue and the scopes it may grant at most.

use std::panic::AssertUnwindSafe;

use crate::gate::Gate;
use crate::scope::Scope;

#[cfg(feature = "console")]
pub mod console;
mod events;
mod http;
mod keys;
mod meta;
pub mod page;
pub mod time;

pub use crate::audit::Actor;
pub use http::Response;

/// The largest request body the API reads; mounts may refuse a larger one
/// before reading it.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest query string the API reads.
pub const MAX_QUERY_BYTES: usize = 4 * 1024;
/// The longest path the API routes; anything longer names nothing.
const MAX_PATH_BYTES: usize = 1024;

/// Whose keys a request may see and change, decided by the host's login.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The owner (a key's `subject`) whose keys are managed; `None` is
    /// operator mode: every owner's keys.
    pub owner: Option<String>,
    /// Recorded as the actor of every change.
    pub actor: Actor,
    /// Kinds it may issue; `None` is every kind of the policy.
    pub kinds: Option<Vec<String>>,
    /// The broadest scopes it may grant; `None` is what the kind allows.
    pub scope_ceiling: Option<Vec<Scope>>,
}

impl Principal {
    /// Manages the keys whose `subject` is `owner`, and only those.
    pub fn owner(owner: impl Into<String>, actor: Actor) -> Self {
        Self {
            owner: Some(owner.into()),
            actor,
            kinds: None,
            scope_ceiling: None,
        }
    }

    /// Manages every key of the store.
    #[must_use]
    pub fn operator(actor: Actor) -> Self {
        Self {
            owner: None,
            actor,
            kinds: None,
            scope_ceiling: None,
        }
    }

    fn is_operator(&self) -> bool {
        self.owner.is_none()
    }
}

/// One request, as the framework received it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, … (case-sensitive, as HTTP methods are).
    pub method: &'a str,
    /// Relative to the mount point, without a leading `/`: `""`, `keys`,
    /// `keys/key_…/revoke`, `page/app.js`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every request header; names compared without regard to case.
    pub headers: &'a [(String, String)],
    /// `https://host[:port]` as the framework sees this request, for the
    /// same-origin rule; `None` when it cannot tell.
    pub self_origin: Option<&'a str>,
    pub body: &'a [u8],
}

/// Leaves the body out: what a client sends may hold anything.
impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

/// The answer to `request` from `principal`. Never panics and never answers
/// a client's mistake with a 5xx: a 5xx means the store (or gatepass) failed.
#[must_use]
pub fn handle(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    // A bug must not take the host's worker down, nor cross into Python or
    // Node: it becomes a 500 problem.
    let mut response = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let principal = Principal {
            actor: recorded_actor(&principal.actor),
            ..principal.clone()
        };
        route(gate, &principal, request)
    }))
    .unwrap_or_else(|_| http::problem(crate::errors::INTERNAL_ERROR, ""));
    if request.method == "HEAD" {
        response.body.clear();
    }
    response
}

/// The actor as it can be recorded: the user agent is the client's own
/// text and the address is whatever the framework saw (a Unix socket, a
/// proxy's header), so a user agent's control characters are dropped and an
/// address that is not an IP address is left out, rather than refusing the
/// user's change for something they cannot fix. The name is the host's
/// choice, and an unusable one is still refused (`invalid_argument`).
fn recorded_actor(actor: &Actor) -> Actor {
    Actor {
        name: actor.name.clone(),
        ip: actor
            .ip
            .as_deref()
            .map(str::trim)
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_owned),
        user_agent: actor
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|ua| !ua.trim().is_empty()),
    }
}

/// The answer for a request the host's login did not accept (the principal
/// callable found nobody): `401 login_required`.
#[must_use]
pub fn login_required() -> Response {
    http::problem(
        "login_required",
        "log in to manage your keys: this API answers only a logged-in user",
    )
}

fn route(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    let path = request.path;
    if path.len() > MAX_PATH_BYTES {
        return http::not_found();
    }
    // HEAD is GET without the body (cleared in `handle`).
    let method = match request.method {
        "HEAD" => "GET",
        m => m,
    };
    let segments: Vec<&str> = path.split('/').collect();
    match (segments.as_slice(), method) {
        ([""] | ["page", ..], "GET") => page::serve(path).unwrap_or_else(http::not_found),
        (["keys"], "GET") => keys::list(gate, principal, request),
        (["keys"], "POST") => keys::create(gate, principal, request),
        (["keys", id], "GET") => keys::get(gate, principal, id),
        (["keys", id], "PATCH") => keys::update(gate, principal, request, id),
        (["keys", id, "regenerate"], "POST") => keys::regenerate(gate, principal, request, id),
        (["keys", id, action @ ("deactivate" | "activate" | "revoke")], "POST") => {
            keys::set_status(gate, principal, request, id, action)
        }
        (["keys", id, "usage"], "GET") => keys::usage(gate, principal, request, id),
        (["events"], "GET") => events::list(gate, principal, request),
        (["meta"], "GET") => meta::meta(gate, principal),
        (route, method) => match (allowed(route), method) {
            (None, _) => http::not_found(),
            (Some(methods), "OPTIONS") => http::options(methods),
            (Some(methods), _) => http::method_not_allowed(methods),
        },
    }
}

/// The methods a route answers, for `Allow`; `None` for no such route.
/// `OPTIONS` is answered here, the same behind every framework (the mounts
/// hand every method to the core): `204` with `Allow`, and nothing a
/// cross-origin preflight could take as permission (no
/// `Access-Control-Allow-*`), so the same-origin rule stands.
fn allowed(route: &[&str]) -> Option<&'static [&'static str]> {
    const READ: &[&str] = &["GET", "HEAD", "OPTIONS"];
    match route {
        [""] | ["page", ..] | ["keys", _, "usage"] | ["events"] | ["meta"] => Some(READ),
        ["keys"] => Some(&["GET", "HEAD", "POST", "OPTIONS"]),
        ["keys", _] => Some(&["GET", "HEAD", "PATCH", "OPTIONS"]),
        ["keys", _, "regenerate" | "deactivate" | "activate" | "revoke"] => {
            Some(&["POST", "OPTIONS"])
        }
        _ => None,
    }
}

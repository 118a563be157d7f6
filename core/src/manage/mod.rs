//! TEMPORARY STUB (helper S4): the shared types of the management API with a
//! `handle` that answers 501, so the bindings and mounts compile before the
//! real module lands. Replaced by the real module on merge.

use crate::audit::Actor;
use crate::scope::Scope;
use crate::Gate;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    pub owner: Option<String>,
    pub actor: Actor,
    pub kinds: Option<Vec<String>>,
    pub scope_ceiling: Option<Vec<Scope>>,
}

/// One HTTP request, relative to the mount point.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub self_origin: Option<&'a str>,
    pub body: &'a [u8],
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Stub: 501 for everything.
#[must_use]
pub fn handle(gate: &Gate, principal: &Principal, request: &Request<'_>) -> Response {
    let _ = (gate, principal, request);
    Response {
        status: 501,
        headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
        body: b"{}".to_vec(),
    }
}

/// Stub: the answer for a request nobody is logged in for.
#[must_use]
pub fn login_required() -> Response {
    Response {
        status: 401,
        headers: vec![
            ("Content-Type".to_owned(), "application/problem+json".to_owned()),
            ("Cache-Control".to_owned(), "no-store".to_owned()),
        ],
        body: br#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"log in","code":"login_required"}"#.to_vec(),
    }
}

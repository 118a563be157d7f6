//! The result of `verify` as a plain JavaScript object. Status, headers and
//! the RFC 9457 body are rendered by the core, so Node answers exactly as
//! Python does.

use std::collections::HashMap;

use gatepass_core::{Problem as CoreProblem, Verification as CoreVerification};
use napi_derive::napi;

use crate::key::Key;

/// An RFC 9457 problem details body, members in the core's order and
/// spelling (`missing_scopes` is a wire name, shared with Python).
#[napi(object, object_from_js = false)]
pub struct Problem {
    #[napi(js_name = "type")]
    pub type_: String,
    pub title: String,
    pub status: u32,
    pub detail: String,
    pub code: String,
    #[napi(js_name = "missing_scopes")]
    pub missing_scopes: Option<Vec<String>>,
}

impl From<CoreProblem> for Problem {
    fn from(p: CoreProblem) -> Self {
        Self {
            type_: p.type_.to_owned(),
            title: p.title.to_owned(),
            status: u32::from(p.status),
            detail: p.detail,
            code: p.code.to_owned(),
            missing_scopes: (!p.missing_scopes.is_empty()).then_some(p.missing_scopes),
        }
    }
}

/// The core's verification, kept so a route can check further scopes
/// (`gate.authorize`) without verifying (and counting) again.
#[napi]
pub struct VerificationHandle {
    pub(crate) inner: CoreVerification,
}

#[napi(object, use_nullable = true, object_from_js = false)]
pub struct Verification {
    pub ok: bool,
    /// `valid`, `missing_credentials`, `invalid_request`, `malformed_token`,
    /// `unknown_key`, `inactive`, `revoked`, `expired`, `forbidden_resource`,
    /// `insufficient_scope`, `rate_limited` or `usage_exceeded`.
    pub code: String,
    /// HTTP status to answer with (200 when valid).
    pub status: u32,
    /// Response headers: challenges, `Retry-After`, `RateLimit-Policy`, `RateLimit`.
    pub headers: HashMap<String, String>,
    /// The key, once it was found (also on most failures after lookup).
    pub key: Option<Key>,
    pub missing_scopes: Vec<String>,
    /// The RFC 9457 problem body (`application/problem+json`); `null` when valid.
    pub problem: Option<Problem>,
    pub handle: VerificationHandle,
}

impl From<CoreVerification> for Verification {
    fn from(v: CoreVerification) -> Self {
        Self {
            ok: v.ok(),
            code: v.code().to_owned(),
            status: u32::from(v.status()),
            headers: v.headers().into_iter().collect(),
            key: v.key.as_deref().map(Key::from),
            missing_scopes: v.missing_scopes.iter().map(ToString::to_string).collect(),
            problem: v.problem().map(Problem::from),
            handle: VerificationHandle { inner: v },
        }
    }
}

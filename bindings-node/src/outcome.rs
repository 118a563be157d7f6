//! The result of `verify` as JavaScript reads it. Most requests need only
//! the outcome code, the status and a few headers, so that is all that
//! crosses the boundary eagerly (`shared.rs`); the key, the missing scopes
//! and the RFC 9457 body stay in the core's `Verification` (behind an
//! `External`) until `index.js` is asked for them. Status, headers and body are rendered by the
//! core, so Node answers exactly as Python does.

use std::sync::Arc;

use gatepass_core::{Problem as CoreProblem, Verification as CoreVerification};
use napi::bindgen_prelude::External;
use napi_derive::napi;

use crate::key::key_json;

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
/// (`authorize`) without verifying (and counting) again, and so the key and
/// failure details are converted only when read.
/// (An `Arc`, because a shared verification has one handle per isolate
/// besides its entry in `shared.rs`.)
pub type VerificationHandle = External<Arc<CoreVerification>>;

/// The parts of a failed verification a handler reads less often.
#[napi(object, use_nullable = true, object_from_js = false)]
pub struct FailureDetails {
    pub missing_scopes: Vec<String>,
    /// The RFC 9457 problem body (`application/problem+json`); `null` when valid.
    pub problem: Option<Problem>,
}

/// The key a verification found, if any, as JSON text (see `key.rs`).
#[napi(catch_unwind)]
pub fn verification_key(handle: &VerificationHandle) -> Option<String> {
    handle.key.as_deref().map(key_json)
}

/// Missing scopes and the problem body of a verification.
#[napi(catch_unwind)]
pub fn verification_failure(handle: &VerificationHandle) -> FailureDetails {
    FailureDetails {
        missing_scopes: handle
            .missing_scopes
            .iter()
            .map(ToString::to_string)
            .collect(),
        problem: handle.problem().map(Problem::from),
    }
}

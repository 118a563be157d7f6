//! The one place where core errors become JavaScript errors.
//!
//! Every error the addon throws or rejects with is a plain `Error` whose
//! `code` is the core's stable code (`not_found`, `invalid_scope`,
//! `invalid_signature`, …); `index.js` gives it its class (`ConfigError`,
//! `WebhookError`, …) from that code. Messages come from the core, which
//! never puts a token or a secret in them.

use std::collections::HashMap;

use gatepass_core::errors::{self, Coded};
use gatepass_core::webhook::{Scheme, WebhookConfigError, WebhookError};
use gatepass_core::{GateError, StoreError};
use napi::bindgen_prelude::{Env, JsError};
use napi_derive::napi;

/// A core error on its way to JavaScript: a stable code and a safe message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub code: &'static str,
    pub message: String,
}

/// The code of an error thrown for a call on a closed `Gate`.
pub const CLOSED: &str = "closed";
/// The code of a panic caught at the boundary (a bug, never user input).
pub const INTERNAL: &str = errors::INTERNAL_ERROR;

impl NodeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Wrong argument shape or value from JavaScript.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }

    pub fn panicked() -> Self {
        Self::new(
            INTERNAL,
            "gatepass hit an internal error (a bug; please report it)",
        )
    }

    /// A napi error whose JavaScript `code` is ours (napi sets `code` from
    /// the status string).
    pub fn into_napi(self) -> napi::Error<Code> {
        napi::Error::new(Code(self.code), self.message)
    }

    /// The same error as a JavaScript value, for rejecting an async task
    /// (whose error type is fixed to napi's `Status`).
    pub fn into_rejection(self, env: Env) -> napi::Error {
        napi::Error::from(JsError::from(self.into_napi()).into_unknown(env))
    }
}

/// The `code` of a JavaScript error thrown by a synchronous export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// The error of synchronous exports (write `Result<T, Thrown>`: napi's
/// macro recognises a fallible export by the name `Result`).
pub type Thrown = napi::Error<Code>;

impl From<NodeError> for napi::Error<Code> {
    fn from(e: NodeError) -> Self {
        e.into_napi()
    }
}

/// Errors napi raises while converting arguments (wrong JS types).
impl From<napi::Error> for NodeError {
    fn from(e: napi::Error) -> Self {
        Self::invalid_argument(e.reason)
    }
}

/// Every core error carries its code (`gatepass_core::errors::Coded`).
macro_rules! from_coded {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for NodeError {
            fn from(e: $ty) -> Self {
                Self::new(Coded::code(&e), e.to_string())
            }
        })*
    };
}

from_coded!(
    GateError,
    StoreError,
    gatepass_core::scope::ScopeError,
    gatepass_core::policy::PolicyError,
    gatepass_core::duration::DurationError,
    gatepass_core::ratelimit::RateLimitParseError,
    WebhookError,
    WebhookConfigError,
);

/// `url`, else `$GATEPASS_STORE`, else `sqlite:///gatepass.db` (the core's rule).
#[napi(catch_unwind)]
pub fn store_url(url: Option<String>) -> String {
    gatepass_core::env::store_url(url.as_deref())
}

/// `$GATEPASS_REPLAY_GUARD`: the guard `replayGuard: true` uses (else memory).
#[napi(catch_unwind)]
pub fn replay_guard_url() -> Option<String> {
    gatepass_core::env::replay_guard_url()
}

/// One row of the core's error-code table, for `errors.js`.
#[napi(object, object_to_js = true, object_from_js = false)]
pub struct ErrorRow {
    pub code: &'static str,
    pub status: u32,
    pub class: &'static str,
    pub parent: &'static str,
    pub title: &'static str,
}

/// The core's one table of error codes: `errors.js` picks each code's class from it.
#[napi(catch_unwind)]
pub fn error_table() -> Vec<ErrorRow> {
    errors::CODES
        .iter()
        .map(|r| ErrorRow {
            code: r.code,
            status: u32::from(r.status),
            class: r.class,
            parent: r.parent,
            title: r.title,
        })
        .collect()
}

/// `[class, parent]` for every error class a binding defines ("" for the root).
#[napi(catch_unwind)]
pub fn error_classes() -> Vec<Vec<&'static str>> {
    errors::classes()
        .into_iter()
        .map(|(c, p)| vec![c, p])
        .collect()
}

/// The HTTP answer the core renders for an error.
#[napi(object)]
pub struct RenderedError {
    pub status: u32,
    pub headers: HashMap<String, String>,
    /// The RFC 9457 body as JSON text.
    pub problem: String,
}

/// The answer for an error with `code` and `message`; `webhook_scheme` is
/// the scheme of the verifier that refused a webhook (for a 401's challenge).
#[napi(catch_unwind)]
pub fn render_error(
    code: String,
    message: String,
    webhook_scheme: Option<String>,
) -> RenderedError {
    let scheme = webhook_scheme.and_then(|s| s.parse::<Scheme>().ok());
    let http = errors::render(&code, &message, scheme);
    RenderedError {
        status: u32::from(http.status),
        headers: http.headers.into_iter().collect(),
        problem: http.problem.map(|p| p.to_json()).unwrap_or_default(),
    }
}

/// `.or_throw()?` at every synchronous call site.
pub trait OrThrow<T> {
    fn or_throw(self) -> Result<T, Thrown>;
}

impl<T, E: Into<NodeError>> OrThrow<T> for std::result::Result<T, E> {
    fn or_throw(self) -> Result<T, Thrown> {
        self.map_err(|e| e.into().into_napi())
    }
}

//! The one place where core errors become JavaScript errors.
//!
//! Every error the addon throws or rejects with is a plain `Error` whose
//! `code` is the core's stable code (`not_found`, `invalid_scope`,
//! `invalid_signature`, …); `index.js` gives it its class (`ConfigError`,
//! `WebhookError`, …) from that code. Messages come from the core, which
//! never puts a token or a secret in them.

use gatepass_core::webhook::{WebhookConfigError, WebhookError};
use gatepass_core::{GateError, StoreError};
use napi::bindgen_prelude::{Env, JsError};

/// A core error on its way to JavaScript: a stable code and a safe message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub code: &'static str,
    pub message: String,
}

/// The code of an error thrown for a call on a closed `Gate`.
pub const CLOSED: &str = "closed";
/// The code of a panic caught at the boundary (a bug, never user input).
pub const INTERNAL: &str = "internal_error";

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

impl From<GateError> for NodeError {
    fn from(e: GateError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<gatepass_core::scope::ScopeError> for NodeError {
    fn from(e: gatepass_core::scope::ScopeError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<gatepass_core::policy::PolicyError> for NodeError {
    fn from(e: gatepass_core::policy::PolicyError) -> Self {
        Self::new("config_error", e.to_string())
    }
}

impl From<gatepass_core::duration::DurationError> for NodeError {
    fn from(e: gatepass_core::duration::DurationError) -> Self {
        Self::invalid_argument(e.to_string())
    }
}

impl From<gatepass_core::ratelimit::RateLimitParseError> for NodeError {
    fn from(e: gatepass_core::ratelimit::RateLimitParseError) -> Self {
        Self::invalid_argument(e.to_string())
    }
}

impl From<WebhookError> for NodeError {
    fn from(e: WebhookError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<WebhookConfigError> for NodeError {
    fn from(e: WebhookConfigError) -> Self {
        Self::new(e.code(), e.to_string())
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

//! The one place where core errors become Python exceptions.
//!
//! Every core error has a stable `code()`; the exception classes live in
//! `gatepass/exceptions.py` (so users can import, subclass and document
//! them), and that module's `_error(code, message)` picks the class for a
//! code. Rust only forwards the code and the message, which core guarantees
//! never contains a token or a secret.

use std::fmt::Display;
use std::panic::AssertUnwindSafe;

use gatepass_core::duration::DurationError;
use gatepass_core::error::{GateError, StoreError};
use gatepass_core::policy::PolicyError;
use gatepass_core::ratelimit::RateLimitParseError;
use gatepass_core::scope::ScopeError;
use gatepass_core::webhook::{WebhookConfigError, WebhookError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// Code used when something inside gatepass went wrong that is not the caller's fault.
pub const INTERNAL_ERROR: &str = "internal_error";

/// A core error with a stable code.
pub trait Coded: Display {
    fn code(&self) -> &'static str;
}

macro_rules! coded {
    ($($ty:ty => $code:expr),* $(,)?) => {
        $(impl Coded for $ty {
            fn code(&self) -> &'static str {
                let f: fn(&$ty) -> &'static str = $code;
                f(self)
            }
        })*
    };
}

coded! {
    GateError => GateError::code,
    StoreError => StoreError::code,
    ScopeError => ScopeError::code,
    WebhookError => WebhookError::code,
    WebhookConfigError => WebhookConfigError::code,
    PolicyError => |_| "config_error",
    DurationError => |_| "invalid_argument",
    RateLimitParseError => |_| "invalid_argument",
}

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

pub fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS
        .get_or_try_init(py, || py.import("gatepass.exceptions").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// The Python exception for `code` with `message`.
pub fn error(py: Python<'_>, code: &str, message: &str) -> PyErr {
    match exceptions(py).and_then(|m| m.call_method1("_error", (code, message))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// `result.py_err(py)?` at every call site.
pub trait IntoPyResult<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Coded> IntoPyResult<T> for Result<T, E> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| error(py, e.code(), &e.to_string()))
    }
}

/// Runs core work with the GIL released, so other Python threads run while
/// we hash or wait on the store, and turns a panic (there should be none)
/// into a `GatepassError` instead of letting it cross into Python.
pub fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(work)))
        .map_err(|_| error(py, INTERNAL_ERROR, "gatepass hit an internal error"))
}

/// Like [`detached`] for cheap work that is not worth releasing the GIL for.
pub fn guarded<T, F: FnOnce() -> T>(py: Python<'_>, work: F) -> PyResult<T> {
    std::panic::catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| error(py, INTERNAL_ERROR, "gatepass hit an internal error"))
}

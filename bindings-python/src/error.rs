//! The one place where core errors become Python exceptions.
//!
//! Every core error has a stable `code()`; the exception classes live in
//! `gatepass/exceptions.py` (so users can import, subclass and document
//! them), and that module's `_error(code, message)` picks the class for a
//! code. Rust only forwards the code and the message, which core guarantees
//! never contains a token or a secret.

use std::panic::AssertUnwindSafe;

use gatepass_core::errors::{render, CODES};
pub use gatepass_core::errors::{Coded, INTERNAL_ERROR};
use gatepass_core::outcome::{HttpResponse, Problem};
use gatepass_core::webhook::{Scheme, WebhookError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

pub fn exceptions(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS
        .get_or_try_init(py, || py.import("gatepass.exceptions").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// The Python exception for `code` with `message`, carrying the answer
/// core renders for it (status, headers, problem body).
pub fn error(py: Python<'_>, code: &str, message: &str) -> PyErr {
    rendered(py, code, message, &render(code, message, None))
}

/// The `WebhookError` a verifier of `scheme` raises for `e` (a 401 carries
/// that scheme's challenge).
pub fn webhook_error(py: Python<'_>, e: &WebhookError, scheme: Scheme) -> PyErr {
    let message = e.to_string();
    rendered(
        py,
        e.code(),
        &message,
        &gatepass_core::errors::webhook_http(e, scheme),
    )
}

fn rendered(py: Python<'_>, code: &str, message: &str, http: &HttpResponse) -> PyErr {
    let built = http_parts(py, http).and_then(|(status, headers, problem)| {
        exceptions(py)?.call_method1("_error", (code, message, status, headers, problem))
    });
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// `(status, headers, problem)` as Python values.
pub fn http_parts<'py>(
    py: Python<'py>,
    http: &HttpResponse,
) -> PyResult<(u16, Bound<'py, PyDict>, Option<Bound<'py, PyDict>>)> {
    let headers = PyDict::new(py);
    for (name, value) in &http.headers {
        headers.set_item(name, value)?;
    }
    let problem = http
        .problem
        .as_ref()
        .map(|p| problem_dict(py, p))
        .transpose()?;
    Ok((http.status, headers, problem))
}

/// An RFC 9457 problem body as a dict.
pub fn problem_dict<'py>(py: Python<'py>, p: &Problem) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("type", p.type_)?;
    d.set_item("title", p.title)?;
    d.set_item("status", p.status)?;
    d.set_item("detail", &p.detail)?;
    d.set_item("code", p.code)?;
    if !p.missing_scopes.is_empty() {
        d.set_item("missing_scopes", &p.missing_scopes)?;
    }
    Ok(d)
}

/// `(code, status, class, parent, title)` for every code, from core's one
/// table: `gatepass.exceptions` picks its classes from it.
#[pyfunction]
pub fn error_table() -> Vec<(&'static str, u16, &'static str, &'static str, &'static str)> {
    CODES
        .iter()
        .map(|r| (r.code, r.status, r.class, r.parent, r.title))
        .collect()
}

/// `(class, parent)` for every error class a binding defines ("" for the root).
#[pyfunction]
pub fn error_classes() -> Vec<(&'static str, &'static str)> {
    gatepass_core::errors::classes()
}

/// `(status, headers, problem)` for an error with `code` and `message`, as
/// core renders it (for exceptions built in Python).
#[pyfunction]
#[pyo3(signature = (code, message, webhook_scheme=None))]
pub fn render_error<'py>(
    py: Python<'py>,
    code: &str,
    message: &str,
    webhook_scheme: Option<&str>,
) -> PyResult<(u16, Bound<'py, PyDict>, Option<Bound<'py, PyDict>>)> {
    let scheme = webhook_scheme.and_then(|s| s.parse::<Scheme>().ok());
    http_parts(py, &render(code, message, scheme))
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

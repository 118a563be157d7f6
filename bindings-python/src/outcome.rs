//! `Verification`: the outcome of one `verify`, with everything a framework
//! needs to answer (status, headers, RFC 9457 problem body).

use std::sync::Arc;

use gatepass_core::outcome::Verification as CoreVerification;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::key::KeyInfo;

/// The outcome of `Gate.verify`. Truthy when the request may proceed.
#[pyclass(module = "gatepass", name = "Verification", frozen)]
#[derive(Debug)]
pub struct Verification {
    pub inner: CoreVerification,
}

#[pymethods]
impl Verification {
    /// True when the key is valid for the route.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok()
    }

    /// `valid`, `missing_credentials`, `invalid_request`, `malformed_token`,
    /// `unknown_key`, `inactive`, `revoked`, `expired`, `forbidden_resource`,
    /// `insufficient_scope`, `rate_limited` or `usage_exceeded`.
    #[getter]
    fn code(&self) -> &'static str {
        self.inner.code()
    }

    /// HTTP status for the outcome (200 when valid).
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status()
    }

    /// Response headers: `WWW-Authenticate` challenges, `Retry-After`, `RateLimit*`.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.inner.headers() {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    /// The key, once it was found (also on most failures after lookup).
    #[getter]
    fn key(&self) -> Option<KeyInfo> {
        self.inner.key.as_ref().map(|k| KeyInfo::new(Arc::clone(k)))
    }

    /// Scopes the route needed that the key lacks (for any-of: every alternative).
    #[getter]
    fn missing_scopes(&self) -> Vec<String> {
        self.inner
            .missing_scopes
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A human explanation; never contains the token.
    #[getter]
    fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// The accepted scheme the client used (`Bearer`, `Token`), if any.
    #[getter]
    fn scheme(&self) -> Option<&str> {
        self.inner.scheme.as_deref()
    }

    /// The RFC 9457 problem details body as a dict; `None` when valid.
    fn problem<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(p) = self.inner.problem() else {
            return Ok(None);
        };
        crate::error::problem_dict(py, &p).map(Some)
    }

    /// The problem body serialised as JSON (`application/problem+json`); `None` when valid.
    fn problem_json(&self) -> Option<String> {
        self.inner.problem().map(|p| p.to_json())
    }

    fn __bool__(&self) -> bool {
        self.inner.ok()
    }

    fn __repr__(&self) -> String {
        match &self.inner.key {
            Some(k) => format!(
                "Verification(code={:?}, status={}, key={:?})",
                self.inner.code(),
                self.inner.status(),
                k.id
            ),
            None => format!(
                "Verification(code={:?}, status={})",
                self.inner.code(),
                self.inner.status()
            ),
        }
    }
}

//! `Requirement`: what a route asks of a key, built once when the route is
//! declared (and checked against the policy's catalogue there), then reused
//! on every request.

use gatepass_core::scope::Requirement as CoreRequirement;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::convert::{scope_spec, string_list};
use crate::error::IntoPyResult;

/// A route's scope requirement: all of a list, any of a list, or an expression.
#[pyclass(module = "gatepass", name = "Requirement", frozen)]
#[derive(Debug, Clone)]
pub struct Requirement {
    pub inner: CoreRequirement,
}

#[pymethods]
impl Requirement {
    /// `scopes=` a list (all of) or a string (an expression); `any_scopes=` a list.
    #[new]
    #[pyo3(signature = (scopes=None, any_scopes=None))]
    fn py_new(
        py: Python<'_>,
        scopes: Option<&Bound<'_, PyAny>>,
        any_scopes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        build(py, scopes, any_scopes)
    }

    /// Every scope the requirement names (for documentation and OpenAPI).
    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.inner
            .scopes()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[getter]
    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    fn __repr__(&self) -> String {
        format!("Requirement({:?})", self.scopes())
    }
}

/// Builds a requirement from the `scopes=`/`any_scopes=` arguments; a
/// `Requirement` passed as `scopes=` is used as it is.
pub fn build(
    py: Python<'_>,
    scopes: Option<&Bound<'_, PyAny>>,
    any_scopes: Option<&Bound<'_, PyAny>>,
) -> PyResult<Requirement> {
    let scopes = scopes.filter(|s| !s.is_none());
    let any_scopes = any_scopes.filter(|s| !s.is_none());
    if let Some(ready) = scopes.and_then(|s| s.cast::<Requirement>().ok()) {
        if any_scopes.is_some() {
            return Err(PyTypeError::new_err(
                "any_scopes cannot be combined with a Requirement",
            ));
        }
        return Ok(ready.get().clone());
    }
    let spec = scopes.map(scope_spec).transpose()?;
    let any = any_scopes
        .map(|a| string_list(a, "any_scopes"))
        .transpose()?;
    let inner = CoreRequirement::from_args(spec, any.as_deref()).py_err(py)?;
    Ok(Requirement { inner })
}

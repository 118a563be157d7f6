//! `KeyInfo`: a key record as Python sees it. Never holds a secret.

use std::sync::Arc;

use gatepass_core::key::KeyRecord;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{datetime, json_value, optional_datetime};

/// A key's record: everything gatepass knows about a key except its secret.
#[pyclass(module = "gatepass", name = "KeyInfo", frozen)]
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub record: Arc<KeyRecord>,
}

impl KeyInfo {
    pub fn new(record: Arc<KeyRecord>) -> Self {
        Self { record }
    }
}

#[pymethods]
impl KeyInfo {
    #[getter]
    fn id(&self) -> &str {
        &self.record.id
    }

    #[getter]
    fn name(&self) -> &str {
        &self.record.name
    }

    #[getter]
    fn kind(&self) -> &str {
        &self.record.kind
    }

    /// Prefix and first characters of the token (`gp_aB3x`); not secret.
    #[getter]
    fn start(&self) -> &str {
        &self.record.start
    }

    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.record.scopes.iter().map(ToString::to_string).collect()
    }

    #[getter]
    fn subject(&self) -> Option<&str> {
        self.record.subject.as_deref()
    }

    #[getter]
    fn resource(&self) -> Option<&str> {
        self.record.resource.as_deref()
    }

    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_value(py, &self.record.metadata)
    }

    /// `"active"`, `"inactive"` or `"revoked"`.
    #[getter]
    fn status(&self) -> &'static str {
        self.record.status.as_str()
    }

    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.record.created_at)
    }

    #[getter]
    fn updated_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.record.updated_at)
    }

    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        optional_datetime(py, self.record.expires_at)
    }

    #[getter]
    fn revoked_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        optional_datetime(py, self.record.revoked_at)
    }

    #[getter]
    fn last_used_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        optional_datetime(py, self.record.last_used_at)
    }

    #[getter]
    fn usage_count(&self) -> u64 {
        self.record.usage_count
    }

    /// The key's own limit, e.g. `"1000/hour"`; `None` falls back to its kind's.
    #[getter]
    fn rate_limit(&self) -> Option<String> {
        self.record.rate_limit.map(|r| r.to_string())
    }

    /// The limit that applies, e.g. `"1000/hour"`: the key's own, else its
    /// kind's default in the gate's policy; `None` when neither sets one.
    #[getter]
    fn effective_rate_limit(&self) -> Option<String> {
        self.record.effective_rate_limit.map(|r| r.to_string())
    }

    /// Remaining credits; `None` means unlimited.
    #[getter]
    fn remaining(&self) -> Option<u64> {
        self.record.remaining
    }

    /// All fields as a dict (datetimes stay datetimes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("name", self.name())?;
        d.set_item("kind", self.kind())?;
        d.set_item("start", self.start())?;
        d.set_item("scopes", self.scopes())?;
        d.set_item("subject", self.subject())?;
        d.set_item("resource", self.resource())?;
        d.set_item("metadata", self.metadata(py)?)?;
        d.set_item("status", self.status())?;
        d.set_item("created_at", self.created_at(py)?)?;
        d.set_item("updated_at", self.updated_at(py)?)?;
        d.set_item("expires_at", self.expires_at(py)?)?;
        d.set_item("revoked_at", self.revoked_at(py)?)?;
        d.set_item("last_used_at", self.last_used_at(py)?)?;
        d.set_item("usage_count", self.usage_count())?;
        d.set_item("rate_limit", self.rate_limit())?;
        d.set_item("remaining", self.remaining())?;
        d.set_item("effective_rate_limit", self.effective_rate_limit())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyInfo(id={:?}, name={:?}, kind={:?}, start={:?}, status={:?})",
            self.record.id,
            self.record.name,
            self.record.kind,
            self.record.start,
            self.record.status.as_str()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<KeyInfo>()
            .is_ok_and(|o| *o.get().record == *self.record)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.record.id.hash(&mut h);
        self.record.updated_at.hash(&mut h);
        h.finish()
    }
}

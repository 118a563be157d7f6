//! The audit trail as Python sees it: `Event` and `EventPage`, and the
//! `actor=`, `ip=`, `user_agent=` arguments of every lifecycle call.

use std::sync::Arc;

use gatepass_core::audit::{Actor, Event as CoreEvent};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{datetime, json_value};

/// The actor of a lifecycle call: `None` when no argument was given (the
/// core then records this process), else the named actor or this process,
/// with the request's source.
pub fn actor_arg(
    actor: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Option<Actor> {
    if actor.is_none() && ip.is_none() && user_agent.is_none() {
        return None;
    }
    let mut a = actor.map_or_else(Actor::process, Actor::new);
    a.ip = ip;
    a.user_agent = user_agent;
    Some(a)
}

/// One change of one key, as the audit trail recorded it. Holds no secret.
#[pyclass(module = "gatepass", name = "Event", frozen)]
#[derive(Debug, Clone)]
pub struct Event {
    pub event: Arc<CoreEvent>,
}

#[pymethods]
impl Event {
    /// `evt_` and 16 letters or digits.
    #[getter]
    fn id(&self) -> &str {
        &self.event.id
    }

    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.event.at)
    }

    #[getter]
    fn key_id(&self) -> &str {
        &self.event.key_id
    }

    /// The key's subject when the event was written.
    #[getter]
    fn owner(&self) -> Option<&str> {
        self.event.owner.as_deref()
    }

    /// `"issued"`, `"updated"`, `"regenerated"`, `"deactivated"`,
    /// `"activated"`, `"revoked"`, `"deleted"` or `"leaked"`.
    #[getter]
    fn action(&self) -> &'static str {
        self.event.action.as_str()
    }

    #[getter]
    fn actor(&self) -> &str {
        &self.event.actor
    }

    /// Field → `{"from": …, "to": …}` (times as RFC 3339 text); metadata as
    /// `{"keys": [names of the entries that changed]}`.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_value(py, &self.event.changes)
    }

    #[getter]
    fn ip(&self) -> Option<&str> {
        self.event.ip.as_deref()
    }

    #[getter]
    fn user_agent(&self) -> Option<&str> {
        self.event.user_agent.as_deref()
    }

    /// All fields as a dict (`at` stays a datetime).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("at", self.at(py)?)?;
        d.set_item("key_id", self.key_id())?;
        d.set_item("owner", self.owner())?;
        d.set_item("action", self.action())?;
        d.set_item("actor", self.actor())?;
        d.set_item("changes", self.changes(py)?)?;
        d.set_item("ip", self.ip())?;
        d.set_item("user_agent", self.user_agent())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(id={:?}, key_id={:?}, action={:?}, actor={:?})",
            self.event.id,
            self.event.key_id,
            self.event.action.as_str(),
            self.event.actor
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Event>()
            .is_ok_and(|o| *o.get().event == *self.event)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.event.id.hash(&mut h);
        h.finish()
    }
}

/// One page of events, newest first.
#[pyclass(module = "gatepass", name = "EventPage", frozen)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

#[pymethods]
impl EventPage {
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.events.iter().cloned())
    }

    /// Cursor for the next (older) page; `None` on the last page.
    #[getter]
    fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    fn __len__(&self) -> usize {
        self.events.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.events(py)?.into_any().try_iter()?.into_any())
    }

    /// `next` as Python shows it (`'…'` or `None`), not Rust's `Some("…")`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let next = self.next.as_deref().into_pyobject(py)?.repr()?;
        Ok(format!("EventPage(len={}, next={next})", self.events.len()))
    }
}

//! `Gate`: key lifecycle and request verification over a store. Every call
//! that hashes or touches the store runs with the GIL released.

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::audit::EventQuery;
use gatepass_core::env;
use gatepass_core::error::GateError;
use gatepass_core::gate::{Gate as CoreGate, IssueRequest, Issued as CoreIssued};
use gatepass_core::history::{Step, UsageQuery};
use gatepass_core::key::{KeyUpdate, Status};
use gatepass_core::policy::Policy;
use gatepass_core::ratelimit::{self, RateLimit};
use gatepass_core::scope::{self, Requirement as CoreRequirement};
use gatepass_core::token::Token;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList};

use crate::audit::{actor_arg, Event, EventPage};
use crate::convert::{datetime, duration_arg, header_bytes, json_object, millis_arg, string_list};
use crate::error::{detached, error, guarded, IntoPyResult};
use crate::key::KeyInfo;
use crate::outcome::Verification;
use crate::scope::{build as build_requirement, Requirement};

/// One usage bucket as the native call returns it: `(start, valid, refused)`.
type BucketTuple<'py> = (Bound<'py, PyAny>, u64, Bound<'py, PyDict>);

/// A newly issued or rotated key. `token` is the only copy of the secret:
/// show it to the user once. It never appears in `repr`.
#[pyclass(module = "gatepass", name = "Issued", frozen)]
pub struct Issued {
    token: Token,
    key: KeyInfo,
}

impl From<CoreIssued> for Issued {
    fn from(i: CoreIssued) -> Self {
        Self {
            token: i.token,
            key: KeyInfo::new(Arc::new(i.key)),
        }
    }
}

#[pymethods]
impl Issued {
    /// The secret token. Shown once; store only what `key` holds.
    #[getter]
    fn token(&self) -> &str {
        self.token.expose()
    }

    #[getter]
    fn key(&self) -> KeyInfo {
        self.key.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Issued(key={:?}, start={:?}, token=<redacted>)",
            self.key.record.id, self.key.record.start
        )
    }
}

/// One page of `Gate.list`; iterate it for the keys, pass `next` back as `after`.
#[pyclass(module = "gatepass", name = "Page", frozen)]
pub struct Page {
    keys: Vec<KeyInfo>,
    next: Option<String>,
}

#[pymethods]
impl Page {
    #[getter]
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.keys.iter().cloned())
    }

    /// Cursor for the next page; `None` on the last page.
    #[getter]
    fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.keys(py)?.into_any().try_iter()?.into_any())
    }

    /// `next` as Python shows it (`'…'` or `None`), not Rust's `Some("…")`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let next = self.next.as_deref().into_pyobject(py)?.repr()?;
        Ok(format!("Page(len={}, next={next})", self.keys.len()))
    }
}

/// The native gate. The public `gatepass.Gate` wraps it to accept policies in
/// every form and to flush usage at exit.
#[pyclass(module = "gatepass._native", name = "Gate", frozen)]
pub struct Gate {
    inner: Arc<CoreGate>,
}

impl Gate {
    /// The core gate, for the command line run on it (`cli_run`).
    pub fn core(&self) -> &Arc<CoreGate> {
        &self.inner
    }
}

fn optional_string(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract::<String>()
            .map(Some)
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a string"))),
    }
}

fn rate_limit_arg(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Option<RateLimit>> {
    if value.is_none() {
        return Ok(None);
    }
    let text: String = value
        .extract()
        .map_err(|_| PyTypeError::new_err("rate_limit must be a string such as \"1000/hour\""))?;
    text.parse::<RateLimit>().map(Some).py_err(py)
}

fn remaining_arg(value: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    if value.is_none() {
        return Ok(None);
    }
    let wrong = || PyTypeError::new_err("remaining must be a non-negative int or None");
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() || value.lt(0)? {
        return Err(wrong());
    }
    // Too large for 64 bits: hand the core a number past its bound, so the
    // refusal and its message come from the one place that sets the bound.
    Ok(Some(value.extract::<u64>().unwrap_or(u64::MAX)))
}

fn some<'py>(value: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    value.filter(|v| !v.is_none()).cloned()
}

fn scopes_arg(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Vec<scope::Scope>> {
    let list = string_list(value, "scopes")?;
    scope::parse_list(&list).py_err(py)
}

#[pymethods]
impl Gate {
    #[new]
    #[pyo3(signature = (store=None, *, policy_toml=None, policy_json=None, rate_limiter=None))]
    fn py_new(
        py: Python<'_>,
        store: Option<String>,
        policy_toml: Option<String>,
        policy_json: Option<String>,
        rate_limiter: Option<String>,
    ) -> PyResult<Self> {
        let policy = match (policy_toml, policy_json) {
            (Some(t), None) => Some(Policy::from_toml(&t).py_err(py)?),
            (None, Some(j)) => Some(Policy::from_json(&j).py_err(py)?),
            // None given: the core finds it (`$GATEPASS_POLICY`,
            // `./gatepass.toml`, the store's record), as for every binding.
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "pass policy_toml or policy_json, not both",
                ))
            }
        };
        let store = env::store_url(store.as_deref());
        let rate_limiter = env::rate_limiter_url(rate_limiter.as_deref());
        let gate = detached(py, move || {
            let gate = CoreGate::open(&store, policy)?;
            Ok::<_, GateError>(match rate_limiter {
                Some(url) => gate.with_limiter(ratelimit::open(&url)?),
                None => gate,
            })
        })?
        .py_err(py)?;
        Ok(Self {
            inner: Arc::new(gate),
        })
    }

    /// Where the policy in force came from, as people read it:
    /// `$GATEPASS_POLICY=/etc/app/gatepass.toml`, `the policy recorded in the
    /// store`, ….
    #[getter]
    fn policy_source(&self) -> String {
        self.inner.policy_source().to_string()
    }

    /// How the policy in force differed from the one recorded in the store
    /// when the gate was opened; `None` when they agreed.
    #[getter]
    fn policy_mismatch(&self) -> Option<String> {
        self.inner.policy_mismatch().map(str::to_owned)
    }

    /// The realm used in `WWW-Authenticate` challenges.
    #[getter]
    fn realm(&self) -> &str {
        &self.inner.policy().realm
    }

    /// Accepted `Authorization` schemes, e.g. `["Bearer", "Token"]`.
    #[getter]
    fn schemes(&self) -> Vec<String> {
        self.inner.policy().schemes.clone()
    }

    /// The policy's scope catalogue (empty: any well-formed scope).
    #[getter]
    fn scope_catalogue(&self) -> Vec<String> {
        self.inner
            .policy()
            .catalogue
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Token kinds as `(name, prefix)` pairs.
    #[getter]
    fn kinds(&self) -> Vec<(String, String)> {
        self.inner
            .policy()
            .kinds()
            .iter()
            .map(|k| (k.name.clone(), k.prefix.clone()))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (name, *, scopes=None, kind=None, subject=None, resource=None,
                        metadata=None, expires_in=None, expires_at=None, rate_limit=None,
                        remaining=None, actor=None, ip=None, user_agent=None))]
    fn issue(
        &self,
        py: Python<'_>,
        name: String,
        scopes: Option<&Bound<'_, PyAny>>,
        kind: Option<&Bound<'_, PyAny>>,
        subject: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
        expires_in: Option<&Bound<'_, PyAny>>,
        expires_at: Option<&Bound<'_, PyAny>>,
        rate_limit: Option<&Bound<'_, PyAny>>,
        remaining: Option<&Bound<'_, PyAny>>,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<Issued> {
        let actor = actor_arg(actor, ip, user_agent);
        let req = IssueRequest {
            name,
            kind: optional_string(kind, "kind")?,
            scopes: some(scopes)
                .map(|s| scopes_arg(py, &s))
                .transpose()?
                .unwrap_or_default(),
            subject: optional_string(subject, "subject")?,
            resource: optional_string(resource, "resource")?,
            metadata: some(metadata)
                .map(|m| json_object(&m))
                .transpose()?
                .unwrap_or_default(),
            expires_in: some(expires_in)
                .map(|d| duration_arg(&d, "expires_in"))
                .transpose()?,
            expires_at: some(expires_at)
                .map(|d| millis_arg(&d, "expires_at"))
                .transpose()?,
            rate_limit: some(rate_limit)
                .map(|r| rate_limit_arg(py, &r))
                .transpose()?
                .flatten(),
            remaining: some(remaining)
                .map(|r| remaining_arg(&r))
                .transpose()?
                .flatten(),
        };
        let gate = Arc::clone(&self.inner);
        let issued = detached(py, move || match &actor {
            Some(a) => gate.issue_as(req, a),
            None => gate.issue(req),
        })?
        .py_err(py)?;
        Ok(issued.into())
    }

    fn get(&self, py: Python<'_>, id: String) -> PyResult<KeyInfo> {
        let gate = Arc::clone(&self.inner);
        let key = detached(py, move || gate.get(&id))?.py_err(py)?;
        Ok(KeyInfo::new(Arc::new(key)))
    }

    #[pyo3(signature = (*, subject=None, kind=None, status=None, after=None, limit=100))]
    fn list(
        &self,
        py: Python<'_>,
        subject: Option<String>,
        kind: Option<String>,
        status: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> PyResult<Page> {
        let status = status
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|e| error(py, "invalid_argument", &e))
            })
            .transpose()?;
        let gate = Arc::clone(&self.inner);
        let page = detached(py, move || {
            gate.list(subject, kind, status, after.as_deref(), limit)
        })?
        .py_err(py)?;
        Ok(Page {
            keys: page
                .keys
                .into_iter()
                .map(|k| KeyInfo::new(Arc::new(k)))
                .collect(),
            next: page.next,
        })
    }

    /// Changes a key's settings. Only the named fields change; `None` clears
    /// `expires_at`, `rate_limit` and `remaining`.
    #[pyo3(signature = (id, *, actor=None, ip=None, user_agent=None, **changes))]
    fn update(
        &self,
        py: Python<'_>,
        id: String,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
        changes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<KeyInfo> {
        let actor = actor_arg(actor, ip, user_agent);
        let mut update = KeyUpdate::default();
        for (field, value) in changes.into_iter().flat_map(|c| c.iter()) {
            let field: String = field.extract()?;
            match field.as_str() {
                "name" => update.name = Some(value.extract()?),
                "scopes" => update.scopes = Some(scopes_arg(py, &value)?),
                "metadata" => update.metadata = Some(json_object(&value)?),
                "expires_at" => {
                    update.expires_at = Some(if value.is_none() {
                        None
                    } else {
                        Some(millis_arg(&value, "expires_at")?)
                    });
                }
                "expires_in" => update.expires_in = Some(duration_arg(&value, "expires_in")?),
                "rate_limit" => update.rate_limit = Some(rate_limit_arg(py, &value)?),
                "remaining" => update.remaining = Some(remaining_arg(&value)?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "update() got an unexpected keyword argument {other:?}"
                    )))
                }
            }
        }
        let gate = Arc::clone(&self.inner);
        let key = detached(py, move || match &actor {
            Some(a) => gate.update_as(&id, update, a),
            None => gate.update(&id, update),
        })?
        .py_err(py)?;
        Ok(KeyInfo::new(Arc::new(key)))
    }

    /// Reversibly stops a key.
    #[pyo3(signature = (id, *, actor=None, ip=None, user_agent=None))]
    fn deactivate(
        &self,
        py: Python<'_>,
        id: String,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<KeyInfo> {
        let actor = actor_arg(actor, ip, user_agent);
        let gate = Arc::clone(&self.inner);
        let key = detached(py, move || match &actor {
            Some(a) => gate.deactivate_as(&id, a),
            None => gate.deactivate(&id),
        })?
        .py_err(py)?;
        Ok(KeyInfo::new(Arc::new(key)))
    }

    #[pyo3(signature = (id, *, actor=None, ip=None, user_agent=None))]
    fn activate(
        &self,
        py: Python<'_>,
        id: String,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<KeyInfo> {
        let actor = actor_arg(actor, ip, user_agent);
        let gate = Arc::clone(&self.inner);
        let key = detached(py, move || match &actor {
            Some(a) => gate.activate_as(&id, a),
            None => gate.activate(&id),
        })?
        .py_err(py)?;
        Ok(KeyInfo::new(Arc::new(key)))
    }

    /// One-way and immediate, in every process sharing the store.
    #[pyo3(signature = (id, *, actor=None, ip=None, user_agent=None))]
    fn revoke(
        &self,
        py: Python<'_>,
        id: String,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<KeyInfo> {
        let actor = actor_arg(actor, ip, user_agent);
        let gate = Arc::clone(&self.inner);
        let key = detached(py, move || match &actor {
            Some(a) => gate.revoke_as(&id, a),
            None => gate.revoke(&id),
        })?
        .py_err(py)?;
        Ok(KeyInfo::new(Arc::new(key)))
    }

    /// A new secret for the same key; the old one keeps working for `grace`.
    #[pyo3(signature = (id, *, grace=None, actor=None, ip=None, user_agent=None))]
    fn rotate(
        &self,
        py: Python<'_>,
        id: String,
        grace: Option<&Bound<'_, PyAny>>,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<Issued> {
        let actor = actor_arg(actor, ip, user_agent);
        let grace = match grace.filter(|g| !g.is_none()) {
            Some(g) => duration_arg(g, "grace")?,
            None => Duration::ZERO,
        };
        let gate = Arc::clone(&self.inner);
        let issued = detached(py, move || match &actor {
            Some(a) => gate.rotate_as(&id, grace, a),
            None => gate.rotate(&id, grace),
        })?
        .py_err(py)?;
        Ok(issued.into())
    }

    #[pyo3(signature = (id, *, actor=None, ip=None, user_agent=None))]
    fn delete(
        &self,
        py: Python<'_>,
        id: String,
        actor: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<()> {
        let actor = actor_arg(actor, ip, user_agent);
        let gate = Arc::clone(&self.inner);
        detached(py, move || match &actor {
            Some(a) => gate.delete_as(&id, a),
            None => gate.delete(&id),
        })?
        .py_err(py)
    }

    /// The audit trail, newest first: one page of events, filtered by key,
    /// owner (the key's subject) and time; pass `page.next` as `after`.
    #[pyo3(signature = (*, key=None, owner=None, since=None, after=None, limit=50))]
    fn events(
        &self,
        py: Python<'_>,
        key: Option<String>,
        owner: Option<String>,
        since: Option<&Bound<'_, PyAny>>,
        after: Option<String>,
        limit: usize,
    ) -> PyResult<EventPage> {
        let query = EventQuery {
            key,
            owner,
            since: some(since).map(|s| millis_arg(&s, "since")).transpose()?,
            after,
            limit,
        };
        let gate = Arc::clone(&self.inner);
        let page = detached(py, move || gate.events(&query))?.py_err(py)?;
        Ok(EventPage {
            events: page
                .events
                .into_iter()
                .map(|e| Event { event: Arc::new(e) })
                .collect(),
            next: page.next,
        })
    }

    /// Builds a route's requirement and checks it against the policy's
    /// catalogue, so a typo fails when the route is declared.
    #[pyo3(signature = (scopes=None, any_scopes=None))]
    fn check_requirement(
        &self,
        py: Python<'_>,
        scopes: Option<&Bound<'_, PyAny>>,
        any_scopes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Requirement> {
        let requirement = build_requirement(py, scopes, any_scopes)?;
        guarded(py, || self.inner.check_requirement(&requirement.inner))?.py_err(py)?;
        Ok(requirement)
    }

    /// Verifies an `Authorization` value (or bare token) for a route. Returns
    /// an outcome; raises only for programmer errors and store failures.
    #[pyo3(signature = (authorization, scopes=None, any_scopes=None, resource=None))]
    fn verify(
        &self,
        py: Python<'_>,
        authorization: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        any_scopes: Option<&Bound<'_, PyAny>>,
        resource: Option<String>,
    ) -> PyResult<Verification> {
        let header = header_bytes(authorization)?;
        let gate = Arc::clone(&self.inner);
        let requirement = RequirementArg::from_args(py, scopes, any_scopes)?;
        let requirement = requirement.get();
        let result = detached(py, || {
            gate.verify(header.as_deref(), requirement, resource.as_deref())
        })?;
        Ok(Verification {
            inner: result.py_err(py)?,
        })
    }

    /// Like `verify`, but records no usage, counts no rate limit and spends
    /// no credit: for checking a token by hand.
    #[pyo3(signature = (authorization, scopes=None, any_scopes=None, resource=None))]
    fn verify_without_spending(
        &self,
        py: Python<'_>,
        authorization: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        any_scopes: Option<&Bound<'_, PyAny>>,
        resource: Option<String>,
    ) -> PyResult<Verification> {
        let header = header_bytes(authorization)?;
        let gate = Arc::clone(&self.inner);
        let requirement = RequirementArg::from_args(py, scopes, any_scopes)?;
        let requirement = requirement.get();
        let result = detached(py, || {
            gate.verify_without_spending(header.as_deref(), requirement, resource.as_deref())
        })?;
        Ok(Verification {
            inner: result.py_err(py)?,
        })
    }

    /// Like `verify`, but answers only from memory (a cached key, a refusal
    /// that needs no lookup) and returns `None` where the store would have
    /// to be asked. For async helpers: this answer is safe on an event loop;
    /// `None` means "call `verify` off the loop".
    #[pyo3(signature = (authorization, scopes=None, any_scopes=None, resource=None))]
    fn verify_in_memory(
        &self,
        py: Python<'_>,
        authorization: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        any_scopes: Option<&Bound<'_, PyAny>>,
        resource: Option<String>,
    ) -> PyResult<Option<Verification>> {
        let header = header_bytes(authorization)?;
        let requirement = RequirementArg::from_args(py, scopes, any_scopes)?;
        let requirement = requirement.get();
        // No I/O happens here, so the GIL is kept: releasing it would cost
        // more than the work.
        let result = guarded(py, || {
            self.inner
                .verify_in_memory(header.as_deref(), requirement, resource.as_deref())
        })?;
        Ok(result.py_err(py)?.map(|inner| Verification { inner }))
    }

    /// Answers one request to the management API (see `gatepass.manage`):
    /// `(status, headers, body)`, computed with the GIL released. A
    /// `principal` of `None` (nobody logged in) is answered 401.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (method, path, query, headers, self_origin, body, principal))]
    fn manage<'py>(
        &self,
        py: Python<'py>,
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        self_origin: Option<String>,
        body: Vec<u8>,
        principal: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<crate::manage::Answer<'py>> {
        crate::manage::manage(
            py,
            Arc::clone(&self.inner),
            method,
            path,
            query,
            headers,
            self_origin,
            body,
            principal,
        )
    }

    /// Writes usage counted in this process to the store.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let gate = Arc::clone(&self.inner);
        detached(py, move || gate.flush())?.py_err(py)
    }

    /// A key's usage history as `(start, valid, refused)` tuples, one per
    /// bucket, oldest first; `gatepass.Gate.usage` makes them `UsageBucket`s.
    #[pyo3(signature = (key_id, *, since=None, until=None, step="day"))]
    fn usage<'py>(
        &self,
        py: Python<'py>,
        key_id: String,
        since: Option<&Bound<'py, PyAny>>,
        until: Option<&Bound<'py, PyAny>>,
        step: &str,
    ) -> PyResult<Vec<BucketTuple<'py>>> {
        let step = Step::parse(step).py_err(py)?;
        let since = some(since).map(|v| millis_arg(&v, "since")).transpose()?;
        let until = some(until).map(|v| millis_arg(&v, "until")).transpose()?;
        let gate = Arc::clone(&self.inner);
        let buckets = detached(py, move || {
            gate.usage(&key_id, &UsageQuery::recent(since, until, step, gate.now()))
        })?
        .py_err(py)?;
        buckets
            .into_iter()
            .map(|b| {
                let refused = PyDict::new(py);
                for (code, n) in b.refused {
                    refused.set_item(code, n)?;
                }
                Ok((datetime(py, b.start)?, b.valid, refused))
            })
            .collect()
    }
}

/// A verify call's requirement: a prepared `Requirement` (what the framework
/// helpers pass on every request) is borrowed as it is, so the hot path
/// builds nothing; lists and expressions are built once per call.
enum RequirementArg<'py> {
    Ready(Bound<'py, Requirement>),
    Built(CoreRequirement),
}

impl<'py> RequirementArg<'py> {
    fn from_args(
        py: Python<'py>,
        scopes: Option<&Bound<'py, PyAny>>,
        any_scopes: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        if let Some(ready) = scopes
            .filter(|_| any_scopes.is_none())
            .and_then(|s| s.cast::<Requirement>().ok())
        {
            return Ok(Self::Ready(ready.clone()));
        }
        Ok(Self::Built(if scopes.is_none() && any_scopes.is_none() {
            CoreRequirement::none()
        } else {
            build_requirement(py, scopes, any_scopes)?.inner
        }))
    }

    fn get(&self) -> &CoreRequirement {
        match self {
            Self::Ready(r) => &r.get().inner,
            Self::Built(r) => r,
        }
    }
}

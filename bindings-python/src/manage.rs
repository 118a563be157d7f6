//! `Gate.manage`: the management API as data. The mounts in
//! `gatepass/manage.py` hand over a request already cut to
//! `(method, path, query, headers, self_origin, body)` and the principal the
//! host's login decided; the core answers it with the GIL released.

use gatepass_core::audit::Actor;
use gatepass_core::manage::{self, Principal, Request, Response};
use gatepass_core::scope;
use gatepass_core::Gate as CoreGate;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::string_list;
use crate::error::{detached, IntoPyResult};

/// What `handle` answers: `(status, headers, body)`.
pub type Answer<'py> = (u16, Vec<(String, String)>, Bound<'py, PyBytes>);

/// A `gatepass.Principal` as the dict its `_native()` gives:
/// `owner` (`None` only with `operator=True`), `actor`, `kinds`, `scopes`,
/// `ip`, `user_agent`.
fn principal(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<Principal> {
    let text = |name: &str| -> PyResult<Option<String>> {
        match d.get_item(name)? {
            Some(v) if !v.is_none() => v
                .extract::<String>()
                .map(Some)
                .map_err(|_| PyTypeError::new_err(format!("principal {name} must be a string"))),
            _ => Ok(None),
        }
    };
    let list = |name: &str| -> PyResult<Option<Vec<String>>> {
        match d.get_item(name)? {
            Some(v) if !v.is_none() => string_list(&v, name).map(Some),
            _ => Ok(None),
        }
    };
    let owner = text("owner")?;
    let operator = match d.get_item("operator")? {
        Some(v) => v.is_truthy()?,
        None => false,
    };
    // An owner that is accidentally None (a user without a workspace) must
    // not turn into "every owner's keys": operator mode is asked for by name.
    if owner.is_none() && !operator {
        return Err(PyTypeError::new_err(
            "principal has no owner; pass operator=True for operator mode (every owner's keys)",
        ));
    }
    let Some(name) = text("actor")? else {
        return Err(PyTypeError::new_err("principal actor must be a string"));
    };
    let mut actor = Actor::new(name);
    if let Some(ip) = text("ip")? {
        actor = actor.with_ip(ip);
    }
    if let Some(ua) = text("user_agent")? {
        actor = actor.with_user_agent(ua);
    }
    let scope_ceiling = list("scopes")?
        .map(|s| scope::parse_list(&s))
        .transpose()
        .py_err(py)?;
    Ok(Principal {
        owner,
        actor,
        kinds: list("kinds")?,
        scope_ceiling,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn manage<'py>(
    py: Python<'py>,
    gate: std::sync::Arc<CoreGate>,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    self_origin: Option<String>,
    body: Vec<u8>,
    who: Option<&Bound<'py, PyDict>>,
) -> PyResult<Answer<'py>> {
    // Nobody logged in: the core's 401 `login_required`, nothing read.
    let Some(who) = who.map(|d| principal(py, d)).transpose()? else {
        let r = manage::login_required();
        return Ok((r.status, r.headers, PyBytes::new(py, &r.body)));
    };
    let Response {
        status,
        headers,
        body,
    } = detached(py, move || {
        manage::handle(
            &gate,
            &who,
            &Request {
                method: &method,
                path: &path,
                query: &query,
                headers: &headers,
                self_origin: self_origin.as_deref(),
                body: &body,
            },
        )
    })?;
    Ok((status, headers, PyBytes::new(py, &body)))
}

/// The largest request body the management API reads; mounts read at most
/// one byte more, so a larger body is refused by the core without being read.
pub const MAX_BODY_BYTES: usize = manage::MAX_BODY_BYTES;

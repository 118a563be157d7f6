//! `gatepass._native`: the PyO3 binding of gatepass-core. Thin by design:
//! argument conversion (`convert`), error mapping (`error`), and releasing the
//! GIL around hashing and store work. Every rule lives in core.

mod audit;
mod cli;
mod convert;
mod error;
mod gate;
mod key;
mod manage;
mod outcome;
mod scope;
mod webhook;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<gate::Gate>()?;
    m.add_class::<gate::Issued>()?;
    m.add_class::<gate::Page>()?;
    m.add_class::<key::KeyInfo>()?;
    m.add_class::<audit::Event>()?;
    m.add_class::<audit::EventPage>()?;
    m.add_class::<outcome::Verification>()?;
    m.add_class::<scope::Requirement>()?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(store_url, m)?)?;
    m.add_function(wrap_pyfunction!(rate_limiter_url, m)?)?;
    m.add_function(wrap_pyfunction!(policy_path, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_table, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(error::render_error, m)?)?;
    m.add_function(wrap_pyfunction!(cli::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(cli::cli_run, m)?)?;
    m.add("MANAGE_MAX_BODY_BYTES", manage::MAX_BODY_BYTES)?;
    webhook::register(m)?;
    Ok(())
}

/// Seconds in a duration such as `"90d"` (as core reads it everywhere).
#[pyfunction]
fn parse_duration(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    let _ = py;
    convert::duration_arg(value, "duration").map(|d| d.as_secs_f64())
}

/// `store`, else `$GATEPASS_STORE`, else `sqlite:///gatepass.db` (the core's rule).
#[pyfunction]
#[pyo3(signature = (store=None))]
fn store_url(store: Option<&str>) -> String {
    gatepass_core::env::store_url(store)
}

/// `given`, else `$GATEPASS_RATE_LIMITER`, else `None` (the core's rule).
#[pyfunction]
#[pyo3(signature = (given=None))]
fn rate_limiter_url(given: Option<&str>) -> Option<String> {
    gatepass_core::env::rate_limiter_url(given)
}

/// The file `$GATEPASS_POLICY` names, else `None` (the core's rule).
#[pyfunction]
fn policy_path() -> Option<String> {
    gatepass_core::env::policy_path()
}

//! Argument and result conversion between Python values and core types:
//! durations (`"90d"` or `timedelta`), aware datetimes ↔ Unix milliseconds,
//! JSON metadata, scope arguments and header collections.

use std::time::Duration;

use gatepass_core::clock::Millis;
use gatepass_core::duration;
use gatepass_core::scope::ScopeSpec;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

use crate::error::{error, IntoPyResult};

struct Cached {
    fromtimestamp: Py<PyAny>,
    utc: Py<PyAny>,
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
}

static CACHED: PyOnceLock<Cached> = PyOnceLock::new();

fn cached(py: Python<'_>) -> PyResult<&Cached> {
    CACHED.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        let json = py.import("json")?;
        Ok(Cached {
            fromtimestamp: datetime
                .getattr("datetime")?
                .getattr("fromtimestamp")?
                .unbind(),
            utc: datetime.getattr("timezone")?.getattr("utc")?.unbind(),
            dumps: json.getattr("dumps")?.unbind(),
            loads: json.getattr("loads")?.unbind(),
        })
    })
}

fn invalid(py: Python<'_>, message: &str) -> PyErr {
    error(py, "invalid_argument", message)
}

/// `"90d"`, `"1h 30m"`, a `timedelta`, or a number of seconds.
pub fn duration_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let py = value.py();
    if let Ok(text) = value.cast::<PyString>() {
        return duration::parse(&text.to_cow()?).py_err(py);
    }
    let seconds: f64 = if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a duration such as \"90d\" or a timedelta"
        )));
    } else if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        // The core's one duration rule: no unit, no duration.
        let number: f64 = value.extract().unwrap_or(f64::NAN);
        return Err(duration::bare_number(what, number)).py_err(py);
    } else if let Ok(total) = value.call_method0("total_seconds") {
        total.extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a duration such as \"90d\" or a timedelta"
        )));
    };
    if !seconds.is_finite() || !(0.0..=1e12).contains(&seconds) {
        return Err(invalid(
            py,
            &format!("{what} must be a non-negative duration"),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// An aware datetime (or Unix seconds) to milliseconds. Naive datetimes are
/// refused: guessing the zone of an expiry is how keys live an hour too long.
pub fn millis_arg(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Millis> {
    let py = value.py();
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!("{what} must be a datetime")));
    }
    let seconds: f64 = if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        value.extract()?
    } else if value.hasattr("utcoffset")? && value.hasattr("timestamp")? {
        if value.call_method0("utcoffset")?.is_none() {
            return Err(invalid(
                py,
                &format!("{what} must be timezone-aware (e.g. datetime.now(timezone.utc))"),
            ));
        }
        value.call_method0("timestamp")?.extract()?
    } else {
        return Err(PyTypeError::new_err(format!("{what} must be a datetime")));
    };
    if !seconds.is_finite() || seconds.abs() > 1e14 {
        return Err(invalid(py, &format!("{what} is out of range")));
    }
    // The range check above keeps the product far inside i64.
    #[allow(clippy::cast_possible_truncation)]
    Ok((seconds * 1000.0).round() as i64)
}

/// Milliseconds to an aware UTC datetime, exactly: whole seconds through
/// `fromtimestamp`, then the milliseconds as microseconds. (`ms / 1000.0`
/// as a float is off by microseconds for far-future times such as the
/// latest expiry, 9999-12-31T23:59:59.999Z.)
pub fn datetime<'py>(py: Python<'py>, ms: Millis) -> PyResult<Bound<'py, PyAny>> {
    let c = cached(py)?;
    let at = c
        .fromtimestamp
        .bind(py)
        .call1((ms.div_euclid(1000), c.utc.bind(py)))?;
    let millis = ms.rem_euclid(1000);
    if millis == 0 {
        return Ok(at);
    }
    let change = PyDict::new(py);
    change.set_item("microsecond", millis * 1000)?;
    at.call_method("replace", (), Some(&change))
}

pub fn optional_datetime<'py>(
    py: Python<'py>,
    ms: Option<Millis>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    ms.map(|ms| datetime(py, ms)).transpose()
}

/// A JSON object from a Python mapping, through `json.dumps` so that what is
/// accepted is exactly what JSON can carry.
pub fn json_object(
    value: &Bound<'_, PyAny>,
) -> PyResult<serde_json::Map<String, serde_json::Value>> {
    let py = value.py();
    if !value.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err("metadata must be a dict"));
    }
    let text: String = cached(py)?
        .dumps
        .bind(py)
        .call1((value,))
        .map_err(|e| invalid(py, &format!("metadata must be JSON-serialisable: {e}")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| invalid(py, &format!("metadata: {e}")))
}

pub fn json_value<'py>(
    py: Python<'py>,
    value: &serde_json::Map<String, serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    cached(py)?.loads.bind(py).call1((text,))
}

/// A list or tuple of strings (a lone string is refused: it would be a list of letters).
pub fn string_list(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of strings"
        )));
    }
    if let Ok(list) = value.cast::<PyList>() {
        return list.iter().map(|v| v.extract::<String>()).collect();
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return tuple.iter().map(|v| v.extract::<String>()).collect();
    }
    value
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a list of strings")))?
        .map(|v| v?.extract::<String>())
        .collect()
}

/// `scopes=`: a list (all of) or a string (an expression).
pub fn scope_spec(value: &Bound<'_, PyAny>) -> PyResult<ScopeSpec> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(ScopeSpec::Expr(text.to_cow()?.into_owned()));
    }
    string_list(value, "scopes").map(ScopeSpec::List)
}

/// An `Authorization` value as bytes: `str` (encoded as UTF-8; anything
/// non-ASCII is then refused by core as an invalid request), `bytes` or `None`.
pub fn header_bytes(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(text) = value.cast::<PyString>() {
        // Lone surrogates cannot be encoded; such a header is invalid anyway.
        return Ok(Some(match text.to_cow() {
            Ok(s) => s.as_bytes().to_vec(),
            Err(_) => vec![0xff],
        }));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(Some(bytes.to_vec()));
    }
    Err(PyTypeError::new_err(
        "authorization must be a str, bytes or None",
    ))
}

/// A request body: `bytes`, `bytearray`, `memoryview` or `str` (UTF-8).
pub fn body_bytes(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(bytes.to_vec());
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(bytes) = value.call_method0("tobytes") {
        if let Ok(bytes) = bytes.cast::<PyBytes>() {
            return Ok(bytes.as_bytes().to_vec());
        }
    }
    Err(PyTypeError::new_err(
        "body must be the raw request bytes (bytes, bytearray, memoryview or str)",
    ))
}

fn header_value(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(match text.to_cow() {
            Ok(s) => s.into_owned().into_bytes(),
            Err(_) => vec![0xff],
        });
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("header values must be str or bytes"))
}

fn header_name(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(String::from_utf8_lossy(bytes.as_bytes()).into_owned());
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow()?.into_owned());
    }
    value.extract::<String>()
}

/// Request headers from a dict, any mapping with `items()` (Flask, Django,
/// Starlette), or an iterable of `(name, value)` pairs. Repeated names are
/// kept; core joins them as HTTP does. Only headers named in `wanted` (lower
/// case; the scheme's own) are converted: no other header can change a verdict.
pub fn header_pairs(value: &Bound<'_, PyAny>, wanted: &[&str]) -> PyResult<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::with_capacity(wanted.len());
    let mut push = |k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>| -> PyResult<()> {
        let name = header_name(k)?;
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(&name)) {
            out.push((name, header_value(v)?));
        }
        Ok(())
    };
    if let Ok(dict) = value.cast::<PyDict>() {
        for (k, v) in dict.iter() {
            push(&k, &v)?;
        }
        return Ok(out);
    }
    let items = if value.hasattr("items")? {
        value.call_method0("items")?
    } else {
        value.clone()
    };
    for item in items.try_iter()? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                PyTypeError::new_err("headers must be a mapping or (name, value) pairs")
            })?;
        push(&pair.get_item(0)?, &pair.get_item(1)?)?;
    }
    Ok(out)
}

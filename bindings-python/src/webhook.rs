//! Webhook signatures: `WebhookVerifier`, `WebhookSigner`, `generate_secret`.
//! Raw bytes in; HMAC work runs with the GIL released.

use std::sync::Arc;

use gatepass_core::clock::{self, ManualClock};
use gatepass_core::webhook::{
    generate_keypair as core_generate_keypair, generate_secret as core_generate_secret,
    meta_challenge as core_meta_challenge, open_replay_guard, public_key as core_public_key,
    Headers, MemoryReplayGuard, ReplayGuard, Scheme, SignOptions, VerifiedWebhook as CoreVerified,
    VerifierOptions, WebhookSigner as CoreSigner, WebhookVerifier as CoreVerifier,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};

use crate::convert::{body_bytes, duration_arg, header_pairs, millis_arg, string_list};
use crate::error::{detached, guarded, webhook_error, IntoPyResult};

/// `replay_guard=`: `True`/`False`, a capacity for the in-process guard, or a
/// URL (`memory://`, `redis://…` to share it between processes).
fn replay_guard_arg(
    py: Python<'_>,
    value: &Bound<'_, PyAny>,
) -> PyResult<Option<Arc<dyn ReplayGuard>>> {
    if value.is_none() || value.is_instance_of::<PyBool>() {
        if !value.is_truthy()? {
            return Ok(None);
        }
        // `True`: the guard `$GATEPASS_REPLAY_GUARD` names, else memory.
        if let Some(url) = gatepass_core::env::replay_guard_url() {
            return detached(py, move || open_replay_guard(&url))?
                .py_err(py)
                .map(Some);
        }
        return Ok(Some(
            Arc::new(MemoryReplayGuard::new(MemoryReplayGuard::DEFAULT_CAPACITY))
                as Arc<dyn ReplayGuard>,
        ));
    }
    if value.is_instance_of::<PyInt>() {
        let capacity: usize = value.extract()?;
        return Ok(Some(Arc::new(MemoryReplayGuard::new(capacity))));
    }
    if let Ok(url) = value.cast::<PyString>() {
        let url = url.to_cow()?.into_owned();
        return detached(py, move || open_replay_guard(&url))?
            .py_err(py)
            .map(Some);
    }
    Err(PyTypeError::new_err(
        "replay_guard must be True/False, a capacity, or a URL such as redis://…",
    ))
}

fn scheme_arg(py: Python<'_>, scheme: &str) -> PyResult<Scheme> {
    scheme.parse::<Scheme>().py_err(py)
}

/// A webhook whose signature (and timestamp, where the scheme has one) checked out.
#[pyclass(module = "gatepass", name = "VerifiedWebhook", frozen)]
pub struct VerifiedWebhook {
    inner: CoreVerified,
}

#[pymethods]
impl VerifiedWebhook {
    /// The message id where the scheme has one (`webhook-id`, GitHub delivery id…).
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// The signed Unix timestamp, for schemes that sign one.
    #[getter]
    fn timestamp(&self) -> Option<i64> {
        self.inner.timestamp
    }

    #[getter]
    fn scheme(&self) -> &'static str {
        self.inner.scheme.as_str()
    }

    /// Python's own spelling of each field (`'msg_1'`, `None`), not Rust's
    /// `Some("msg_1")`; the id comes from the sender and is escaped by `repr`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let id = self.inner.id.as_deref().into_pyobject(py)?.repr()?;
        let timestamp = self.inner.timestamp.into_pyobject(py)?.repr()?;
        Ok(format!(
            "VerifiedWebhook(scheme='{}', id={id}, timestamp={timestamp})",
            self.inner.scheme.as_str()
        ))
    }
}

/// Verifies incoming webhooks for one scheme against one or more secrets.
#[pyclass(module = "gatepass", name = "WebhookVerifier", frozen)]
pub struct WebhookVerifier {
    inner: Arc<CoreVerifier>,
}

#[pymethods]
impl WebhookVerifier {
    /// `WebhookVerifier(scheme, secrets, *, tolerance="5m", allow_sha1=False, replay_guard=False, now=None, header=None)`.
    ///
    /// `secrets` is one secret or a list (rotation); for `discord` the hex
    /// public key, for `standard` `whsec_…` or `whpk_…` keys. `header` (`token`
    /// only) names the header carrying the token, compared whole (Telegram:
    /// `X-Telegram-Bot-Api-Secret-Token`). `tolerance` is the
    /// timestamp window both ways; `None` turns the timestamp check off.
    /// `replay_guard=True` (or a capacity) refuses a second delivery of the
    /// same message inside the window, in this process. `now` fixes the
    /// clock (Unix seconds) for tests and for re-checking archived deliveries.
    #[new]
    #[pyo3(signature = (scheme, secrets, **options))]
    fn py_new(
        py: Python<'_>,
        scheme: &str,
        secrets: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let scheme = scheme_arg(py, scheme)?;
        let secrets: Vec<String> = if let Ok(one) = secrets.cast::<PyString>() {
            vec![one.to_cow()?.into_owned()]
        } else {
            string_list(secrets, "secrets")?
        };
        let mut opts = VerifierOptions::default();
        for (name, value) in options.into_iter().flat_map(|o| o.iter()) {
            let name: String = name.extract()?;
            match name.as_str() {
                "tolerance" => {
                    opts.tolerance = if value.is_none() {
                        None
                    } else {
                        Some(duration_arg(&value, "tolerance")?)
                    };
                }
                "allow_sha1" => opts.allow_sha1 = value.is_truthy()?,
                "now" => {
                    // A fixed clock: for tests and for re-checking archived deliveries.
                    let secs: i64 = value
                        .extract()
                        .map_err(|_| PyTypeError::new_err("now must be Unix seconds (int)"))?;
                    opts.clock = ManualClock::new(secs.saturating_mul(1000));
                }
                "replay_guard" => opts.replay_guard = replay_guard_arg(py, &value)?,
                "header" => {
                    opts.header = if value.is_none() {
                        None
                    } else {
                        Some(value.extract().map_err(|_| {
                            PyTypeError::new_err("header must be a header name (str)")
                        })?)
                    };
                }
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "WebhookVerifier() got an unexpected keyword argument {other:?}"
                    )))
                }
            }
        }
        let verifier = CoreVerifier::new(scheme, &secrets, opts).py_err(py)?;
        Ok(Self {
            inner: Arc::new(verifier),
        })
    }

    #[getter]
    fn scheme(&self) -> &'static str {
        self.inner.scheme().as_str()
    }

    /// Whether the scheme signs the request URL (`twilio`): `verify` then
    /// needs `url=`, the public URL the sender called. The core's answer.
    #[getter]
    fn signs_url(&self) -> bool {
        self.inner.scheme().signs_url()
    }

    /// Every request header this scheme reads (lower case): a framework
    /// helper can pass just these instead of the whole request.
    #[getter]
    fn header_names(&self) -> Vec<&'static str> {
        self.inner.header_names().to_vec()
    }

    /// Verifies the raw body against the request headers; raises
    /// `WebhookError` with `.code` on failure. `url` is the full request URL
    /// (required by `twilio`).
    #[pyo3(signature = (body, headers, *, url=None))]
    fn verify(
        &self,
        py: Python<'_>,
        body: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        url: Option<String>,
    ) -> PyResult<VerifiedWebhook> {
        let wanted = self.inner.header_names();
        let headers = Headers::from_pairs(header_pairs(headers, wanted)?);
        let verifier = Arc::clone(&self.inner);
        // `bytes` is immutable and kept alive by `body`: borrow it, no copy.
        let owned;
        let body: &[u8] = if let Ok(bytes) = body.cast::<PyBytes>() {
            bytes.as_bytes()
        } else {
            owned = body_bytes(body)?;
            &owned
        };
        let scheme = verifier.scheme();
        let inner = detached(py, || verifier.verify(body, &headers, url.as_deref()))?
            .map_err(|e| webhook_error(py, &e, scheme))?;
        Ok(VerifiedWebhook { inner })
    }

    fn __repr__(&self) -> String {
        format!(
            "WebhookVerifier(scheme={:?}, secrets=<redacted>)",
            self.inner.scheme().as_str()
        )
    }
}

/// Signs outgoing webhooks; `sign` returns the headers to send.
#[pyclass(module = "gatepass", name = "WebhookSigner", frozen)]
pub struct WebhookSigner {
    inner: Arc<CoreSigner>,
}

#[pymethods]
impl WebhookSigner {
    /// `WebhookSigner(scheme, secret, *, header=None)`: `secret` is the
    /// signing key (`whsk_…` for Standard Webhooks' Ed25519 form, the hex
    /// seed for `discord`); `header` (`token` only) sends the bare token in
    /// that header instead of `Authorization: Token …`.
    #[new]
    #[pyo3(signature = (scheme, secret, *, header=None))]
    fn py_new(py: Python<'_>, scheme: &str, secret: &str, header: Option<&str>) -> PyResult<Self> {
        let scheme = scheme_arg(py, scheme)?;
        let mut signer = CoreSigner::new(scheme, secret, clock::system()).py_err(py)?;
        if let Some(header) = header {
            signer = signer.with_header(header).py_err(py)?;
        }
        Ok(Self {
            inner: Arc::new(signer),
        })
    }

    #[getter]
    fn scheme(&self) -> &'static str {
        self.inner.scheme().as_str()
    }

    /// Headers (a dict) for `body`. `id` and `timestamp` (Unix seconds or an
    /// aware datetime) default to a fresh id and now; `url` is for `twilio`.
    #[pyo3(signature = (body, *, id=None, timestamp=None, url=None))]
    fn sign<'py>(
        &self,
        py: Python<'py>,
        body: &Bound<'py, PyAny>,
        id: Option<String>,
        timestamp: Option<&Bound<'py, PyAny>>,
        url: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let body = body_bytes(body)?;
        let timestamp = match timestamp.filter(|t| !t.is_none()) {
            None => None,
            Some(t) if t.is_instance_of::<PyInt>() && !t.is_instance_of::<PyBool>() => {
                Some(t.extract::<i64>()?)
            }
            Some(t) => Some(millis_arg(t, "timestamp")?.div_euclid(1000)),
        };
        let signer = Arc::clone(&self.inner);
        let opts = SignOptions { id, timestamp, url };
        let pairs = detached(py, move || signer.sign(&body, opts))?.py_err(py)?;
        let d = PyDict::new(py);
        for (name, value) in pairs {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "WebhookSigner(scheme={:?}, secret=<redacted>)",
            self.inner.scheme().as_str()
        )
    }
}

/// A new random secret in the scheme's usual form (`whsec_…` for standard).
#[pyfunction]
fn generate_secret(py: Python<'_>, scheme: &str) -> PyResult<String> {
    let scheme = scheme_arg(py, scheme)?;
    detached(py, move || core_generate_secret(scheme))?.py_err(py)
}

/// A new Ed25519 key pair `(signing_key, verifying_key)`: `whsk_…`/`whpk_…`
/// for `standard`, hex for `discord`.
#[pyfunction]
fn generate_keypair(py: Python<'_>, scheme: &str) -> PyResult<(String, String)> {
    let scheme = scheme_arg(py, scheme)?;
    detached(py, move || core_generate_keypair(scheme))?.py_err(py)
}

/// The verifying key of a signing key (`whpk_…` for `whsk_…`; hex for a
/// `discord` seed).
#[pyfunction]
fn public_key(py: Python<'_>, scheme: &str, signing_key: &str) -> PyResult<String> {
    let scheme = scheme_arg(py, scheme)?;
    guarded(py, || core_public_key(scheme, signing_key))?.py_err(py)
}

/// Meta's `GET` subscription handshake: the `hub.challenge` to answer when
/// `hub.mode` is `subscribe` and `hub.verify_token` matches one of
/// `verify_tokens` (constant time); otherwise raises `WebhookError`.
/// `query` is the raw query string, as received.
#[pyfunction]
fn meta_challenge(
    py: Python<'_>,
    query: &str,
    verify_tokens: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let tokens: Vec<String> = if let Ok(one) = verify_tokens.cast::<PyString>() {
        vec![one.to_cow()?.into_owned()]
    } else {
        string_list(verify_tokens, "verify_tokens")?
    };
    guarded(py, || core_meta_challenge(query, &tokens))?.py_err(py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WebhookVerifier>()?;
    m.add_class::<WebhookSigner>()?;
    m.add_class::<VerifiedWebhook>()?;
    m.add_function(wrap_pyfunction!(generate_secret, m)?)?;
    m.add_function(wrap_pyfunction!(generate_keypair, m)?)?;
    m.add_function(wrap_pyfunction!(public_key, m)?)?;
    m.add_function(wrap_pyfunction!(meta_challenge, m)?)?;
    m.add(
        "WEBHOOK_SCHEMES",
        Scheme::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    )?;
    Ok(())
}

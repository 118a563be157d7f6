//! Webhooks: verify what arrives, sign what is sent, make secrets. Pure CPU
//! work on a few kilobytes, so these are synchronous; keys are derived once,
//! in the constructor. No secret is kept on the JavaScript side.

use std::sync::Arc;

use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{
    self, Headers, MemoryReplayGuard, ReplayGuard, Scheme, SignOptions as CoreSignOptions,
    VerifierOptions as CoreVerifierOptions,
};
use napi::bindgen_prelude::{BufferSlice, Either, Env, JsObjectValue, Object};
use napi_derive::napi;

use crate::duration::{self, DurationArg};
use crate::error::{OrThrow, Thrown};

#[napi(object)]
pub struct VerifierOptions {
    /// One or more secrets (several during rotation).
    pub secrets: Vec<String>,
    /// Timestamp window in either direction: `"5m"` or milliseconds.
    pub tolerance: Option<DurationArg>,
    /// Turns the timestamp window off (`tolerance: null` in the public API).
    pub no_tolerance: Option<bool>,
    /// Accept GitHub's legacy `X-Hub-Signature: sha1=…`.
    pub allow_sha1: Option<bool>,
    /// Refuse a second delivery of a message id within the window, in memory;
    /// the number is how many ids to remember.
    pub replay_guard: Option<u32>,
    /// The same, in a store named by URL: `memory://` or `redis://…`
    /// (shared by every process using that server).
    pub replay_guard_url: Option<String>,
    /// A fixed clock, Unix milliseconds: for tests and for replaying
    /// recorded requests. Absent: the system clock.
    pub now: Option<f64>,
    /// `token` only: the header carrying the token, compared whole
    /// (Telegram: `X-Telegram-Bot-Api-Secret-Token`).
    pub header: Option<String>,
}

#[napi(object)]
pub struct SignOptions {
    pub id: Option<String>,
    /// Unix seconds (`index.js` turns a `Date` into them).
    pub timestamp: Option<i64>,
    /// The full request URL (`twilio` only; required there).
    pub url: Option<String>,
}

fn scheme(name: &str) -> Result<Scheme, Thrown> {
    name.parse::<Scheme>().or_throw()
}

#[napi]
pub struct WebhookVerifier {
    inner: webhook::WebhookVerifier,
}

#[napi]
impl WebhookVerifier {
    #[napi(constructor, catch_unwind)]
    pub fn new(scheme_name: String, options: VerifierOptions) -> Result<Self, Thrown> {
        let tolerance = if options.no_tolerance == Some(true) {
            None
        } else {
            match &options.tolerance {
                Some(d) => Some(duration::parse("tolerance", d).or_throw()?),
                None => Some(webhook::DEFAULT_TOLERANCE),
            }
        };
        let replay_guard = match (&options.replay_guard_url, options.replay_guard) {
            (Some(url), _) => Some(webhook::open_replay_guard(url).or_throw()?),
            (None, Some(capacity)) => {
                Some(Arc::new(MemoryReplayGuard::new(capacity as usize)) as Arc<dyn ReplayGuard>)
            }
            (None, None) => None,
        };
        let mut core_options = CoreVerifierOptions {
            tolerance,
            allow_sha1: options.allow_sha1.unwrap_or(false),
            replay_guard,
            header: options.header,
            ..CoreVerifierOptions::default()
        };
        if let Some(now) = options.now {
            core_options.clock = ManualClock::new(duration::millis("now", now).or_throw()?);
        }
        let inner =
            webhook::WebhookVerifier::new(scheme(&scheme_name)?, &options.secrets, core_options)
                .or_throw()?;
        Ok(Self { inner })
    }

    #[napi(getter, catch_unwind)]
    pub fn scheme(&self) -> &'static str {
        self.inner.scheme().as_str()
    }

    /// Whether the scheme signs the request URL (`twilio`): `verify` then
    /// needs the public URL the sender called. The core's answer.
    #[napi(getter, catch_unwind)]
    pub fn signs_url(&self) -> bool {
        self.inner.scheme().signs_url()
    }

    /// The headers `verify` reads, lower-cased, in the order it takes their
    /// values: the scheme's own, from the core. Nothing else is handed over.
    #[napi(getter, catch_unwind)]
    pub fn header_names(&self) -> Vec<&'static str> {
        let names = self.inner.header_names();
        // `verify` takes at most MAX_HEADER_NAMES values; a scheme reading
        // more would need another parameter there.
        debug_assert!(names.len() <= MAX_HEADER_NAMES);
        names[..names.len().min(MAX_HEADER_NAMES)].to_vec()
    }

    /// Verifies the raw body bytes (the caller's Buffer, not copied) against
    /// the values of `headerNames`, given positionally (`v0` is the value of
    /// `headerNames[0]`, …): each a string, an array of strings (a repeated
    /// header) or absent. Positional arguments and one small string back are
    /// the cheapest shapes to cross N-API. Returns the verified message's
    /// id and timestamp encoded by [`encode_verified`]; `index.js` decodes
    /// it and builds the result object, and its `Date`. Throws an `Error`
    /// with the failure's `code`.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        body: BufferSlice,
        url: Option<String>,
        v0: Option<HeaderValue>,
        v1: Option<HeaderValue>,
        v2: Option<HeaderValue>,
        v3: Option<HeaderValue>,
        v4: Option<HeaderValue>,
        v5: Option<HeaderValue>,
    ) -> Result<Option<String>, Thrown> {
        let mut headers = Headers::new();
        let names = self.inner.header_names();
        for (name, value) in names.iter().zip([v0, v1, v2, v3, v4, v5]) {
            match value {
                Some(Either::A(value)) => headers.append(name, value.as_bytes()),
                Some(Either::B(values)) => {
                    for value in values {
                        headers.append(name, value.as_bytes());
                    }
                }
                None => {}
            }
        }
        let v = self
            .inner
            .verify(&body, &headers, url.as_deref())
            .or_throw()?;
        Ok(encode_verified(v.timestamp, v.id))
    }
}

/// Most header values `verify` takes (the `standard` scheme reads six).
const MAX_HEADER_NAMES: usize = 6;

/// A verified message's timestamp and id as one string: `"<ts>"`,
/// `":<id>"` or `"<ts>:<id>"` (the timestamp is plain decimal digits, so the
/// first `:` separates; the id may contain more), `None` for neither.
fn encode_verified(timestamp: Option<i64>, id: Option<String>) -> Option<String> {
    match (timestamp, id) {
        (None, None) => None,
        (Some(ts), None) => Some(ts.to_string()),
        (ts, Some(id)) => Some(match ts {
            Some(ts) => format!("{ts}:{id}"),
            None => format!(":{id}"),
        }),
    }
}

/// One header's value as Node gives it: a string, or an array of strings
/// for a header sent more than once.
type HeaderValue = Either<String, Vec<String>>;

#[napi]
pub struct WebhookSigner {
    inner: webhook::WebhookSigner,
}

#[napi]
impl WebhookSigner {
    /// `header` (`token` only): send the bare token in that header instead
    /// of `Authorization: Token …`.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        scheme_name: String,
        secret: String,
        header: Option<String>,
    ) -> Result<Self, Thrown> {
        let mut inner = webhook::WebhookSigner::new(
            scheme(&scheme_name)?,
            &secret,
            gatepass_core::clock::system(),
        )
        .or_throw()?;
        if let Some(header) = header {
            inner = inner.with_header(&header).or_throw()?;
        }
        Ok(Self { inner })
    }

    #[napi(getter, catch_unwind)]
    pub fn scheme(&self) -> &'static str {
        self.inner.scheme().as_str()
    }

    /// The headers to send with `body`, in the order and spelling the
    /// scheme's senders use.
    #[napi(catch_unwind, ts_return_type = "Record<string, string>")]
    pub fn sign<'env>(
        &self,
        env: &'env Env,
        body: BufferSlice,
        options: Option<SignOptions>,
    ) -> Result<Object<'env>, Thrown> {
        let opts = options.map_or_else(CoreSignOptions::default, |o| CoreSignOptions {
            id: o.id,
            timestamp: o.timestamp,
            url: o.url,
        });
        let pairs = self.inner.sign(&body, opts).or_throw()?;
        let mut out = Object::new(env).or_throw()?;
        for (name, value) in pairs {
            out.set_named_property(&name, value).or_throw()?;
        }
        Ok(out)
    }
}

/// A new random secret in the scheme's usual shape.
#[napi(catch_unwind)]
pub fn generate_secret(scheme_name: String) -> Result<String, Thrown> {
    webhook::generate_secret(scheme(&scheme_name)?).or_throw()
}

/// A new Ed25519 key pair `[signingKey, verifyingKey]`: `whsk_…`/`whpk_…`
/// for `standard`, hex for `discord`.
#[napi(catch_unwind)]
pub fn generate_keypair(scheme_name: String) -> Result<Vec<String>, Thrown> {
    let (signing, verifying) = webhook::generate_keypair(scheme(&scheme_name)?).or_throw()?;
    Ok(vec![signing, verifying])
}

/// The verifying key of a signing key.
#[napi(catch_unwind)]
pub fn public_key(scheme_name: String, signing_key: String) -> Result<String, Thrown> {
    webhook::public_key(scheme(&scheme_name)?, &signing_key).or_throw()
}

/// Meta's `GET` subscription handshake: the challenge to answer, or a
/// thrown webhook error.
#[napi(catch_unwind)]
pub fn meta_challenge(query: String, verify_tokens: Vec<String>) -> Result<String, Thrown> {
    webhook::meta_challenge(&query, &verify_tokens).or_throw()
}

/// Every scheme name, in documentation order.
#[napi(catch_unwind)]
pub fn webhook_schemes() -> Vec<&'static str> {
    Scheme::ALL.iter().map(|s| s.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_encoding_is_unambiguous() {
        assert_eq!(encode_verified(None, None), None);
        assert_eq!(encode_verified(Some(17), None).as_deref(), Some("17"));
        assert_eq!(
            encode_verified(None, Some("a:b".into())).as_deref(),
            Some(":a:b")
        );
        assert_eq!(
            encode_verified(Some(17), Some("a:b".into())).as_deref(),
            Some("17:a:b")
        );
    }
}

//! `Gate`: key lifecycle and request verification over a store. Store work
//! runs on the libuv pool and returns Promises; `gateVerifySync`/`flushSync`
//! are the synchronous twins for callers that cannot await (process exit).
//! A verification the core can answer from memory is answered at once.

use std::sync::{Arc, RwLock};

use gatepass_core::gate::IssueRequest;
use gatepass_core::history::{Step, UsageQuery};
use gatepass_core::key::{KeyUpdate, Status};
use gatepass_core::policy::{Policy, PolicyDocument};
use gatepass_core::ratelimit::{self, RateLimit};
use gatepass_core::scope::parse_list;
use gatepass_core::{Gate as CoreGate, Verification as CoreVerification};
use napi::bindgen_prelude::{AsyncTask, Either, Either3, Env, External, ToNapiValue, TypeName};
use napi_derive::napi;

use crate::audit::{event_page_json, ActorOptions, EventOptions};
use crate::duration::{self, DurationArg};
use crate::error::{NodeError, OrThrow, Thrown, CLOSED};
use crate::key::{key_json, page_json, IssuedKey};
use crate::outcome::{self, VerificationHandle, Verified};
use crate::scope::{self, RequirementHandle, ScopesArg};
use crate::shared;
use crate::task::{Job, VerifyJob};

/// Default page size of `list`.
const DEFAULT_PAGE: u32 = 100;

#[napi(object)]
pub struct IssueOptions {
    pub name: String,
    pub kind: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub expires_in: Option<DurationArg>,
    /// Unix milliseconds.
    pub expires_at: Option<f64>,
    pub rate_limit: Option<String>,
    pub remaining: Option<f64>,
}

/// `null` in the public API clears a field; `index.js` turns it into the
/// matching `clear…` flag because napi reads `null` and `undefined` alike.
#[napi(object)]
pub struct UpdateOptions {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub expires_in: Option<DurationArg>,
    pub expires_at: Option<f64>,
    pub clear_expiry: Option<bool>,
    pub rate_limit: Option<String>,
    pub clear_rate_limit: Option<bool>,
    pub remaining: Option<f64>,
    pub clear_remaining: Option<bool>,
}

#[napi(object)]
pub struct ListOptions {
    pub subject: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

/// `usage` options: Unix milliseconds (`index.js` turns Dates into them).
#[napi(object)]
pub struct UsageOptions {
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub step: Option<String>,
}

/// The open core gate, or `None` once closed. Shared by the `Gate` class
/// (lifecycle calls) and its [`GateHandle`] (per-request calls), so closing
/// one closes both.
#[derive(Default)]
pub struct GateSlot(RwLock<Option<Arc<CoreGate>>>);

impl GateSlot {
    fn core(&self) -> Result<Arc<CoreGate>, NodeError> {
        self.with(|gate| Ok(Arc::clone(gate)))
    }

    /// Runs `f` on the open gate without taking a reference to it (no
    /// reference-count traffic on the per-request path); `close` waits.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Arc<CoreGate>) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(gate) => f(gate),
            None => Err(NodeError::new(CLOSED, "the gate is closed")),
        }
    }
}

/// The gate as the per-request calls take it: a plain handle, because
/// napi-rs checks and borrows a class instance (`&self`) on every call. In an
/// isolated probe under load that cost ≈ 3–4 µs per class argument against
/// ≈ 1 µs for an `External`; in the whole Express server the difference was
/// within noise.
pub type GateHandle = External<Arc<GateSlot>>;

#[napi]
pub struct Gate {
    inner: Arc<GateSlot>,
    /// Fixed when the gate opens, so still readable after `close`.
    policy_source: String,
    policy_mismatch: Option<String>,
}

fn credits(field: &str, n: f64) -> Result<u64, NodeError> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 {
        // `as` saturates: a number past 64 bits reaches the core as
        // u64::MAX, which refuses it with the bound in its message.
        Ok(n as u64)
    } else {
        Err(NodeError::invalid_argument(format!(
            "{field} must be a non-negative integer"
        )))
    }
}

fn rate_limit(text: &str) -> Result<RateLimit, NodeError> {
    Ok(text.parse::<RateLimit>()?)
}

fn policy_of(value: serde_json::Value) -> Result<Policy, NodeError> {
    Ok(match value {
        serde_json::Value::String(toml) => Policy::from_toml(&toml)?,
        other => {
            let doc: PolicyDocument = serde_json::from_value(other)
                .map_err(|e| NodeError::new("config_error", format!("policy: {e}")))?;
            Policy::from_document(doc)?
        }
    })
}

fn issue_request(o: IssueOptions) -> Result<IssueRequest, NodeError> {
    Ok(IssueRequest {
        name: o.name,
        kind: o.kind,
        scopes: parse_list(&o.scopes.unwrap_or_default())?,
        subject: o.subject,
        resource: o.resource,
        metadata: o.metadata.unwrap_or_default(),
        expires_in: o
            .expires_in
            .as_ref()
            .map(|d| duration::parse("expiresIn", d))
            .transpose()?,
        expires_at: o
            .expires_at
            .map(|t| duration::millis("expiresAt", t))
            .transpose()?,
        rate_limit: o.rate_limit.as_deref().map(rate_limit).transpose()?,
        remaining: o.remaining.map(|n| credits("remaining", n)).transpose()?,
    })
}

fn key_update(o: UpdateOptions) -> Result<KeyUpdate, NodeError> {
    let expires_at = if o.clear_expiry == Some(true) {
        Some(None)
    } else {
        o.expires_at
            .map(|at| duration::millis("expiresAt", at))
            .transpose()?
            .map(Some)
    };
    Ok(KeyUpdate {
        name: o.name,
        scopes: o.scopes.as_deref().map(parse_list).transpose()?,
        metadata: o.metadata,
        expires_at,
        // Measured from now by the core's clock, as in every binding.
        expires_in: o
            .expires_in
            .as_ref()
            .map(|d| duration::parse("expiresIn", d))
            .transpose()?,
        rate_limit: if o.clear_rate_limit == Some(true) {
            Some(None)
        } else {
            o.rate_limit
                .as_deref()
                .map(rate_limit)
                .transpose()?
                .map(Some)
        },
        remaining: if o.clear_remaining == Some(true) {
            Some(None)
        } else {
            o.remaining
                .map(|n| credits("remaining", n))
                .transpose()?
                .map(Some)
        },
    })
}

/// Opens the store at `url` with an optional policy (a JS object in the
/// policy document's shape, or TOML text) and rate limiter (`memory://`,
/// the default, or `redis://…` shared by every process using the server).
#[napi(catch_unwind)]
pub fn open_gate(
    url: Option<String>,
    policy: Option<serde_json::Value>,
    rate_limiter: Option<String>,
) -> AsyncTask<Job<Gate>> {
    Job::new(move || {
        // What is not given comes from the environment, read by the core.
        let url = gatepass_core::env::store_url(url.as_deref());
        // None given: the core finds it (`$GATEPASS_POLICY`,
        // `./gatepass.toml`, the store's record), as for every binding.
        let policy = policy.map(policy_of).transpose()?;
        let rate_limiter = gatepass_core::env::rate_limiter_url(rate_limiter.as_deref());
        let limiter = rate_limiter.as_deref().map(ratelimit::open).transpose()?;
        let mut gate = CoreGate::open(&url, policy)?;
        if let Some(limiter) = limiter {
            gate = gate.with_limiter(limiter);
        }
        Ok(Gate {
            policy_source: gate.policy_source().to_string(),
            policy_mismatch: gate.policy_mismatch().map(str::to_owned),
            inner: Arc::new(GateSlot(RwLock::new(Some(Arc::new(gate))))),
        })
    })
}

impl Gate {
    fn core(&self) -> Result<Arc<CoreGate>, NodeError> {
        self.inner.core()
    }

    /// A job on the gate; a closed gate rejects.
    fn job<T, F>(&self, work: F) -> AsyncTask<Job<T>>
    where
        T: ToNapiValue + TypeName + Send + 'static,
        F: FnOnce(&CoreGate) -> Result<T, NodeError> + Send + 'static,
    {
        let gate = self.core();
        Job::new(move || {
            let gate = gate?;
            work(&gate)
        })
    }
}

#[napi]
impl Gate {
    #[napi(catch_unwind)]
    pub fn issue(
        &self,
        options: IssueOptions,
        who: Option<ActorOptions>,
    ) -> AsyncTask<Job<IssuedKey>> {
        let request = issue_request(options);
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            Ok(match actor {
                Some(a) => g.issue_as(request?, &a)?,
                None => g.issue(request?)?,
            }
            .into())
        })
    }

    /// Answers one request to the management API (see `manage.js`).
    #[napi(catch_unwind)]
    pub fn manage(
        &self,
        request: crate::manage::ManageRequest,
    ) -> AsyncTask<Job<crate::manage::ManageAnswer>> {
        let prepared = crate::manage::prepare(request);
        self.job(move |g| Ok(crate::manage::answer(g, &prepared?)))
    }

    #[napi(catch_unwind)]
    pub fn get(&self, id: String) -> AsyncTask<Job<String>> {
        self.job(move |g| Ok(key_json(&g.get(&id)?)))
    }

    #[napi(catch_unwind)]
    pub fn list(&self, options: Option<ListOptions>) -> AsyncTask<Job<String>> {
        self.job(move |g| {
            let o = options.unwrap_or(ListOptions {
                subject: None,
                kind: None,
                status: None,
                after: None,
                limit: None,
            });
            let status = o
                .status
                .as_deref()
                .map(|s| s.parse::<Status>().map_err(NodeError::invalid_argument))
                .transpose()?;
            let limit = o.limit.unwrap_or(DEFAULT_PAGE) as usize;
            Ok(page_json(&g.list(
                o.subject,
                o.kind,
                status,
                o.after.as_deref(),
                limit,
            )?))
        })
    }

    #[napi(catch_unwind)]
    pub fn update(
        &self,
        id: String,
        options: UpdateOptions,
        who: Option<ActorOptions>,
    ) -> AsyncTask<Job<String>> {
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            let update = key_update(options)?;
            Ok(key_json(&match actor {
                Some(a) => g.update_as(&id, update, &a)?,
                None => g.update(&id, update)?,
            }))
        })
    }

    #[napi(catch_unwind)]
    pub fn deactivate(&self, id: String, who: Option<ActorOptions>) -> AsyncTask<Job<String>> {
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            Ok(key_json(&match actor {
                Some(a) => g.deactivate_as(&id, &a)?,
                None => g.deactivate(&id)?,
            }))
        })
    }

    #[napi(catch_unwind)]
    pub fn activate(&self, id: String, who: Option<ActorOptions>) -> AsyncTask<Job<String>> {
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            Ok(key_json(&match actor {
                Some(a) => g.activate_as(&id, &a)?,
                None => g.activate(&id)?,
            }))
        })
    }

    #[napi(catch_unwind)]
    pub fn revoke(&self, id: String, who: Option<ActorOptions>) -> AsyncTask<Job<String>> {
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            Ok(key_json(&match actor {
                Some(a) => g.revoke_as(&id, &a)?,
                None => g.revoke(&id)?,
            }))
        })
    }

    /// A new secret for the same key; the old one keeps working for `grace`.
    #[napi(catch_unwind)]
    pub fn rotate(
        &self,
        id: String,
        grace: Option<DurationArg>,
        who: Option<ActorOptions>,
    ) -> AsyncTask<Job<IssuedKey>> {
        let grace = grace
            .as_ref()
            .map(|d| duration::parse("grace", d))
            .transpose();
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            let grace = grace?.unwrap_or_default();
            Ok(match actor {
                Some(a) => g.rotate_as(&id, grace, &a)?,
                None => g.rotate(&id, grace)?,
            }
            .into())
        })
    }

    #[napi(catch_unwind)]
    pub fn delete(&self, id: String, who: Option<ActorOptions>) -> AsyncTask<Job<()>> {
        let actor = ActorOptions::actor(who);
        self.job(move |g| {
            match actor {
                Some(a) => g.delete_as(&id, &a)?,
                None => g.delete(&id)?,
            }
            Ok(())
        })
    }

    /// One page of the audit trail, newest first, as JSON text (`index.js`
    /// makes the `Date`s).
    #[napi(catch_unwind)]
    pub fn events(&self, options: Option<EventOptions>) -> AsyncTask<Job<String>> {
        self.job(move |g| {
            let query = EventOptions::query(options)?;
            Ok(event_page_json(&g.events(&query)?))
        })
    }

    /// Parses `scopes`/`anyScopes` and checks them against the policy's
    /// catalogue, so a typo fails when the route is declared.
    #[napi(catch_unwind, ts_return_type = "ExternalObject<'Requirement'>")]
    pub fn requirement(
        &self,
        scopes: Option<ScopesArg>,
        any_scopes: Option<Vec<String>>,
    ) -> Result<RequirementHandle, Thrown> {
        let gate = self.core().or_throw()?;
        let requirement = scope::parse(scopes, any_scopes).or_throw()?;
        gate.check_requirement(&requirement).or_throw()?;
        Ok(scope::handle(requirement))
    }

    /// Checks a route's requirement against the policy's catalogue.
    #[napi(catch_unwind)]
    pub fn check_requirement(
        &self,
        #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
    ) -> Result<(), Thrown> {
        let gate = self.core().or_throw()?;
        gate.check_requirement(requirement).or_throw()
    }

    /// The handle the per-request calls (`gateVerify`, `gateAuthorize`) take.
    #[napi(catch_unwind, ts_return_type = "ExternalObject<'Gate'>")]
    pub fn handle(&self) -> GateHandle {
        External::new(Arc::clone(&self.inner))
    }

    /// A key's usage history as JSON text: `[{start, valid, refused}]`,
    /// oldest first (`index.js` makes `start` a Date).
    #[napi(catch_unwind)]
    pub fn usage(&self, id: String, options: Option<UsageOptions>) -> AsyncTask<Job<String>> {
        self.job(move |g| {
            let (since, until, step) = match options {
                Some(o) => (o.since, o.until, o.step),
                None => (None, None, None),
            };
            let step = Step::parse(step.as_deref().unwrap_or("day"))?;
            let since = since.map(|v| duration::millis("since", v)).transpose()?;
            let until = until.map(|v| duration::millis("until", v)).transpose()?;
            let buckets = g.usage(&id, &UsageQuery::recent(since, until, step, g.now()))?;
            serde_json::to_string(&buckets).map_err(|e| NodeError::invalid_argument(e.to_string()))
        })
    }

    /// Writes usage counted in this process to the store.
    #[napi(catch_unwind)]
    pub fn flush(&self) -> AsyncTask<Job<()>> {
        self.job(|g| Ok(g.flush()?))
    }

    #[napi(catch_unwind)]
    pub fn flush_sync(&self) -> Result<(), Thrown> {
        match self.core() {
            Ok(gate) => gate.flush().or_throw(),
            // Closing flushed already.
            Err(_) => Ok(()),
        }
    }

    /// Flushes usage and releases the store; later calls reject with `closed`.
    /// Closing twice is not an error.
    #[napi(catch_unwind)]
    pub fn close(&self) -> AsyncTask<Job<()>> {
        let taken = self
            .inner
            .0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Job::new(move || match taken {
            Some(gate) => Ok(gate.flush()?),
            None => Ok(()),
        })
    }

    /// Where the policy in force came from, as people read it.
    #[napi(getter, catch_unwind)]
    pub fn policy_source(&self) -> String {
        self.policy_source.clone()
    }

    /// How the policy in force differed from the one recorded in the store
    /// when the gate was opened; null when they agreed.
    #[napi(getter, catch_unwind)]
    pub fn policy_mismatch(&self) -> Option<String> {
        self.policy_mismatch.clone()
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.inner
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
}

// ----- per-request calls ------------------------------------------------------
//
// Free functions over plain handles rather than `Gate` methods: see
// `GateHandle`. Everything else about a gate is a method of `Gate`.

/// Verifies an `Authorization` header value (or a bare token). Answers at
/// once when the core can answer from memory (a cached key: most requests):
/// with the number of a shared verification (`shared.rs`) for a valid one
/// with no headers, else in the compact form of `outcome::to_js`. Otherwise
/// returns a Promise of the compact form, the store work done on the libuv
/// pool; it rejects only when the store fails, every request outcome resolves.
/// `index.js` asks `gateVerifyCached` (`fast.rs`) first, which gives the same
/// in-memory answers through leaner glue, and calls this when it declines.
#[napi(
    catch_unwind,
    ts_return_type = "number | ExternalObject<unknown> | [string, number, string[] | null, ExternalObject<unknown>] | Promise<ExternalObject<unknown> | [string, number, string[] | null, ExternalObject<unknown>]>"
)]
pub fn gate_verify<'env>(
    env: &'env Env,
    #[napi(ts_arg_type = "ExternalObject<'Gate'>")] gate: &GateHandle,
    credential: Option<String>,
    #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
    resource: Option<String>,
) -> Result<Either3<f64, Verified<'env>, AsyncTask<VerifyJob>>, Thrown> {
    let answered = gate
        .with(|g| {
            Ok(g.verify_in_memory(
                credential.as_deref().map(str::as_bytes),
                requirement,
                resource.as_deref(),
            )?)
        })
        .or_throw()?;
    if let Some(v) = answered {
        return match answer(env, v).or_throw()? {
            Either::A(number) => Ok(Either3::A(number)),
            Either::B(v) => Ok(Either3::B(v)),
        };
    }
    let gate = gate.core().or_throw()?;
    let requirement = Arc::clone(requirement);
    Ok(Either3::C(VerifyJob::new(move || {
        Ok(gate.verify(
            credential.as_deref().map(str::as_bytes),
            &requirement,
            resource.as_deref(),
        )?)
    })))
}

/// A verification answered on the calling thread, as `gateVerify` (and
/// `fast::gate_verify_cached`) return it: the number of a shared verification
/// when it is valid with no headers, else converted.
pub(crate) fn answer(
    env: &Env,
    v: CoreVerification,
) -> Result<Either<f64, Verified<'_>>, NodeError> {
    let headers = v.headers();
    let v = if headers.is_empty() {
        match shared::share(v) {
            Either::A(number) => return Ok(Either::A(number)),
            Either::B(v) => v,
        }
    } else {
        v
    };
    outcome::to_js_with(env, v, headers).map(Either::B)
}

/// `gateVerify` on the calling thread, store work included.
#[napi(
    catch_unwind,
    ts_return_type = "[string, number, string[] | null, ExternalObject<unknown>]"
)]
pub fn gate_verify_sync<'env>(
    env: &'env Env,
    #[napi(ts_arg_type = "ExternalObject<'Gate'>")] gate: &GateHandle,
    credential: Option<String>,
    #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
    resource: Option<String>,
) -> Result<Verified<'env>, Thrown> {
    let v = gate
        .core()
        .or_throw()?
        .verify(
            credential.as_deref().map(str::as_bytes),
            requirement,
            resource.as_deref(),
        )
        .or_throw()?;
    outcome::to_js(env, v).or_throw()
}

/// Checks a verified request against a further requirement without
/// verifying (and counting usage) again. `null` when nothing changes (the
/// requirement holds, or the verification had failed already): the common
/// case costs no conversion at all.
#[napi(
    catch_unwind,
    ts_return_type = "[string, number, string[] | null, ExternalObject<unknown>] | null"
)]
pub fn gate_authorize<'env>(
    env: &'env Env,
    #[napi(ts_arg_type = "ExternalObject<'Gate'>")] gate: &GateHandle,
    #[napi(ts_arg_type = "ExternalObject<unknown>")] verified: &VerificationHandle,
    #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
) -> Result<Option<Verified<'env>>, Thrown> {
    let gate = gate.core().or_throw()?;
    if !verified.ok() {
        return Ok(None);
    }
    let v = gate.authorize(verified, requirement);
    if v.ok() {
        return Ok(None);
    }
    outcome::to_js(env, v).map(Some).or_throw()
}

//! The gate: key lifecycle and request verification over
//! a store, a policy, a rate limiter and a clock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::audit::{self, Action, Actor, Event, EventPage, EventQuery};
use crate::clock::{self, Clock, Millis, MAX_MILLIS};
use crate::duration;
use crate::env::{self, PolicyOrigin, PolicySource};
use crate::error::GateError;
use crate::header::{self, HeaderError};
use crate::history::{self, HistorySettings, UsageBucket, UsageQuery, UsageTotals};
use crate::key::{Cursor, KeyRecord, KeyUpdate, ListQuery, Page, Status, MAX_REMAINING};
use crate::outcome::{Challenge, Outcome, Verification};
use crate::policy::{Kind, Policy};
use crate::ratelimit::{MemoryRateLimiter, RateLimit, RateLimiter};
use crate::scope::{Requirement, Scope, ScopeSet};
use crate::store::{self, Found, Store};
use crate::token::{self, ParsedToken, Token, TokenDigest};
use crate::usage::UsageRecorder;
use crate::waiting::{may_wait, Blocking, InMemory, NeedsIo, Stop, Waiting};

/// Longest a cached key record is trusted without reading the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Cached key records are dropped wholesale past this many entries.
const MAX_CACHED_KEYS: usize = 100_000;
/// Digests of tokens the store does not know are dropped wholesale past this
/// many entries: 7/8 of a 32 768-slot table, so the table never grows past
/// that (about 1.6 MB) however many different tokens a client sends.
pub const MAX_CACHED_UNKNOWN: usize = 32_768 / 8 * 7;
/// Largest page `list` returns.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// Longest key name, in bytes.
pub const MAX_NAME_LEN: usize = 200;
const MAX_ID_TEXT_LEN: usize = 256;

/// What to issue. Scopes are validated against the policy and the kind.
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    pub name: String,
    /// `None` uses the policy's default kind.
    pub kind: Option<String>,
    pub scopes: Vec<Scope>,
    pub subject: Option<String>,
    pub resource: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Lifetime from now; `None` uses the kind's default lifetime.
    pub expires_in: Option<Duration>,
    /// Absolute expiry; overrides `expires_in`.
    pub expires_at: Option<Millis>,
    pub rate_limit: Option<RateLimit>,
    pub remaining: Option<u64>,
}

/// A newly issued or rotated key. The token is shown once: it exists only here.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: Token,
    pub key: KeyRecord,
}

/// A key as the verification path needs it, computed once per cache fill.
#[derive(Debug)]
struct CachedKey {
    /// Entries older than [`CACHE_TTL`] are read again even without an
    /// invalidation: a bound on staleness should a notification ever be lost.
    loaded_at: Instant,
    key: Arc<KeyRecord>,
    scopes: ScopeSet,
    rate_limit: Option<RateLimit>,
    secret_expires_at: Option<Millis>,
}

/// Hashes a [`TokenDigest`] by its leading bytes. A SHA-256 output is already
/// uniform, so SipHash would only add cost; and since only digests of keys
/// that exist in the store enter the cache, a client cannot pick colliding
/// entries to degrade it.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_ne_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Default)]
struct Cache {
    /// The (store epoch, local changes) the entries were filled under.
    validity: Option<(u64, u64)>,
    entries: HashMap<TokenDigest, Arc<CachedKey>, BuildHasherDefault<DigestHasher>>,
    /// Digests of well-formed tokens the store did not have, and when it said
    /// so: a client repeating an unknown (deleted, mistyped, guessed) token
    /// is answered from memory instead of taking a store connection each
    /// time. Invalidated with `entries`, so a key stored anywhere is found on
    /// the next call. Clients choose these digests (by choosing tokens), so
    /// the table is keyed with a per-process random SipHash key, not
    /// [`DigestHasher`]: nobody can aim a flood at one bucket.
    unknown: HashMap<TokenDigest, Instant, RandomState>,
}

#[derive(Debug)]
pub struct Gate {
    store: Arc<dyn Store>,
    policy: Arc<Policy>,
    challenge: Arc<Challenge>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn RateLimiter>,
    /// True until [`Gate::with_limiter`] replaces the in-memory limiter,
    /// which [`Gate::with_clock`] then keeps on the gate's clock.
    default_limiter: bool,
    cache: Mutex<Cache>,
    /// Bumped after each lifecycle change made through this gate, so its own
    /// cache never waits for the store's epoch (a Postgres notification
    /// arrives a moment after the commit).
    local_changes: AtomicU64,
    usage: Arc<UsageRecorder>,
    policy_origin: PolicyOrigin,
    /// How long events are kept; `None`: forever.
    events_retention: Option<Duration>,
    /// Started by the first lifecycle change or `events` call, when the
    /// gate's clock and retention are settled (see [`Gate::start_pruner`]).
    pruner: OnceLock<PrunerRun>,
}

/// The running pruner. Dropped with the gate, it stops the thread and waits
/// for it (at most the batch in progress), so that dropping or closing a gate
/// closes its store then, not when a prune that was running finishes: a
/// program may delete, move or copy the database file once its gate is gone.
#[derive(Debug)]
struct PrunerRun {
    pruner: Arc<Pruner>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for PrunerRun {
    fn drop(&mut self) {
        self.pruner.wake.stop();
        if let Some(thread) = self.thread.take() {
            // The thread holds only a `Weak` to the pruner, never the gate,
            // so this never runs on the thread it joins.
            let _ = thread.join();
        }
    }
}

/// What the background prune thread needs, apart from the gate, so that the
/// thread never keeps a gate alive: it holds only a `Weak` to this.
#[derive(Debug)]
struct Pruner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    wake: Arc<audit::PruneWake>,
}

impl audit::Prune for Pruner {
    fn prune_now(&self) -> Result<u64, GateError> {
        prune(&*self.store, &*self.clock, self.retention)
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.wake.stop();
    }
}

/// Deletes every event older than `retention`, in short batches.
fn prune(store: &dyn Store, clock: &dyn Clock, retention: Duration) -> Result<u64, GateError> {
    let before = clock
        .now_ms()
        .saturating_sub(duration::as_millis(retention));
    let mut total = 0;
    loop {
        let n = store.prune_events(before, audit::PRUNE_BATCH)?;
        total += n;
        if n < audit::PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The actor of changes made without one, computed once per process.
fn default_actor() -> &'static Actor {
    static ACTOR: OnceLock<Actor> = OnceLock::new();
    ACTOR.get_or_init(Actor::process)
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), GateError> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(GateError::InvalidArgument(format!(
            "{field} must be 1 to {max} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_optional_text(field: &str, value: &Option<String>) -> Result<(), GateError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_text(field, v, MAX_ID_TEXT_LEN))
}

/// Refuses an argument that is not a key id before it reaches a store or a
/// message. It is never repeated: what people paste where an id belongs is
/// most often the token itself, and error messages end up in logs.
fn check_key_id(id: &str) -> Result<(), GateError> {
    if token::is_valid_key_id(id) {
        return Ok(());
    }
    Err(GateError::InvalidArgument(if token::looks_like_token(id) {
        "a token was given where a key id belongs: pass the key's id (\"key_\" and 16 letters or digits), \
         never its token; this message does not repeat it"
            .into()
    } else {
        "not a key id: key ids are \"key_\" followed by 16 letters or digits".into()
    }))
}

fn check_remaining(remaining: Option<u64>) -> Result<(), GateError> {
    match remaining {
        Some(n) if n > MAX_REMAINING => Err(GateError::InvalidArgument(format!(
            "remaining must be at most {MAX_REMAINING} (2^53 - 1)"
        ))),
        _ => Ok(()),
    }
}

fn check_duration(field: &str, d: Duration) -> Result<Duration, GateError> {
    Ok(duration::check(field, d)?)
}

impl Gate {
    /// Opens the store at `url` under `policy`, else the policy found for
    /// it: `$GATEPASS_POLICY`, `./gatepass.toml`, the policy recorded in the
    /// store, the default (see [`env::resolve_policy`]). An explicit policy
    /// is recorded in the store for processes and tools that open it
    /// without one. Events are kept as `GATEPASS_EVENTS_RETENTION` says,
    /// usage history as `GATEPASS_USAGE_HOURLY_FOR` and
    /// `GATEPASS_USAGE_RETENTION` say; a value that does not parse is an
    /// error here.
    pub fn open(url: &str, policy: Option<Policy>) -> Result<Self, GateError> {
        Self::open_store(store::open(url)?, policy)
    }

    /// [`open`](Self::open) over a store already opened.
    pub fn open_store(store: Arc<dyn Store>, policy: Option<Policy>) -> Result<Self, GateError> {
        let retention = crate::env::events_retention()?;
        let history = crate::env::usage_history()?;
        let now = clock::system().now_ms();
        let (policy, origin) = env::resolve_policy(store.as_ref(), policy, now)?;
        let mut gate = Self::new(store, policy)
            .with_events_retention(retention)
            .with_usage_history(history);
        gate.policy_origin = origin;
        Ok(gate)
    }

    pub fn new(store: Arc<dyn Store>, policy: Policy) -> Self {
        let challenge = Arc::new(Challenge {
            realm: policy.realm.clone(),
            schemes: policy
                .schemes
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect(),
            disclose_key_state: policy.disclose_key_state,
        });
        Self {
            usage: UsageRecorder::start(Arc::clone(&store)),
            store,
            policy: Arc::new(policy),
            challenge,
            clock: clock::system(),
            limiter: Arc::new(MemoryRateLimiter::new()),
            default_limiter: true,
            cache: Mutex::default(),
            local_changes: AtomicU64::new(0),
            // An unreadable variable is reported by `open`; here the
            // documented default applies.
            events_retention: crate::env::events_retention()
                .unwrap_or(Some(audit::DEFAULT_RETENTION)),
            pruner: OnceLock::new(),
            policy_origin: PolicyOrigin {
                source: PolicySource::Argument,
                mismatch: None,
            },
        }
    }

    /// How long the audit trail keeps events; `None` keeps them forever.
    /// Default: `GATEPASS_EVENTS_RETENTION`, else one year.
    pub fn with_events_retention(mut self, retention: Option<Duration>) -> Self {
        self.events_retention = retention;
        self
    }

    pub fn events_retention(&self) -> Option<Duration> {
        self.events_retention
    }

    /// Starts the background thread that deletes events past retention: at
    /// once, then every [`audit::PRUNE_EVERY`]. Started by the first
    /// lifecycle change or `events` call rather than by `new`, so it runs
    /// with the clock and retention the gate was finally built with, and a
    /// process that only verifies never starts it. It never runs on a
    /// verification's thread.
    fn start_pruner(&self) {
        let Some(retention) = self.events_retention else {
            return;
        };
        self.pruner.get_or_init(|| {
            let pruner = Arc::new(Pruner {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                retention,
                wake: Arc::default(),
            });
            let thread = audit::start_pruner(Arc::downgrade(&pruner), Arc::clone(&pruner.wake));
            PrunerRun { pruner, thread }
        });
    }

    /// Deletes events older than the retention now (the background thread
    /// does this hourly); returns how many. Keeps everything when retention
    /// is `None`.
    pub fn prune_events(&self) -> Result<u64, GateError> {
        match self.events_retention {
            Some(retention) => prune(&*self.store, &*self.clock, retention),
            None => Ok(0),
        }
    }

    /// Events, newest first, filtered by key, owner and time; pass
    /// `page.next` back as `after` for older ones.
    pub fn events(&self, query: &EventQuery) -> Result<EventPage, GateError> {
        if let Some(key) = &query.key {
            check_key_id(key)?;
        }
        check_optional_text("owner", &query.owner)?;
        let filter = audit::filter_of(query)?;
        self.start_pruner();
        Ok(audit::page_of(self.store.events(&filter)?, query.limit))
    }

    /// Replaces the clock (tests move time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if self.default_limiter {
            self.limiter = Arc::new(MemoryRateLimiter::with_clock(Arc::clone(&clock)));
        }
        self.usage
            .set_history(self.usage.history_settings(), Arc::clone(&clock));
        self.clock = clock;
        self
    }

    /// How long usage history is kept by hour and in all (default: 30 days
    /// by hour, 365 days in all).
    pub fn with_usage_history(self, settings: HistorySettings) -> Self {
        self.usage.set_history(settings, Arc::clone(&self.clock));
        self
    }

    /// Replaces the rate limiter (a shared one for several processes).
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self.default_limiter = false;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Where the policy in force came from.
    pub fn policy_source(&self) -> &PolicySource {
        &self.policy_origin.source
    }

    /// How the policy in force differed from the one recorded in the store
    /// when this gate was opened (or why they could not be compared);
    /// `None` when they agreed. A warning for people, never an error.
    pub fn policy_mismatch(&self) -> Option<&str> {
        self.policy_origin.mismatch.as_deref()
    }

    /// `policy in force: SOURCE; its kinds: NAME (PREFIX), …`: what a message
    /// about an unknown kind or token prefix adds, for the operator (not for
    /// clients: it may name a file).
    pub fn policy_summary(&self) -> String {
        format!(
            "policy in force: {}; its kinds: {}",
            self.policy_origin.source,
            env::kinds_text(&self.policy)
        )
    }

    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    fn kind(&self, name: &str) -> Result<&Kind, GateError> {
        self.policy
            .kind(name)
            .ok_or_else(|| GateError::UnknownKind {
                kind: name.to_owned(),
                policy: self.policy_summary(),
            })
    }

    /// The record as callers see it: with the limit that applies under this
    /// gate's policy filled in (stores keep only the key's own).
    fn present(&self, mut key: KeyRecord) -> KeyRecord {
        key.effective_rate_limit = self.policy.effective_rate_limit(&key.kind, key.rate_limit);
        key
    }

    /// Resolves and bounds an expiry for `kind`, measured from `now`.
    fn bounded_expiry(
        &self,
        kind: &Kind,
        requested: Option<Option<Millis>>,
        now: Millis,
    ) -> Result<Option<Millis>, GateError> {
        let expires_at = match requested {
            Some(explicit) => explicit,
            None => kind
                .default_lifetime
                .or(kind.max_lifetime)
                .map(|d| now.saturating_add(duration::as_millis(d))),
        };
        if let Some(at) = expires_at {
            if at <= now {
                return Err(GateError::InvalidArgument(
                    "expiry must be in the future".into(),
                ));
            }
            if at > MAX_MILLIS {
                return Err(GateError::InvalidArgument(
                    "expiry must be no later than 9999-12-31T23:59:59.999Z".into(),
                ));
            }
        }
        if let Some(max) = kind.max_lifetime {
            let limit = now.saturating_add(duration::as_millis(max));
            if expires_at.is_none_or(|at| at > limit) {
                return Err(GateError::LifetimeExceeded {
                    kind: kind.name.clone(),
                    max: duration::format(max),
                });
            }
        }
        Ok(expires_at)
    }

    // ----- lifecycle ---------------------------------------------------------

    /// Issues a key. The returned token is the only copy; only its digest is stored.
    /// Recorded as made by this process ([`Actor::process`]).
    pub fn issue(&self, req: IssueRequest) -> Result<Issued, GateError> {
        self.issue_as(req, default_actor())
    }

    /// [`Gate::issue`], recorded in the audit trail as made by `actor`.
    pub fn issue_as(&self, req: IssueRequest, actor: &Actor) -> Result<Issued, GateError> {
        actor.check()?;
        check_text("name", &req.name, MAX_NAME_LEN)?;
        check_optional_text("subject", &req.subject)?;
        check_optional_text("resource", &req.resource)?;
        let kind = match &req.kind {
            Some(name) => self.kind(name)?,
            None => self.policy.default_kind(),
        };
        self.policy.check_grant(kind, &req.scopes)?;
        check_remaining(req.remaining)?;
        if let Some(d) = req.expires_in {
            check_duration("expires_in", d)?;
        }
        let now = self.now();
        let requested = match (req.expires_at, req.expires_in) {
            (Some(at), _) => Some(Some(at)),
            (None, Some(d)) => Some(Some(now.saturating_add(duration::as_millis(d)))),
            (None, None) => None,
        };
        let expires_at = self.bounded_expiry(kind, requested, now)?;
        let token =
            Token::mint(&kind.prefix).map_err(|e| GateError::InvalidArgument(e.to_string()))?;
        let mut scopes = req.scopes;
        scopes.dedup();
        let key = KeyRecord {
            id: token::new_key_id(),
            name: req.name,
            kind: kind.name.clone(),
            start: token.start(),
            scopes,
            subject: req.subject,
            resource: req.resource,
            metadata: req.metadata,
            status: Status::Active,
            created_at: now,
            updated_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
            rate_limit: req.rate_limit,
            effective_rate_limit: None,
            remaining: req.remaining,
        };
        let event = Event::new(
            Action::Issued,
            &key,
            now,
            actor,
            audit::issued_changes(&key),
        );
        self.start_pruner();
        self.store.insert(&key, &token.digest(), &event)?;
        Ok(Issued {
            token,
            key: self.present(key),
        })
    }

    /// The key with `id`; usage counted by this process is written first so
    /// the answer includes it.
    pub fn get(&self, id: &str) -> Result<KeyRecord, GateError> {
        check_key_id(id)?;
        self.flush()?;
        self.store
            .get(id)?
            .map(|k| self.present(k))
            .ok_or_else(|| GateError::NotFound(id.to_owned()))
    }

    /// One page of keys; pass `page.next` back as `after` for the next one.
    pub fn list(
        &self,
        subject: Option<String>,
        kind: Option<String>,
        status: Option<Status>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, GateError> {
        let after = after
            .map(|c| {
                Cursor::decode(c)
                    .ok_or_else(|| GateError::InvalidArgument("invalid list cursor".into()))
            })
            .transpose()?;
        self.list_where(ListQuery {
            subject,
            kind,
            status,
            after,
            limit,
            expiry: None,
        })
    }

    /// One page of keys matching `query`, whose `limit` is clamped to
    /// 1..=[`MAX_PAGE_SIZE`]; the answer's `next` decodes into the `after`
    /// of the following page.
    pub fn list_where(&self, mut query: ListQuery) -> Result<Page, GateError> {
        self.flush()?;
        let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
        query.limit = limit + 1;
        let mut keys: Vec<KeyRecord> = self
            .store
            .list(&query)?
            .into_iter()
            .map(|k| self.present(k))
            .collect();
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().map(|k| Cursor::of(k).encode())
        } else {
            None
        };
        Ok(Page { keys, next })
    }

    /// Changes a key's settings. Recorded as made by this process.
    pub fn update(&self, id: &str, update: KeyUpdate) -> Result<KeyRecord, GateError> {
        self.update_as(id, update, default_actor())
    }

    /// [`Gate::update`] by `actor`. An update that changes nothing writes
    /// nothing: no event, and `updated_at` stays.
    pub fn update_as(
        &self,
        id: &str,
        update: KeyUpdate,
        actor: &Actor,
    ) -> Result<KeyRecord, GateError> {
        actor.check()?;
        check_key_id(id)?;
        if let Some(name) = &update.name {
            check_text("name", name, MAX_NAME_LEN)?;
        }
        if let Some(remaining) = update.remaining {
            check_remaining(remaining)?;
        }
        let now = self.now();
        // A lifetime is measured from now, by this gate's clock, so every
        // binding means the same moment by it.
        let expiry = match (update.expires_at, update.expires_in) {
            (Some(_), Some(_)) => {
                return Err(GateError::InvalidArgument(
                    "pass expires_at or expires_in, not both".into(),
                ))
            }
            (Some(at), None) => Some(at),
            (None, Some(d)) => Some(Some(
                now.saturating_add(duration::as_millis(check_duration("expires_in", d)?)),
            )),
            (None, None) => None,
        };
        self.start_pruner();
        let key = self.store.modify(id, &mut |key| {
            let kind = self.kind(&key.kind)?;
            if key.status == Status::Revoked {
                return Err(invalid_state(key, "update"));
            }
            let before = key.clone();
            if let Some(scopes) = &update.scopes {
                self.policy.check_grant(kind, scopes)?;
                key.scopes = scopes.clone();
            }
            if let Some(expiry) = expiry {
                key.expires_at = self.bounded_expiry(kind, Some(expiry), now)?;
            }
            if let Some(name) = &update.name {
                key.name = name.clone();
            }
            if let Some(metadata) = &update.metadata {
                key.metadata = metadata.clone();
            }
            if let Some(rate_limit) = update.rate_limit {
                key.rate_limit = rate_limit;
            }
            if let Some(remaining) = update.remaining {
                key.remaining = remaining;
            }
            let changes = audit::changes_between(&before, key);
            if changes.is_empty() {
                *key = before;
                return Ok(None);
            }
            key.updated_at = now;
            Ok(Some(Event::new(Action::Updated, key, now, actor, changes)))
        })?;
        self.changed();
        Ok(self.present(key))
    }

    /// Invalidates this gate's cache after a change it made itself.
    fn changed(&self) {
        self.local_changes.fetch_add(1, Ordering::AcqRel);
    }

    fn set_status(
        &self,
        id: &str,
        to: Status,
        action: &'static str,
        actor: &Actor,
    ) -> Result<KeyRecord, GateError> {
        actor.check()?;
        check_key_id(id)?;
        let now = self.now();
        self.start_pruner();
        let key = self.store.modify(id, &mut |key| {
            match (key.status, to) {
                // Already so: nothing changes, nothing is recorded.
                (from, to) if from == to => return Ok(None),
                (Status::Revoked, _) => return Err(invalid_state(key, action)),
                _ => {}
            }
            let before = key.clone();
            key.status = to;
            key.updated_at = now;
            if to == Status::Revoked {
                key.revoked_at = Some(now);
            }
            let changes = audit::changes_between(&before, key);
            Ok(Some(Event::new(
                audit::status_action(to),
                key,
                now,
                actor,
                changes,
            )))
        })?;
        self.changed();
        Ok(self.present(key))
    }

    /// Reversibly stops a key; it fails with `inactive` from the next verify on.
    pub fn deactivate(&self, id: &str) -> Result<KeyRecord, GateError> {
        self.deactivate_as(id, default_actor())
    }

    /// [`Gate::deactivate`] by `actor`; a key already inactive is left as
    /// it is, with no event.
    pub fn deactivate_as(&self, id: &str, actor: &Actor) -> Result<KeyRecord, GateError> {
        self.set_status(id, Status::Inactive, "deactivate", actor)
    }

    pub fn activate(&self, id: &str) -> Result<KeyRecord, GateError> {
        self.activate_as(id, default_actor())
    }

    /// [`Gate::activate`] by `actor`; a key already active is left as it
    /// is, with no event.
    pub fn activate_as(&self, id: &str, actor: &Actor) -> Result<KeyRecord, GateError> {
        self.set_status(id, Status::Active, "activate", actor)
    }

    /// One-way: the key fails with `revoked` from the next verify on, in every
    /// process sharing the store. Revoking twice is not an error.
    pub fn revoke(&self, id: &str) -> Result<KeyRecord, GateError> {
        self.revoke_as(id, default_actor())
    }

    /// [`Gate::revoke`] by `actor`; revoking a revoked key records nothing.
    pub fn revoke_as(&self, id: &str, actor: &Actor) -> Result<KeyRecord, GateError> {
        self.set_status(id, Status::Revoked, "revoke", actor)
    }

    /// A new secret for the same key. Old secrets keep working for `grace`
    /// (zero: not at all), never past the key's own expiry.
    pub fn rotate(&self, id: &str, grace: Duration) -> Result<Issued, GateError> {
        self.rotate_as(id, grace, default_actor())
    }

    /// [`Gate::rotate`] by `actor`, recorded as `regenerated` with the new
    /// `start` (never anything of the token).
    pub fn rotate_as(&self, id: &str, grace: Duration, actor: &Actor) -> Result<Issued, GateError> {
        actor.check()?;
        check_key_id(id)?;
        check_duration("grace", grace)?;
        let now = self.now();
        let current = self
            .store
            .get(id)?
            .ok_or_else(|| GateError::NotFound(id.to_owned()))?;
        let prefix = &self.kind(&current.kind)?.prefix;
        let token = Token::mint(prefix).map_err(|e| GateError::InvalidArgument(e.to_string()))?;
        let old_until = now.saturating_add(duration::as_millis(grace));
        let old_until = current.expires_at.map_or(old_until, |e| e.min(old_until));
        self.start_pruner();
        let key = self
            .store
            .rotate(id, &token.digest(), old_until, &mut |key| {
                if key.status == Status::Revoked {
                    return Err(invalid_state(key, "rotate"));
                }
                if key.kind != current.kind {
                    return Err(GateError::InvalidArgument(
                        "key changed kind during rotation".into(),
                    ));
                }
                let before = key.clone();
                key.start = token.start();
                key.updated_at = now;
                let mut changes = audit::changes_between(&before, key);
                // Recorded even when the new start happens to equal the old.
                changes.insert(
                    "start".into(),
                    serde_json::json!({ "from": before.start, "to": key.start }),
                );
                Ok(Some(Event::new(
                    Action::Regenerated,
                    key,
                    now,
                    actor,
                    changes,
                )))
            })?;
        self.changed();
        Ok(Issued {
            token,
            key: self.present(key),
        })
    }

    pub fn delete(&self, id: &str) -> Result<(), GateError> {
        self.delete_as(id, default_actor())
    }

    /// [`Gate::delete`] by `actor`. The key's events stay (with the
    /// `deleted` one) until retention removes them.
    pub fn delete_as(&self, id: &str, actor: &Actor) -> Result<(), GateError> {
        actor.check()?;
        check_key_id(id)?;
        self.flush()?;
        // The owner is read before the delete: a key's subject never
        // changes, so this read cannot disagree with the deleted row.
        let key = self
            .store
            .get(id)?
            .ok_or_else(|| GateError::NotFound(id.to_owned()))?;
        let event = Event::new(
            Action::Deleted,
            &key,
            self.now(),
            actor,
            audit::deleted_changes(&key),
        );
        self.start_pruner();
        if self.store.delete(id, &event)? {
            self.changed();
            Ok(())
        } else {
            Err(GateError::NotFound(id.to_owned()))
        }
    }

    // ----- verification ------------------------------------------------------

    /// Checks the policy's catalogue for a route's requirement; call it when
    /// the route is declared so a typo fails at start-up.
    pub fn check_requirement(&self, requirement: &Requirement) -> Result<(), GateError> {
        Ok(self.policy.check_requirement(requirement)?)
    }

    fn outcome(
        &self,
        outcome: Outcome,
        detail: impl Into<String>,
        scheme: Option<&str>,
    ) -> Verification {
        Verification {
            outcome,
            detail: detail.into(),
            key: None,
            missing_scopes: Vec::new(),
            rate: None,
            // The client's spelling is irrelevant: name the policy's scheme.
            scheme: scheme.and_then(|s| {
                self.challenge
                    .schemes
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(s))
                    .cloned()
            }),
            challenge: Arc::clone(&self.challenge),
        }
    }

    /// Verifies an `Authorization` header value (or a bare token) for a route.
    /// Steps, in order: header syntax → token form and checksum → lookup →
    /// status → expiry → resource → scopes → rate limit → credits → usage.
    /// Returns `Err` only when the store itself fails.
    pub fn verify(
        &self,
        authorization: Option<&[u8]>,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<Verification, GateError> {
        self.verify_as::<Blocking>(authorization, requirement, resource, Spend::Yes)
            .map_err(|stop| match stop {
                Stop::Failed(e) => e,
                Stop::GaveUp(never) => match never {},
            })
    }

    /// [`Gate::verify`] with no effect on the key: no usage recorded, no
    /// rate-limit allowance counted, no credit spent. For checking a token by
    /// hand (`gatepass verify`) without using up a production key's limits.
    /// A key with no credits left is `usage_exceeded`; a rate limit answers
    /// `rate_limited` only when the limiter can tell without counting (the
    /// in-memory one can; others report nothing).
    pub fn verify_without_spending(
        &self,
        authorization: Option<&[u8]>,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<Verification, GateError> {
        self.verify_as::<Blocking>(authorization, requirement, resource, Spend::No)
            .map_err(|stop| match stop {
                Stop::Failed(e) => e,
                Stop::GaveUp(never) => match never {},
            })
    }

    /// [`Gate::verify`] without waiting for I/O, for a caller on an event
    /// loop: the same answer when it can be given from memory (a malformed
    /// request, a cached key with a local or no rate limit and no credits to
    /// spend), `Ok(None)` when it needs the store or a remote rate limiter —
    /// then call `verify` where waiting is fine. Nothing is counted when it
    /// gives up, so the request is counted once either way.
    pub fn verify_in_memory(
        &self,
        authorization: Option<&[u8]>,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<Option<Verification>, GateError> {
        match self.verify_as::<InMemory>(authorization, requirement, resource, Spend::Yes) {
            Ok(v) => Ok(Some(v)),
            Err(Stop::GaveUp(NeedsIo)) => Ok(None),
            Err(Stop::Failed(e)) => Err(e),
        }
    }

    /// [`Gate::verify_in_memory`] that hands back, when it must give up, the
    /// request as far as it got: parsed, its token checked and hashed. An
    /// event-loop caller finishes it with [`Gate::finish_verify`] on a thread
    /// that may wait, so a cache miss is parsed and hashed once, not once per
    /// attempt. Nothing is counted when it gives up.
    pub fn begin_verify(
        &self,
        authorization: Option<&[u8]>,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<Begun, GateError> {
        let (scheme, digest) = match self.prepare(authorization) {
            Prepared::Token(scheme, digest) => (scheme, digest),
            Prepared::Answered(v) => return Ok(Begun::Done(v)),
        };
        match self.verify_digest::<InMemory>(scheme, &digest, requirement, resource, Spend::Yes) {
            Ok(v) => Ok(Begun::Done(v)),
            Err(Stop::GaveUp(NeedsIo)) => Ok(Begun::Pending(PendingVerification {
                scheme: scheme.map(str::to_owned),
                digest,
            })),
            Err(Stop::Failed(e)) => Err(e),
        }
    }

    /// Finishes a verification [`Gate::begin_verify`] gave up on, waiting for
    /// the store or the rate limiter as [`Gate::verify`] does. `requirement`
    /// and `resource` must be the ones given to `begin_verify`.
    pub fn finish_verify(
        &self,
        pending: &PendingVerification,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<Verification, GateError> {
        self.verify_digest::<Blocking>(
            pending.scheme.as_deref(),
            &pending.digest,
            requirement,
            resource,
            Spend::Yes,
        )
        .map_err(|stop| match stop {
            Stop::Failed(e) => e,
            Stop::GaveUp(never) => match never {},
        })
    }

    fn verify_as<W: Waiting>(
        &self,
        authorization: Option<&[u8]>,
        requirement: &Requirement,
        resource: Option<&str>,
        spend: Spend,
    ) -> Result<Verification, Stop<W::GaveUp>> {
        match self.prepare(authorization) {
            Prepared::Token(scheme, digest) => {
                self.verify_digest::<W>(scheme, &digest, requirement, resource, spend)
            }
            Prepared::Answered(v) => Ok(v),
        }
    }

    /// The steps that need no key: header syntax, token form and checksum, a
    /// prefix of this policy, then the token's digest. `Err` is the answer
    /// when one of them fails.
    fn prepare<'a>(&'a self, authorization: Option<&'a [u8]>) -> Prepared<'a> {
        let credential = match header::parse_authorization(authorization, &self.policy.schemes) {
            Ok(c) => c,
            Err(e) => {
                let outcome = if e.is_missing_credentials() {
                    Outcome::MissingCredentials
                } else {
                    Outcome::InvalidRequest
                };
                let scheme = match &e {
                    HeaderError::MissingToken(s) => Some(s.as_str()),
                    _ => None,
                };
                return Prepared::Answered(self.outcome(outcome, e.to_string(), scheme));
            }
        };
        let scheme = credential.scheme;
        let parsed = match ParsedToken::parse(credential.token) {
            Ok(p) => p,
            Err(e) => {
                return Prepared::Answered(self.outcome(
                    Outcome::MalformedToken,
                    e.to_string(),
                    scheme,
                ))
            }
        };
        if self.policy.kind_by_prefix(parsed.prefix()).is_none() {
            return Prepared::Answered(self.outcome(
                Outcome::MalformedToken,
                "token prefix is not one this service issues",
                scheme,
            ));
        }
        Prepared::Token(scheme, parsed.digest())
    }

    /// The steps from the lookup on, for a prepared request; a refusal of a
    /// known key is counted in the usage history when the request spends.
    /// (Only these steps can name a key: a request answered by `prepare` is
    /// never one a key's owner could be told about.)
    fn verify_digest<W: Waiting>(
        &self,
        scheme: Option<&str>,
        digest: &TokenDigest,
        requirement: &Requirement,
        resource: Option<&str>,
        spend: Spend,
    ) -> Result<Verification, Stop<W::GaveUp>> {
        let v = self.digest_steps::<W>(scheme, digest, requirement, resource, spend)?;
        if spend == Spend::Yes {
            self.count_refusal(&v);
        }
        Ok(v)
    }

    /// Counts a refusal of a known key in the usage history, in memory only
    /// (valid requests are counted where usage is recorded).
    fn count_refusal(&self, v: &Verification) {
        if v.outcome == Outcome::Valid {
            return;
        }
        if let (Some(key), Some(slot)) = (&v.key, history::slot(v.outcome)) {
            self.usage.refused(&key.id, slot, self.now());
        }
    }

    fn digest_steps<W: Waiting>(
        &self,
        scheme: Option<&str>,
        digest: &TokenDigest,
        requirement: &Requirement,
        resource: Option<&str>,
        spend: Spend,
    ) -> Result<Verification, Stop<W::GaveUp>> {
        let now = self.now();
        let Some(cached) = self.lookup::<W>(digest)? else {
            return Ok(self.outcome(Outcome::UnknownKey, "no key matches this token", scheme));
        };
        let key = &cached.key;
        let fail = |outcome: Outcome, detail: &str| {
            let mut v = self.outcome(outcome, detail, scheme);
            v.key = Some(Arc::clone(key));
            v
        };
        match key.status {
            Status::Active => {}
            Status::Inactive => return Ok(fail(Outcome::Inactive, "the key has been deactivated")),
            Status::Revoked => return Ok(fail(Outcome::Revoked, "the key has been revoked")),
        }
        if cached.secret_expires_at.is_some_and(|t| t <= now) {
            return Ok(fail(
                Outcome::Revoked,
                "the token was replaced by a rotation",
            ));
        }
        if key.is_expired(now) {
            return Ok(fail(Outcome::Expired, "the key has expired"));
        }
        if let (Some(bound), Some(wanted)) = (&key.resource, resource) {
            if bound != wanted {
                return Ok(fail(
                    Outcome::ForbiddenResource,
                    "the key is not valid for this resource",
                ));
            }
        }
        let missing = requirement.missing(&cached.scopes);
        if !missing.is_empty() {
            return Ok(self.insufficient_scope(key, missing, scheme));
        }
        if spend == Spend::No {
            return Ok(self.without_spending(&cached, now, scheme)?);
        }
        // Every step from here on has an effect (the rate limit counts,
        // credits are spent, usage is recorded): give up before the first
        // one if any would wait, never half-way through.
        may_wait::<W>(
            (cached.rate_limit.is_none() || self.limiter.is_local())
                && key.remaining.is_none()
                && self.usage.records_in_memory(),
        )?;
        let rate = match &cached.rate_limit {
            Some(limit) => Some(self.limiter.check(&key.id, limit, now)?),
            None => None,
        };
        if let Some(r) = rate.filter(|r| !r.allowed) {
            let mut v = fail(Outcome::RateLimited, "the key's rate limit is exhausted");
            v.rate = Some(r);
            return Ok(v);
        }
        let mut key = Arc::clone(key);
        if key.remaining.is_some() {
            match self.store.consume_credit(&key.id)? {
                Some(left) => Arc::make_mut(&mut key).remaining = Some(left),
                None => {
                    let mut v = fail(Outcome::UsageExceeded, "the key has no credits left");
                    v.rate = rate;
                    return Ok(v);
                }
            }
        }
        self.usage.record(&key.id, now)?;
        let mut v = self.outcome(Outcome::Valid, "", scheme);
        v.key = Some(key);
        v.rate = rate;
        Ok(v)
    }

    /// The end of a verification that spends nothing: the rate limit as the
    /// limiter sees it without counting, credits as the key record holds them.
    fn without_spending(
        &self,
        cached: &CachedKey,
        now: Millis,
        scheme: Option<&str>,
    ) -> Result<Verification, GateError> {
        // The cached record is as of the cache fill (another process's change
        // may not have reached us yet); this is a rare, manual check, so read
        // the key as it is now and let the fresh record decide: a key deleted,
        // revoked, deactivated or expired since must never be called valid.
        let Some(fresh) = self.store.get(&cached.key.id)? else {
            return Ok(self.outcome(Outcome::UnknownKey, "no key matches this token", scheme));
        };
        let key = Arc::new(fresh);
        let refused = match key.status {
            Status::Active if key.is_expired(now) => {
                Some((Outcome::Expired, "the key has expired"))
            }
            Status::Active => None,
            Status::Inactive => Some((Outcome::Inactive, "the key has been deactivated")),
            Status::Revoked => Some((Outcome::Revoked, "the key has been revoked")),
        };
        if let Some((outcome, detail)) = refused {
            let mut v = self.outcome(outcome, detail, scheme);
            v.key = Some(key);
            return Ok(v);
        }
        let rate = match &cached.rate_limit {
            Some(limit) => self.limiter.peek(&key.id, limit, now)?,
            None => None,
        };
        let (outcome, detail) = if rate.is_some_and(|r| !r.allowed) {
            (Outcome::RateLimited, "the key's rate limit is exhausted")
        } else if key.remaining == Some(0) {
            (Outcome::UsageExceeded, "the key has no credits left")
        } else {
            (Outcome::Valid, "")
        };
        let mut v = self.outcome(outcome, detail, scheme);
        v.key = Some(key);
        v.rate = rate;
        Ok(v)
    }

    /// Checks a request that already passed [`Gate::verify`] against a further
    /// requirement, for frameworks that authenticate once and declare scopes
    /// per route (`authenticate(gate), requireScopes(...)`). Usage and the
    /// rate limit were counted by `verify` and are not counted again. Returns
    /// `verified` unchanged when it failed or the requirement holds, else an
    /// `insufficient_scope` verification for the same key, which the usage
    /// history counts (the request stays counted as valid too: `verify`
    /// counted it in `usage_count`, which the history's valid counts match).
    pub fn authorize(&self, verified: &Verification, requirement: &Requirement) -> Verification {
        let Some(key) = verified.key.as_ref().filter(|_| verified.ok()) else {
            return verified.clone();
        };
        let held = ScopeSet::effective(&key.scopes, &self.policy.implications);
        let missing = requirement.missing(&held);
        if missing.is_empty() {
            return verified.clone();
        }
        let mut v = self.insufficient_scope(key, missing, verified.scheme.as_deref());
        v.rate = verified.rate;
        self.count_refusal(&v);
        v
    }

    fn insufficient_scope(
        &self,
        key: &Arc<KeyRecord>,
        missing: Vec<Scope>,
        scheme: Option<&str>,
    ) -> Verification {
        let detail = format!("the key lacks the required scope {}", list_scopes(&missing));
        let mut v = self.outcome(Outcome::InsufficientScope, detail, scheme);
        v.key = Some(Arc::clone(key));
        v.missing_scopes = missing;
        v
    }

    /// Finds the key for a digest through the cache, which remembers found
    /// keys and digests the store did not have alike. It is emptied whenever
    /// the store's epoch or this gate's own change counter moves, so a change
    /// committed anywhere (a new key included) is seen on the next call; both
    /// are read before the store, so a change racing with the fill is caught
    /// by the next call's check.
    fn lookup<W: Waiting>(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<Arc<CachedKey>>, Stop<W::GaveUp>> {
        let epoch = match W::give_up() {
            None => self.store.epoch()?,
            Some(gave_up) => self.store.epoch_now().ok_or(Stop::GaveUp(gave_up))?,
        };
        let validity = Some((epoch, self.local_changes.load(Ordering::Acquire)));
        {
            let mut cache = self.cache.lock();
            if cache.validity != validity {
                cache.entries.clear();
                cache.unknown.clear();
                cache.validity = validity;
            }
            if let Some(hit) = cache.entries.get(digest) {
                if hit.loaded_at.elapsed() < CACHE_TTL {
                    return Ok(Some(Arc::clone(hit)));
                }
            }
            if let Some(at) = cache.unknown.get(digest) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(None);
                }
            }
        }
        may_wait::<W>(false)?;
        let Some(Found {
            key,
            secret_expires_at,
        }) = self.store.find(digest)?
        else {
            let mut cache = self.cache.lock();
            if cache.validity == validity {
                if cache.unknown.len() >= MAX_CACHED_UNKNOWN {
                    cache.unknown.clear();
                }
                cache.unknown.insert(*digest, Instant::now());
            }
            return Ok(None);
        };
        let mut key = key;
        let effective = self.policy.effective_rate_limit(&key.kind, key.rate_limit);
        if key.effective_rate_limit != effective {
            // Copies only when the store shares the record (memory store).
            Arc::make_mut(&mut key).effective_rate_limit = effective;
        }
        let entry = Arc::new(CachedKey {
            loaded_at: Instant::now(),
            scopes: ScopeSet::effective(&key.scopes, &self.policy.implications),
            rate_limit: key.effective_rate_limit,
            secret_expires_at,
            key,
        });
        let mut cache = self.cache.lock();
        if cache.validity == validity {
            if cache.entries.len() >= MAX_CACHED_KEYS {
                cache.entries.clear();
            }
            cache.entries.insert(*digest, Arc::clone(&entry));
        }
        Ok(Some(entry))
    }

    // ----- usage history -----------------------------------------------------

    /// A key's history in `query`'s range: one bucket per step, ascending,
    /// zeros included, at most [`history::MAX_BUCKETS`]. Hourly buckets are
    /// refused for a range already rolled up into days. Usage counted by
    /// this process is written first so the answer includes it.
    pub fn usage(&self, key_id: &str, query: &UsageQuery) -> Result<Vec<UsageBucket>, GateError> {
        check_key_id(key_id)?;
        let hourly_before = self.usage.history_settings().hourly_before(self.now());
        let starts = query.bucket_starts(hourly_before)?;
        self.flush()?;
        if self.store.get(key_id)?.is_none() {
            return Err(GateError::NotFound(key_id.to_owned()));
        }
        let (first, end) = match (starts.first(), starts.last()) {
            (Some(&first), Some(&last)) => (first, last + query.step.millis()),
            _ => return Ok(Vec::new()),
        };
        let rows = self.store.usage_history(key_id, first, end)?;
        Ok(history::buckets(query, &starts, &rows))
    }

    /// Totals from `since` (rounded down to its hour) for each of `key_ids`
    /// (at most [`history::MAX_TOTALS_KEYS`]), in one store query. Every id
    /// asked for is in the answer; a key without history has zeros.
    pub fn usage_totals(
        &self,
        key_ids: &[String],
        since: clock::Millis,
    ) -> Result<HashMap<String, UsageTotals>, GateError> {
        if key_ids.len() > history::MAX_TOTALS_KEYS {
            return Err(GateError::InvalidArgument(format!(
                "usage totals: at most {} keys per call",
                history::MAX_TOTALS_KEYS
            )));
        }
        for id in key_ids {
            check_key_id(id)?;
        }
        self.flush()?;
        let mut totals: HashMap<String, UsageTotals> = key_ids
            .iter()
            .map(|id| (id.clone(), UsageTotals::default()))
            .collect();
        if key_ids.is_empty() {
            return Ok(totals);
        }
        let since = history::Step::Hour.floor(since);
        for row in self.store.usage_totals(key_ids, since)? {
            let Some(t) = totals.get_mut(&row.key_id) else {
                continue;
            };
            if row.outcome == Outcome::Valid.code() {
                t.valid = t.valid.saturating_add(row.n);
            } else if history::slot_of_code(&row.outcome).is_some() {
                let n = t.refused.entry(row.outcome).or_insert(0);
                *n = n.saturating_add(row.n);
                t.last_refused_at = Some(t.last_refused_at.map_or(row.last, |l| l.max(row.last)));
            }
        }
        Ok(totals)
    }

    /// Rolls hourly history up into days and prunes it now, by this gate's
    /// clock. The background flusher does this about hourly by itself; this
    /// is for tools and tests.
    pub fn compact_usage(&self) -> Result<(), GateError> {
        self.flush()?;
        Ok(self.usage.compact()?)
    }

    /// Writes usage counted in this process to the store. Also done on an
    /// interval, when the batch is large, before reads and when the gate is
    /// dropped, so a clean shutdown loses nothing.
    pub fn flush(&self) -> Result<(), GateError> {
        Ok(self.usage.flush()?)
    }
}

/// A request after the steps that need no key: its scheme (as the client
/// spelled it) and token digest, or the answer when one of them failed.
enum Prepared<'a> {
    Token(Option<&'a str>, TokenDigest),
    Answered(Verification),
}

/// What [`Gate::begin_verify`] gives: the answer, or the request waiting
/// for I/O.
#[derive(Debug)]
pub enum Begun {
    Done(Verification),
    Pending(PendingVerification),
}

/// A verification waiting for the store or a remote rate limiter: the
/// policy's scheme as the client spelled it and the token's digest, never
/// the token. Finish it with [`Gate::finish_verify`] on the gate that began it.
pub struct PendingVerification {
    scheme: Option<String>,
    digest: TokenDigest,
}

impl std::fmt::Debug for PendingVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest finds the key in the store: not for logs.
        f.debug_struct("PendingVerification")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Whether a verification records usage, counts the rate limit and spends
/// credits ([`Gate::verify`]) or only looks ([`Gate::verify_without_spending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spend {
    Yes,
    No,
}

fn invalid_state(key: &KeyRecord, action: &'static str) -> GateError {
    GateError::InvalidState {
        id: key.id.clone(),
        status: key.status.as_str(),
        action,
    }
}

fn list_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod authorize_tests {
    use super::*;

    #[test]
    fn authorize_checks_scopes_of_a_verified_key_without_counting_again() {
        let gate = Gate::open("memory://", None).unwrap();
        let issued = gate
            .issue(IssueRequest {
                name: "bot".into(),
                scopes: vec![Scope::parse("bots:write").unwrap()],
                ..IssueRequest::default()
            })
            .unwrap();
        let header = format!("Bearer {}", issued.token.expose());
        let v = gate
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert!(v.ok());
        let read = Requirement::all(&["bots:read"]).unwrap();
        assert!(gate.authorize(&v, &read).ok());
        let admin = Requirement::expr("admin or channels:write").unwrap();
        let denied = gate.authorize(&v, &admin);
        assert_eq!(denied.outcome, Outcome::InsufficientScope);
        assert_eq!(denied.missing_scopes.len(), 1);
        assert!(denied.key.is_some());
        assert!(denied.headers()[0].1.contains("insufficient_scope"));
        let missing = gate.verify(None, &Requirement::none(), None).unwrap();
        assert_eq!(
            gate.authorize(&missing, &read).outcome,
            Outcome::MissingCredentials
        );
        gate.flush().unwrap();
        assert_eq!(gate.get(&issued.key.id).unwrap().usage_count, 1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod rule_tests {
    use std::hash::BuildHasher;

    use super::*;

    fn cache_hash(digest: &TokenDigest) -> u64 {
        BuildHasherDefault::<DigestHasher>::default().hash_one(digest)
    }

    /// The cache's hasher takes the digest's leading bytes as they are, so
    /// every one of their bits must reach the hash: a hasher that lost some
    /// would pile keys into fewer buckets, and one that lost all would turn
    /// every lookup into a scan of the whole cache.
    #[test]
    fn every_leading_bit_of_a_digest_reaches_the_cache_hash() {
        let digest = TokenDigest::of("gp_example");
        let base = cache_hash(&digest);
        for bit in 0..64 {
            let mut flipped = digest;
            flipped.0[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(cache_hash(&flipped), base, "bit {bit}");
        }
        let distinct: std::collections::HashSet<u64> = (0..1_000)
            .map(|i| cache_hash(&TokenDigest::of(&i.to_string())))
            .collect();
        assert_eq!(distinct.len(), 1_000);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod without_spending_tests {
    use super::unknown_cache_tests::CountingStore;
    use super::*;

    /// Two gates on one store whose change notices have not arrived: the
    /// checking gate's cache still holds the key as it was.
    fn stale_pair() -> (Gate, Gate, Issued) {
        let store: Arc<dyn Store> = Arc::new(CountingStore::lagging());
        let checking = Gate::new(Arc::clone(&store), Policy::default());
        let other = Gate::new(store, Policy::default());
        let issued = checking
            .issue(IssueRequest {
                name: "checked by hand".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        (checking, other, issued)
    }

    fn check(gate: &Gate, issued: &Issued) -> Outcome {
        let header = format!("Bearer {}", issued.token.expose());
        gate.verify_without_spending(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap()
            .outcome
    }

    #[test]
    fn the_fresh_record_decides_over_a_stale_cache() {
        let (checking, other, issued) = stale_pair();
        assert_eq!(check(&checking, &issued), Outcome::Valid);
        other.revoke(&issued.key.id).unwrap();
        // The spending path still answers from its stale cache (the notice
        // lag the cache accepts); the check by hand must not.
        let header = format!("Bearer {}", issued.token.expose());
        let cached = checking.verify(Some(header.as_bytes()), &Requirement::none(), None);
        assert_eq!(cached.unwrap().outcome, Outcome::Valid);
        assert_eq!(check(&checking, &issued), Outcome::Revoked);

        let (checking, other, issued) = stale_pair();
        assert_eq!(check(&checking, &issued), Outcome::Valid);
        other.deactivate(&issued.key.id).unwrap();
        assert_eq!(check(&checking, &issued), Outcome::Inactive);

        let (checking, other, issued) = stale_pair();
        assert_eq!(check(&checking, &issued), Outcome::Valid);
        other.delete(&issued.key.id).unwrap();
        let header = format!("Bearer {}", issued.token.expose());
        let v = checking
            .verify_without_spending(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::UnknownKey);
        assert!(v.key.is_none());
    }

    /// A key whose expiry another process brought forward, and which has
    /// passed since, is expired to the check by hand even while the cached
    /// record still shows the old, later expiry (here: none).
    #[test]
    fn a_key_expired_since_the_cache_fill_is_expired() {
        let clock = crate::clock::ManualClock::new(1_800_000_000_000);
        let store: Arc<dyn Store> = Arc::new(CountingStore::lagging());
        let checking = Gate::new(Arc::clone(&store), Policy::default()).with_clock(clock.clone());
        let other = Gate::new(store, Policy::default()).with_clock(clock.clone());
        let issued = checking
            .issue(IssueRequest {
                name: "shortened".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        assert_eq!(issued.key.expires_at, None);
        assert_eq!(check(&checking, &issued), Outcome::Valid);
        other
            .update(
                &issued.key.id,
                KeyUpdate {
                    expires_in: Some(Duration::from_secs(60)),
                    ..KeyUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(check(&checking, &issued), Outcome::Valid);
        clock.advance_ms(60_000);
        assert_eq!(check(&checking, &issued), Outcome::Expired);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unknown_cache_tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::store::{Change, MemoryStore, UsageDelta};

    /// A memory store that counts how often verification reads it.
    #[derive(Debug, Default)]
    pub(super) struct CountingStore {
        inner: MemoryStore,
        finds: AtomicUsize,
        /// The epoch never moves, as when another process's change notice
        /// has not arrived yet: a gate's cache stays as it was filled.
        lagging: bool,
    }

    impl CountingStore {
        pub(super) fn lagging() -> Self {
            Self {
                lagging: true,
                ..Self::default()
            }
        }
    }

    impl Store for CountingStore {
        fn insert(
            &self,
            key: &KeyRecord,
            digest: &TokenDigest,
            event: &Event,
        ) -> Result<(), crate::StoreError> {
            self.inner.insert(key, digest, event)
        }
        fn get(&self, id: &str) -> Result<Option<KeyRecord>, crate::StoreError> {
            self.inner.get(id)
        }
        fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, crate::StoreError> {
            self.finds.fetch_add(1, Ordering::SeqCst);
            self.inner.find(digest)
        }
        fn list(&self, query: &ListQuery) -> Result<Vec<KeyRecord>, crate::StoreError> {
            self.inner.list(query)
        }
        fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
            self.inner.modify(id, change)
        }
        fn rotate(
            &self,
            id: &str,
            new_digest: &TokenDigest,
            old_until: Millis,
            change: Change<'_>,
        ) -> Result<KeyRecord, GateError> {
            self.inner.rotate(id, new_digest, old_until, change)
        }
        fn delete(&self, id: &str, event: &Event) -> Result<bool, crate::StoreError> {
            self.inner.delete(id, event)
        }
        fn events(
            &self,
            filter: &audit::EventFilter,
        ) -> Result<Vec<audit::StoredEvent>, crate::StoreError> {
            self.inner.events(filter)
        }
        fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, crate::StoreError> {
            self.inner.prune_events(before, batch)
        }
        fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), crate::StoreError> {
            self.inner.add_usage(batch)
        }
        fn usage_history(
            &self,
            key_id: &str,
            since: Millis,
            until: Millis,
        ) -> Result<Vec<crate::history::HistoryRow>, crate::StoreError> {
            self.inner.usage_history(key_id, since, until)
        }
        fn usage_totals(
            &self,
            key_ids: &[String],
            since: Millis,
        ) -> Result<Vec<crate::history::TotalsRow>, crate::StoreError> {
            self.inner.usage_totals(key_ids, since)
        }
        fn compact_usage(
            &self,
            hourly_before: Millis,
            keep_after: Millis,
        ) -> Result<(), crate::StoreError> {
            self.inner.compact_usage(hourly_before, keep_after)
        }
        fn consume_credit(&self, id: &str) -> Result<Option<u64>, crate::StoreError> {
            self.inner.consume_credit(id)
        }
        fn epoch(&self) -> Result<u64, crate::StoreError> {
            if self.lagging {
                return Ok(0);
            }
            self.inner.epoch()
        }
        fn epoch_now(&self) -> Option<u64> {
            if self.lagging {
                return Some(0);
            }
            self.inner.epoch_now()
        }
    }

    fn counted() -> (Arc<CountingStore>, Gate) {
        let store = Arc::new(CountingStore::default());
        let gate = Gate::new(Arc::clone(&store) as Arc<dyn Store>, Policy::default());
        (store, gate)
    }

    fn outcome(gate: &Gate, token: &Token) -> Outcome {
        gate.verify(Some(token.expose().as_bytes()), &Requirement::none(), None)
            .unwrap()
            .outcome
    }

    #[test]
    fn a_repeated_unknown_token_reads_the_store_once() {
        let (store, gate) = counted();
        let unknown = Token::mint("gp").unwrap();
        for _ in 0..5 {
            assert_eq!(outcome(&gate, &unknown), Outcome::UnknownKey);
        }
        assert_eq!(store.finds.load(Ordering::SeqCst), 1);
        // Answered from memory, so also without waiting.
        let v = gate
            .verify_in_memory(
                Some(unknown.expose().as_bytes()),
                &Requirement::none(),
                None,
            )
            .unwrap();
        assert_eq!(v.map(|v| v.outcome), Some(Outcome::UnknownKey));
        // Another unknown token is another read.
        assert_eq!(
            outcome(&gate, &Token::mint("gp").unwrap()),
            Outcome::UnknownKey
        );
        assert_eq!(store.finds.load(Ordering::SeqCst), 2);
    }

    /// The table remembers many unknown tokens at once, not only the last:
    /// a client cycling through a few bad tokens reads the store once each.
    #[test]
    fn different_unknown_tokens_are_remembered_together() {
        let (store, gate) = counted();
        let tokens: Vec<Token> = (0..3).map(|_| Token::mint("gp").unwrap()).collect();
        for _ in 0..3 {
            for token in &tokens {
                assert_eq!(outcome(&gate, token), Outcome::UnknownKey);
            }
        }
        assert_eq!(store.finds.load(Ordering::SeqCst), tokens.len());
    }

    #[test]
    fn a_key_stored_for_a_remembered_unknown_token_is_found_at_once() {
        let (store, gate) = counted();
        let token = Token::mint("gp").unwrap();
        assert_eq!(outcome(&gate, &token), Outcome::UnknownKey);
        assert_eq!(outcome(&gate, &token), Outcome::UnknownKey);
        // The store gains a key for that very digest behind the gate's back,
        // as another process (or an import) would write it.
        let mut record = gate
            .issue(IssueRequest {
                name: "template".into(),
                ..IssueRequest::default()
            })
            .unwrap()
            .key;
        record.id = token::new_key_id();
        record.start = token.start();
        let event = Event::new(
            Action::Issued,
            &record,
            record.created_at,
            &Actor::new("test"),
            serde_json::Map::new(),
        );
        store.insert(&record, &token.digest(), &event).unwrap();
        assert_eq!(outcome(&gate, &token), Outcome::Valid);
        // And so is a fresh issue or rotation through the gate.
        let issued = gate
            .issue(IssueRequest {
                name: "new".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        assert_eq!(outcome(&gate, &issued.token), Outcome::Valid);
        let rotated = gate.rotate(&issued.key.id, Duration::ZERO).unwrap();
        assert_eq!(outcome(&gate, &rotated.token), Outcome::Valid);
    }

    #[test]
    fn a_deleted_key_is_unknown_at_once_and_then_remembered() {
        let (store, gate) = counted();
        let issued = gate
            .issue(IssueRequest {
                name: "gone".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        assert_eq!(outcome(&gate, &issued.token), Outcome::Valid);
        gate.delete(&issued.key.id).unwrap();
        let before = store.finds.load(Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(outcome(&gate, &issued.token), Outcome::UnknownKey);
        }
        assert_eq!(store.finds.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn a_flood_of_different_unknown_tokens_stays_bounded() {
        let (store, gate) = counted();
        let flood = 3 * MAX_CACHED_UNKNOWN + 17;
        for i in 0..flood {
            let token = Token::mint("gp").unwrap();
            assert_eq!(outcome(&gate, &token), Outcome::UnknownKey, "{i}");
            let cache = gate.cache.lock();
            assert!(cache.unknown.len() <= MAX_CACHED_UNKNOWN, "{i}");
            // The table never reallocates past its first full size.
            assert!(cache.unknown.capacity() <= MAX_CACHED_UNKNOWN, "{i}");
        }
        assert_eq!(store.finds.load(Ordering::SeqCst), flood);
        // The most recent ones are still remembered.
        let token = Token::mint("gp").unwrap();
        assert_eq!(outcome(&gate, &token), Outcome::UnknownKey);
        assert_eq!(outcome(&gate, &token), Outcome::UnknownKey);
        assert_eq!(store.finds.load(Ordering::SeqCst), flood + 1);
    }
}

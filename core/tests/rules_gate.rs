//! The gate's rules, one statement per test: each invalid field of a request
//! is refused at its exact bound, expiries at their edges, pages of exactly
//! the limit, the cache answering repeat requests and emptied by a change made
//! through the gate before the store's own notice, exact response headers and
//! details. Written so that breaking any one rule in `core/src/gate.rs` fails a
//! test (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatepass_core::audit::{Event, EventFilter, StoredEvent};
use gatepass_core::clock::ManualClock;
use gatepass_core::key::{KeyRecord, KeyUpdate, ListQuery};
use gatepass_core::store::{Change, Found, MemoryStore, Store, UsageDelta};
use gatepass_core::token::TokenDigest;
use gatepass_core::{
    Gate, GateError, IssueRequest, Issued, Outcome, Policy, Requirement, Scope, Status, StoreError,
};

const T0: i64 = 1_800_000_000_000;
const DAY_MS: i64 = 86_400_000;

const POLICY: &str = r#"
realm = "bots"
scopes = ["bots:read", "bots:write", "channels:read"]
default_kind = "personal"

[kinds.personal]
prefix = "gp_pat"
max_lifetime = "365d"
default_lifetime = "90d"

[kinds.service]
prefix = "gp_svc"
max_lifetime = "30d"

[kinds.limited]
prefix = "gp_lim"
rate_limit = "3/minute"
"#;

/// A store whose change notice lags, as a Postgres store's does until its
/// `NOTIFY` arrives: the epoch stays put unless the test moves it. It counts
/// the lookups that reach it, which shows when the gate's cache answered.
#[derive(Debug, Default)]
struct LaggingStore {
    inner: MemoryStore,
    epoch: AtomicU64,
    finds: AtomicU64,
}

impl LaggingStore {
    fn finds(&self) -> u64 {
        self.finds.load(Ordering::SeqCst)
    }
}

impl Store for LaggingStore {
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.inner.insert(key, digest, event)
    }
    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get(id)
    }
    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(digest)
    }
    fn list(&self, query: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(query)
    }
    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        self.inner.modify(id, change)
    }
    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: i64,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        self.inner.rotate(id, new_digest, old_until, change)
    }
    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        self.inner.delete(id, event)
    }
    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events(filter)
    }
    fn prune_events(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        self.inner.prune_events(before, batch)
    }
    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        self.inner.add_usage(batch)
    }
    fn usage_history(
        &self,
        key_id: &str,
        since: gatepass_core::clock::Millis,
        until: gatepass_core::clock::Millis,
    ) -> Result<Vec<gatepass_core::history::HistoryRow>, StoreError> {
        self.inner.usage_history(key_id, since, until)
    }
    fn usage_totals(
        &self,
        key_ids: &[String],
        since: gatepass_core::clock::Millis,
    ) -> Result<Vec<gatepass_core::history::TotalsRow>, StoreError> {
        self.inner.usage_totals(key_ids, since)
    }
    fn compact_usage(
        &self,
        hourly_before: gatepass_core::clock::Millis,
        keep_after: gatepass_core::clock::Millis,
    ) -> Result<(), StoreError> {
        self.inner.compact_usage(hourly_before, keep_after)
    }
    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.inner.consume_credit(id)
    }
    fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.epoch.load(Ordering::SeqCst))
    }
    fn epoch_now(&self) -> Option<u64> {
        Some(self.epoch.load(Ordering::SeqCst))
    }
}

struct Fixture {
    gate: Gate,
    store: Arc<LaggingStore>,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fixture {
    let store = Arc::new(LaggingStore::default());
    let clock = ManualClock::new(T0);
    let gate =
        Gate::new(store.clone(), Policy::from_toml(POLICY).unwrap()).with_clock(clock.clone());
    Fixture { gate, store, clock }
}

fn scopes(list: &[&str]) -> Vec<Scope> {
    list.iter().map(|s| Scope::parse(s).unwrap()).collect()
}

fn request(name: &str) -> IssueRequest {
    IssueRequest {
        name: name.into(),
        scopes: scopes(&["bots:read"]),
        ..IssueRequest::default()
    }
}

fn issue(gate: &Gate) -> Issued {
    gate.issue(request("bot")).unwrap()
}

fn bearer(t: &Issued) -> Vec<u8> {
    format!("Bearer {}", t.token.expose()).into_bytes()
}

fn verify(gate: &Gate, t: &Issued) -> gatepass_core::Verification {
    gate.verify(Some(&bearer(t)), &Requirement::none(), None)
        .unwrap()
}

fn code(result: Result<impl std::fmt::Debug, GateError>) -> &'static str {
    result.unwrap_err().code()
}

// ----- input validation -------------------------------------------------------

#[test]
fn a_name_of_1_to_200_bytes_without_control_characters_is_accepted() {
    let g = fixture().gate;
    assert!(g.issue(request("a")).is_ok());
    assert!(g.issue(request(&"n".repeat(200))).is_ok());
    for bad in [
        String::new(),
        "n".repeat(201),
        "line\nbreak".into(),
        "tab\there".into(),
        "del\u{7f}".into(),
        "c1\u{85}".into(),
    ] {
        assert_eq!(code(g.issue(request(&bad))), "invalid_argument", "{bad:?}");
    }
    let e = g.issue(request("")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "name must be 1 to 200 bytes without control characters"
    );
}

#[test]
fn subject_and_resource_are_each_checked_when_given() {
    let g = fixture().gate;
    let with = |subject: Option<&str>, resource: Option<&str>| {
        g.issue(IssueRequest {
            subject: subject.map(str::to_owned),
            resource: resource.map(str::to_owned),
            ..request("bot")
        })
    };
    let at_max = "s".repeat(256);
    assert!(with(None, None).is_ok());
    assert!(with(Some(&at_max), Some(&at_max)).is_ok());
    for bad in [String::new(), "s".repeat(257), "a\u{0}b".into()] {
        let e = with(Some(&bad), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "subject must be 1 to 256 bytes without control characters"
        );
        let e = with(None, Some(&bad)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "resource must be 1 to 256 bytes without control characters"
        );
    }
}

#[test]
fn a_new_name_on_update_is_checked_like_a_name_on_issue() {
    let g = fixture().gate;
    let t = issue(&g);
    let rename = |name: String| {
        g.update(
            &t.key.id,
            KeyUpdate {
                name: Some(name),
                ..KeyUpdate::default()
            },
        )
    };
    assert_eq!(rename("n".repeat(200)).unwrap().name, "n".repeat(200));
    assert_eq!(code(rename(String::new())), "invalid_argument");
    assert_eq!(code(rename("n".repeat(201))), "invalid_argument");
    assert_eq!(code(rename("a\rb".into())), "invalid_argument");
    assert_eq!(g.get(&t.key.id).unwrap().name, "n".repeat(200));
}

#[test]
fn a_route_naming_a_scope_outside_the_catalogue_is_refused_at_declaration() {
    let g = fixture().gate;
    assert!(g
        .check_requirement(&Requirement::expr("bots:read or channels:read").unwrap())
        .is_ok());
    assert_eq!(
        code(g.check_requirement(&Requirement::all(&["bots:raed"]).unwrap())),
        "unknown_scope"
    );
    assert_eq!(
        code(g.check_requirement(&Requirement::expr("bots:read and users:read").unwrap())),
        "unknown_scope"
    );
}

#[test]
fn the_gate_reports_its_policy_and_its_clock() {
    let f = fixture();
    assert_eq!(f.gate.policy().realm, "bots");
    assert_eq!(f.gate.policy().kinds().len(), 3);
    assert_eq!(f.gate.now(), T0);
    f.clock.advance_ms(5);
    assert_eq!(f.gate.now(), T0 + 5);
}

// ----- expiry -----------------------------------------------------------------

#[test]
fn an_expiry_exactly_at_the_maximum_lifetime_is_accepted_and_one_millisecond_more_is_not() {
    let g = fixture().gate;
    let at = |expires_at: i64| {
        g.issue(IssueRequest {
            expires_at: Some(expires_at),
            ..request("bot")
        })
    };
    assert_eq!(
        at(T0 + 365 * DAY_MS).unwrap().key.expires_at,
        Some(T0 + 365 * DAY_MS)
    );
    assert_eq!(code(at(T0 + 365 * DAY_MS + 1)), "lifetime_exceeded");
    let e = at(T0 + 365 * DAY_MS + 1).unwrap_err();
    assert!(e.to_string().contains("\"personal\""), "{e}");
    let within = g
        .issue(IssueRequest {
            expires_in: Some(Duration::from_secs(365 * 86_400)),
            ..request("bot")
        })
        .unwrap();
    assert_eq!(within.key.expires_at, Some(T0 + 365 * DAY_MS));
}

#[test]
fn an_expiry_must_be_in_the_future() {
    let g = fixture().gate;
    let at = |expires_at: i64| {
        g.issue(IssueRequest {
            expires_at: Some(expires_at),
            ..request("bot")
        })
    };
    assert_eq!(code(at(T0)), "invalid_argument");
    assert_eq!(code(at(T0 - 1)), "invalid_argument");
    assert_eq!(at(T0 + 1).unwrap().key.expires_at, Some(T0 + 1));
    assert_eq!(
        at(T0).unwrap_err().to_string(),
        "expiry must be in the future"
    );
    // An absolute expiry wins over a lifetime.
    let both = g
        .issue(IssueRequest {
            expires_at: Some(T0 + 10),
            expires_in: Some(Duration::from_secs(60)),
            ..request("bot")
        })
        .unwrap();
    assert_eq!(both.key.expires_at, Some(T0 + 10));
}

#[test]
fn without_a_default_lifetime_a_kind_with_a_maximum_uses_the_maximum() {
    let g = fixture().gate;
    let svc = g
        .issue(IssueRequest {
            kind: Some("service".into()),
            ..request("bot")
        })
        .unwrap();
    assert_eq!(svc.key.expires_at, Some(T0 + 30 * DAY_MS));
    let personal = issue(&g);
    assert_eq!(personal.key.expires_at, Some(T0 + 90 * DAY_MS));
    let unbounded = g
        .issue(IssueRequest {
            kind: Some("limited".into()),
            ..request("bot")
        })
        .unwrap();
    assert_eq!(unbounded.key.expires_at, None);
}

#[test]
fn removing_the_expiry_of_a_kind_with_a_maximum_is_refused() {
    let g = fixture().gate;
    let t = issue(&g);
    let set = |expiry: Option<i64>| {
        g.update(
            &t.key.id,
            KeyUpdate {
                expires_at: Some(expiry),
                ..KeyUpdate::default()
            },
        )
    };
    assert_eq!(code(set(None)), "lifetime_exceeded");
    assert_eq!(code(set(Some(T0 + 365 * DAY_MS + 1))), "lifetime_exceeded");
    assert_eq!(
        set(Some(T0 + DAY_MS)).unwrap().expires_at,
        Some(T0 + DAY_MS)
    );
    assert_eq!(g.get(&t.key.id).unwrap().expires_at, Some(T0 + DAY_MS));
}

// ----- listing ----------------------------------------------------------------

#[test]
fn a_page_of_exactly_the_limit_has_no_next_page() {
    let f = fixture();
    let g = &f.gate;
    for _ in 0..3 {
        issue(g);
        f.clock.advance_ms(1);
    }
    let all = g.list(None, None, None, None, 3).unwrap();
    assert_eq!(all.keys.len(), 3);
    assert_eq!(all.next, None);
    let first = g.list(None, None, None, None, 2).unwrap();
    assert_eq!(first.keys.len(), 2);
    let next = first.next.unwrap();
    let rest = g.list(None, None, None, Some(&next), 2).unwrap();
    assert_eq!(rest.keys.len(), 1);
    assert_eq!(rest.next, None);
    assert_eq!(rest.keys[0].id, all.keys[2].id);
    // A limit of zero still returns one key.
    assert_eq!(g.list(None, None, None, None, 0).unwrap().keys.len(), 1);
}

#[test]
fn a_page_holds_at_most_a_thousand_keys() {
    let g = fixture().gate;
    for _ in 0..1_001 {
        issue(&g);
    }
    let page = g.list(None, None, None, None, 5_000).unwrap();
    assert_eq!(page.keys.len(), 1_000);
    assert!(page.next.is_some());
}

// ----- the cache --------------------------------------------------------------

#[test]
fn a_repeated_verification_is_answered_from_the_cache() {
    let f = fixture();
    let a = issue(&f.gate);
    let b = issue(&f.gate);
    assert!(verify(&f.gate, &a).ok());
    assert!(verify(&f.gate, &a).ok());
    assert_eq!(f.store.finds(), 1);
    // Many keys share the cache: a second key does not push out the first.
    assert!(verify(&f.gate, &b).ok());
    assert!(verify(&f.gate, &a).ok());
    assert!(verify(&f.gate, &b).ok());
    assert_eq!(f.store.finds(), 2);
    // An unknown token is looked up once, then remembered as unknown until
    // the store's epoch moves (the negative cache).
    let unknown = gatepass_core::Token::mint("gp_pat").unwrap();
    let header = format!("Bearer {}", unknown.expose());
    for _ in 0..2 {
        let v = f
            .gate
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::UnknownKey);
    }
    assert_eq!(f.store.finds(), 3);
}

#[test]
fn a_change_in_the_store_is_seen_once_its_epoch_moves() {
    let f = fixture();
    let a = issue(&f.gate);
    assert!(verify(&f.gate, &a).ok());
    // Another process revokes the key; its notice has not arrived yet.
    let other = Gate::new(f.store.clone(), Policy::from_toml(POLICY).unwrap());
    other.revoke(&a.key.id).unwrap();
    assert_eq!(f.store.finds(), 1);
    f.store.epoch.fetch_add(1, Ordering::SeqCst);
    assert_eq!(verify(&f.gate, &a).outcome, Outcome::Revoked);
    assert_eq!(f.store.finds(), 2);
}

#[test]
fn a_change_made_through_the_gate_empties_its_cache_before_the_store_says_so() {
    let f = fixture();
    let g = &f.gate;
    let a = issue(g);
    let read = Requirement::all(&["bots:read"]).unwrap();
    let check = |req: &Requirement| g.verify(Some(&bearer(&a)), req, None).unwrap().outcome;
    assert_eq!(check(&read), Outcome::Valid);
    g.deactivate(&a.key.id).unwrap();
    assert_eq!(check(&read), Outcome::Inactive);
    g.activate(&a.key.id).unwrap();
    assert_eq!(check(&read), Outcome::Valid);
    g.update(
        &a.key.id,
        KeyUpdate {
            scopes: Some(scopes(&["channels:read"])),
            ..KeyUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(check(&read), Outcome::InsufficientScope);
    let rotated = g.rotate(&a.key.id, Duration::ZERO).unwrap();
    assert_eq!(check(&read), Outcome::Revoked);
    assert_eq!(verify(g, &rotated).outcome, Outcome::Valid);
    g.revoke(&a.key.id).unwrap();
    assert_eq!(verify(g, &rotated).outcome, Outcome::Revoked);
    let b = issue(g);
    assert!(verify(g, &b).ok());
    g.delete(&b.key.id).unwrap();
    assert_eq!(verify(g, &b).outcome, Outcome::UnknownKey);
    // The store's epoch never moved: only the gate's own changes did this.
    assert_eq!(f.store.epoch().unwrap(), 0);
}

// ----- lifecycle --------------------------------------------------------------

#[test]
fn revoking_is_final_and_stamped_and_deactivating_is_neither() {
    let f = fixture();
    let g = &f.gate;
    let t = issue(g);
    f.clock.advance_ms(10);
    let off = g.deactivate(&t.key.id).unwrap();
    assert_eq!(off.status, Status::Inactive);
    assert_eq!(off.revoked_at, None);
    assert_eq!(off.updated_at, T0 + 10);
    f.clock.advance_ms(10);
    let revoked = g.revoke(&t.key.id).unwrap();
    assert_eq!(revoked.status, Status::Revoked);
    assert_eq!(revoked.revoked_at, Some(T0 + 20));
    f.clock.advance_ms(10);
    // Revoking twice is not an error and keeps the first stamp.
    assert_eq!(g.revoke(&t.key.id).unwrap().revoked_at, Some(T0 + 20));
    let e = g.activate(&t.key.id).unwrap_err();
    assert_eq!(e.code(), "invalid_state");
    assert_eq!(
        e.to_string(),
        format!("key {} is revoked; cannot activate", t.key.id)
    );
    assert_eq!(code(g.deactivate(&t.key.id)), "invalid_state");
    assert_eq!(code(g.rotate(&t.key.id, Duration::ZERO)), "invalid_state");
    assert_eq!(
        code(g.update(&t.key.id, KeyUpdate::default())),
        "invalid_state"
    );
    assert_eq!(code(g.revoke("key_0000000000000000")), "not_found");
    assert_eq!(
        code(g.rotate("key_0000000000000000", Duration::ZERO)),
        "not_found"
    );
}

#[test]
fn an_old_secret_works_until_exactly_the_end_of_its_grace() {
    let f = fixture();
    let g = &f.gate;
    let t = issue(g);
    let r = g.rotate(&t.key.id, Duration::from_secs(60)).unwrap();
    assert_eq!(r.key.id, t.key.id);
    assert_eq!(r.key.start, r.token.start());
    assert_ne!(r.token.expose(), t.token.expose());
    f.clock.advance_ms(59_999);
    assert!(verify(g, &t).ok());
    f.clock.advance_ms(1);
    let v = verify(g, &t);
    assert_eq!(v.outcome, Outcome::Revoked);
    assert_eq!(v.detail, "the token was replaced by a rotation");
    assert!(verify(g, &r).ok());
}

#[test]
fn a_key_expires_exactly_at_its_expiry() {
    let f = fixture();
    let g = &f.gate;
    let t = g
        .issue(IssueRequest {
            expires_at: Some(T0 + 1_000),
            ..request("bot")
        })
        .unwrap();
    f.clock.advance_ms(999);
    assert!(verify(g, &t).ok());
    f.clock.advance_ms(1);
    let v = verify(g, &t);
    assert_eq!(v.outcome, Outcome::Expired);
    assert_eq!(v.detail, "the key has expired");
}

// ----- what a verification reports -------------------------------------------

#[test]
fn a_rate_limited_key_reports_exact_ratelimit_headers() {
    let f = fixture();
    let g = &f.gate;
    let t = g
        .issue(IssueRequest {
            kind: Some("limited".into()),
            ..request("bot")
        })
        .unwrap();
    // 3/minute: one request every 20 s.
    let v = verify(g, &t);
    assert!(v.ok());
    assert_eq!(
        v.headers(),
        [
            ("RateLimit-Policy".to_owned(), "\"key\";q=3;w=60".to_owned()),
            ("RateLimit".to_owned(), "\"key\";r=2;t=20".to_owned()),
        ]
    );
    assert!(verify(g, &t).ok());
    assert!(verify(g, &t).ok());
    let denied = verify(g, &t);
    assert_eq!(denied.outcome, Outcome::RateLimited);
    assert_eq!(denied.detail, "the key's rate limit is exhausted");
    let headers = denied.headers();
    assert!(headers.contains(&("Retry-After".to_owned(), "20".to_owned())));
    assert!(headers.contains(&("RateLimit".to_owned(), "\"key\";r=0;t=60".to_owned())));
    // A key's own limit overrides its kind's.
    let own = g
        .issue(IssueRequest {
            kind: Some("limited".into()),
            rate_limit: Some("10/second".parse().unwrap()),
            ..request("bot")
        })
        .unwrap();
    let v = verify(g, &own);
    assert_eq!(v.rate.unwrap().limit.to_string(), "10/second");
    assert!(v
        .headers()
        .contains(&("RateLimit-Policy".to_owned(), "\"key\";q=10;w=1".to_owned())));
    // A key of a kind without a limit reports none.
    assert_eq!(verify(g, &issue(g)).rate, None);
}

#[test]
fn a_missing_scope_is_named_in_the_detail_and_the_challenge() {
    let f = fixture();
    let g = &f.gate;
    let t = issue(g);
    let req = Requirement::all(&["bots:write", "channels:read"]).unwrap();
    let v = g
        .verify(
            Some(format!("bearer {}", t.token.expose()).as_bytes()),
            &req,
            None,
        )
        .unwrap();
    assert_eq!(v.outcome, Outcome::InsufficientScope);
    assert_eq!(
        v.detail,
        "the key lacks the required scope bots:write, channels:read"
    );
    assert_eq!(v.scheme.as_deref(), Some("Bearer"));
    assert_eq!(v.key.as_ref().unwrap().id, t.key.id);
    assert_eq!(
        v.headers()[0].1,
        "Bearer realm=\"bots\", error=\"insufficient_scope\", scope=\"bots:write channels:read\""
    );
    // A bare token names no scheme.
    let bare = g
        .verify(Some(t.token.expose().as_bytes()), &req, None)
        .unwrap();
    assert_eq!(bare.scheme, None);
}

#[test]
fn a_header_error_names_the_scheme_only_when_the_token_was_missing() {
    let g = fixture().gate;
    let v = g
        .verify(Some(b"bearer"), &Requirement::none(), None)
        .unwrap();
    assert_eq!(v.outcome, Outcome::InvalidRequest);
    assert_eq!(v.scheme.as_deref(), Some("Bearer"));
    let v = g
        .verify(Some(b"Bearer a b"), &Requirement::none(), None)
        .unwrap();
    assert_eq!(v.outcome, Outcome::InvalidRequest);
    assert_eq!(v.scheme, None);
    let v = g
        .verify(Some(b"Basic abc"), &Requirement::none(), None)
        .unwrap();
    assert_eq!(v.outcome, Outcome::MissingCredentials);
    assert_eq!(v.scheme, None);
}

#[test]
fn a_key_bound_to_a_resource_is_refused_elsewhere_only() {
    let g = fixture().gate;
    let t = g
        .issue(IssueRequest {
            resource: Some("channel:1".into()),
            ..request("bot")
        })
        .unwrap();
    let on = |resource: Option<&str>| {
        g.verify(Some(&bearer(&t)), &Requirement::none(), resource)
            .unwrap()
            .outcome
    };
    assert_eq!(on(Some("channel:1")), Outcome::Valid);
    assert_eq!(on(Some("channel:2")), Outcome::ForbiddenResource);
    assert_eq!(on(None), Outcome::Valid);
    // An unbound key is valid on every resource.
    let free = issue(&g);
    let v = g
        .verify(
            Some(&bearer(&free)),
            &Requirement::none(),
            Some("channel:2"),
        )
        .unwrap();
    assert!(v.ok());
}

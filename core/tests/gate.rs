//! Lifecycle and verification, on `memory://` and on a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::clock::ManualClock;
use gatepass_core::key::KeyUpdate;
use gatepass_core::store::{self, MemoryStore, SqliteStore, Store};
use gatepass_core::{Gate, IssueRequest, Issued, Outcome, Policy, Requirement, Scope, Status};

mod common;

const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

const POLICY: &str = r#"
realm = "bots"
scopes = ["bots:read", "bots:write", "channels:read", "channels:write", "conversations:read"]
default_kind = "personal"

[kinds.personal]
prefix = "gp_pat"
max_lifetime = "365d"
default_lifetime = "90d"

[kinds.channel]
prefix = "gp_ch"
scopes = ["conversations:*", "channels:read"]
rate_limit = "3/minute"
"#;

struct Fixture {
    gate: Gate,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

/// Every store: memory, a real SQLite file, and a fresh schema on the real
/// Postgres server when `scripts/services.sh` started one.
fn fixtures() -> Vec<(&'static str, Fixture)> {
    fixtures_with(POLICY)
}

fn fixtures_with(policy: &str) -> Vec<(&'static str, Fixture)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("gp.db")).unwrap());
    let mut all = vec![
        (
            "memory",
            fixture_with(Arc::new(MemoryStore::new()), None, policy),
        ),
        ("sqlite", fixture_with(sqlite, Some(dir), policy)),
    ];
    if let Some(url) = common::fresh_postgres_schema() {
        all.push((
            "postgres",
            fixture_with(store::open(&url).unwrap(), None, policy),
        ));
    }
    all
}

fn fixture(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> Fixture {
    fixture_with(store, dir, POLICY)
}

fn fixture_with(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>, policy: &str) -> Fixture {
    let clock = ManualClock::new(T0);
    let gate = Gate::new(store, Policy::from_toml(policy).unwrap()).with_clock(clock.clone());
    Fixture {
        gate,
        clock,
        _dir: dir,
    }
}

fn scopes(list: &[&str]) -> Vec<Scope> {
    list.iter().map(|s| Scope::parse(s).unwrap()).collect()
}

fn issue(gate: &Gate, list: &[&str]) -> Issued {
    gate.issue(IssueRequest {
        name: "Production Server".into(),
        scopes: scopes(list),
        subject: Some("agent_42".into()),
        ..Default::default()
    })
    .unwrap()
}

fn issue_with_credits(gate: &Gate, credits: u64) -> Issued {
    gate.issue(IssueRequest {
        name: "paid".into(),
        remaining: Some(credits),
        ..Default::default()
    })
    .unwrap()
}

fn bearer(t: &Issued) -> Vec<u8> {
    format!("Bearer {}", t.token.expose()).into_bytes()
}

fn check(gate: &Gate, header: &[u8], req: &Requirement) -> Outcome {
    gate.verify(Some(header), req, None).unwrap().outcome
}

#[test]
fn issue_returns_token_once_and_stores_a_record() {
    for (name, f) in fixtures() {
        let issued = issue(&f.gate, &["bots:read"]);
        let key = f.gate.get(&issued.key.id).unwrap();
        assert_eq!(key, issued.key, "{name}");
        assert_eq!(key.kind, "personal");
        assert!(issued.token.expose().starts_with("gp_pat_"));
        assert_eq!(key.start, issued.token.start());
        assert_eq!(
            key.expires_at,
            Some(T0 + 90 * 24 * HOUR),
            "default lifetime"
        );
        assert_eq!(key.status, Status::Active);
        assert!(
            !format!("{issued:?}").contains(&issued.token.expose()[10..]),
            "{name}: Debug leaks the token"
        );
    }
}

#[test]
fn every_outcome_code() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let none = Requirement::none();
        let read = Requirement::all(&["bots:read"]).unwrap();
        let t = issue(g, &["bots:read"]);

        assert_eq!(
            g.verify(None, &none, None).unwrap().outcome,
            Outcome::MissingCredentials,
            "{name}"
        );
        assert_eq!(
            check(g, b"Basic dXNlcjpwYXNz", &none),
            Outcome::MissingCredentials
        );
        assert_eq!(check(g, b"Bearer a b", &none), Outcome::InvalidRequest);
        assert_eq!(check(g, b"Bearer gp_pat_x", &none), Outcome::MalformedToken);
        let other_prefix = gatepass_core::Token::mint("zz").unwrap();
        assert_eq!(
            check(g, other_prefix.expose().as_bytes(), &none),
            Outcome::MalformedToken
        );
        let unknown = gatepass_core::Token::mint("gp_pat").unwrap();
        assert_eq!(
            check(g, unknown.expose().as_bytes(), &none),
            Outcome::UnknownKey
        );
        assert_eq!(check(g, &bearer(&t), &read), Outcome::Valid);
        assert_eq!(
            check(g, t.token.expose().as_bytes(), &read),
            Outcome::Valid,
            "bare token"
        );
        assert_eq!(
            check(g, format!("token {}", t.token.expose()).as_bytes(), &read),
            Outcome::Valid
        );

        let write = Requirement::all(&["bots:write"]).unwrap();
        let v = g.verify(Some(&bearer(&t)), &write, None).unwrap();
        assert_eq!(v.outcome, Outcome::InsufficientScope);
        assert_eq!(v.missing_scopes, scopes(&["bots:write"]));

        let ch = g
            .issue(IssueRequest {
                name: "webchat".into(),
                kind: Some("channel".into()),
                scopes: scopes(&["conversations:read"]),
                resource: Some("channel:ch_1".into()),
                remaining: Some(2),
                ..Default::default()
            })
            .unwrap();
        let conv = Requirement::all(&["conversations:read"]).unwrap();
        let on = |r: &str| {
            g.verify(Some(&bearer(&ch)), &conv, Some(r))
                .unwrap()
                .outcome
        };
        assert_eq!(on("channel:ch_2"), Outcome::ForbiddenResource);
        assert_eq!(on("channel:ch_1"), Outcome::Valid);
        assert_eq!(on("channel:ch_1"), Outcome::Valid);
        assert_eq!(
            on("channel:ch_1"),
            Outcome::UsageExceeded,
            "{name}: two credits"
        );
        g.update(
            &ch.key.id,
            KeyUpdate {
                remaining: Some(Some(100)),
                ..Default::default()
            },
        )
        .unwrap();
        // The channel kind allows 3/minute; three valid requests were made.
        let v = g
            .verify(Some(&bearer(&ch)), &conv, Some("channel:ch_1"))
            .unwrap();
        assert_eq!(v.outcome, Outcome::RateLimited, "{name}");
        assert!(v.rate.unwrap().retry_after_secs > 0);

        g.deactivate(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &read), Outcome::Inactive);
        g.activate(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &read), Outcome::Valid);
        g.revoke(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &read), Outcome::Revoked);

        let short = g
            .issue(IssueRequest {
                name: "short".into(),
                expires_in: Some(Duration::from_secs(60)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(check(g, &bearer(&short), &none), Outcome::Valid);
        f.clock.advance_ms(60_000);
        assert_eq!(check(g, &bearer(&short), &none), Outcome::Expired, "{name}");
    }
}

#[test]
fn revoke_and_deactivate_apply_to_the_very_next_verify() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let none = Requirement::none();
        let t = issue(g, &[]);
        // Warm the cache first: the next verify after a change must not use it.
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Valid);
        g.deactivate(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Inactive, "{name}");
        g.activate(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Valid, "{name}");
        g.revoke(&t.key.id).unwrap();
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Revoked, "{name}");
        assert_eq!(g.activate(&t.key.id).unwrap_err().code(), "invalid_state");
        assert_eq!(
            g.rotate(&t.key.id, Duration::ZERO).unwrap_err().code(),
            "invalid_state"
        );
        assert!(
            g.revoke(&t.key.id).is_ok(),
            "revoking twice is not an error"
        );
        let key = g.get(&t.key.id).unwrap();
        assert_eq!(key.revoked_at, Some(T0));
    }
}

#[test]
fn rotation_with_and_without_grace() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let none = Requirement::none();
        let t = issue(g, &["bots:read"]);
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Valid);

        let r1 = g.rotate(&t.key.id, Duration::ZERO).unwrap();
        assert_eq!(r1.key.id, t.key.id);
        assert_eq!(r1.key.scopes, t.key.scopes);
        assert_ne!(r1.key.start, t.key.start);
        assert_eq!(
            check(g, &bearer(&t), &none),
            Outcome::Revoked,
            "{name}: old token fails at once"
        );
        assert_eq!(check(g, &bearer(&r1), &none), Outcome::Valid);

        let r2 = g.rotate(&t.key.id, Duration::from_secs(3600)).unwrap();
        assert_eq!(
            check(g, &bearer(&r1), &none),
            Outcome::Valid,
            "{name}: within grace"
        );
        assert_eq!(check(g, &bearer(&r2), &none), Outcome::Valid);
        f.clock.advance_ms(HOUR);
        assert_eq!(
            check(g, &bearer(&r1), &none),
            Outcome::Revoked,
            "{name}: grace over"
        );
        assert_eq!(check(g, &bearer(&r2), &none), Outcome::Valid);
    }
}

#[test]
fn grace_never_outlives_the_key() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let none = Requirement::none();
        let t = g
            .issue(IssueRequest {
                name: "short".into(),
                expires_in: Some(Duration::from_secs(600)),
                ..Default::default()
            })
            .unwrap();
        let r = g.rotate(&t.key.id, Duration::from_secs(86_400)).unwrap();
        f.clock.advance_ms(599_000);
        assert_eq!(check(g, &bearer(&t), &none), Outcome::Valid, "{name}");
        f.clock.advance_ms(1_000);
        assert_eq!(
            check(g, &bearer(&t), &none),
            Outcome::Revoked,
            "{name}: old secret ends with the key"
        );
        assert_eq!(check(g, &bearer(&r), &none), Outcome::Expired, "{name}");
    }
}

#[test]
fn update_list_and_delete() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let a = issue(g, &["bots:read"]);
        f.clock.advance_ms(1);
        let b = issue(g, &["bots:read"]);
        f.clock.advance_ms(1);
        let c = g
            .issue(IssueRequest {
                name: "other".into(),
                subject: Some("agent_7".into()),
                ..Default::default()
            })
            .unwrap();

        let page1 = g.list(None, None, None, None, 2).unwrap();
        assert_eq!(
            page1.keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            [&a.key.id, &b.key.id],
            "{name}"
        );
        let page2 = g.list(None, None, None, page1.next.as_deref(), 2).unwrap();
        assert_eq!(page2.keys.len(), 1);
        assert_eq!(page2.keys[0].id, c.key.id);
        assert!(page2.next.is_none());
        let mine = g
            .list(Some("agent_42".into()), None, None, None, 10)
            .unwrap();
        assert_eq!(mine.keys.len(), 2);
        g.revoke(&b.key.id).unwrap();
        let active = g.list(None, None, Some(Status::Active), None, 10).unwrap();
        assert_eq!(active.keys.len(), 2);
        assert_eq!(
            g.list(None, Some("channel".into()), None, None, 10)
                .unwrap()
                .keys
                .len(),
            0
        );
        assert_eq!(
            g.list(None, None, None, Some("garbage"), 10)
                .unwrap_err()
                .code(),
            "invalid_argument"
        );

        let updated = g
            .update(
                &a.key.id,
                KeyUpdate {
                    name: Some("renamed".into()),
                    scopes: Some(scopes(&["bots:write"])),
                    rate_limit: Some(Some("1/hour".parse().unwrap())),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(updated.name, "renamed");
        let write = Requirement::all(&["bots:read"]).unwrap();
        assert_eq!(
            check(g, &bearer(&a), &write),
            Outcome::Valid,
            "{name}: write implies read"
        );
        assert_eq!(
            check(g, &bearer(&a), &write),
            Outcome::RateLimited,
            "{name}: new limit applies"
        );
        let typo = KeyUpdate {
            scopes: Some(scopes(&["bots:raed"])),
            ..Default::default()
        };
        assert_eq!(
            g.update(&a.key.id, typo).unwrap_err().code(),
            "unknown_scope"
        );
        assert_eq!(
            g.get(&a.key.id).unwrap().scopes,
            scopes(&["bots:write"]),
            "failed update wrote nothing"
        );

        g.delete(&a.key.id).unwrap();
        assert_eq!(g.get(&a.key.id).unwrap_err().code(), "not_found");
        assert_eq!(g.delete(&a.key.id).unwrap_err().code(), "not_found");
        assert_eq!(check(g, &bearer(&a), &write), Outcome::UnknownKey);
    }
}

#[test]
fn issue_validates_against_the_policy() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let err = |req: IssueRequest| g.issue(req).unwrap_err().code();
        let base = || IssueRequest {
            name: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            err(IssueRequest {
                scopes: scopes(&["bots:raed"]),
                ..base()
            }),
            "unknown_scope",
            "{name}"
        );
        assert_eq!(
            err(IssueRequest {
                kind: Some("channel".into()),
                scopes: scopes(&["bots:read"]),
                ..base()
            }),
            "scope_not_allowed"
        );
        assert_eq!(
            err(IssueRequest {
                kind: Some("robot".into()),
                ..base()
            }),
            "unknown_kind"
        );
        assert_eq!(
            err(IssueRequest {
                expires_in: Some(Duration::from_secs(400 * 86_400)),
                ..base()
            }),
            "lifetime_exceeded"
        );
        assert_eq!(
            err(IssueRequest {
                name: String::new(),
                ..base()
            }),
            "invalid_argument"
        );
        assert_eq!(
            err(IssueRequest {
                expires_at: Some(T0 - 1),
                ..base()
            }),
            "invalid_argument"
        );
    }
}

#[test]
fn usage_is_counted_and_flushed() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let t = issue(g, &[]);
        for _ in 0..25 {
            assert_eq!(check(g, &bearer(&t), &Requirement::none()), Outcome::Valid);
        }
        check(g, b"Bearer gp_pat_x", &Requirement::none());
        let key = g.get(&t.key.id).unwrap();
        assert_eq!(key.usage_count, 25, "{name}");
        assert_eq!(key.last_used_at, Some(T0));
    }
}

#[test]
fn http_mapping_is_rendered_from_the_outcome() {
    let f = fixture(Arc::new(MemoryStore::new()), None);
    let g = &f.gate;
    let v = g.verify(None, &Requirement::none(), None).unwrap();
    let r = v.http();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers,
        [(
            "WWW-Authenticate".to_owned(),
            "Bearer realm=\"bots\", Token realm=\"bots\"".to_owned()
        )]
    );
    let body: serde_json::Value = serde_json::from_str(&r.problem.unwrap().to_json()).unwrap();
    assert_eq!(body["code"], "missing_credentials");
    assert_eq!(body["status"], 401);

    let t = issue(g, &["bots:read"]);
    let req = Requirement::expr("bots:write or channels:write").unwrap();
    let v = g
        .verify(
            Some(format!("token {}", t.token.expose()).as_bytes()),
            &req,
            None,
        )
        .unwrap();
    let r = v.http();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.headers[0].1,
        "Token realm=\"bots\", error=\"insufficient_scope\", scope=\"bots:write\""
    );
    assert_eq!(r.problem.unwrap().missing_scopes, ["bots:write"]);
}

/// A limiter that pretends to live elsewhere (as Redis does), answering with
/// the in-memory one's decisions.
#[derive(Debug, Default)]
struct RemoteLimiter(gatepass_core::ratelimit::MemoryRateLimiter);

impl gatepass_core::ratelimit::RateLimiter for RemoteLimiter {
    fn check(
        &self,
        bucket: &str,
        limit: &gatepass_core::ratelimit::RateLimit,
        now: i64,
    ) -> Result<gatepass_core::ratelimit::RateDecision, gatepass_core::StoreError> {
        self.0.check(bucket, limit, now)
    }
}

/// Verifies until `verify_in_memory` answers (a Postgres notification or a
/// background usage flush can empty the cache once more just after it was
/// filled), checking every answer on the way. Returns the in-memory answer
/// and how many blocking verifications came first.
fn from_memory(
    g: &Gate,
    header: &[u8],
    req: &Requirement,
    expected: Outcome,
) -> (gatepass_core::Verification, u64) {
    for blocking in 1..=20 {
        assert_eq!(check(g, header, req), expected);
        if let Some(v) = g.verify_in_memory(Some(header), req, None).unwrap() {
            assert_eq!(v.outcome, expected);
            return (v, blocking);
        }
    }
    panic!("a cached key was never answered from memory");
}

#[test]
fn verify_in_memory_answers_from_memory_or_gives_up() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let none = Requirement::none();
        let read = Requirement::all(&["bots:read"]).unwrap();
        let in_memory = |header: Option<&[u8]>, req: &Requirement| {
            g.verify_in_memory(header, req, None)
                .unwrap()
                .map(|v| v.outcome)
        };
        // Requests rejected before the lookup never need the store.
        assert_eq!(
            in_memory(None, &none),
            Some(Outcome::MissingCredentials),
            "{name}"
        );
        assert_eq!(
            in_memory(Some(b"Bearer gp_pat_x"), &none),
            Some(Outcome::MalformedToken)
        );
        // Unknown and not yet cached keys need it.
        let unknown = gatepass_core::Token::mint("gp_pat").unwrap();
        assert_eq!(in_memory(Some(unknown.expose().as_bytes()), &none), None);
        let t = issue(g, &["bots:read"]);
        assert_eq!(in_memory(Some(&bearer(&t)), &read), None, "{name}");
        // Once cached: the same answer verify gives.
        let (v, blocking) = from_memory(g, &bearer(&t), &read, Outcome::Valid);
        assert_eq!(v.key.as_ref().unwrap().id, t.key.id);
        let write = Requirement::all(&["bots:write"]).unwrap();
        from_memory(g, &bearer(&t), &write, Outcome::InsufficientScope);
        // Each valid answer was counted once, from memory or not; the
        // given-up calls not at all.
        g.flush().unwrap();
        assert_eq!(
            g.get(&t.key.id).unwrap().usage_count,
            blocking + 1,
            "{name}"
        );
        // A change through this gate empties the cache at once.
        g.revoke(&t.key.id).unwrap();
        assert_eq!(in_memory(Some(&bearer(&t)), &read), None, "{name}");
        from_memory(g, &bearer(&t), &read, Outcome::Revoked);

        // Credits are spent in the store: always given up.
        let paid = issue_with_credits(g, 5);
        assert_eq!(check(g, &bearer(&paid), &none), Outcome::Valid);
        assert_eq!(in_memory(Some(&bearer(&paid)), &none), None, "{name}");
        assert_eq!(g.get(&paid.key.id).unwrap().remaining, Some(4));

        // A local rate limit is answered (the channel kind allows 3/minute).
        let ch = g
            .issue(IssueRequest {
                name: "webchat".into(),
                kind: Some("channel".into()),
                scopes: scopes(&["conversations:read"]),
                ..Default::default()
            })
            .unwrap();
        let (v, blocking) = from_memory(g, &bearer(&ch), &none, Outcome::Valid);
        let left = 3 - 1 - u32::try_from(blocking).unwrap();
        assert_eq!(v.rate.map(|r| r.remaining), Some(left), "{name}");

        // A rate limit and credits: given up before the rate limit counts,
        // so the request is counted once, by the verify that follows.
        let both = g
            .issue(IssueRequest {
                name: "webchat paid".into(),
                kind: Some("channel".into()),
                scopes: scopes(&["conversations:read"]),
                remaining: Some(10),
                ..Default::default()
            })
            .unwrap();
        let rate_left = |g: &Gate| {
            let v = g.verify(Some(&bearer(&both)), &none, None).unwrap();
            assert_eq!(v.outcome, Outcome::Valid, "{name}");
            v.rate.map(|r| r.remaining)
        };
        assert_eq!(rate_left(g), Some(2));
        assert_eq!(in_memory(Some(&bearer(&both)), &none), None, "{name}");
        assert_eq!(rate_left(g), Some(1), "{name}: given up, yet counted");
    }
}

#[test]
fn verify_in_memory_gives_up_on_a_remote_rate_limiter() {
    let gate = Gate::new(
        Arc::new(MemoryStore::new()),
        Policy::from_toml(POLICY).unwrap(),
    )
    .with_limiter(Arc::new(RemoteLimiter::default()));
    let limited = gate
        .issue(IssueRequest {
            name: "limited".into(),
            rate_limit: Some("5/minute".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    let free = issue(&gate, &[]);
    let none = Requirement::none();
    for t in [&limited, &free] {
        assert_eq!(check(&gate, &bearer(t), &none), Outcome::Valid);
    }
    assert!(gate
        .verify_in_memory(Some(&bearer(&limited)), &none, None)
        .unwrap()
        .is_none());
    assert!(gate
        .verify_in_memory(Some(&bearer(&free)), &none, None)
        .unwrap()
        .is_some());
}

#[test]
fn verify_in_memory_gives_up_after_another_connection_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (serving, admin) = two_gates_on_one_file(dir.path());
    let t = issue(&admin, &[]);
    let none = Requirement::none();
    assert_eq!(check(&serving, &bearer(&t), &none), Outcome::Valid);
    assert!(serving
        .verify_in_memory(Some(&bearer(&t)), &none, None)
        .unwrap()
        .is_some());
    admin.revoke(&t.key.id).unwrap();
    assert!(
        serving
            .verify_in_memory(Some(&bearer(&t)), &none, None)
            .unwrap()
            .is_none(),
        "a commit elsewhere must send the caller to the store"
    );
    assert_eq!(check(&serving, &bearer(&t), &none), Outcome::Revoked);
}

/// Two gates on one SQLite file, as two processes would have.
fn two_gates_on_one_file(dir: &std::path::Path) -> (Gate, Gate) {
    let open = || {
        Gate::new(
            Arc::new(SqliteStore::open(dir.join("gp.db")).unwrap()),
            Policy::from_toml(POLICY).unwrap(),
        )
    };
    (open(), open())
}

#[test]
fn usage_and_credits_counted_elsewhere_keep_the_cache_and_changes_empty_it() {
    let dir = tempfile::tempdir().unwrap();
    let (serving, other) = two_gates_on_one_file(dir.path());
    let t = issue(&other, &[]);
    let paid = issue_with_credits(&other, 10);
    let none = Requirement::none();
    let usage_seen = |g: &Gate| {
        g.verify(Some(&bearer(&t)), &none, None)
            .unwrap()
            .key
            .unwrap()
            .usage_count
    };
    assert_eq!(usage_seen(&serving), 0, "cache filled");

    // Traffic through the other gate commits usage and spends credits…
    for _ in 0..5 {
        assert_eq!(check(&other, &bearer(&t), &none), Outcome::Valid);
        assert_eq!(check(&other, &bearer(&paid), &none), Outcome::Valid);
    }
    other.flush().unwrap();
    assert_eq!(other.get(&t.key.id).unwrap().usage_count, 5);
    // …which the serving gate's cached record does not reread: had the
    // commit emptied its cache, the record would show the 5 uses.
    assert_eq!(usage_seen(&serving), 0, "usage commits keep the cache");
    assert!(serving
        .verify_in_memory(Some(&bearer(&t)), &none, None)
        .unwrap()
        .is_some());
    // Spending credits reports the store's count, not the cached one.
    let spent = serving
        .verify(Some(&bearer(&paid)), &none, None)
        .unwrap()
        .key
        .unwrap();
    assert_eq!(spent.remaining, Some(4));

    // A change a verification can see empties the cache at once.
    other
        .update(
            &t.key.id,
            KeyUpdate {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let renamed = serving
        .verify(Some(&bearer(&t)), &none, None)
        .unwrap()
        .key
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.usage_count, 5, "reread with the change");
    other.deactivate(&t.key.id).unwrap();
    assert_eq!(check(&serving, &bearer(&t), &none), Outcome::Inactive);
    other.activate(&t.key.id).unwrap();
    other.delete(&t.key.id).unwrap();
    assert_eq!(check(&serving, &bearer(&t), &none), Outcome::UnknownKey);
}

#[test]
fn a_schema_version_1_sqlite_file_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let t = {
        let (g, _) = two_gates_on_one_file(dir.path());
        issue(&g, &["bots:read"])
    };
    // Back to what a version-1 build left: no change counter, no triggers.
    {
        let conn = rusqlite::Connection::open(dir.path().join("gp.db")).unwrap();
        conn.execute_batch(
            "DROP TRIGGER gatepass_keys_changed; DROP TRIGGER gatepass_keys_deleted;
             DROP TRIGGER gatepass_secrets_added; DROP TRIGGER gatepass_secrets_changed;
             DROP TRIGGER gatepass_secrets_deleted; DROP TABLE gatepass_changes;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let (serving, other) = two_gates_on_one_file(dir.path());
    let version: i64 = rusqlite::Connection::open(dir.path().join("gp.db"))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, gatepass_core::store::sqlite::SCHEMA_VERSION);
    let read = Requirement::all(&["bots:read"]).unwrap();
    assert_eq!(check(&serving, &bearer(&t), &read), Outcome::Valid);
    other.revoke(&t.key.id).unwrap();
    assert_eq!(check(&serving, &bearer(&t), &read), Outcome::Revoked);
}

/// The in-memory limiter measures time on the gate clock's monotonic side:
/// setting the wall clock back does not refuse a key until it catches up, and
/// setting it forward grants no fresh burst.
#[test]
fn setting_the_wall_clock_neither_refuses_nor_refills_a_rate_limit() {
    let f = fixture(Arc::new(MemoryStore::new()), None);
    let g = &f.gate;
    let ch = g
        .issue(IssueRequest {
            name: "webchat".into(),
            kind: Some("channel".into()),
            scopes: scopes(&["conversations:read"]),
            ..Default::default()
        })
        .unwrap();
    let conv = Requirement::all(&["conversations:read"]).unwrap();
    let verify = || g.verify(Some(&bearer(&ch)), &conv, None).unwrap().outcome;
    // The channel kind allows 3/minute.
    for _ in 0..3 {
        assert_eq!(verify(), Outcome::Valid);
    }
    assert_eq!(verify(), Outcome::RateLimited);
    f.clock.set_ms(T0 + HOUR);
    assert_eq!(
        verify(),
        Outcome::RateLimited,
        "a step forward refilled the bucket"
    );
    f.clock.set_ms(T0 - HOUR);
    // One 20 s interval of real time later, one request fits again.
    f.clock.advance_ms(20_000);
    assert_eq!(verify(), Outcome::Valid, "a step back kept refusing");
    assert_eq!(verify(), Outcome::RateLimited);
}

#[test]
fn verify_without_spending_records_no_usage_and_spends_no_allowance_or_credit() {
    for (name, f) in fixtures() {
        let g = &f.gate;
        let ch = g
            .issue(IssueRequest {
                name: "webchat".into(),
                kind: Some("channel".into()),
                scopes: scopes(&["conversations:read"]),
                remaining: Some(10),
                ..Default::default()
            })
            .unwrap();
        let conv = Requirement::all(&["conversations:read"]).unwrap();
        let look = || {
            g.verify_without_spending(Some(&bearer(&ch)), &conv, None)
                .unwrap()
        };
        let spend = || g.verify(Some(&bearer(&ch)), &conv, None).unwrap().outcome;
        for _ in 0..5 {
            let v = look();
            assert_eq!(v.outcome, Outcome::Valid, "{name}");
            // The channel kind's 3/minute, untouched.
            assert_eq!(v.rate.map(|r| r.remaining), Some(2), "{name}");
        }
        let key = g.get(&ch.key.id).unwrap();
        assert_eq!((key.usage_count, key.remaining), (0, Some(10)), "{name}");
        for _ in 0..3 {
            assert_eq!(spend(), Outcome::Valid, "{name}");
        }
        // Tells that the limit is exhausted, without counting.
        assert_eq!(look().outcome, Outcome::RateLimited, "{name}");
        f.clock.advance_ms(20_000);
        assert_eq!(look().outcome, Outcome::Valid, "{name}");
        assert_eq!(
            spend(),
            Outcome::Valid,
            "{name}: the look took the allowance"
        );
        let key = g.get(&ch.key.id).unwrap();
        assert_eq!((key.usage_count, key.remaining), (4, Some(6)), "{name}");
        assert_eq!(look().key.unwrap().remaining, Some(6), "{name}");

        let spent = issue_with_credits(g, 1);
        assert_eq!(
            check(g, &bearer(&spent), &Requirement::none()),
            Outcome::Valid
        );
        let v = g
            .verify_without_spending(Some(&bearer(&spent)), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::UsageExceeded, "{name}");
        // Failures before the effects are the same as verify's.
        let revoked = issue(g, &[]);
        g.revoke(&revoked.key.id).unwrap();
        let v = g
            .verify_without_spending(Some(&bearer(&revoked)), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::Revoked, "{name}");
    }
}

/// The four states of a key are answered alike under `disclose_key_state =
/// false`, on every store, while the verification keeps the precise outcome.
#[test]
fn undisclosed_key_state_is_one_answer_on_every_store() {
    let policy = format!("disclose_key_state = false\n{POLICY}");
    for (name, f) in fixtures_with(&policy) {
        let g = &f.gate;
        let none = Requirement::none();
        let inactive = issue(g, &[]);
        g.deactivate(&inactive.key.id).unwrap();
        let revoked = issue(g, &[]);
        g.revoke(&revoked.key.id).unwrap();
        let expired = g
            .issue(IssueRequest {
                name: "short".into(),
                expires_in: Some(Duration::from_secs(60)),
                ..Default::default()
            })
            .unwrap();
        let rotated = issue(g, &[]);
        g.rotate(&rotated.key.id, Duration::ZERO).unwrap();
        f.clock.advance_ms(60_000);
        let unknown = format!(
            "Bearer {}",
            gatepass_core::Token::mint("gp_pat").unwrap().expose()
        );
        let answers: Vec<(Outcome, gatepass_core::HttpResponse)> = [
            unknown.into_bytes(),
            bearer(&inactive),
            bearer(&revoked),
            bearer(&expired),
            bearer(&rotated),
        ]
        .iter()
        .map(|h| {
            // Twice: from the store, then from the cache.
            let first = g.verify(Some(h), &none, None).unwrap();
            let second = g.verify(Some(h), &none, None).unwrap();
            assert_eq!(first.http(), second.http(), "{name}");
            (first.outcome, first.http())
        })
        .collect();
        let outcomes: Vec<Outcome> = answers.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::UnknownKey,
                Outcome::Inactive,
                Outcome::Revoked,
                Outcome::Expired,
                Outcome::Revoked
            ],
            "{name}"
        );
        for (outcome, http) in &answers {
            assert_eq!(http, &answers[0].1, "{name}: {outcome:?}");
        }
        let problem = answers[0].1.problem.as_ref().unwrap();
        assert_eq!((problem.code, problem.status), ("invalid_token", 401));
    }
}

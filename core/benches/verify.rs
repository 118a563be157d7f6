//! Verification cost: the whole `Gate::verify` on `memory://` and on a warm
//! `sqlite://` file, token parse + checksum alone, and scope evaluation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gatepass_core::audit::{Event, EventFilter, StoredEvent};
use gatepass_core::key::ListQuery;
use gatepass_core::ratelimit::{MemoryRateLimiter, RateLimit, RateLimiter};
use gatepass_core::redis::RedisRateLimiter;
use gatepass_core::scope::{default_implications, parse_list, ScopeSet};
use gatepass_core::store::{self, Change, Found, Store, UsageDelta};
use gatepass_core::token::TokenDigest;
use gatepass_core::token::{ParsedToken, Token};
use gatepass_core::{
    Gate, GateError, IssueRequest, KeyRecord, Outcome, Policy, Requirement, Scope, StoreError,
};

/// A store whose epoch moves on every call, so the gate's cache never hits:
/// the cost of reading the store on every verify.
#[derive(Debug)]
struct Uncached(Arc<dyn Store>, AtomicU64);

impl Store for Uncached {
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.0.insert(key, digest, event)
    }
    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.0.get(id)
    }
    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        self.0.find(digest)
    }
    fn list(&self, query: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.list(query)
    }
    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        self.0.modify(id, change)
    }
    fn rotate(
        &self,
        id: &str,
        d: &TokenDigest,
        until: i64,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        self.0.rotate(id, d, until, change)
    }
    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        self.0.delete(id, event)
    }
    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.0.events(filter)
    }
    fn prune_events(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        self.0.prune_events(before, batch)
    }
    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        self.0.add_usage(batch)
    }
    fn usage_history(
        &self,
        key_id: &str,
        since: gatepass_core::clock::Millis,
        until: gatepass_core::clock::Millis,
    ) -> Result<Vec<gatepass_core::history::HistoryRow>, StoreError> {
        self.0.usage_history(key_id, since, until)
    }
    fn usage_totals(
        &self,
        key_ids: &[String],
        since: gatepass_core::clock::Millis,
    ) -> Result<Vec<gatepass_core::history::TotalsRow>, StoreError> {
        self.0.usage_totals(key_ids, since)
    }
    fn compact_usage(
        &self,
        hourly_before: gatepass_core::clock::Millis,
        keep_after: gatepass_core::clock::Millis,
    ) -> Result<(), StoreError> {
        self.0.compact_usage(hourly_before, keep_after)
    }
    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.0.consume_credit(id)
    }
    fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.1.fetch_add(1, Ordering::Relaxed))
    }
}

fn gate_with_key(url: &str) -> (Gate, String) {
    gate_on(store::open(url).unwrap())
}

fn gate_on(store: Arc<dyn Store>) -> (Gate, String) {
    let gate = Gate::new(store, Policy::default());
    let issued = gate
        .issue(IssueRequest {
            name: "bench".into(),
            scopes: vec![
                Scope::parse("bots:write").unwrap(),
                Scope::parse("channels:read").unwrap(),
            ],
            ..Default::default()
        })
        .unwrap();
    (gate, format!("Bearer {}", issued.token.expose()))
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite:///{}", dir.path().join("bench.db").display());
    let requirement = Requirement::expr("bots:read and (channels:read or admin)").unwrap();
    let mut group = c.benchmark_group("verify");
    let uncached = |url: &str| -> Arc<dyn Store> {
        Arc::new(Uncached(store::open(url).unwrap(), AtomicU64::new(0)))
    };
    let mut gates = vec![
        ("memory", gate_with_key("memory://")),
        ("sqlite_warm", gate_with_key(&sqlite_url)),
        ("sqlite_uncached", gate_on(uncached(&sqlite_url))),
    ];
    // The Postgres rows need the server from scripts/services.sh.
    if let Ok(pg) = std::env::var("GATEPASS_TEST_POSTGRES_URL") {
        gates.push(("postgres_warm", gate_with_key(&pg)));
        gates.push(("postgres_uncached", gate_on(uncached(&pg))));
    }
    for (name, (gate, header)) in gates {
        // Warm the cache once; every later iteration is the steady state.
        assert_eq!(
            gate.verify(Some(header.as_bytes()), &requirement, None)
                .unwrap()
                .outcome,
            Outcome::Valid
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let v = gate
                    .verify(Some(black_box(header.as_bytes())), &requirement, None)
                    .unwrap();
                debug_assert!(v.ok());
                v
            })
        });
    }
    group.finish();
}

/// Tokens that name no key, and a revoked key, on SQLite and Postgres: a
/// client repeating one unknown token, a flood of different ones (each new to
/// the gate), and a revoked key for comparison: what the failure costs, and
/// whether an unknown token and a revoked key take the same time.
fn unknown_tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![(
        "sqlite",
        format!("sqlite:///{}", dir.path().join("unknown.db").display()),
    )];
    if let Ok(pg) = std::env::var("GATEPASS_TEST_POSTGRES_URL") {
        urls.push(("postgres", pg));
    }
    let none = Requirement::none();
    // More different tokens than any cache holds, so each is a first sight.
    let flood: Vec<String> = (0..100_000)
        .map(|_| format!("Bearer {}", Token::mint("gp").unwrap().expose()))
        .collect();
    let mut group = c.benchmark_group("unknown_tokens");
    for (name, url) in urls {
        let gate = Gate::open(&url, None).unwrap();
        let revoked = gate
            .issue(IssueRequest {
                name: "revoked".into(),
                ..Default::default()
            })
            .unwrap();
        gate.revoke(&revoked.key.id).unwrap();
        let revoked = format!("Bearer {}", revoked.token.expose());
        let unknown = format!("Bearer {}", Token::mint("gp").unwrap().expose());
        for (case, header, outcome) in [
            ("repeated", &unknown, Outcome::UnknownKey),
            ("revoked", &revoked, Outcome::Revoked),
        ] {
            assert_eq!(
                gate.verify(Some(header.as_bytes()), &none, None)
                    .unwrap()
                    .outcome,
                outcome
            );
            group.bench_function(format!("{name}_{case}"), |b| {
                b.iter(|| {
                    gate.verify(Some(black_box(header.as_bytes())), &none, None)
                        .unwrap()
                })
            });
        }
        let mut next = flood.iter().cycle();
        group.bench_function(format!("{name}_distinct"), |b| {
            b.iter(|| {
                let header = next.next().unwrap();
                gate.verify(Some(black_box(header.as_bytes())), &none, None)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn limiters(c: &mut Criterion) {
    let limit: RateLimit = "1000000/second".parse().unwrap();
    let mut group = c.benchmark_group("ratelimit");
    let memory = MemoryRateLimiter::new();
    group.bench_function("memory", |b| {
        b.iter(|| memory.check("bench", &limit, 0).unwrap())
    });
    if let Ok(url) = std::env::var("GATEPASS_TEST_REDIS_URL") {
        let redis = RedisRateLimiter::open(&url).unwrap();
        group.bench_function("redis", |b| {
            b.iter(|| redis.check("bench", &limit, 0).unwrap())
        });
    }
    group.finish();
}

fn token(c: &mut Criterion) {
    let t = Token::mint("sk_live").unwrap();
    let text = t.expose().to_owned();
    c.bench_function("token/parse_and_checksum", |b| {
        b.iter(|| ParsedToken::parse(black_box(&text)).is_ok())
    });
    c.bench_function("token/parse_checksum_and_digest", |b| {
        b.iter(|| {
            ParsedToken::parse(black_box(&text))
                .map(|p| p.digest())
                .is_ok()
        })
    });
}

fn scopes(c: &mut Criterion) {
    let held = ScopeSet::effective(
        &parse_list(&["bots:write", "channels:read", "conversations:*"]).unwrap(),
        &default_implications(),
    );
    let expr = Requirement::expr(
        "bots:read and (channels:write or conversations:read) and (admin or bots:write)",
    )
    .unwrap();
    let all = Requirement::all(&["bots:read", "channels:read"]).unwrap();
    c.bench_function("scopes/expression", |b| {
        b.iter(|| black_box(&expr).missing(&held).is_empty())
    });
    c.bench_function("scopes/all_of_two", |b| {
        b.iter(|| black_box(&all).missing(&held).is_empty())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = verify, unknown_tokens, limiters, token, scopes
}
criterion_main!(benches);

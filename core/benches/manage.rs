//! The management API's reads as a page makes them, through
//! `manage::handle`: a page of 100 keys out of 100 000 (the first page and
//! one from the middle, by cursor), and 30 days of one key's hourly usage
//! (720 buckets). On a SQLite file, and on Postgres when
//! `GATEPASS_TEST_POSTGRES_URL` is set (`scripts/services.sh start`).
//!
//! `cargo bench -p gatepass-core --bench manage`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gatepass_core::clock::{Clock, ManualClock};
use gatepass_core::key::Cursor;
use gatepass_core::manage::{self, Actor, Principal, Request};
use gatepass_core::{store, Gate, IssueRequest, Policy, Requirement};

const KEYS: usize = 100_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-29T11:17:37Z.
const NOW: i64 = 1_795_951_057_000;

struct Setup {
    gate: Gate,
    principal: Principal,
    middle: String,
    charted: String,
}

fn setup(url: &str) -> Setup {
    let clock = ManualClock::new(NOW - 31 * 24 * HOUR);
    let gate = Gate::new(store::open(url).unwrap(), Policy::default())
        .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
    let actor = Actor::new("bench");
    let mut middle = String::new();
    let mut charted = None;
    for i in 0..KEYS {
        let issued = gate
            .issue_as(
                IssueRequest {
                    name: format!("key {i}"),
                    subject: Some("ws_big".into()),
                    ..IssueRequest::default()
                },
                &actor,
            )
            .unwrap();
        if i == KEYS / 2 {
            middle = Cursor::of(&issued.key).encode();
        }
        if i == KEYS - 1 {
            charted = Some(issued);
        }
        clock.advance_ms(1);
    }
    // One verification an hour for 30 days and a bit: every hourly bucket
    // the chart reads holds a count.
    let charted = charted.unwrap();
    let header = format!("Bearer {}", charted.token.expose());
    while clock.now_ms() < NOW {
        gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        clock.advance_ms(HOUR);
    }
    clock.set_ms(NOW);
    gate.flush().unwrap();
    Setup {
        gate,
        principal: Principal::owner("ws_big", actor),
        middle,
        charted: charted.key.id,
    }
}

fn get(s: &Setup, path: &str, query: &str) -> usize {
    let r = manage::handle(
        &s.gate,
        &s.principal,
        &Request {
            method: "GET",
            path,
            query,
            headers: &[],
            self_origin: None,
            body: b"",
        },
    );
    assert_eq!(r.status, 200, "{path}?{query}");
    r.body.len()
}

fn bench_store(c: &mut Criterion, name: &str, url: &str) {
    let started = std::time::Instant::now();
    let s = setup(url);
    eprintln!(
        "{name}: {KEYS} keys and 30 days of history in {:?}",
        started.elapsed()
    );
    let usage_path = format!("keys/{}/usage", s.charted);
    // The 720 whole hours before the current one, each with one verification.
    let hourly = "step=hour&since=2026-10-30T11:00:00Z&until=2026-11-29T11:00:00Z";
    // Both answers hold what a page shows.
    let chart: serde_json::Value = {
        let r = manage::handle(
            &s.gate,
            &s.principal,
            &Request {
                method: "GET",
                path: &usage_path,
                query: hourly,
                headers: &[],
                self_origin: None,
                body: b"",
            },
        );
        serde_json::from_slice(&r.body).unwrap()
    };
    let buckets = chart["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 720);
    assert!(buckets.iter().all(|b| b["valid"] == 1), "{chart}");

    let mut group = c.benchmark_group(format!("manage/{name}"));
    group.sample_size(30);
    group.bench_function("GET keys?limit=100 (first page of 100 000)", |b| {
        b.iter(|| black_box(get(&s, "keys", "limit=100")));
    });
    let middle = format!("limit=100&after={}", s.middle);
    group.bench_function("GET keys?limit=100&after=… (page 501 of 1000)", |b| {
        b.iter(|| black_box(get(&s, "keys", &middle)));
    });
    group.bench_function("GET keys?status=active&limit=100", |b| {
        b.iter(|| black_box(get(&s, "keys", "status=active&limit=100")));
    });
    group.bench_function(
        "GET keys/{id}/usage?step=hour (30 days, 720 buckets)",
        |b| {
            b.iter(|| black_box(get(&s, &usage_path, hourly)));
        },
    );
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("manage.db").display());
    bench_store(c, "sqlite", &url);
    if let Ok(base) = std::env::var("GATEPASS_TEST_POSTGRES_URL") {
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "DROP SCHEMA IF EXISTS gp_bench_manage CASCADE; CREATE SCHEMA gp_bench_manage",
            )
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3Dgp_bench_manage");
        bench_store(c, "postgres", &url);
    }
}

criterion_group! {
    name = manage_benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(manage_benches);

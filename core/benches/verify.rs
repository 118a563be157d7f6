//! Verification cost: the whole `Gate::verify` on `memory://` and on a warm
//! `sqlite://` file, token parse + checksum alone, and scope evaluation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gatepass_core::scope::{default_implications, parse_list, ScopeSet};
use gatepass_core::token::{ParsedToken, Token};
use gatepass_core::{Gate, IssueRequest, Outcome, Requirement, Scope};

fn gate_with_key(url: &str) -> (Gate, String) {
    let gate = Gate::open(url, None).unwrap();
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
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let requirement = Requirement::expr("bots:read and (channels:read or admin)").unwrap();
    let mut group = c.benchmark_group("verify");
    for (name, url) in [
        ("memory", "memory://".to_owned()),
        ("sqlite_warm", sqlite_url),
    ] {
        let (gate, header) = gate_with_key(&url);
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
    targets = verify, token, scopes
}
criterion_main!(benches);

//! Many processes on real PostgreSQL and Redis servers (started by
//! `scripts/services.sh`): revocation reaches every process, limits hold
//! across limiters, replays are refused across guards, and a Postgres restart
//! never lets a revoked key through. Child processes are this test binary
//! run again with a role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::child::{self, unix_micros, ChildGate};

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::ratelimit::{gcra, RateLimit, RateLimiter};
use gatepass_core::redis::{RedisRateLimiter, RedisReplayGuard};
use gatepass_core::webhook::ReplayGuard;
use gatepass_core::{Gate, IssueRequest, Outcome, Requirement, Token};

/// Runs only when spawned by the tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    child::serve();
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[test]
fn postgres_revocation_reaches_other_processes() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let gate = Gate::open(&url, None).unwrap();
    let mut children: Vec<ChildGate> = (0..2).map(|_| ChildGate::spawn(&url)).collect();
    let mut latencies = Vec::new();
    for round in 0..20 {
        let issued = gate
            .issue(IssueRequest {
                name: format!("round {round}"),
                ..Default::default()
            })
            .unwrap();
        for c in &mut children {
            c.send(&format!("watch {}", issued.token.expose()));
            c.expect("READY");
        }
        std::thread::sleep(Duration::from_millis(5));
        let t0 = unix_micros();
        gate.revoke(&issued.key.id).unwrap();
        for c in &mut children {
            let seen = c.expect("SEEN");
            let (code, at) = seen.split_once(' ').unwrap();
            assert_eq!(code, "revoked");
            latencies.push(at.parse::<u128>().unwrap().saturating_sub(t0));
        }
    }
    latencies.sort_unstable();
    // Reported, not asserted: timing on a shared machine is not a test result.
    eprintln!(
        "postgres revocation seen by other processes after: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs (n = {})",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        latencies.len()
    );
    children.into_iter().for_each(ChildGate::finish);
}

/// Unknown tokens remembered by other processes on Postgres: a key issued
/// anywhere verifies at once (its fresh token was never shown before), and a
/// key stored for a token a process remembered as unknown is found once the
/// insert's notification arrives (reported, like the revocation delay).
#[test]
fn postgres_unknown_tokens_are_forgotten_when_a_key_appears() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let gate = Gate::open(&url, None).unwrap();
    let mut child = ChildGate::spawn(&url);
    let ask = |child: &mut ChildGate, token: &str| {
        child.send(&format!("check {token}"));
        child.expect("OUTCOME")
    };
    for _ in 0..50 {
        let t = Token::mint("gp").unwrap();
        assert_eq!(ask(&mut child, t.expose()), "unknown_key");
    }
    let template = gate
        .issue(IssueRequest {
            name: "fresh".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ask(&mut child, template.token.expose()), "valid");

    let mut delays = Vec::new();
    for _ in 0..10 {
        let chosen = Token::mint("gp").unwrap();
        assert_eq!(ask(&mut child, chosen.expose()), "unknown_key");
        assert_eq!(ask(&mut child, chosen.expose()), "unknown_key");
        let writer = gatepass_core::store::open(&url).unwrap();
        let mut record = template.key.clone();
        record.id = gatepass_core::token::new_key_id();
        record.start = chosen.start();
        let event = gatepass_core::Event::new(
            gatepass_core::Action::Issued,
            &record,
            record.created_at,
            &gatepass_core::Actor::new("import"),
            serde_json::Map::new(),
        );
        writer.insert(&record, &chosen.digest(), &event).unwrap();
        child.send(&format!("until-valid {}", chosen.expose()));
        let line = child.expect("VALID after");
        delays.push(
            line.split_whitespace()
                .next()
                .unwrap()
                .parse::<u128>()
                .unwrap(),
        );
    }
    delays.sort_unstable();
    // Reported, not asserted: timing on a shared machine is not a test result.
    eprintln!(
        "postgres: a key stored for a remembered unknown token verified in another process after: p50 {} µs, max {} µs (n = {})",
        percentile(&delays, 0.5),
        delays[delays.len() - 1],
        delays.len()
    );
    child.finish();
}

fn redis_url() -> Option<String> {
    common::service_url("GATEPASS_TEST_REDIS_URL")
}

fn unique(name: &str) -> String {
    format!("{name}-{}", unix_micros())
}

#[test]
fn redis_limiter_agrees_with_the_memory_algorithm() {
    let Some(url) = redis_url() else {
        return;
    };
    let redis = RedisRateLimiter::open(&url).unwrap().with_caller_clock();
    let limit: RateLimit = "5/second".parse().unwrap();
    let bucket = unique("agree");
    let mut tat = None;
    let mut now = 1_800_000_000_000;
    for step in 0..200 {
        now += [0, 1, 7, 150, 199, 200, 1000][step % 7];
        let (expected, new_tat) = gcra(&limit, tat, now);
        if expected.allowed {
            tat = Some(new_tat);
        }
        assert_eq!(
            redis.check(&bucket, &limit, now).unwrap(),
            expected,
            "step {step}"
        );
    }
}

#[test]
fn redis_limiters_admit_exactly_the_limit_together() {
    let Some(url) = redis_url() else {
        return;
    };
    // One limiter per thread, each with its own connections: as separate
    // processes would be. An hour-long window admits no refill during the test.
    let limit: RateLimit = "250/hour".parse().unwrap();
    let bucket = Arc::new(unique("together"));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let limiter = RedisRateLimiter::open(&url).unwrap();
            let bucket = Arc::clone(&bucket);
            std::thread::spawn(move || {
                (0..200)
                    .filter(|_| limiter.check(&bucket, &limit, 0).unwrap().allowed)
                    .count()
            })
        })
        .collect();
    let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(admitted, 250);
}

#[test]
fn redis_replay_guard_is_shared() {
    let Some(url) = redis_url() else {
        return;
    };
    let a = RedisReplayGuard::open(&url).unwrap();
    let b = RedisReplayGuard::open(&url).unwrap();
    let key = unique("msg");
    assert!(a.check_and_remember(&key, 0, 300).unwrap());
    assert!(!b.check_and_remember(&key, 0, 300).unwrap());
    assert!(!a.check_and_remember(&key, 0, 300).unwrap());
    assert!(b.check_and_remember(&unique("other"), 0, 300).unwrap());
}

#[test]
fn a_gate_on_postgres_and_redis() {
    let (Some(pg), Some(redis)) = (common::fresh_postgres_schema(), redis_url()) else {
        return;
    };
    let limiter: Arc<dyn RateLimiter> = Arc::new(RedisRateLimiter::open(&redis).unwrap());
    let gates: Vec<Gate> = (0..3)
        .map(|_| {
            Gate::open(&pg, None)
                .unwrap()
                .with_limiter(Arc::clone(&limiter))
        })
        .collect();
    let issued = gates[0]
        .issue(IssueRequest {
            name: "shared".into(),
            rate_limit: Some("10/hour".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    let header = format!("Bearer {}", issued.token.expose());
    let mut outcomes = Vec::new();
    for i in 0..15 {
        let v = gates[i % 3]
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        outcomes.push(v.outcome);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Valid).count(),
        10
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::RateLimited)
            .count(),
        5
    );
    for g in &gates {
        g.flush().unwrap();
    }
    assert_eq!(gates[2].get(&issued.key.id).unwrap().usage_count, 10);
}

/// The replay guard keys on signed content per verifier, also in Redis: a
/// captured delivery re-sent to another process with its unsigned id header
/// changed, or (Stripe, mid-rotation) with one `v1=` dropped, is refused;
/// two tenants with different secrets on one Redis do not collide.
#[test]
fn redis_replay_guard_keys_on_signed_content_per_verifier() {
    use gatepass_core::webhook::{generate_secret, WebhookVerifier};
    use gatepass_core::webhook::{Headers, Scheme, SignOptions, VerifierOptions, WebhookSigner};
    let Some(url) = redis_url() else {
        return;
    };
    let verifier = |scheme: Scheme, secrets: &[&str]| {
        let guard: Arc<dyn ReplayGuard> = Arc::new(RedisReplayGuard::open(&url).unwrap());
        let options = VerifierOptions {
            replay_guard: Some(guard),
            ..VerifierOptions::default()
        };
        WebhookVerifier::new(scheme, secrets, options).unwrap()
    };
    let sign = |scheme: Scheme, secret: &str, body: &[u8], id: Option<&str>| {
        let signer = WebhookSigner::new(scheme, secret, gatepass_core::clock::system()).unwrap();
        let opts = SignOptions {
            id: id.map(str::to_owned),
            ..SignOptions::default()
        };
        signer.sign(body, opts).unwrap()
    };
    let code = |v: &WebhookVerifier, body: &[u8], h: Headers| {
        v.verify(body, &h, None)
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
    };

    // github: another process, another delivery id, same signed body
    let body = unique("{\"github\":\"").into_bytes();
    let (a, b) = (
        verifier(Scheme::Github, &["gh"]),
        verifier(Scheme::Github, &["gh"]),
    );
    let signed = sign(Scheme::Github, "gh", &body, Some("delivery-1"));
    assert_eq!(code(&a, &body, Headers::from_pairs(signed.clone())), "ok");
    let forged: Vec<_> = signed
        .into_iter()
        .map(|(n, v)| {
            if n == "X-GitHub-Delivery" {
                (n, "delivery-2".to_owned())
            } else {
                (n, v)
            }
        })
        .collect();
    assert_eq!(code(&b, &body, Headers::from_pairs(forged)), "replayed");

    // stripe mid-rotation: signed with both secrets, re-sent with one dropped
    let (old, new) = (
        generate_secret(Scheme::Stripe).unwrap(),
        generate_secret(Scheme::Stripe).unwrap(),
    );
    let body = unique("{\"stripe\":\"").into_bytes();
    let ts = gatepass_core::clock::system().now_secs();
    let v1 = |secret: &str| {
        let signer =
            WebhookSigner::new(Scheme::Stripe, secret, gatepass_core::clock::system()).unwrap();
        let opts = SignOptions {
            timestamp: Some(ts),
            ..SignOptions::default()
        };
        let h = signer.sign(&body, opts).unwrap();
        h[0].1.split_once(",v1=").unwrap().1.to_owned()
    };
    let (v1_old, v1_new) = (v1(&old), v1(&new));
    let a = verifier(Scheme::Stripe, &[&old, &new]);
    let b = verifier(Scheme::Stripe, &[&new, &old]);
    let header = |v: String| Headers::from_pairs([("Stripe-Signature", v)]);
    assert_eq!(
        code(&a, &body, header(format!("t={ts},v1={v1_old},v1={v1_new}"))),
        "ok"
    );
    assert_eq!(
        code(&b, &body, header(format!("t={ts},v1={v1_new}"))),
        "replayed"
    );
    assert_eq!(
        code(&a, &body, header(format!("t={ts},v1={v1_old}"))),
        "replayed"
    );

    // two tenants, one Redis: the same message id is not shared
    let id = unique("msg");
    let (s1, s2) = (
        generate_secret(Scheme::Standard).unwrap(),
        generate_secret(Scheme::Standard).unwrap(),
    );
    let (t1, t2) = (
        verifier(Scheme::Standard, &[&s1]),
        verifier(Scheme::Standard, &[&s2]),
    );
    assert_eq!(
        code(
            &t1,
            b"{}",
            Headers::from_pairs(sign(Scheme::Standard, &s1, b"{}", Some(&id)))
        ),
        "ok"
    );
    assert_eq!(
        code(
            &t2,
            b"{}",
            Headers::from_pairs(sign(Scheme::Standard, &s2, b"{}", Some(&id)))
        ),
        "ok"
    );
    assert_eq!(
        code(
            &t2,
            b"{}",
            Headers::from_pairs(sign(Scheme::Standard, &s2, b"{}", Some(&id)))
        ),
        "replayed"
    );
}

/// The multi-key check is one atomic step on the server: a message is a
/// repeat if any of its keys is there, and then nothing new is written.
#[test]
fn redis_replay_guard_checks_all_keys_at_once() {
    let Some(url) = redis_url() else {
        return;
    };
    let g = RedisReplayGuard::open(&url).unwrap();
    let (a, b, c) = (unique("ka"), unique("kb"), unique("kc"));
    assert!(g.check_and_remember_all(&[&a, &b], 0, 300).unwrap());
    assert!(!g.check_and_remember_all(&[&c, &b], 0, 300).unwrap());
    // `c` was not written by the refused call
    assert!(g.check_and_remember(&c, 0, 300).unwrap());
    let shared = unique("race-shared");
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (url, shared) = (url.clone(), shared.clone());
            std::thread::spawn(move || {
                let own = format!("{}-own-{i}", shared);
                let g = RedisReplayGuard::open(&url).unwrap();
                usize::from(g.check_and_remember_all(&[&own, &shared], 0, 300).unwrap())
            })
        })
        .collect();
    let firsts: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(firsts, 1);
}

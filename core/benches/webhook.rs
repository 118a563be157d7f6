//! Webhook verify throughput per scheme, beside raw HMAC over the same bytes.
//!
//! `raw_hmac_sha256` / `raw_hmac_sha1` are the floor: a pre-keyed `hmac`
//! state cloned and run over the body, which is all a verifier must do at
//! minimum. Run: `cargo bench -p gatepass-core --bench webhook`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{
    Headers, ReplayGuard, ReplayGuardError, Scheme, SignOptions, VerifierOptions, WebhookSigner,
    WebhookVerifier,
};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_700_000_000;
const SIZES: [(usize, &str); 4] = [
    (100, "100B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];

/// (signing key, verifying key): the same secret, or for `discord` the
/// Ed25519 pair of RFC 8032 §7.1 test 1.
fn secret(scheme: Scheme) -> (&'static str, &'static str) {
    match scheme {
        Scheme::Standard => (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        Scheme::Discord => (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        ),
        _ => (
            "whsec_bench_secret_0123456789abcdef",
            "whsec_bench_secret_0123456789abcdef",
        ),
    }
}

/// A guard that always answers "first time": what remains is gatepass's own
/// work for the guard (digest of the signed content, one key per secret).
struct FirstTime;

impl ReplayGuard for FirstTime {
    fn check_and_remember_all(
        &self,
        keys: &[&str],
        _now: i64,
        _ttl: i64,
    ) -> Result<bool, ReplayGuardError> {
        black_box(keys);
        Ok(true)
    }
}

fn setup(scheme: Scheme, body: &[u8]) -> (WebhookVerifier, Headers, Option<String>) {
    setup_with(scheme, body, VerifierOptions::default())
}

fn setup_with(
    scheme: Scheme,
    body: &[u8],
    base: VerifierOptions,
) -> (WebhookVerifier, Headers, Option<String>) {
    let clock = ManualClock::new(NOW * 1000);
    let url = (scheme == Scheme::Twilio).then(|| {
        format!(
            "https://example.com/hook?bodySHA256={}",
            hex::encode(Sha256::digest(body))
        )
    });
    let signer = WebhookSigner::new(scheme, secret(scheme).0, clock.clone()).unwrap();
    let opts = SignOptions {
        id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
        timestamp: Some(NOW),
        url: url.clone(),
    };
    let headers = Headers::from_pairs(signer.sign(body, opts).unwrap());
    let options = VerifierOptions { clock, ..base };
    let verifier = WebhookVerifier::new(scheme, &[secret(scheme).1], options).unwrap();
    let _ok = verifier.verify(body, &headers, url.as_deref()).unwrap();
    (verifier, headers, url)
}

fn bench(c: &mut Criterion) {
    for (size, label) in SIZES {
        let body: Vec<u8> = (0..size)
            .map(|i| b"{\"a\":\"0123456789\"}"[i % 18])
            .collect();
        let mut g = c.benchmark_group(format!("webhook_verify/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 64 * 1024 {
            g.sample_size(20);
        }
        let key256 =
            Hmac::<Sha256>::new_from_slice(b"whsec_bench_secret_0123456789abcdef").unwrap();
        g.bench_function(BenchmarkId::from_parameter("raw_hmac_sha256"), |b| {
            b.iter(|| {
                let mut m = key256.clone();
                m.update(black_box(&body));
                black_box(m.finalize().into_bytes())
            })
        });
        let key1 = Hmac::<Sha1>::new_from_slice(b"whsec_bench_secret_0123456789abcdef").unwrap();
        g.bench_function(BenchmarkId::from_parameter("raw_hmac_sha1"), |b| {
            b.iter(|| {
                let mut m = key1.clone();
                m.update(black_box(&body));
                black_box(m.finalize().into_bytes())
            })
        });
        for scheme in Scheme::ALL {
            // the shared token does not depend on the body: measure it once
            if scheme == Scheme::Token && size != 1024 {
                continue;
            }
            let (v, h, url) = setup(scheme, &body);
            g.bench_function(BenchmarkId::from_parameter(scheme.as_str()), |b| {
                b.iter(|| {
                    v.verify(black_box(&body), black_box(&h), url.as_deref())
                        .unwrap()
                })
            });
        }
        g.finish();
    }
}

/// The same verifications with a replay guard: the cost of keying the guard
/// on the signed content (`FirstTime` isolates it from the store's).
fn bench_guarded(c: &mut Criterion) {
    for (size, label) in [(1024, "1KiB"), (64 * 1024, "64KiB")] {
        let body: Vec<u8> = (0..size)
            .map(|i| b"{\"a\":\"0123456789\"}"[i % 18])
            .collect();
        let mut g = c.benchmark_group(format!("webhook_verify_guarded/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        for scheme in Scheme::ALL {
            if scheme == Scheme::Token {
                continue;
            }
            let options = VerifierOptions {
                replay_guard: Some(std::sync::Arc::new(FirstTime)),
                ..VerifierOptions::default()
            };
            let (v, h, url) = setup_with(scheme, &body, options);
            g.bench_function(BenchmarkId::from_parameter(scheme.as_str()), |b| {
                b.iter(|| {
                    v.verify(black_box(&body), black_box(&h), url.as_deref())
                        .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench, bench_guarded
}
criterion_main!(benches);

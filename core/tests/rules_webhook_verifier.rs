//! The webhook verifier's own rules (the schemes' rules live with each
//! scheme), one statement per test: how many secrets, that any one of them
//! verifies, what the verifier reports about itself, the window's edges, and
//! what the replay guard is asked. Written so that breaking any one rule in
//! `core/src/webhook/verifier.rs` fails a test (`scripts/mutants.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{
    Headers, ReplayGuard, ReplayGuardError, Scheme, SignOptions, VerifierOptions, WebhookError,
    WebhookSigner, WebhookVerifier, DEFAULT_TOLERANCE, MAX_SECRETS,
};

const NOW_MS: i64 = 1_700_000_000_000;
const NOW: i64 = NOW_MS / 1000;

/// Remembers what it was asked, and answers like a real guard.
#[derive(Default)]
struct RecordingGuard {
    asked: Mutex<Vec<(String, i64, i64)>>,
}

impl RecordingGuard {
    fn asked(&self) -> Vec<(String, i64, i64)> {
        self.asked.lock().clone()
    }
}

impl ReplayGuard for RecordingGuard {
    fn check_and_remember_all(
        &self,
        keys: &[&str],
        now_secs: i64,
        ttl_secs: i64,
    ) -> Result<bool, ReplayGuardError> {
        let mut asked = self.asked.lock();
        let seen = keys
            .iter()
            .any(|key| asked.iter().any(|(k, _, _)| k == key));
        for key in keys {
            asked.push(((*key).to_owned(), now_secs, ttl_secs));
        }
        Ok(!seen)
    }
}

fn secret_for(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        _ => "s3cr3t-for-tests",
    }
}

struct Setup {
    clock: Arc<ManualClock>,
    guard: Arc<RecordingGuard>,
    verifier: WebhookVerifier,
    signer: WebhookSigner,
}

fn setup(scheme: Scheme, tolerance: Option<Duration>) -> Setup {
    let clock = ManualClock::new(NOW_MS);
    let guard = Arc::new(RecordingGuard::default());
    let options = VerifierOptions {
        tolerance,
        clock: clock.clone(),
        replay_guard: Some(guard.clone() as Arc<dyn ReplayGuard>),
        ..VerifierOptions::default()
    };
    // Discord signs with an Ed25519 key and verifies with its public half.
    let (signing, verifying) = if scheme == Scheme::Discord {
        gatepass_core::webhook::generate_keypair(scheme).unwrap()
    } else {
        (secret_for(scheme).to_owned(), secret_for(scheme).to_owned())
    };
    let verifier = WebhookVerifier::new(scheme, &[verifying.as_str()], options).unwrap();
    let signer = WebhookSigner::new(scheme, &signing, clock.clone()).unwrap();
    Setup {
        clock,
        guard,
        verifier,
        signer,
    }
}

const URL: &str = "https://example.com/hooks/twilio";

fn sign(s: &Setup, body: &[u8], id: Option<&str>) -> Headers {
    let url = (s.signer.scheme() == Scheme::Twilio).then(|| URL.to_owned());
    Headers::from_pairs(
        s.signer
            .sign(
                body,
                SignOptions {
                    id: id.map(str::to_owned),
                    url,
                    ..SignOptions::default()
                },
            )
            .unwrap(),
    )
}

fn url_for(s: &Setup) -> Option<&'static str> {
    (s.verifier.scheme() == Scheme::Twilio).then_some(URL)
}

#[test]
fn up_to_sixteen_secrets_are_held_and_any_one_of_them_verifies() {
    let secrets: Vec<String> = (0..MAX_SECRETS).map(|i| format!("secret-{i:02}")).collect();
    assert_eq!(secrets.len(), 16);
    let clock = ManualClock::new(NOW_MS);
    let options = || VerifierOptions {
        clock: clock.clone(),
        ..VerifierOptions::default()
    };
    let v = WebhookVerifier::new(Scheme::Stripe, &secrets, options()).unwrap();
    for secret in [&secrets[0], &secrets[7], &secrets[15]] {
        let signer = WebhookSigner::new(Scheme::Stripe, secret, clock.clone()).unwrap();
        let h = Headers::from_pairs(signer.sign(b"{}", SignOptions::default()).unwrap());
        assert!(v.verify(b"{}", &h, None).is_ok(), "{secret}");
    }
    let outsider = WebhookSigner::new(Scheme::Stripe, "not-held", clock.clone()).unwrap();
    let h = Headers::from_pairs(outsider.sign(b"{}", SignOptions::default()).unwrap());
    assert_eq!(
        v.verify(b"{}", &h, None).unwrap_err(),
        WebhookError::InvalidSignature
    );
    let mut seventeen = secrets.clone();
    seventeen.push("one-more".into());
    let e = WebhookVerifier::new(Scheme::Stripe, &seventeen, options()).unwrap_err();
    assert_eq!(e.code(), "config_error");
}

#[test]
fn every_scheme_verifies_what_its_signer_signed_and_reports_itself() {
    for scheme in Scheme::ALL {
        let s = setup(scheme, Some(DEFAULT_TOLERANCE));
        assert_eq!(s.verifier.scheme(), scheme);
        let h = sign(&s, b"{\"a\":1}", None);
        let ok = s.verifier.verify(b"{\"a\":1}", &h, url_for(&s)).unwrap();
        assert_eq!(ok.scheme, scheme);
        // One changed byte of the body is refused, for every scheme but the
        // shared token, which does not sign the body.
        let changed = s.verifier.verify(b"{\"a\":2}", &h, url_for(&s));
        if scheme == Scheme::Token {
            assert!(changed.is_ok());
        } else {
            assert_eq!(
                changed.unwrap_err(),
                WebhookError::InvalidSignature,
                "{scheme:?}"
            );
        }
    }
}

#[test]
fn the_verifier_keeps_the_options_it_was_given() {
    let clock = ManualClock::new(NOW_MS);
    let v = WebhookVerifier::new(
        Scheme::Github,
        &["s"],
        VerifierOptions {
            tolerance: Some(Duration::from_secs(42)),
            allow_sha1: true,
            clock: clock.clone(),
            replay_guard: None,
            header: None,
        },
    )
    .unwrap();
    assert_eq!(v.options().tolerance, Some(Duration::from_secs(42)));
    assert!(v.options().allow_sha1);
    assert!(v.options().replay_guard.is_none());
    assert_eq!(v.options().clock.now_secs(), NOW);
    let defaults = VerifierOptions::default();
    assert_eq!(defaults.tolerance, Some(Duration::from_secs(300)));
    assert!(!defaults.allow_sha1);
    assert!(defaults.replay_guard.is_none());
    let dbg = format!("{:?}", v.options());
    assert!(dbg.starts_with("VerifierOptions {"), "{dbg}");
    assert!(dbg.contains("tolerance: Some(42s)"), "{dbg}");
    assert!(dbg.contains("allow_sha1: true"), "{dbg}");
    assert!(dbg.contains("replay_guard: false"), "{dbg}");
}

#[test]
fn the_window_is_inclusive_at_exactly_the_tolerance_on_both_sides() {
    let s = setup(Scheme::Stripe, Some(Duration::from_secs(60)));
    let h = sign(&s, b"x", None);
    s.clock.set_ms(NOW_MS + 60_000);
    assert!(s.verifier.verify(b"x", &h, None).is_ok());
    s.clock.set_ms(NOW_MS + 61_000);
    assert_eq!(
        s.verifier.verify(b"x", &h, None).unwrap_err(),
        WebhookError::TimestampTooOld
    );
    s.clock.set_ms(NOW_MS - 60_000);
    let fresh = setup(Scheme::Stripe, Some(Duration::from_secs(60)));
    let h = sign(&fresh, b"y", None);
    fresh.clock.set_ms(NOW_MS - 60_000);
    assert!(fresh.verifier.verify(b"y", &h, None).is_ok());
    fresh.clock.set_ms(NOW_MS - 61_000);
    assert_eq!(
        fresh.verifier.verify(b"y", &h, None).unwrap_err(),
        WebhookError::TimestampTooNew
    );
}

#[test]
fn a_tolerance_of_zero_accepts_only_the_same_second() {
    let s = setup(Scheme::Slack, Some(Duration::ZERO));
    let h = sign(&s, b"x", None);
    assert!(s.verifier.verify(b"x", &h, None).is_ok());
    s.clock.set_ms(NOW_MS + 1_000);
    assert_eq!(
        s.verifier.verify(b"x", &h, None).unwrap_err(),
        WebhookError::TimestampTooOld
    );
}

#[test]
fn a_huge_tolerance_does_not_overflow() {
    let s = setup(Scheme::Standard, Some(Duration::from_secs(u64::MAX)));
    let h = sign(&s, b"x", None);
    s.clock.set_ms(0);
    assert!(s.verifier.verify(b"x", &h, None).is_ok());
}

#[test]
fn the_guard_is_asked_once_per_verified_message_with_its_remaining_window() {
    let s = setup(Scheme::Standard, Some(Duration::from_secs(300)));
    let h = sign(&s, b"x", Some("msg_1"));
    let first = s.verifier.verify(b"x", &h, None).unwrap();
    assert_eq!(first.id.as_deref(), Some("msg_1"));
    let asked = s.guard.asked();
    assert_eq!(asked.len(), 1);
    let (key, now, ttl) = &asked[0];
    assert!(key.starts_with("standard:"), "{key}");
    assert_eq!((*now, *ttl), (NOW, 301));
    // Ten seconds later, a new message signed now: the window is full again;
    // the first message, replayed: refused, and its key is the same.
    s.clock.advance_ms(10_000);
    let h2 = sign(&s, b"x", Some("msg_2"));
    assert!(s.verifier.verify(b"x", &h2, None).is_ok());
    assert_eq!(
        s.verifier.verify(b"x", &h, None).unwrap_err(),
        WebhookError::Replayed
    );
    let asked = s.guard.asked();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[1].2, 301);
    assert_eq!(asked[2].0, asked[0].0);
    assert_eq!(asked[2].2, 291);
    assert_ne!(asked[1].0, asked[0].0);
    // A forged message is refused before the guard is asked.
    let forged = Headers::from_pairs([
        ("webhook-id", "msg_3"),
        ("webhook-timestamp", &NOW.to_string()),
        (
            "webhook-signature",
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ),
    ]);
    assert_eq!(
        s.verifier.verify(b"x", &forged, None).unwrap_err(),
        WebhookError::InvalidSignature
    );
    assert_eq!(s.guard.asked().len(), 3);
}

#[test]
fn schemes_without_an_id_are_guarded_by_their_signature() {
    // Stripe and Slack (SHA-256) and Twilio without an idempotency token
    // (SHA-1): two messages, two keys; the same message again, refused.
    for scheme in [Scheme::Stripe, Scheme::Slack, Scheme::Twilio] {
        let s = setup(scheme, Some(DEFAULT_TOLERANCE));
        let url = url_for(&s);
        let a = sign(&s, b"a", None);
        let b = sign(&s, b"b", None);
        assert!(s.verifier.verify(b"a", &a, url).is_ok(), "{scheme:?}");
        assert!(s.verifier.verify(b"b", &b, url).is_ok(), "{scheme:?}");
        assert_eq!(
            s.verifier.verify(b"a", &a, url).unwrap_err(),
            WebhookError::Replayed,
            "{scheme:?}"
        );
        let asked = s.guard.asked();
        assert_eq!(asked.len(), 3, "{scheme:?}");
        assert_ne!(asked[0].0, asked[1].0, "{scheme:?}");
    }
}

#[test]
fn schemes_without_a_signed_timestamp_are_remembered_for_the_tolerance() {
    for (scheme, tolerance, ttl) in [
        (Scheme::Github, Some(Duration::from_secs(60)), 60),
        (Scheme::Shopify, None, 300),
        (Scheme::Twilio, Some(Duration::from_secs(5)), 5),
    ] {
        let s = setup(scheme, tolerance);
        let h = sign(&s, b"a", Some("delivery-1"));
        let ok = s.verifier.verify(b"a", &h, url_for(&s)).unwrap();
        assert_eq!(ok.timestamp, None, "{scheme:?}");
        assert_eq!(s.guard.asked()[0].2, ttl, "{scheme:?}");
    }
}

#[test]
fn a_shared_token_is_never_replay_guarded() {
    let s = setup(Scheme::Token, Some(DEFAULT_TOLERANCE));
    let h = sign(&s, b"a", None);
    assert!(s.verifier.verify(b"a", &h, None).is_ok());
    assert!(s.verifier.verify(b"a", &h, None).is_ok());
    assert!(s.guard.asked().is_empty());
}

/// `header_names` is what the framework helpers pass on (they copy only
/// those headers out of the request): it must name, lower-cased, every
/// header the verifier reads, so that a request cut down to them verifies.
#[test]
fn the_headers_a_verifier_names_are_all_it_needs() {
    let only_named = |v: &WebhookVerifier, pairs: Vec<(String, String)>| {
        let names = v.header_names();
        assert!(!names.is_empty(), "{:?}", v.scheme());
        for name in names {
            assert_eq!(*name, name.to_ascii_lowercase(), "{:?}", v.scheme());
        }
        Headers::from_pairs(
            pairs
                .into_iter()
                .filter(|(k, _)| names.contains(&k.to_ascii_lowercase().as_str())),
        )
    };
    for scheme in Scheme::ALL {
        let s = setup(scheme, Some(DEFAULT_TOLERANCE));
        let url = (scheme == Scheme::Twilio).then(|| URL.to_owned());
        let pairs = s
            .signer
            .sign(
                b"{}",
                SignOptions {
                    url,
                    ..SignOptions::default()
                },
            )
            .unwrap();
        let h = only_named(&s.verifier, pairs);
        assert!(
            s.verifier.verify(b"{}", &h, url_for(&s)).is_ok(),
            "{scheme:?}"
        );
    }
    // The shared token's header is the configured one, not the default.
    let clock = ManualClock::new(NOW_MS);
    let header = "X-Telegram-Bot-Api-Secret-Token";
    let v = WebhookVerifier::new(
        Scheme::Token,
        &["s3cr3t-for-tests"],
        VerifierOptions {
            clock: clock.clone(),
            header: Some(header.into()),
            ..VerifierOptions::default()
        },
    )
    .unwrap();
    assert_eq!(v.header_names(), [header.to_ascii_lowercase().as_str()]);
    let signer = WebhookSigner::new(Scheme::Token, "s3cr3t-for-tests", clock)
        .unwrap()
        .with_header(header)
        .unwrap();
    let h = only_named(&v, signer.sign(b"{}", SignOptions::default()).unwrap());
    assert!(v.verify(b"{}", &h, None).is_ok());
}

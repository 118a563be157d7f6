//! The replay guard keys on what was signed, per verifier: each attack here
//! re-sends a captured, genuinely signed delivery with only unsigned parts
//! changed, and must be refused as `replayed`; verifiers with different
//! secrets sharing one guard must not refuse each other's messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{
    Headers, MemoryReplayGuard, ReplayGuard, Scheme, SignOptions, VerifierOptions, WebhookSigner,
    WebhookVerifier,
};
use hmac::{Hmac, Mac};

const NOW_MS: i64 = 1_700_000_000_000;
const URL: &str = "https://hooks.example.com/twilio?tenant=7";
const FORM: &[u8] = b"MessageSid=SM1&From=%2B14155550100&Body=hello+there";

fn guard() -> Arc<dyn ReplayGuard> {
    Arc::new(MemoryReplayGuard::new(1000))
}

fn clock() -> Arc<ManualClock> {
    ManualClock::new(NOW_MS)
}

fn verifier(
    scheme: Scheme,
    secrets: &[&str],
    guard: &Arc<dyn ReplayGuard>,
    clock: &Arc<ManualClock>,
) -> WebhookVerifier {
    let options = VerifierOptions {
        clock: clock.clone(),
        replay_guard: Some(Arc::clone(guard)),
        allow_sha1: true,
        ..VerifierOptions::default()
    };
    WebhookVerifier::new(scheme, secrets, options).unwrap()
}

fn sign(
    scheme: Scheme,
    secret: &str,
    clock: &Arc<ManualClock>,
    body: &[u8],
    id: Option<&str>,
) -> Vec<(String, String)> {
    WebhookSigner::new(scheme, secret, clock.clone())
        .unwrap()
        .sign(
            body,
            SignOptions {
                id: id.map(str::to_owned),
                url: Some(URL.to_owned()),
                ..SignOptions::default()
            },
        )
        .unwrap()
}

/// `pairs` without the header `name`, plus `extra`.
fn with(pairs: &[(String, String)], name: &str, value: Option<&str>) -> Headers {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    if let Some(v) = value {
        out.push((name.to_owned(), v.to_owned()));
    }
    Headers::from_pairs(out)
}

fn code(v: &WebhookVerifier, body: &[u8], h: &Headers) -> &'static str {
    v.verify(body, h, Some(URL))
        .map(|_| "ok")
        .unwrap_or_else(|e| e.code())
}

/// The unsigned id header of github, shopify and twilio: a captured delivery
/// re-sent with another id, or with none, is the same message.
#[test]
fn changing_or_removing_an_unsigned_id_header_is_still_a_replay() {
    let cases = [
        (
            Scheme::Github,
            "x-github-delivery",
            &b"{\"action\":\"opened\"}"[..],
        ),
        (
            Scheme::Shopify,
            "x-shopify-webhook-id",
            b"{\"id\":820982911946154508}",
        ),
        (Scheme::Twilio, "i-twilio-idempotency-token", FORM),
    ];
    for (scheme, id_header, body) in cases {
        for replay_id in [Some("forged-2"), None] {
            let (g, c) = (guard(), clock());
            let v = verifier(scheme, &["s3cret-one"], &g, &c);
            let signed = sign(scheme, "s3cret-one", &c, body, Some("genuine-1"));
            assert_eq!(code(&v, body, &Headers::from_pairs(signed.clone())), "ok");
            let replay = with(&signed, id_header, replay_id);
            assert_eq!(
                code(&v, body, &replay),
                "replayed",
                "{scheme}: id header {replay_id:?}"
            );
        }
        // and the other way round: first without an id, then with one
        let (g, c) = (guard(), clock());
        let v = verifier(scheme, &["s3cret-one"], &g, &c);
        let signed = sign(scheme, "s3cret-one", &c, body, None);
        assert_eq!(code(&v, body, &Headers::from_pairs(signed.clone())), "ok");
        let replay = with(&signed, id_header, Some("new-id"));
        assert_eq!(code(&v, body, &replay), "replayed", "{scheme}: id added");
    }
}

/// Distinct messages are still accepted: the key is the signed content.
#[test]
fn different_signed_content_is_a_different_message() {
    for scheme in [Scheme::Github, Scheme::Shopify, Scheme::Twilio] {
        let (g, c) = (guard(), clock());
        let v = verifier(scheme, &["s3cret-one"], &g, &c);
        for body in [&b"a=1"[..], b"a=2", b"a=1&b=1"] {
            let h = Headers::from_pairs(sign(scheme, "s3cret-one", &c, body, Some("same-id")));
            assert_eq!(code(&v, body, &h), "ok", "{scheme}");
        }
    }
}

/// Twilio signs the sorted parameters, not the raw body, and the official
/// validators accept the URL with and without its default port: neither a
/// re-encoded form body nor `:443` makes a delivery new.
#[test]
fn twilio_reencoded_body_or_port_variant_is_still_a_replay() {
    let (g, c) = (guard(), clock());
    let v = verifier(Scheme::Twilio, &["tw-token"], &g, &c);
    let h = Headers::from_pairs(sign(Scheme::Twilio, "tw-token", &c, FORM, None));
    assert_eq!(code(&v, FORM, &h), "ok");
    let reordered = b"Body=hello%20there&From=%2B14155550100&MessageSid=SM1&MessageSid=SM1";
    assert_eq!(code(&v, reordered, &h), "replayed");
    let with_port = URL.replace(".com/", ".com:443/");
    let got = v.verify(FORM, &h, Some(&with_port)).unwrap_err();
    assert_eq!(got.code(), "replayed");
}

/// GitHub's two signatures of one delivery are one message: dropping the
/// sha256 header to fall back to sha1 (when allowed) is a replay.
#[test]
fn github_sha1_fallback_is_the_same_message() {
    let (g, c) = (guard(), clock());
    let secret = "gh-secret";
    let v = verifier(Scheme::Github, &[secret], &g, &c);
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let signed = sign(Scheme::Github, secret, &c, body, Some("d-1"));
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    sha1.update(body);
    let sha1 = format!("sha1={}", hex::encode(sha1.finalize().into_bytes()));
    let mut both = signed.clone();
    both.push(("X-Hub-Signature".into(), sha1.clone()));
    assert_eq!(code(&v, body, &Headers::from_pairs(both)), "ok");
    let only_sha1 = Headers::from_pairs([("X-Hub-Signature", sha1)]);
    assert_eq!(code(&v, body, &only_sha1), "replayed");
}

fn stripe_header_with_both(
    c: &Arc<ManualClock>,
    body: &[u8],
    a: &str,
    b: &str,
) -> (String, String, String) {
    let sig = |secret: &str| {
        let h = sign(Scheme::Stripe, secret, c, body, None);
        let v = h[0].1.clone();
        let (t, v1) = v.split_once(",v1=").unwrap();
        (t.to_owned(), v1.to_owned())
    };
    let (t, v1_a) = sig(a);
    let (t_b, v1_b) = sig(b);
    assert_eq!(t, t_b);
    (t, v1_a, v1_b)
}

/// During a rotation Stripe signs each event with both secrets. The event
/// accepted once must stay accepted once, whichever `v1=` is dropped.
#[test]
fn stripe_rotation_dropping_one_signature_is_still_a_replay() {
    let (old, new) = ("whsec_old_0123456789", "whsec_new_9876543210");
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    for order in [[old, new], [new, old]] {
        for dropped_first in [false, true] {
            let (g, c) = (guard(), clock());
            let v = verifier(Scheme::Stripe, &order, &g, &c);
            let (t, v1_old, v1_new) = stripe_header_with_both(&c, body, old, new);
            let both = format!("{t},v1={v1_old},v1={v1_new}");
            let only_old = format!("{t},v1={v1_old}");
            let only_new = format!("{t},v1={v1_new}");
            let seq = if dropped_first {
                [only_new, only_old, both]
            } else {
                [both, only_old, only_new]
            };
            let results: Vec<&str> = seq
                .iter()
                .map(|h| {
                    code(
                        &v,
                        body,
                        &Headers::from_pairs([("Stripe-Signature", h.as_str())]),
                    )
                })
                .collect();
            assert_eq!(results, ["ok", "replayed", "replayed"], "{order:?}");
        }
    }
}

/// Adding a secret to the list opens no replay window for a message accepted
/// under the old list, and the new list recognises it under either secret.
#[test]
fn adding_a_secret_keeps_messages_seen_before_the_rotation() {
    let (old, new) = ("whsec_old_0123456789", "whsec_new_9876543210");
    let body = br#"{"id":"evt_2"}"#;
    let (g, c) = (guard(), clock());
    let before = verifier(Scheme::Stripe, &[old], &g, &c);
    let (t, v1_old, v1_new) = stripe_header_with_both(&c, body, old, new);
    let h = |s: String| Headers::from_pairs([("Stripe-Signature", s)]);
    assert_eq!(
        code(&before, body, &h(format!("{t},v1={v1_old},v1={v1_new}"))),
        "ok"
    );
    let after = verifier(Scheme::Stripe, &[new, old], &g, &c);
    assert_eq!(
        code(&after, body, &h(format!("{t},v1={v1_new}"))),
        "replayed"
    );
    assert_eq!(
        code(&after, body, &h(format!("{t},v1={v1_old}"))),
        "replayed"
    );
    // and so for schemes without a timestamp
    let gh_before = verifier(Scheme::Github, &["gh-old"], &g, &c);
    let signed = Headers::from_pairs(sign(Scheme::Github, "gh-old", &c, body, None));
    assert_eq!(code(&gh_before, body, &signed), "ok");
    let gh_after = verifier(Scheme::Github, &["gh-new", "gh-old"], &g, &c);
    assert_eq!(code(&gh_after, body, &signed), "replayed");
}

/// Two tenants (different secrets) sharing one guard: the same message id
/// (standard) or the same body (github, shopify, stripe at the same second,
/// slack, twilio to the same URL) is a different message for each.
#[test]
fn verifiers_with_different_secrets_sharing_a_guard_do_not_collide() {
    let body = br#"{"ping":true}"#;
    for scheme in Scheme::ALL {
        if scheme == Scheme::Token {
            continue;
        }
        let (g, c) = (guard(), clock());
        // (signing key, verifying key): one secret for HMAC schemes, an
        // Ed25519 pair for discord.
        let keys = || {
            if scheme == Scheme::Discord {
                gatepass_core::webhook::generate_keypair(scheme).unwrap()
            } else {
                let secret = gatepass_core::webhook::generate_secret(scheme).unwrap();
                (secret.clone(), secret)
            }
        };
        let ((sign_a, verify_a), (sign_b, verify_b)) = (keys(), keys());
        let a = verifier(scheme, &[&verify_a], &g, &c);
        let b = verifier(scheme, &[&verify_b], &g, &c);
        let for_a = Headers::from_pairs(sign(scheme, &sign_a, &c, body, Some("msg_shared")));
        let for_b = Headers::from_pairs(sign(scheme, &sign_b, &c, body, Some("msg_shared")));
        assert_eq!(code(&a, body, &for_a), "ok", "{scheme}");
        assert_eq!(code(&b, body, &for_b), "ok", "{scheme}");
        assert_eq!(code(&a, body, &for_a), "replayed", "{scheme}");
        assert_eq!(code(&b, body, &for_b), "replayed", "{scheme}");
    }
}

/// Standard Webhooks signs its id: a retry of one message (same id, new
/// timestamp and signature) is refused, as the specification intends.
#[test]
fn standard_keys_on_its_signed_id() {
    let (g, c) = (guard(), clock());
    let secret = gatepass_core::webhook::generate_secret(Scheme::Standard).unwrap();
    let v = verifier(Scheme::Standard, &[&secret], &g, &c);
    let first = Headers::from_pairs(sign(Scheme::Standard, &secret, &c, b"{}", Some("msg_1")));
    assert_eq!(code(&v, b"{}", &first), "ok");
    c.advance_ms(5_000);
    let retry = Headers::from_pairs(sign(Scheme::Standard, &secret, &c, b"{}", Some("msg_1")));
    assert_eq!(code(&v, b"{}", &retry), "replayed");
    let next = Headers::from_pairs(sign(Scheme::Standard, &secret, &c, b"{}", Some("msg_2")));
    assert_eq!(code(&v, b"{}", &next), "ok");
}

/// The guard's keys reveal neither the secret nor the raw id or MAC.
#[test]
fn guard_keys_hold_no_secret_id_or_signature() {
    struct Spy(parking_lot::Mutex<Vec<String>>);
    impl ReplayGuard for Spy {
        fn check_and_remember_all(
            &self,
            keys: &[&str],
            _now: i64,
            _ttl: i64,
        ) -> Result<bool, gatepass_core::webhook::ReplayGuardError> {
            self.0.lock().extend(keys.iter().map(|k| (*k).to_owned()));
            Ok(true)
        }
    }
    let spy = Arc::new(Spy(parking_lot::Mutex::new(Vec::new())));
    let g: Arc<dyn ReplayGuard> = spy.clone();
    let c = clock();
    let v = verifier(
        Scheme::Stripe,
        &["whsec_aaaaaaaaaaaa", "whsec_bbbbbbbbbbbb"],
        &g,
        &c,
    );
    let signed = sign(Scheme::Stripe, "whsec_aaaaaaaaaaaa", &c, b"{}", None);
    assert_eq!(code(&v, b"{}", &Headers::from_pairs(signed.clone())), "ok");
    let keys = spy.0.lock().clone();
    assert_eq!(keys.len(), 2, "one key per secret");
    let mac = signed[0].1.split("v1=").nth(1).unwrap().to_owned();
    for k in &keys {
        assert!(k.starts_with("stripe:"));
        assert!(!k.contains("aaaa") && !k.contains("bbbb") && !k.contains(&mac));
    }
}

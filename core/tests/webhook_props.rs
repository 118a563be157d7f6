//! Property tests: sign → verify round-trips for every scheme, any changed
//! byte of a signed field fails, and rotation accepts old and new secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatepass_core::clock::{Clock, ManualClock};
use gatepass_core::webhook::{
    generate_keypair, generate_secret, Headers, Scheme, SignOptions, VerifierOptions,
    WebhookSigner, WebhookVerifier,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_700_000_000;

fn clock() -> Arc<dyn Clock> {
    ManualClock::new(NOW * 1000)
}

fn verifier(scheme: Scheme, secrets: &[String]) -> WebhookVerifier {
    let options = VerifierOptions {
        clock: clock(),
        ..VerifierOptions::default()
    };
    WebhookVerifier::new(scheme, secrets, options).unwrap()
}

/// A (signing, verifying) key for the scheme: one shared secret, or an
/// Ed25519 key pair for `discord`.
fn pair(scheme: Scheme) -> (String, String) {
    if scheme.is_asymmetric() {
        generate_keypair(scheme).unwrap()
    } else {
        let s = generate_secret(scheme).unwrap();
        (s.clone(), s)
    }
}

/// The URL a scheme is signed for: twilio JSON bodies carry `bodySHA256`.
fn url_for(scheme: Scheme, body: &[u8]) -> Option<String> {
    (scheme == Scheme::Twilio).then(|| {
        format!(
            "https://example.com/hook?x=1&bodySHA256={}",
            hex::encode(Sha256::digest(body))
        )
    })
}

fn sign(scheme: Scheme, secret: &str, body: &[u8], id: &str, ts: i64) -> Vec<(String, Vec<u8>)> {
    let signer = WebhookSigner::new(scheme, secret, clock()).unwrap();
    let opts = SignOptions {
        id: Some(id.to_owned()),
        timestamp: Some(ts),
        url: url_for(scheme, body),
    };
    signer
        .sign(body, opts)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect()
}

fn verify(
    v: &WebhookVerifier,
    body: &[u8],
    headers: &[(String, Vec<u8>)],
    url: Option<&str>,
) -> Result<(), String> {
    v.verify(
        body,
        &Headers::from_pairs(headers.iter().map(|(k, v)| (k, v))),
        url,
    )
    .map(|_| ())
    .map_err(|e| e.code().to_owned())
}

/// Signed header fields per scheme, whether they are hex (case-insensitive),
/// and the first byte that is part of the signed content.
fn signed_fields(scheme: Scheme) -> &'static [(&'static str, bool, usize)] {
    match scheme {
        Scheme::Standard => &[
            ("webhook-id", false, 0),
            ("webhook-timestamp", false, 0),
            ("webhook-signature", false, 0),
        ],
        Scheme::Stripe => &[("stripe-signature", true, 0)],
        Scheme::Github => &[("x-hub-signature-256", true, 0)],
        Scheme::Slack => &[
            ("x-slack-request-timestamp", false, 0),
            ("x-slack-signature", true, 0),
        ],
        Scheme::Shopify => &[("x-shopify-hmac-sha256", false, 0)],
        Scheme::Twilio => &[("x-twilio-signature", false, 0)],
        // "Token " is a case-insensitive scheme name; the secret follows it.
        Scheme::Token => &[("authorization", false, 6)],
        Scheme::Meta => &[("x-hub-signature-256", true, 0)],
        Scheme::Line => &[("x-line-signature", false, 0)],
        Scheme::Discord => &[
            ("x-signature-ed25519", true, 0),
            ("x-signature-timestamp", false, 0),
        ],
        Scheme::Intercom => &[("x-hub-signature", true, 0)],
        Scheme::Chatwoot => &[
            ("x-chatwoot-signature", true, 0),
            ("x-chatwoot-timestamp", false, 0),
        ],
    }
}

fn any_scheme() -> impl Strategy<Value = Scheme> {
    prop::sample::select(Scheme::ALL.to_vec())
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(scheme in any_scheme(), body in prop::collection::vec(any::<u8>(), 0..2048),
                  id in id(), skew in -300i64..=300) {
        let (secret, public) = pair(scheme);
        let v = verifier(scheme, std::slice::from_ref(&public));
        let h = sign(scheme, &secret, &body, &id, NOW + skew);
        let url = url_for(scheme, &body);
        prop_assert_eq!(verify(&v, &body, &h, url.as_deref()), Ok(()));
        let got = v.verify(&body, &Headers::from_pairs(h.iter().map(|(k, v)| (k, v))), url.as_deref()).unwrap();
        prop_assert_eq!(got.scheme, scheme);
        if scheme.has_timestamp() {
            prop_assert_eq!(got.timestamp, Some(NOW + skew));
        }
        if matches!(scheme, Scheme::Standard | Scheme::Github | Scheme::Shopify | Scheme::Twilio | Scheme::Chatwoot) {
            prop_assert_eq!(got.id.as_deref(), Some(id.as_str()));
        }
    }

    #[test]
    fn changed_body_byte_fails(scheme in any_scheme(), body in prop::collection::vec(any::<u8>(), 1..1024),
                               idx in any::<prop::sample::Index>(), flip in 1u8..=255) {
        // The token scheme does not sign the body.
        prop_assume!(scheme != Scheme::Token);
        let (secret, public) = pair(scheme);
        let v = verifier(scheme, std::slice::from_ref(&public));
        let h = sign(scheme, &secret, &body, "msg_1", NOW);
        let url = url_for(scheme, &body);
        let mut changed = body.clone();
        changed[idx.index(body.len())] ^= flip;
        prop_assert!(verify(&v, &changed, &h, url.as_deref()).is_err());
    }

    #[test]
    fn changed_header_byte_fails(scheme in any_scheme(), body in prop::collection::vec(any::<u8>(), 0..256),
                                 which in any::<prop::sample::Index>(), idx in any::<prop::sample::Index>(),
                                 flip in 1u8..=255) {
        let (secret, public) = pair(scheme);
        let v = verifier(scheme, std::slice::from_ref(&public));
        let mut h = sign(scheme, &secret, &body, "msg_p5jXN8AQM9LWM0D4loKWxJek", NOW);
        let fields = signed_fields(scheme);
        let (name, is_hex, start) = fields[which.index(fields.len())];
        let value = &mut h.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)).unwrap().1;
        let i = start + idx.index(value.len() - start);
        let before = value[i];
        let after = before ^ flip;
        // Hex is case-insensitive: an upper-cased digit is the same MAC.
        prop_assume!(!(is_hex && before.eq_ignore_ascii_case(&after)));
        value[i] = after;
        let url = url_for(scheme, &body);
        prop_assert!(verify(&v, &body, &h, url.as_deref()).is_err());
    }

    #[test]
    fn rotation_accepts_old_and_new(scheme in any_scheme(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let (old, old_public) = pair(scheme);
        let (new, new_public) = pair(scheme);
        let (stranger, _) = pair(scheme);
        let v = verifier(scheme, &[old_public, new_public]);
        let url = url_for(scheme, &body);
        for s in [&old, &new] {
            prop_assert_eq!(verify(&v, &body, &sign(scheme, s, &body, "msg_1", NOW), url.as_deref()), Ok(()));
        }
        prop_assert_eq!(
            verify(&v, &body, &sign(scheme, &stranger, &body, "msg_1", NOW), url.as_deref()),
            Err("invalid_signature".to_owned())
        );
    }

    /// Standard Webhooks' asymmetric form: `whsk_` signs `v1a`, `whpk_`
    /// verifies, also beside an HMAC secret (a sender moving between them);
    /// any changed byte of the body or signature fails.
    #[test]
    fn standard_asymmetric_round_trip(body in prop::collection::vec(any::<u8>(), 0..512),
                                      idx in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (sk, pk) = generate_keypair(Scheme::Standard).unwrap();
        let hmac = generate_secret(Scheme::Standard).unwrap();
        let v = verifier(Scheme::Standard, &[hmac.clone(), pk]);
        let h = sign(Scheme::Standard, &sk, &body, "msg_1", NOW);
        prop_assert!(h[2].1.starts_with(b"v1a,"));
        prop_assert_eq!(verify(&v, &body, &h, None), Ok(()));
        prop_assert_eq!(verify(&v, &body, &sign(Scheme::Standard, &hmac, &body, "msg_1", NOW), None), Ok(()));
        let mut sig = h.clone();
        let i = 4 + idx.index(sig[2].1.len() - 4);
        sig[2].1[i] ^= flip;
        prop_assert!(verify(&v, &body, &sig, None).is_err());
        // an HMAC-only verifier does not accept v1a, nor a key-only one v1
        let only_hmac = verifier(Scheme::Standard, std::slice::from_ref(&hmac));
        prop_assert_eq!(verify(&only_hmac, &body, &h, None), Err("invalid_signature".to_owned()));
    }

    /// Twilio form bodies: the signature covers the decoded, sorted parameters.
    #[test]
    fn twilio_form_round_trip(params in prop::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 0..8),
                              path in "[a-z]{1,10}") {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let url = format!("https://example.com/{path}?a=1");
        let signer = WebhookSigner::new(Scheme::Twilio, "12345", clock()).unwrap();
        let h = signer.sign(body.as_bytes(), SignOptions { url: Some(url.clone()), ..Default::default() }).unwrap();
        let v = verifier(Scheme::Twilio, &["12345".to_owned()]);
        let headers = Headers::from_pairs(h.clone());
        prop_assert!(v.verify(body.as_bytes(), &headers, Some(&url)).is_ok());
        // the same request seen on the explicit default port
        let with_port = url.replace("example.com", "example.com:443");
        prop_assert!(v.verify(body.as_bytes(), &headers, Some(&with_port)).is_ok());
        let other = format!("https://example.com/{path}x?a=1");
        prop_assert!(v.verify(body.as_bytes(), &headers, Some(&other)).is_err());
    }
}

/// Any non-UTF-8 body is signed and verified as bytes.
#[test]
fn non_utf8_bodies() {
    let body = [0xff_u8, 0xfe, 0x00, 0x80, b'{'];
    for scheme in Scheme::ALL {
        let (secret, public) = pair(scheme);
        let v = verifier(scheme, std::slice::from_ref(&public));
        let h = sign(scheme, &secret, &body, "msg_1", NOW);
        assert_eq!(
            verify(&v, &body, &h, url_for(scheme, &body).as_deref()),
            Ok(()),
            "{scheme}"
        );
    }
}

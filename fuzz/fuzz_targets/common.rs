//! Shared by the webhook fuzz targets: split the input into fields at NUL
//! bytes and run one verifier over them. The property checked is "no panic,
//! bounded time, and an error code from the documented set".

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{Headers, Scheme, VerifierOptions, WebhookVerifier, MemoryReplayGuard};

pub const CODES: [&str; 8] = [
    "missing_header",
    "invalid_header",
    "timestamp_too_old",
    "timestamp_too_new",
    "invalid_signature",
    "replayed",
    "replay_guard_failed",
    "config_error",
];

pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0).collect();
    out.resize(n, &[]);
    out
}

pub fn verifier(scheme: Scheme, secret: &str, allow_sha1: bool) -> WebhookVerifier {
    let options = VerifierOptions {
        tolerance: Some(Duration::from_secs(300)),
        allow_sha1,
        clock: ManualClock::new(1_614_265_330_000),
        replay_guard: Some(Arc::new(MemoryReplayGuard::new(64))),
        header: None,
    };
    // The second key: for `standard` an Ed25519 public key (RFC 8032 §7.1
    // test 1), so `v1a` entries are verified too; for `discord` another
    // public key (test 2).
    let second = match scheme {
        Scheme::Standard => "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        Scheme::Discord => "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        _ => "second-secret",
    };
    match WebhookVerifier::new(scheme, &[secret, second], options) {
        Ok(v) => v,
        Err(e) => panic!("fuzz setup: {e}"),
    }
}

pub fn check(v: &WebhookVerifier, body: &[u8], headers: &Headers, url: Option<&str>) {
    if let Err(e) = v.verify(body, headers, url) {
        assert!(CODES.contains(&e.code()), "undocumented code {}", e.code());
        let msg = e.to_string();
        assert!(!msg.contains("It's a Secret"), "secret in error message");
    }
}

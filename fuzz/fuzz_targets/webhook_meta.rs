#![no_main]
//! X-Hub-Signature-256 (sha256=hex), and the GET handshake query.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{meta_challenge, Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Meta, "It's a Secret to Everybody", false);
    }
    let f = common::fields(data, 3);
    let headers = Headers::from_pairs([("X-Hub-Signature-256", f[0])]);
    V.with(|v| common::check(v, f[2], &headers, None));
    let query = String::from_utf8_lossy(f[1]);
    match meta_challenge(&query, &["meatpacking"]) {
        Ok(challenge) => assert!(challenge.len() <= 128 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))),
        Err(e) => assert!(common::CODES.contains(&e.code()) && !e.to_string().contains("meatpacking")),
    }
});

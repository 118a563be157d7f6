#![no_main]
//! X-Hub-Signature-256 / X-Hub-Signature (sha1 allowed) / X-GitHub-Delivery.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Github, "It's a Secret to Everybody", true);
    }
    let f = common::fields(data, 5);
    let mut pairs = Vec::new();
    if f[0].first().is_some_and(|b| b & 1 == 1) {
        pairs.push(("X-Hub-Signature-256", f[1]));
    }
    pairs.push(("X-Hub-Signature", f[2]));
    pairs.push(("X-GitHub-Delivery", f[3]));
    let headers = Headers::from_pairs(pairs);
    V.with(|v| common::check(v, f[4], &headers, None));
});

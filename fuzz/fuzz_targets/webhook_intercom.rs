#![no_main]
//! X-Hub-Signature (sha1=hex).
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Intercom, "It's a Secret to Everybody", false);
    }
    let f = common::fields(data, 2);
    let headers = Headers::from_pairs([("X-Hub-Signature", f[0])]);
    V.with(|v| common::check(v, f[1], &headers, None));
});

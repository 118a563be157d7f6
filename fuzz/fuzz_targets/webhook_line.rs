#![no_main]
//! x-line-signature (base64).
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Line, "It's a Secret to Everybody", false);
    }
    let f = common::fields(data, 2);
    let headers = Headers::from_pairs([("x-line-signature", f[0])]);
    V.with(|v| common::check(v, f[1], &headers, None));
});

#![no_main]
//! Authorization: `Token x`, `Bearer x`, bare `x`.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Token, "s3cr3t", false);
    }
    let headers = Headers::from_pairs([("Authorization", data)]);
    V.with(|v| common::check(v, b"", &headers, None));
});

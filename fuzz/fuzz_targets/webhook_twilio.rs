#![no_main]
//! X-Twilio-Signature, URL port/quote variants, bodySHA256, form bodies.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Twilio, "12345", false);
    }
    let f = common::fields(data, 3);
    let url = String::from_utf8_lossy(f[1]);
    let headers = Headers::from_pairs([("X-Twilio-Signature", f[0])]);
    V.with(|v| common::check(v, f[2], &headers, Some(&url)));
});

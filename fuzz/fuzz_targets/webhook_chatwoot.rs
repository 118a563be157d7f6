#![no_main]
//! X-Chatwoot-Signature (sha256=hex) + X-Chatwoot-Timestamp + X-Chatwoot-Delivery.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Chatwoot, "It's a Secret to Everybody", false);
    }
    let f = common::fields(data, 4);
    let headers = Headers::from_pairs([
        ("X-Chatwoot-Signature", f[0]),
        ("X-Chatwoot-Timestamp", f[1]),
        ("X-Chatwoot-Delivery", f[2]),
    ]);
    V.with(|v| common::check(v, f[3], &headers, None));
});

#![no_main]
//! X-Signature-Ed25519 (hex) + X-Signature-Timestamp: strict Ed25519 on hostile input.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(
            Scheme::Discord, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", false);
    }
    let f = common::fields(data, 3);
    let headers = Headers::from_pairs([("X-Signature-Ed25519", f[0]), ("X-Signature-Timestamp", f[1])]);
    V.with(|v| common::check(v, f[2], &headers, None));
});

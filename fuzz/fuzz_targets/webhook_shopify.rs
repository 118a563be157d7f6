#![no_main]
//! X-Shopify-Hmac-Sha256 (base64) + X-Shopify-Webhook-Id.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Shopify, "test_secret_key", false);
    }
    let f = common::fields(data, 3);
    let headers = Headers::from_pairs([("X-Shopify-Hmac-Sha256", f[0]), ("X-Shopify-Webhook-Id", f[1])]);
    V.with(|v| common::check(v, f[2], &headers, None));
});

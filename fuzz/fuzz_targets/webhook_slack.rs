#![no_main]
//! X-Slack-Signature `v0=…` + X-Slack-Request-Timestamp.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier = common::verifier(Scheme::Slack, "8f742231b10e8888abcd99yyyzzz85a5", false);
    }
    let f = common::fields(data, 3);
    let headers = Headers::from_pairs([("X-Slack-Request-Timestamp", f[0]), ("X-Slack-Signature", f[1])]);
    V.with(|v| common::check(v, f[2], &headers, None));
});

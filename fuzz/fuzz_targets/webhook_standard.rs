#![no_main]
//! Standard Webhooks / Svix header parsing: id, timestamp, signature list.
use libfuzzer_sys::fuzz_target;
mod common;
use gatepass_core::webhook::{Headers, Scheme};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static V: gatepass_core::webhook::WebhookVerifier =
            common::verifier(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false);
    }
    let f = common::fields(data, 5);
    let prefix = if f[0].first().is_some_and(|b| b & 1 == 1) { "svix" } else { "webhook" };
    let headers = Headers::from_pairs([
        (format!("{prefix}-id"), f[1]),
        (format!("{prefix}-timestamp"), f[2]),
        (format!("{prefix}-signature"), f[3]),
    ]);
    V.with(|v| common::check(v, f[4], &headers, None));
});

//! Runs every vector in `tests/vectors/webhooks.json` (official libraries'
//! published vectors; see each vector's `source`) through `WebhookVerifier`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gatepass_core::clock::ManualClock;
use gatepass_core::webhook::{Headers, Scheme, VerifierOptions, WebhookVerifier};
use serde_json::Value;

fn load() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/webhooks.json"
    );
    let text = std::fs::read_to_string(path).expect("read vectors");
    let doc: Value = serde_json::from_str(&text).expect("parse vectors");
    doc["vectors"].as_array().expect("vectors array").clone()
}

fn body(v: &Value) -> Vec<u8> {
    if let Some(s) = v["body"].as_str() {
        s.as_bytes().to_vec()
    } else if let Some(b) = v["body_b64"].as_str() {
        base64::engine::general_purpose::STANDARD.decode(b).unwrap()
    } else if let Some(r) = v.get("body_repeat") {
        let n = usize::try_from(r["count"].as_u64().unwrap()).unwrap();
        r["text"].as_str().unwrap().repeat(n).into_bytes()
    } else {
        panic!("vector without body: {}", v["name"]);
    }
}

fn run(v: &Value) -> String {
    let scheme: Scheme = v["scheme"].as_str().unwrap().parse().unwrap();
    let secrets: Vec<String> = match v.get("secrets") {
        Some(list) => list
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
        None => vec![v["secret"].as_str().unwrap().to_owned()],
    };
    // `now: null` = the scheme signs no time; any clock will do.
    let now = v["now"].as_i64().unwrap_or(1_700_000_000);
    let tolerance = match v.get("tolerance") {
        None => Some(Duration::from_secs(300)),
        Some(Value::Null) => None,
        Some(t) => Some(Duration::from_secs(t.as_u64().unwrap())),
    };
    let options = VerifierOptions {
        tolerance,
        allow_sha1: v["allow_sha1"].as_bool().unwrap_or(false),
        clock: ManualClock::new(now * 1000) as Arc<_>,
        replay_guard: None,
        header: v["header"].as_str().map(str::to_owned),
    };
    let verifier = WebhookVerifier::new(scheme, &secrets, options).unwrap();
    let headers = Headers::from_pairs(
        v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, val)| (k.clone(), val.as_str().unwrap().to_owned())),
    );
    match verifier.verify(&body(v), &headers, v["url"].as_str()) {
        Ok(_) => "valid".to_owned(),
        Err(e) => e.code().to_owned(),
    }
}

#[test]
fn every_vector_gives_its_expected_outcome() {
    let vectors = load();
    assert!(vectors.len() >= 70, "only {} vectors", vectors.len());
    let mut failures = Vec::new();
    for v in &vectors {
        assert!(
            v["source"].as_str().is_some_and(|s| !s.is_empty()),
            "vector without source: {}",
            v["name"]
        );
        let got = run(v);
        let want = v["expect"].as_str().unwrap();
        if got != want {
            failures.push(format!("{}: expected {want}, got {got}", v["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn every_scheme_has_vectors() {
    let vectors = load();
    for scheme in Scheme::ALL {
        let n = vectors
            .iter()
            .filter(|v| v["scheme"] == scheme.as_str())
            .count();
        assert!(n >= 3, "{scheme}: {n} vectors");
    }
}

#[test]
fn valid_vectors_fail_with_any_other_secret() {
    for v in load().iter().filter(|v| v["expect"] == "valid") {
        let mut w = v.clone();
        let scheme = v["scheme"].as_str().unwrap();
        // Another key of the same kind: Ed25519 public keys (RFC 8032
        // §7.1 test 2's) for the asymmetric forms, secrets for the rest.
        let asymmetric = v["secret"].as_str().is_some_and(|s| s.starts_with("whpk_"));
        let other = match scheme {
            "standard" if asymmetric => "whpk_PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
            "standard" => "whsec_b3RoZXIgc2VjcmV0",
            "discord" => "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            _ => "other secret",
        };
        w.as_object_mut().unwrap().remove("secrets");
        w["secret"] = Value::from(other);
        assert_ne!(run(&w), "valid", "{}", v["name"]);
    }
}

/// Meta's `GET` subscription handshake: the shared `meta_challenge` vectors.
#[test]
fn meta_challenge_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/webhooks.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["meta_challenge"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        let tokens: Vec<&str> = c["verify_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let got =
            match gatepass_core::webhook::meta_challenge(c["query"].as_str().unwrap(), &tokens) {
                Ok(challenge) => challenge,
                Err(e) => e.code().to_owned(),
            };
        assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["name"]);
    }
}

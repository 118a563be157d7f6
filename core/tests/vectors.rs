//! The shared vectors in `tests/vectors/` that the Python and Node suites
//! load too: tokens, Authorization headers, scopes and the outcome → HTTP map.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatepass_core::clock::ManualClock;
use gatepass_core::header::{parse_authorization, HeaderError};
use gatepass_core::outcome::{Challenge, Outcome, Verification};
use gatepass_core::ratelimit::{gcra, RateLimit};
use gatepass_core::scope::{default_implications, parse_list, Expr, ScopeSet};
use gatepass_core::store::MemoryStore;
use gatepass_core::token::{ParsedToken, TokenFormatError};
use gatepass_core::{Gate, IssueRequest, Policy, Requirement, Scope};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn token_vectors() {
    let v = load("tokens.json");
    let valid = v["valid"].as_array().unwrap();
    assert!(valid.len() >= 5);
    for case in valid {
        let token = case["token"].as_str().unwrap();
        let parsed = ParsedToken::parse(token).unwrap_or_else(|e| panic!("{token}: {e}"));
        assert_eq!(parsed.prefix(), case["prefix"].as_str().unwrap());
        assert_eq!(parsed.start(), case["start"].as_str().unwrap());
        assert_eq!(
            hex::encode(parsed.digest().as_bytes()),
            case["sha256"].as_str().unwrap()
        );
    }
    for case in v["invalid"].as_array().unwrap() {
        let token = case["token"].as_str().unwrap();
        let expected = match case["error"].as_str().unwrap() {
            "missing_separator" => TokenFormatError::MissingSeparator,
            "invalid_prefix" => TokenFormatError::InvalidPrefix,
            "invalid_body" => TokenFormatError::InvalidBody,
            "checksum_mismatch" => TokenFormatError::ChecksumMismatch,
            other => panic!("unknown error {other}"),
        };
        assert_eq!(ParsedToken::parse(token).err(), Some(expected), "{token}");
    }
}

#[test]
fn header_vectors() {
    let v = load("headers.json");
    let schemes = strings(&v["schemes"]);
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() > 20);
    for case in cases {
        let header = case["header"].as_str();
        let result = parse_authorization(header.map(str::as_bytes), &schemes);
        match case["expect"].as_str().unwrap() {
            "ok" => {
                let c = result.unwrap_or_else(|e| panic!("{header:?}: {e}"));
                assert_eq!(c.scheme, case["scheme"].as_str(), "{header:?}");
                assert_eq!(c.token, case["token"].as_str().unwrap());
            }
            code => {
                let e: HeaderError = result
                    .err()
                    .unwrap_or_else(|| panic!("{header:?} was accepted"));
                let got = if e.is_missing_credentials() {
                    "missing_credentials"
                } else {
                    "invalid_request"
                };
                assert_eq!(got, code, "{header:?}: {e}");
            }
        }
    }
}

#[test]
fn scope_vectors() {
    let v = load("scopes.json");
    for s in strings(&v["valid_scopes"]) {
        assert!(Scope::parse(&s).is_ok(), "{s}");
    }
    for s in strings(&v["invalid_scopes"]) {
        assert!(Scope::parse(&s).is_err(), "{s}");
    }
    for e in strings(&v["invalid_expressions"]) {
        assert!(Expr::parse(&e).is_err(), "{e}");
    }
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() > 15);
    for case in cases {
        let held = ScopeSet::effective(
            &parse_list(&strings(&case["granted"])).unwrap(),
            &default_implications(),
        );
        let requirement = if let Some(all) = case.get("all") {
            Requirement::all(&strings(all)).unwrap()
        } else if let Some(any) = case.get("any") {
            Requirement::any(&strings(any)).unwrap()
        } else {
            Requirement::expr(case["expr"].as_str().unwrap()).unwrap()
        };
        let missing: Vec<String> = requirement
            .missing(&held)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(missing, strings(&case["missing"]), "{case}");
    }
}

#[test]
fn outcome_vectors() {
    let v = load("outcomes.json");
    let list = v["outcomes"].as_array().unwrap();
    assert_eq!(list.len(), Outcome::ALL.len());
    let challenge = Arc::new(Challenge {
        realm: "api".into(),
        schemes: vec!["Bearer".into(), "Token".into()],
        disclose_key_state: true,
    });
    for (case, outcome) in list.iter().zip(Outcome::ALL) {
        assert_eq!(case["code"].as_str().unwrap(), outcome.code());
        assert_eq!(
            case["status"].as_u64().unwrap(),
            u64::from(outcome.status())
        );
        let limit: RateLimit = "10/minute".parse().unwrap();
        let (rate, _) = gcra(&limit, Some(1_000_000), 0);
        let is_429 = outcome.status() == 429;
        let v = Verification {
            outcome,
            detail: "why".into(),
            key: None,
            missing_scopes: vec![Scope::parse("bots:write").unwrap()],
            rate: is_429.then_some(rate),
            scheme: None,
            challenge: Arc::clone(&challenge),
        };
        let headers = v.headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let www = get("WWW-Authenticate");
        match case["challenge_error"].as_str() {
            None => assert_eq!(www, None, "{}", outcome.code()),
            Some("challenges") => assert_eq!(www, case["www_authenticate"].as_str()),
            Some(error) => assert!(
                www.unwrap().contains(&format!("error=\"{error}\"")),
                "{www:?}"
            ),
        }
        assert_eq!(
            get("Retry-After").is_some(),
            case["retry_after"].as_bool() == Some(true),
            "{}",
            outcome.code()
        );
        assert_eq!(get("RateLimit").is_some(), is_429);
        assert_eq!(get("RateLimit-Policy").is_some(), is_429);
        let problem = v.problem();
        assert_eq!(problem.is_none(), outcome == Outcome::Valid);
        if let Some(p) = problem {
            assert_eq!(p.code, outcome.code());
            assert_eq!(p.status, outcome.status());
        }
    }
}

/// Real keys in each of the four states, verified by a gate whose policy
/// comes from the vector: one answer for all four, precise codes underneath.
#[test]
fn key_state_concealed_vectors() {
    let v = load("outcomes.json");
    let case = &v["key_state_concealed"];
    let policy = Policy::from_json(&case["policy"].to_string()).unwrap();
    assert!(!policy.disclose_key_state);
    let clock = ManualClock::new(1_800_000_000_000);
    let answers = |policy: Policy| {
        let gate =
            Gate::new(Arc::new(MemoryStore::new()), policy).with_clock(Arc::clone(&clock) as _);
        let issue = |name: &str| {
            gate.issue(IssueRequest {
                name: name.into(),
                scopes: vec![Scope::parse("bots:read").unwrap()],
                expires_in: Some(std::time::Duration::from_secs(60)),
                ..Default::default()
            })
            .unwrap()
        };
        let inactive = issue("inactive");
        gate.deactivate(&inactive.key.id).unwrap();
        let revoked = issue("revoked");
        gate.revoke(&revoked.key.id).unwrap();
        let expired = issue("expired");
        let no_scope = gate
            .issue(IssueRequest {
                name: "no scope".into(),
                ..Default::default()
            })
            .unwrap();
        clock.advance_ms(60_000);
        let tokens = [
            ("unknown_key", gatepass_core::Token::mint("gp").unwrap()),
            ("inactive", inactive.token),
            ("revoked", revoked.token),
            ("expired", expired.token),
            ("insufficient_scope", no_scope.token),
        ];
        let read = Requirement::all(&["bots:read"]).unwrap();
        let mut out: Vec<(String, Verification)> = tokens
            .iter()
            .map(|(code, t)| {
                let header = format!("Bearer {}", t.expose());
                let v = gate.verify(Some(header.as_bytes()), &read, None).unwrap();
                assert_eq!(v.code(), *code, "the verification keeps the precise code");
                ((*code).to_owned(), v)
            })
            .collect();
        let malformed = gate.verify(Some(b"Bearer gp_x"), &read, None).unwrap();
        out.push(("malformed_token".into(), malformed));
        out
    };
    let concealed = strings(&case["outcomes"]);
    let unchanged = strings(&case["unchanged"]);
    for (code, v) in answers(policy) {
        let http = v.http();
        let www = http
            .headers
            .iter()
            .find(|(n, _)| n == "WWW-Authenticate")
            .map(|(_, v)| v.as_str());
        let problem = http.problem.unwrap();
        if concealed.contains(&code) {
            assert_eq!(u64::from(http.status), case["status"].as_u64().unwrap());
            assert_eq!(www, case["www_authenticate"].as_str(), "{code}");
            assert_eq!(http.headers.len(), 1, "{code}");
            assert_eq!(problem.to_json(), case["problem_json"].as_str().unwrap());
            assert_eq!(
                serde_json::to_value(&problem).unwrap(),
                case["problem"],
                "{code}"
            );
        } else {
            assert!(unchanged.contains(&code), "{code}");
            assert_eq!(problem.code, code);
        }
    }
    // Without the setting every state is told apart, as before.
    for (code, v) in answers(Policy::default()) {
        assert_eq!(v.problem().unwrap().code, code);
    }
}

#[test]
fn error_vectors() {
    use gatepass_core::errors::{classes, lookup, render, CODES};
    use gatepass_core::webhook::Scheme;

    let v = load("errors.json");
    // The class set every binding defines.
    let expected: Vec<(String, Option<String>)> = v["classes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, p)| (k.clone(), p.as_str().map(str::to_owned)))
        .collect();
    let mut got: Vec<(String, Option<String>)> = classes()
        .into_iter()
        .map(|(c, p)| (c.to_owned(), (!p.is_empty()).then(|| p.to_owned())))
        .collect();
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let cases = v["cases"].as_array().unwrap();
    let outcomes = v["outcome_classes"].as_array().unwrap();
    // Every code in the table reaches HTTP and has a vector.
    for row in CODES {
        assert!(
            cases.iter().chain(outcomes).any(|c| c["code"] == row.code),
            "no vector for {}",
            row.code
        );
    }
    for case in outcomes {
        let row = lookup(case["code"].as_str().unwrap());
        assert_eq!(row.code, case["code"].as_str().unwrap());
        assert_eq!(row.class, case["class"].as_str().unwrap());
        assert_eq!(u64::from(row.status), case["status"].as_u64().unwrap());
        assert_eq!(row.title, case["title"].as_str().unwrap());
    }
    for case in cases {
        let code = case["code"].as_str().unwrap();
        let row = lookup(code);
        assert_eq!(row.code, code);
        assert_eq!(row.class, case["class"].as_str().unwrap(), "{code}");
        let scheme = case["webhook_scheme"]
            .as_str()
            .map(|s| s.parse::<Scheme>().unwrap());
        let http = render(code, case["message"].as_str().unwrap(), scheme);
        assert_eq!(
            u64::from(http.status),
            case["status"].as_u64().unwrap(),
            "{code}"
        );
        let headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let mut got = http.headers.clone();
        got.sort();
        let mut want = headers;
        want.sort();
        assert_eq!(got, want, "{code} {scheme:?}");
        let body: Value = serde_json::from_str(&http.problem.unwrap().to_json()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": case["title"],
                "status": case["status"],
                "detail": case["detail"],
                "code": code,
            }),
            "{code}"
        );
    }
}

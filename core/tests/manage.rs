//! The management API through `manage::handle`, as every framework mount
//! calls it: the card lifecycle, owner isolation, the same-origin and JSON
//! rules, where tokens may appear, bounded input, and garbage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::RefCell;
use std::sync::Arc;

use gatepass_core::clock::ManualClock;
use gatepass_core::manage::{self, Actor, Principal, Request, Response, MAX_BODY_BYTES};
use gatepass_core::{store, Gate, Outcome, Policy, Requirement, Scope};
use proptest::prelude::*;
use serde_json::{json, Value};

const ORIGIN: &str = "https://app.example";
const NOW: i64 = 1_795_951_057_000; // 2026-11-29T11:17:37Z

/// One answer, with its body read as JSON where it is JSON.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    json: Value,
}

impl Answer {
    fn from(r: Response) -> Self {
        let json = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        Self {
            status: r.status,
            headers: r.headers,
            body: r.body,
            json,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// Asserts a problem answer with `status` and `code`.
    fn problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.json["status"], json!(status));
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A gate, a principal, and every answer it was given (for the token scan).
struct Api {
    gate: Arc<Gate>,
    clock: Arc<ManualClock>,
    principal: Principal,
    answers: RefCell<Vec<(String, Answer)>>,
}

fn same_origin_headers() -> Vec<(String, String)> {
    vec![
        ("Origin".into(), ORIGIN.into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

impl Api {
    fn on(url: &str, policy: Policy, principal: Principal) -> Self {
        let clock = ManualClock::new(NOW);
        let gate = Gate::new(store::open(url).unwrap(), policy)
            .with_clock(Arc::clone(&clock) as Arc<dyn gatepass_core::clock::Clock>);
        Self {
            gate: Arc::new(gate),
            clock,
            principal,
            answers: RefCell::default(),
        }
    }

    fn as_principal(&self, principal: Principal) -> Self {
        Self {
            gate: Arc::clone(&self.gate),
            clock: Arc::clone(&self.clock),
            principal,
            answers: RefCell::default(),
        }
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Answer {
        let r = manage::handle(
            &self.gate,
            &self.principal,
            &Request {
                method,
                path,
                query,
                headers,
                self_origin: Some(ORIGIN),
                body,
            },
        );
        assert!(r.status < 500, "{method} {path}: {r:?}");
        let a = Answer::from(r);
        self.answers.borrow_mut().push((
            format!("{method} {path}"),
            Answer {
                status: a.status,
                headers: a.headers.clone(),
                body: a.body.clone(),
                json: a.json.clone(),
            },
        ));
        a
    }

    fn get(&self, path: &str, query: &str) -> Answer {
        self.raw("GET", path, query, &[], b"")
    }

    fn send(&self, method: &str, path: &str, body: Value) -> Answer {
        self.raw(
            method,
            path,
            "",
            &same_origin_headers(),
            body.to_string().as_bytes(),
        )
    }

    fn create(&self, body: Value) -> Answer {
        self.send("POST", "keys", body)
    }

    fn verify(&self, token: &str) -> Outcome {
        self.gate
            .verify(
                Some(format!("Bearer {token}").as_bytes()),
                &Requirement::none(),
                None,
            )
            .unwrap()
            .outcome
    }
}

fn owner(name: &str) -> Principal {
    Principal::owner(name, Actor::new(format!("user:{name}")))
}

/// Every store the tests run on: memory, a SQLite file, and Postgres when
/// `scripts/services.sh` started it.
fn store_urls(dir: &tempfile::TempDir) -> Vec<String> {
    let mut urls = vec![
        "memory://".to_owned(),
        format!("sqlite:///{}", dir.path().join("manage.db").display()),
    ];
    urls.extend(common::fresh_postgres_schema());
    urls
}

fn key_paths(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("keys/{id}")),
        ("PATCH", format!("keys/{id}")),
        ("POST", format!("keys/{id}/regenerate")),
        ("POST", format!("keys/{id}/deactivate")),
        ("POST", format!("keys/{id}/activate")),
        ("POST", format!("keys/{id}/revoke")),
        ("GET", format!("keys/{id}/usage")),
    ]
}

#[test]
fn the_whole_card_lifecycle_on_every_store() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(&dir) {
        let api = Api::on(&url, Policy::default(), owner("ws_1"));
        // An empty state first.
        let empty = api.get("keys", "");
        assert_eq!(empty.status, 200, "{url}");
        assert_eq!(empty.json, json!({"keys": [], "next": null}));

        // Create: the token once, 201, no-store, Location.
        let created = api.create(json!({"name": "CI deploys", "expires_in": "30d"}));
        assert_eq!(created.status, 201, "{url}: {}", created.text());
        assert_eq!(created.header("cache-control"), Some("no-store"));
        let token = created.json["token"].as_str().unwrap().to_owned();
        let key = &created.json["key"];
        let id = key["id"].as_str().unwrap().to_owned();
        assert_eq!(
            created.header("location"),
            Some(format!("keys/{id}").as_str())
        );
        assert_eq!(key["name"], "CI deploys");
        assert_eq!(key["status"], "active");
        assert_eq!(key["kind"], "default");
        assert_eq!(key["usage_count"], 0);
        assert_eq!(key["created_at"], "2026-11-29T11:17:37.000Z");
        assert_eq!(key["expires_at"], "2026-12-29T11:17:37.000Z");
        assert_eq!(key["last_used_at"], Value::Null);
        assert!(
            key.get("subject").is_none(),
            "an owner is not told the subject"
        );
        let prefix = key["prefix"].as_str().unwrap();
        assert!(prefix.ends_with('…'), "{prefix}");
        assert_eq!(prefix.trim_end_matches('…'), &token[..7]);

        // Used: the card's usage rises and last_used_at is set.
        assert_eq!(api.verify(&token), Outcome::Valid);
        api.clock.advance_ms(1_000);
        assert_eq!(api.verify(&token), Outcome::Valid);
        let card = api.get(&format!("keys/{id}"), "");
        assert_eq!(card.json["usage_count"], 2, "{url}");
        assert_eq!(card.json["last_used_at"], "2026-11-29T11:17:38.000Z");

        // Deactivate: the token stops working; activate: it works again.
        let off = api.send("POST", &format!("keys/{id}/deactivate"), json!({}));
        assert_eq!((off.status, &off.json["status"]), (200, &json!("inactive")));
        assert_eq!(api.verify(&token), Outcome::Inactive);
        let on = api.send("POST", &format!("keys/{id}/activate"), json!({}));
        assert_eq!(on.json["status"], "active");
        assert_eq!(api.verify(&token), Outcome::Valid);

        // Rename, change scopes and expiry.
        let changed = api.send(
            "PATCH",
            &format!("keys/{id}"),
            json!({"name": "CI deploys (prod)", "scopes": ["bots:read"], "expires_at": "2027-01-31T00:00:00+01:00"}),
        );
        assert_eq!(changed.status, 200, "{}", changed.text());
        assert_eq!(changed.json["name"], "CI deploys (prod)");
        assert_eq!(changed.json["scopes"], json!(["bots:read"]));
        assert_eq!(changed.json["expires_at"], "2027-01-30T23:00:00.000Z");
        let never = api.send("PATCH", &format!("keys/{id}"), json!({"expires_at": null}));
        assert_eq!(never.json["expires_at"], Value::Null);

        // Regenerate: the old token fails, the new one works, same id.
        let regenerated = api.send("POST", &format!("keys/{id}/regenerate"), json!({}));
        assert_eq!(regenerated.status, 200, "{}", regenerated.text());
        assert_eq!(regenerated.header("cache-control"), Some("no-store"));
        let new_token = regenerated.json["token"].as_str().unwrap().to_owned();
        assert_eq!(regenerated.json["key"]["id"], json!(id));
        assert_ne!(new_token, token);
        assert_ne!(api.verify(&token), Outcome::Valid);
        assert_eq!(api.verify(&new_token), Outcome::Valid);
        assert_eq!(
            regenerated.json["key"]["prefix"]
                .as_str()
                .unwrap()
                .trim_end_matches('…'),
            &new_token[..7]
        );

        // With a grace period the old token keeps working for it.
        let graced = api.send(
            "POST",
            &format!("keys/{id}/regenerate"),
            json!({"grace": "1h"}),
        );
        let newest = graced.json["token"].as_str().unwrap().to_owned();
        assert_eq!(api.verify(&new_token), Outcome::Valid);
        assert_eq!(api.verify(&newest), Outcome::Valid);

        // Revoke: permanent; nothing brings it back.
        let revoked = api.send("POST", &format!("keys/{id}/revoke"), json!({}));
        assert_eq!(revoked.json["status"], "revoked");
        assert_eq!(api.verify(&newest), Outcome::Revoked);
        api.send("POST", &format!("keys/{id}/activate"), json!({}))
            .problem(409, "invalid_state");
        api.send("POST", &format!("keys/{id}/regenerate"), json!({}))
            .problem(409, "invalid_state");
        api.send("PATCH", &format!("keys/{id}"), json!({"name": "back"}))
            .problem(409, "invalid_state");
        // Revoking twice is not an error.
        assert_eq!(
            api.send("POST", &format!("keys/{id}/revoke"), json!({}))
                .status,
            200
        );

        // The list shows the card as it now is.
        let list = api.get("keys", "");
        assert_eq!(list.json["keys"].as_array().unwrap().len(), 1);
        assert_eq!(list.json["keys"][0]["status"], "revoked");
        assert_eq!(list.json["keys"][0]["usage_count"], 6, "{url}");
    }
}

#[test]
fn another_owners_key_is_404_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(&dir) {
        let alice = Api::on(&url, Policy::default(), owner("alice"));
        let theirs = alice.create(json!({"name": "alice's"}));
        let id = theirs.json["key"]["id"].as_str().unwrap().to_owned();
        let token = theirs.json["token"].as_str().unwrap().to_owned();
        let bob = alice.as_principal(owner("bob"));
        bob.clock.advance_ms(1);
        let mine = bob.create(json!({"name": "bob's"}));
        assert_eq!(mine.status, 201);

        // A key that exists nowhere is answered exactly alike.
        let nobody = "key_0000000000000000";
        for ((method, path), (_, missing)) in key_paths(&id).into_iter().zip(key_paths(nobody)) {
            let body = if method == "PATCH" {
                json!({"name": "mine now"})
            } else {
                json!({})
            };
            let a = bob.send(method, &path, body.clone());
            a.problem(404, "not_found");
            let b = bob.send(method, &missing, body);
            assert_eq!(a.body, b.body, "{method} {path}");
            assert!(!a.text().contains(&id), "{}", a.text());
        }
        // Bob's list holds only his key; alice's key is untouched.
        let list = bob.get("keys", "");
        let names: Vec<&str> = list.json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["bob's"]);
        let still = alice.get(&format!("keys/{id}"), "");
        assert_eq!(
            (still.json["name"].as_str(), still.json["status"].as_str()),
            (Some("alice's"), Some("active")),
            "{url}"
        );
        assert_eq!(alice.verify(&token), Outcome::Valid);

        // Operator mode sees every owner's keys, with their subject.
        let operator = alice.as_principal(Principal::operator(Actor::new("ops")));
        let all = operator.get("keys", "");
        assert_eq!(all.json["keys"].as_array().unwrap().len(), 2);
        assert_eq!(all.json["keys"][0]["subject"], "alice");
    }
}

#[test]
fn malformed_ids_and_tokens_in_place_of_ids_are_404_and_never_echoed() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let token = api.create(json!({"name": "x"})).json["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [
        token.as_str(),
        "key_short",
        "KEY_0000000000000000",
        "..",
        "%2e%2e",
    ] {
        for (method, path) in key_paths(id) {
            let a = api.send(method, &path, json!({}));
            a.problem(404, "not_found");
            assert!(!a.text().contains(id), "{method} {path}: {}", a.text());
        }
    }
}

#[test]
fn cross_origin_and_non_json_changes_are_refused_and_change_nothing() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let created = api.create(json!({"name": "target"}));
    let id = created.json["key"]["id"].as_str().unwrap().to_owned();
    let json_type = ("Content-Type".to_owned(), "application/json".to_owned());
    type Refusal = (Vec<(String, String)>, u16, &'static str);
    let refusals: Vec<Refusal> = vec![
        (vec![json_type.clone()], 403, "cross_origin"),
        (
            vec![
                json_type.clone(),
                ("Origin".into(), "https://evil.example".into()),
            ],
            403,
            "cross_origin",
        ),
        (
            vec![json_type.clone(), ("Origin".into(), "null".into())],
            403,
            "cross_origin",
        ),
        (
            vec![
                json_type.clone(),
                ("Sec-Fetch-Site".into(), "cross-site".into()),
            ],
            403,
            "cross_origin",
        ),
        (
            vec![
                json_type.clone(),
                ("Origin".into(), ORIGIN.into()),
                ("Sec-Fetch-Site".into(), "same-site".into()),
            ],
            403,
            "cross_origin",
        ),
        (
            vec![("Origin".into(), ORIGIN.into())],
            415,
            "unsupported_media_type",
        ),
        (
            vec![
                ("Origin".into(), ORIGIN.into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            415,
            "unsupported_media_type",
        ),
        (
            vec![
                ("Sec-Fetch-Site".into(), "same-origin".into()),
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            415,
            "unsupported_media_type",
        ),
    ];
    let mut routes = key_paths(&id);
    routes.retain(|(m, _)| *m != "GET");
    routes.push(("POST", "keys".to_owned()));
    for (headers, status, code) in &refusals {
        for (method, path) in &routes {
            let body: &[u8] = if *method == "POST" && path == "keys" {
                br#"{"name": "sneaky"}"#
            } else if *method == "PATCH" {
                br#"{"name": "renamed"}"#
            } else {
                b"{}"
            };
            api.raw(method, path, "", headers, body)
                .problem(*status, code);
        }
    }
    // Nothing changed: one key, as it was, and its token still works.
    let list = api.get("keys", "");
    assert_eq!(list.json["keys"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["keys"][0]["name"], "target");
    assert_eq!(list.json["keys"][0]["status"], "active");
    assert_eq!(
        api.verify(created.json["token"].as_str().unwrap()),
        Outcome::Valid
    );
    // The browser's own same-origin signal alone is enough.
    let ok = api.raw(
        "POST",
        &format!("keys/{id}/deactivate"),
        "",
        &[
            ("sec-fetch-site".into(), "same-origin".into()),
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ],
        b"{}",
    );
    assert_eq!(ok.json["status"], "inactive");
}

#[test]
fn a_token_appears_only_in_the_create_and_regenerate_answers() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let mut tokens = Vec::new();
    let created = api.create(json!({"name": "one"}));
    tokens.push(created.json["token"].as_str().unwrap().to_owned());
    let id = created.json["key"]["id"].as_str().unwrap().to_owned();
    let other = api.create(json!({"name": "two", "scopes": ["bots:read"]}));
    tokens.push(other.json["token"].as_str().unwrap().to_owned());
    let regenerated = api.send(
        "POST",
        &format!("keys/{id}/regenerate"),
        json!({"grace": "1m"}),
    );
    tokens.push(regenerated.json["token"].as_str().unwrap().to_owned());
    for t in &tokens {
        assert_eq!(api.verify(t), Outcome::Valid);
    }
    // Every other route, successes and failures alike.
    api.get("keys", "");
    api.get("keys", "status=active&limit=1");
    api.get(&format!("keys/{id}"), "");
    api.get("meta", "");
    api.send("PATCH", &format!("keys/{id}"), json!({"name": "renamed"}));
    api.send("POST", &format!("keys/{id}/deactivate"), json!({}));
    api.send("POST", &format!("keys/{id}/activate"), json!({}));
    api.get(&format!("keys/{id}/usage"), "");
    api.get(&format!("keys/{id}/usage"), "step=hour");
    api.get("events", "");
    api.get("events", &format!("key={id}"));
    // A token pasted where an id belongs, in a path and in a query.
    for t in &tokens {
        api.get(&format!("keys/{t}"), "");
        api.send("POST", &format!("keys/{t}/revoke"), json!({}));
        api.get("keys", &format!("after={t}"));
        api.get("events", &format!("key={t}"));
        api.get("events", &format!("after={t}"));
        api.get(&format!("keys/{id}/usage"), &format!("since={t}"));
        api.create(json!({"name": t, "kind": t}));
        api.create(json!({"name": "x", "scopes": [t]}));
        api.create(json!({"name": "x", "expires_in": t}));
        api.create(json!({"name": "x", "expires_at": t}));
        api.create(json!({"name": "x", "scopes": t}));
        api.create(json!({"name": "x", t: 1}));
    }
    api.send("POST", &format!("keys/{id}/revoke"), json!({}));
    api.send("POST", &format!("keys/{id}/regenerate"), json!({}));

    let answers = api.answers.borrow();
    let mut carrying = 0;
    for (route, answer) in answers.iter() {
        let holds_token = answer.json.get("token").is_some();
        let text = answer.text();
        let headers = format!("{:?}", answer.headers);
        let leaked = tokens.iter().any(|t| {
            // The secret part past the characters `prefix` shows.
            let secret = &t[8..];
            text.contains(secret) || headers.contains(secret)
        });
        if holds_token {
            carrying += 1;
            assert!(
                route == "POST keys" || route.ends_with("/regenerate"),
                "{route}"
            );
            assert_eq!(answer.header("cache-control"), Some("no-store"));
        } else {
            assert!(!leaked, "{route} leaks a token: {text}");
        }
    }
    assert_eq!(carrying, 3);
}

#[test]
fn names_with_markup_round_trip_as_data_and_control_characters_are_refused() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    for name in [
        "<img src=x onerror=alert(1)>",
        "</script><script>alert(1)</script>",
        "\"quoted\" & 'single' \\ back",
        "emoji 🔑 and ünïcödé",
        "{{constructor.constructor('alert(1)')()}}",
    ] {
        let created = api.create(json!({ "name": name }));
        assert_eq!(created.status, 201, "{name}: {}", created.text());
        assert_eq!(created.json["key"]["name"], name);
        assert_eq!(created.header("content-type"), Some("application/json"));
        assert_eq!(created.header("x-content-type-options"), Some("nosniff"));
        let id = created.json["key"]["id"].as_str().unwrap();
        assert_eq!(api.get(&format!("keys/{id}"), "").json["name"], name);
        let renamed = api.send(
            "PATCH",
            &format!("keys/{id}"),
            json!({ "name": format!("{name}!") }),
        );
        assert_eq!(renamed.json["name"], format!("{name}!"));
    }
    // The gate's name rule: no control characters, 1 to 200 bytes.
    for name in [
        "line\nbreak",
        "tab\there",
        "nul\u{0}",
        "esc\u{1b}[31m",
        "\u{7f}",
        "",
    ] {
        api.create(json!({ "name": name }))
            .problem(400, "invalid_argument");
    }
    let list = api.get("keys", "limit=100");
    assert_eq!(list.json["keys"].as_array().unwrap().len(), 5);
}

#[test]
fn oversized_bodies_names_scope_lists_and_pages_are_clear_4xx_problems() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(MAX_BODY_BYTES));
    api.raw("POST", "keys", "", &same_origin_headers(), big.as_bytes())
        .problem(413, "body_too_large");
    api.create(json!({"name": "n".repeat(201)}))
        .problem(400, "invalid_argument");
    assert_eq!(api.create(json!({"name": "n".repeat(200)})).status, 201);
    let scopes: Vec<String> = (0..65).map(|i| format!("res{i}:read")).collect();
    api.create(json!({"name": "many", "scopes": scopes}))
        .problem(400, "invalid_argument");
    let scopes: Vec<String> = (0..64).map(|i| format!("res{i}:read")).collect();
    assert_eq!(
        api.create(json!({"name": "many", "scopes": scopes})).status,
        201
    );
    for limit in ["0", "101", "-1", "ten", "1e3", ""] {
        api.get("keys", &format!("limit={limit}"))
            .problem(400, "invalid_argument");
    }
    api.get("keys", &format!("kind={}", "k".repeat(5000)))
        .problem(400, "invalid_argument");
    api.get("keys", "status=deleted")
        .problem(400, "invalid_argument");
    api.get("keys", "after=not-a-cursor")
        .problem(400, "invalid_argument");
    api.get("keys", "unknown=1")
        .problem(400, "invalid_argument");
    api.get("keys", "limit=1&limit=2")
        .problem(400, "invalid_argument");
    // Malformed and misspelt bodies.
    for body in [
        &b"{"[..],
        b"[]",
        b"null",
        br#"{"name": 5}"#,
        br#"{"nmae": "typo"}"#,
        br#"{"name": "x", "expires": "1d"}"#,
        b"\xff\xfe",
    ] {
        api.raw("POST", "keys", "", &same_origin_headers(), body)
            .problem(400, "invalid_body");
    }
    api.create(json!({"name": "x", "expires_in": "forever"}))
        .problem(400, "invalid_argument");
    api.create(json!({"name": "x", "expires_in": "300"}))
        .problem(400, "invalid_argument");
    api.create(json!({"name": "x", "expires_at": "tomorrow"}))
        .problem(400, "invalid_argument");
    api.create(json!({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}))
        .problem(400, "invalid_argument");
    api.create(json!({"name": "x", "expires_at": "2030-01-01T00:00:00Z", "expires_in": "1d"}))
        .problem(400, "invalid_argument");
    api.create(json!({"name": "x", "scopes": ["Not A Scope"]}))
        .problem(400, "invalid_scope");
    api.create(json!({"name": "x", "subject": "someone else"}))
        .problem(400, "invalid_body");
    let id = api.get("keys", "limit=1").json["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.send(
        "POST",
        &format!("keys/{id}/deactivate"),
        json!({"why": "because"}),
    )
    .problem(400, "invalid_body");
    api.send(
        "POST",
        &format!("keys/{id}/regenerate"),
        json!({"grace": "36526d"}),
    )
    .problem(400, "invalid_argument");
}

#[test]
fn pages_follow_their_cursor_to_the_end() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let mut ids = Vec::new();
    for i in 0..7 {
        api.clock.advance_ms(10);
        let a = api.create(json!({ "name": format!("k{i}") }));
        ids.push(a.json["key"]["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let page = api.get("keys", &query);
        assert_eq!(page.status, 200);
        for k in page.json["keys"].as_array().unwrap() {
            seen.push(k["id"].as_str().unwrap().to_owned());
        }
        match page.json["next"].as_str() {
            Some(next) => query = format!("limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(
        api.get("keys", "").json["keys"].as_array().unwrap().len(),
        7
    );
}

#[test]
fn expired_is_derived_and_filtered_on_every_store() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(&dir) {
        let api = Api::on(&url, Policy::default(), owner("ws"));
        let make = |name: &str, body: Value| {
            api.clock.advance_ms(1);
            let mut body = body;
            body["name"] = json!(name);
            let a = api.create(body);
            assert_eq!(a.status, 201, "{}", a.text());
            a.json["key"]["id"].as_str().unwrap().to_owned()
        };
        let live = make("live", json!({}));
        let short = make("short", json!({"expires_in": "1h"}));
        let short_inactive = make("short inactive", json!({"expires_in": "1h"}));
        let short_revoked = make("short revoked", json!({"expires_in": "1h"}));
        let paused = make("paused", json!({"expires_in": "30d"}));
        let revoked = make("revoked", json!({}));
        for (id, action) in [
            (&short_inactive, "deactivate"),
            (&short_revoked, "revoke"),
            (&paused, "deactivate"),
            (&revoked, "revoke"),
        ] {
            assert_eq!(
                api.send("POST", &format!("keys/{id}/{action}"), json!({}))
                    .status,
                200
            );
        }
        let names = |query: &str| -> Vec<String> {
            let page = api.get("keys", query);
            assert_eq!(page.status, 200, "{url} {query}: {}", page.text());
            page.json["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    format!(
                        "{}={}",
                        k["name"].as_str().unwrap(),
                        k["status"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(names("status=expired"), Vec::<String>::new(), "{url}");
        assert_eq!(
            names("status=active"),
            ["live=active", "short=active"],
            "{url}"
        );
        api.clock.advance_ms(2 * 3_600_000);
        assert_eq!(
            names("status=expired"),
            ["short=expired", "short inactive=expired"],
            "{url}"
        );
        assert_eq!(names("status=active"), ["live=active"], "{url}");
        assert_eq!(names("status=inactive"), ["paused=inactive"], "{url}");
        assert_eq!(
            names("status=revoked"),
            ["short revoked=revoked", "revoked=revoked"],
            "{url}"
        );
        assert_eq!(names("").len(), 6);
        assert_eq!(
            api.get(&format!("keys/{short}"), "").json["status"],
            "expired"
        );
        assert_eq!(
            api.get(&format!("keys/{live}"), "").json["status"],
            "active"
        );
    }
}

const POLICY: &str = r#"
scopes = ["bots:read", "bots:write", "channels:read", "billing:read"]
default_kind = "personal"

[kinds.personal]
prefix = "lb_pat"
default_lifetime = "90d"
max_lifetime = "365d"
rate_limit = "1000/hour"

[kinds.service]
prefix = "lb_svc"
scopes = ["bots:*", "channels:read"]
"#;

#[test]
fn the_principal_limits_kinds_and_scopes_and_meta_says_so() {
    let policy = Policy::from_toml(POLICY).unwrap();
    let mut principal = owner("ws");
    principal.kinds = Some(vec!["service".into()]);
    principal.scope_ceiling = Some(vec![Scope::parse("bots:read").unwrap()]);
    let api = Api::on("memory://", policy, principal);

    let meta = api.get("meta", "");
    assert_eq!(meta.status, 200);
    assert_eq!(meta.json["operator"], false);
    assert_eq!(meta.json["default_kind"], "service");
    assert_eq!(meta.json["kinds"].as_array().unwrap().len(), 1);
    assert_eq!(meta.json["kinds"][0]["name"], "service");
    assert_eq!(meta.json["kinds"][0]["prefix"], "lb_svc");
    assert_eq!(meta.json["kinds"][0]["scopes"], json!(["bots:read"]));
    assert_eq!(meta.json["limits"]["name"], 200);
    assert_eq!(meta.json["limits"]["page"], 100);

    api.create(json!({"name": "x", "kind": "personal"}))
        .problem(403, "kind_not_permitted");
    api.create(json!({"name": "x", "kind": "nope"}))
        .problem(400, "unknown_kind");
    api.create(json!({"name": "x", "scopes": ["bots:write"]}))
        .problem(403, "scope_not_permitted");
    api.create(json!({"name": "x", "scopes": ["bots:*"]}))
        .problem(403, "scope_not_permitted");
    let ok = api.create(json!({"name": "x", "scopes": ["bots:read"]}));
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(ok.json["key"]["kind"], "service");
    assert!(ok.json["token"].as_str().unwrap().starts_with("lb_svc_"));
    assert_eq!(
        ok.json["key"]["prefix"],
        format!("{}…", &ok.json["token"].as_str().unwrap()[..8])
    );
    let id = ok.json["key"]["id"].as_str().unwrap();
    api.send(
        "PATCH",
        &format!("keys/{id}"),
        json!({"scopes": ["channels:read"]}),
    )
    .problem(403, "scope_not_permitted");

    // Operator mode: every kind, the kind's own rules, the effective limit.
    let operator = api.as_principal(Principal::operator(Actor::new("ops")));
    let meta = operator.get("meta", "");
    assert_eq!(meta.json["operator"], true);
    assert_eq!(meta.json["default_kind"], "personal");
    let personal = &meta.json["kinds"][0];
    assert_eq!(personal["scopes"].as_array().unwrap().len(), 4);
    assert_eq!(personal["rate_limit"], "1000/hour");
    assert_eq!(personal["max_lifetime"], "365d");
    assert_eq!(personal["default_lifetime"], "90d");
    assert_eq!(
        meta.json["kinds"][1]["scopes"],
        json!(["bots:read", "bots:write", "channels:read"])
    );
    let created = operator.create(json!({"name": "for ws", "subject": "ws"}));
    assert_eq!(created.json["key"]["rate_limit"], "1000/hour");
    assert_eq!(created.json["key"]["subject"], "ws");
    assert_eq!(
        created.json["key"]["expires_at"],
        "2027-02-27T11:17:37.000Z"
    );
    operator
        .create(json!({"name": "x", "kind": "service", "scopes": ["billing:read"]}))
        .problem(400, "scope_not_allowed");
    operator
        .create(json!({"name": "x", "expires_in": "400d"}))
        .problem(400, "lifetime_exceeded");
    // The owner sees the key the operator issued to it.
    assert_eq!(
        api.get("keys", "").json["keys"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn unknown_routes_and_methods() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    for path in [
        "nope",
        "keys/",
        "keys/a/b/c",
        "meta/x",
        "/keys",
        "events/x",
        "page/nothing.js",
    ] {
        api.get(path, "").problem(404, "not_found");
    }
    // The page itself is served by page::serve, tested with its files.
    let a = api.raw("DELETE", "keys", "", &same_origin_headers(), b"{}");
    a.problem(405, "method_not_allowed");
    assert_eq!(a.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    let a = api.raw("get", "keys", "", &[], b"");
    a.problem(405, "method_not_allowed");
    let a = api.raw("GET", "keys/key_0000000000000000/revoke", "", &[], b"");
    assert_eq!(a.header("allow"), Some("POST, OPTIONS"));
    // Every route names the methods it answers.
    for (method, path, allow) in [
        (
            "DELETE",
            "keys/key_0000000000000000",
            "GET, HEAD, PATCH, OPTIONS",
        ),
        (
            "POST",
            "keys/key_0000000000000000/usage",
            "GET, HEAD, OPTIONS",
        ),
        ("POST", "events", "GET, HEAD, OPTIONS"),
        ("PUT", "meta", "GET, HEAD, OPTIONS"),
    ] {
        let a = api.raw(method, path, "", &same_origin_headers(), b"{}");
        a.problem(405, "method_not_allowed");
        assert_eq!(a.header("allow"), Some(allow), "{method} {path}");
        // OPTIONS is answered for the route, with the same list and no body.
        let a = api.raw("OPTIONS", path, "", &[], b"");
        assert_eq!((a.status, a.body.len()), (204, 0), "OPTIONS {path}");
        assert_eq!(a.header("allow"), Some(allow), "OPTIONS {path}");
        assert_eq!(a.header("access-control-allow-origin"), None);
    }
    let a = api.raw("OPTIONS", "keys", "", &[], b"");
    assert_eq!(
        (a.status, a.header("allow")),
        (204, Some("GET, HEAD, POST, OPTIONS"))
    );
    api.raw("OPTIONS", "nope", "", &[], b"")
        .problem(404, "not_found");
    let head = api.raw("HEAD", "nope", "", &[], b"");
    assert_eq!((head.status, head.body.len()), (404, 0));
    // The page's paths answer GET and HEAD only.
    for path in ["", "page/app.js"] {
        let a = api.raw("POST", path, "", &same_origin_headers(), b"{}");
        a.problem(405, "method_not_allowed");
        assert_eq!(a.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    // A request's Debug form leaves its body out.
    let shown = format!(
        "{:?}",
        Request {
            method: "POST",
            path: "keys",
            query: "",
            headers: &[],
            self_origin: None,
            body: br#"{"name": "gp_secret"}"#,
        }
    );
    assert!(
        shown.contains("POST") && shown.contains("21 bytes"),
        "{shown}"
    );
    assert!(!shown.contains("gp_secret"), "{shown}");
    // The documented bounds.
    assert_eq!(
        (MAX_BODY_BYTES, manage::MAX_QUERY_BYTES),
        (16 * 1024, 4 * 1024)
    );
    // The answer's own header lookup, for mounts: any case, first value.
    let r = manage::handle(
        &api.gate,
        &api.principal,
        &Request {
            method: "GET",
            path: "keys",
            query: "",
            headers: &[],
            self_origin: None,
            body: b"",
        },
    );
    assert_eq!(r.header("CACHE-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-missing"), None);
    let head = api.raw("HEAD", "keys", "", &[], b"");
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(manage::login_required().status, 401);
    let body: Value = serde_json::from_slice(&manage::login_required().body).unwrap();
    assert_eq!(body["code"], "login_required");
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PATCH".to_owned()),
        Just("HEAD".to_owned()),
        "[A-Za-z]{0,8}",
    ]
}

fn path(id: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("keys".to_owned()),
        Just(format!("keys/{id}")),
        Just(format!("keys/{id}/regenerate")),
        Just(format!("keys/{id}/revoke")),
        Just(format!("keys/{id}/deactivate")),
        Just("meta".to_owned()),
        Just(format!("keys/{id}/usage")),
        Just("events".to_owned()),
        "[a-z/._%0-9]{0,40}",
        "\\PC{0,30}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"{}".to_vec()),
        "\\{\"(name|scopes|kind|expires_at|expires_in|grace|subject)\": (\"[^\"]{0,20}\"|null|1|\\[\\]|\\[\"[a-z:*]{0,12}\"\\])\\}"
            .prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn garbage_never_panics_nor_answers_5xx(
        method in method(),
        pick in 0usize..3,
        query in "[a-z=&%0-9._-]{0,40}",
        body in body(),
        same in any::<bool>(),
    ) {
        thread_local! {
            static API: (Api, String) = {
                let api = Api::on("memory://", Policy::default(), owner("ws"));
                let id = api.create(json!({"name": "fuzzed"})).json["key"]["id"].as_str().unwrap().to_owned();
                (api, id)
            };
        }
        API.with(|(api, id)| {
            let paths = [format!("keys/{id}"), "keys".to_owned(), format!("keys/{id}/regenerate")];
            let headers = if same { same_origin_headers() } else { Vec::new() };
            let a = api.raw(&method, &paths[pick], &query, &headers, &body);
            prop_assert!(a.status < 500);
            prop_assert_eq!(a.header("cache-control"), Some("no-store"));
            api.answers.borrow_mut().clear();
            Ok(())
        })?;
    }

    #[test]
    fn any_path_and_method_is_answered_without_a_5xx(
        method in method(),
        path in path("key_0000000000000000".to_owned()),
        query in "\\PC{0,40}",
        body in body(),
    ) {
        let api = Api::on("memory://", Policy::default(), owner("ws"));
        let a = api.raw(&method, &path, &query, &same_origin_headers(), &body);
        prop_assert!(a.status < 500);
        if a.status >= 400 && method != "HEAD" {
            prop_assert!(a.json["code"].is_string(), "{}", a.text());
        }
    }
}

#[test]
fn every_change_is_one_event_with_the_principals_actor_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(&dir) {
        let api = Api::on(&url, Policy::default(), owner("ws"));
        let created = api.create(json!({"name": "audited"}));
        let token = created.json["token"].as_str().unwrap().to_owned();
        let id = created.json["key"]["id"].as_str().unwrap().to_owned();
        api.clock.advance_ms(1);
        api.send("PATCH", &format!("keys/{id}"), json!({"name": "renamed"}));
        api.send("POST", &format!("keys/{id}/deactivate"), json!({}));
        api.send("POST", &format!("keys/{id}/activate"), json!({}));
        let regenerated = api.send("POST", &format!("keys/{id}/regenerate"), json!({}));
        let new_token = regenerated.json["token"].as_str().unwrap().to_owned();
        api.send("POST", &format!("keys/{id}/revoke"), json!({}));

        let page = api.get("events", "");
        assert_eq!(page.status, 200, "{url}: {}", page.text());
        let events = page.json["events"].as_array().unwrap();
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "revoked",
                "regenerated",
                "activated",
                "deactivated",
                "updated",
                "issued"
            ],
            "{url}"
        );
        for e in events {
            assert_eq!(e["actor"], "user:ws");
            assert_eq!(e["key_id"], json!(id));
            assert!(e.get("owner").is_none(), "an owner is not told the owner");
            assert!(e["at"].as_str().unwrap().ends_with('Z'));
        }
        assert_eq!(
            events[4]["changes"]["name"],
            json!({"from": "audited", "to": "renamed"})
        );
        for t in [&token, &new_token] {
            assert!(!page.text().contains(&t[8..]), "{url}: {}", page.text());
        }
        // Paged, newest first, by the cursor.
        let first = api.get("events", "limit=4");
        assert_eq!(first.json["events"].as_array().unwrap().len(), 4);
        let next = first.json["next"].as_str().unwrap();
        let rest = api.get("events", &format!("limit=4&after={next}"));
        assert_eq!(rest.json["events"][1]["action"], "issued");
        assert_eq!(rest.json["next"], Value::Null);

        // Another owner sees none of them, even naming the key.
        let other = api.as_principal(owner("other"));
        assert_eq!(other.get("events", "").json["events"], json!([]));
        let named = other.get("events", &format!("key={id}"));
        let nowhere = other.get("events", "key=key_0000000000000000");
        assert_eq!((named.status, &named.body), (200, &nowhere.body));
        other
            .get("events", "owner=ws")
            .problem(400, "invalid_argument");
        // An operator sees them with their owner, and may filter by owner.
        let operator = api.as_principal(Principal::operator(Actor::new("ops")));
        let all = operator.get("events", "owner=ws");
        assert_eq!(all.json["events"].as_array().unwrap().len(), 6);
        assert_eq!(all.json["events"][0]["owner"], "ws");
    }
}

#[test]
fn usage_history_and_attempts_after_end_on_every_store() {
    let dir = tempfile::tempdir().unwrap();
    for url in store_urls(&dir) {
        let api = Api::on(&url, Policy::default(), owner("ws"));
        let created = api.create(json!({"name": "charted"}));
        let token = created.json["token"].as_str().unwrap().to_owned();
        let id = created.json["key"]["id"].as_str().unwrap().to_owned();
        for _ in 0..3 {
            assert_eq!(api.verify(&token), Outcome::Valid);
        }
        assert_eq!(
            api.get(&format!("keys/{id}"), "").json["attempts_after_end"],
            0
        );
        api.send("POST", &format!("keys/{id}/deactivate"), json!({}));
        assert_eq!(api.verify(&token), Outcome::Inactive);
        api.send("POST", &format!("keys/{id}/revoke"), json!({}));
        assert_eq!(api.verify(&token), Outcome::Revoked);
        assert_eq!(api.verify(&token), Outcome::Revoked);

        let chart = api.get(&format!("keys/{id}/usage"), "");
        assert_eq!(chart.status, 200, "{url}: {}", chart.text());
        assert_eq!(chart.json["step"], "day");
        let buckets = chart.json["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 30, "{url}");
        let today = buckets.last().unwrap();
        assert_eq!(today["start"], "2026-11-29T00:00:00.000Z");
        assert_eq!(today["valid"], 3, "{url}");
        assert_eq!(
            today["refused"],
            json!({"inactive": 1, "revoked": 2}),
            "{url}"
        );
        assert!(buckets[..29]
            .iter()
            .all(|b| b["valid"] == 0 && b["refused"] == json!({})));

        let hourly = api.get(&format!("keys/{id}/usage"), "step=hour");
        let hours = hourly.json["buckets"].as_array().unwrap();
        assert_eq!(
            (hourly.json["step"].as_str(), hours.len()),
            (Some("hour"), 24)
        );
        assert_eq!(hours.last().unwrap()["start"], "2026-11-29T11:00:00.000Z");
        assert_eq!(hours.last().unwrap()["valid"], 3);
        let window = api.get(
            &format!("keys/{id}/usage"),
            "since=2026-11-28T00:00:00Z&until=2026-11-30T00:00:00%2B00:00&step=day",
        );
        assert_eq!(
            window.json["buckets"].as_array().unwrap().len(),
            2,
            "{}",
            window.text()
        );

        // The card flags a revoked key still being tried.
        assert_eq!(
            api.get(&format!("keys/{id}"), "").json["attempts_after_end"],
            3,
            "{url}"
        );
        assert_eq!(api.get("keys", "").json["keys"][0]["attempts_after_end"], 3);

        for bad in [
            "step=week",
            "since=yesterday",
            "until=2026-11-29",
            "since=2026-11-30T00:00:00Z&until=2026-11-29T00:00:00Z",
            "step=hour&since=2020-01-01T00:00:00Z",
        ] {
            api.get(&format!("keys/{id}/usage"), bad)
                .problem(400, "invalid_argument");
        }
    }
}

/// `expected` is a subset of `got`: objects by the members given, arrays
/// element by element with the same length, anything else equal.
fn subset(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => e
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (Value::Array(e), Value::Array(g)) => {
            e.len() == g.len() && e.iter().zip(g).all(|(a, b)| subset(a, b))
        }
        _ => expected == got,
    }
}

fn fill(text: &str, saved: &std::collections::HashMap<String, String>, origin: &str) -> String {
    let mut out = text.replace("{origin}", origin);
    for (name, value) in saved {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn fill_json(v: &Value, saved: &std::collections::HashMap<String, String>, origin: &str) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, saved, origin)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_json(x, saved, origin)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_json(x, saved, origin)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// tests/vectors/manage.json, the steps every framework mount replays over
/// HTTP, replayed here through `handle` so the file is the core's answer.
#[test]
fn the_shared_vectors_replay_through_handle() {
    let path = format!(
        "{}/../tests/vectors/manage.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let origin = v["origin"].as_str().unwrap();
    assert_eq!(origin, ORIGIN);
    let principals: std::collections::HashMap<String, Principal> = v["principals"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, p)| {
            let actor = Actor::new(p["actor"].as_str().unwrap());
            let principal = match p["owner"].as_str() {
                Some(owner) => Principal::owner(owner, actor),
                None => Principal::operator(actor),
            };
            (name.clone(), principal)
        })
        .collect();
    let base = Api::on("memory://", Policy::default(), owner("unused"));
    let mut saved = std::collections::HashMap::new();
    let mut tokens: Vec<String> = Vec::new();
    for (i, step) in v["steps"].as_array().unwrap().iter().enumerate() {
        if let Some(token) = step["verify"].as_str() {
            let outcome = base.verify(&fill(token, &saved, origin));
            assert_eq!(
                outcome.code(),
                step["outcome"].as_str().unwrap(),
                "step {i}"
            );
            continue;
        }
        let who = step["as"].as_str().unwrap();
        let answer = if who == "nobody" {
            Answer::from(manage::login_required())
        } else {
            let api = base.as_principal(principals[who].clone());
            let headers: Vec<(String, String)> = if step["same_origin"] == json!(true) {
                same_origin_headers()
            } else {
                step["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| (k.clone(), fill(v.as_str().unwrap(), &saved, origin)))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let body: Vec<u8> = if let Some(raw) = step["raw_body"].as_str() {
                raw.as_bytes().to_vec()
            } else if let Some(n) = step["body_bytes"].as_u64() {
                let n = usize::try_from(n).unwrap();
                format!("{{\"name\": \"{}\"}}", "a".repeat(n - 12)).into_bytes()
            } else if step.get("body").is_some() {
                fill_json(&step["body"], &saved, origin)
                    .to_string()
                    .into_bytes()
            } else {
                Vec::new()
            };
            if let Some(n) = step["body_bytes"].as_u64() {
                assert_eq!(body.len() as u64, n, "step {i}");
            }
            api.raw(
                step["method"].as_str().unwrap(),
                &fill(step["path"].as_str().unwrap(), &saved, origin),
                &fill(step["query"].as_str().unwrap_or(""), &saved, origin),
                &headers,
                &body,
            )
        };
        assert_eq!(
            u64::from(answer.status),
            step["status"].as_u64().unwrap(),
            "step {i}: {}",
            answer.text()
        );
        if let Some(code) = step["code"].as_str() {
            answer.problem(answer.status, code);
        }
        if let Some(expected) = step.get("json") {
            let expected = fill_json(expected, &saved, origin);
            assert!(
                subset(&expected, &answer.json),
                "step {i}: expected {expected} within {}",
                answer.text()
            );
        }
        if step["token"] == json!(true) {
            assert!(answer.json["token"].is_string(), "step {i}");
            assert_eq!(answer.header("cache-control"), Some("no-store"));
            tokens.push(answer.json["token"].as_str().unwrap().to_owned());
        } else {
            for t in &tokens {
                assert!(!answer.text().contains(&t[8..]), "step {i}");
            }
        }
        if let Some(save) = step["save"].as_object() {
            for (name, path) in save {
                let value = path
                    .as_str()
                    .unwrap()
                    .split('.')
                    .fold(&answer.json, |v, part| &v[part]);
                saved.insert(name.clone(), value.as_str().unwrap().to_owned());
            }
        }
    }
}

#[test]
fn the_actors_source_is_recorded_as_it_can_be() {
    let actor = Actor::new("user:ws")
        .with_ip("203.0.113.9")
        .with_user_agent("Mozilla/5.0 (X11)");
    let api = Api::on(
        "memory://",
        Policy::default(),
        Principal::owner("ws", actor),
    );
    let id = api.create(json!({"name": "from a browser"})).json["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = &api.get("events", "").json["events"][0];
    assert_eq!(
        (&event["ip"], &event["user_agent"]),
        (&json!("203.0.113.9"), &json!("Mozilla/5.0 (X11)"))
    );
    // What the framework saw is not an IP address, and the client's user
    // agent holds control characters: the change is made all the same.
    let odd = Actor::new("user:ws")
        .with_ip("unix:/run/app.sock")
        .with_user_agent("evil\r\nX-Injected: 1");
    let api = api.as_principal(Principal::owner("ws", odd));
    let r = api.send("POST", &format!("keys/{id}/deactivate"), json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let event = &api.get("events", "").json["events"][0];
    assert_eq!(event["action"], "deactivated");
    assert_eq!(event["ip"], Value::Null);
    assert_eq!(event["user_agent"], "evilX-Injected: 1");
    // The host's own actor name must be usable.
    let api = api.as_principal(Principal::owner("ws", Actor::new("")));
    api.send("POST", &format!("keys/{id}/activate"), json!({}))
        .problem(400, "invalid_argument");
}

#[test]
fn bounds_hold_at_their_edges() {
    let api = Api::on("memory://", Policy::default(), owner("ws"));
    // A body of exactly the limit is read; one byte more is not.
    let exact = |n: usize| {
        let mut body = br#"{"name": "edge"}"#.to_vec();
        body.resize(n, b' ');
        body
    };
    let r = api.raw(
        "POST",
        "keys",
        "",
        &same_origin_headers(),
        &exact(MAX_BODY_BYTES),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    api.raw(
        "POST",
        "keys",
        "",
        &same_origin_headers(),
        &exact(MAX_BODY_BYTES + 1),
    )
    .problem(413, "body_too_large");
    // A query string of exactly the limit is read.
    let pad = |n: usize| format!("limit=1&kind={}", "k".repeat(n - 13));
    assert_eq!(api.get("keys", &pad(manage::MAX_QUERY_BYTES)).status, 200);
    api.get("keys", &pad(manage::MAX_QUERY_BYTES + 1))
        .problem(400, "invalid_argument");
    // Page sizes 1 and 100 are accepted.
    assert_eq!(
        api.get("keys", "limit=1").json["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(api.get("keys", "limit=100").status, 200);
    // Unknown field names are repeated when they look like field names, up
    // to 32 bytes, and not otherwise.
    let unknown = |field: &str| {
        let body = format!(r#"{{"name": "x", "{field}": 1}}"#);
        let a = api.raw("POST", "keys", "", &same_origin_headers(), body.as_bytes());
        a.problem(400, "invalid_body");
        a.json["detail"].as_str().unwrap().contains(field)
    };
    assert!(unknown("expires"));
    assert!(unknown("a_field_name_of_exactly_tt_bytes"));
    assert!(!unknown("a_field_name_of_exactly_ttt_bytes"));
    assert!(!unknown("Name"));
    assert!(!unknown("na-me"));
    // A missing field is named.
    let a = api.raw("POST", "keys", "", &same_origin_headers(), b"{}");
    a.problem(400, "invalid_body");
    assert!(
        a.json["detail"].as_str().unwrap().contains("`name`"),
        "{}",
        a.text()
    );
    // Wrong types and broken JSON say where, not what.
    let a = api.raw(
        "POST",
        "keys",
        "",
        &same_origin_headers(),
        br#"{"name": ["gp_secret"]}"#,
    );
    assert!(
        a.json["detail"].as_str().unwrap().contains("wrong type"),
        "{}",
        a.text()
    );
    assert!(!a.text().contains("gp_secret"));
    let a = api.raw(
        "POST",
        "keys",
        "",
        &same_origin_headers(),
        br#"{"name": "gp_secret"#,
    );
    assert!(
        a.json["detail"].as_str().unwrap().contains("not JSON"),
        "{}",
        a.text()
    );
    assert!(!a.text().contains("gp_secret"));
    // http and https origins with their default ports spelled out.
    for (own, sent) in [
        ("http://app.example:80", "http://app.example"),
        ("https://app.example", "https://app.example:443"),
        ("http://app.example:8080", "http://APP.example:8080"),
    ] {
        let r = manage::handle(
            &api.gate,
            &api.principal,
            &Request {
                method: "POST",
                path: "keys",
                query: "",
                headers: &[
                    ("Origin".into(), sent.into()),
                    ("Content-Type".into(), "application/json".into()),
                ],
                self_origin: Some(own),
                body: br#"{"name": "ported"}"#,
            },
        );
        assert_eq!(r.status, 201, "{own} {sent}");
    }
    for (own, sent) in [
        ("http://app.example:8080", "http://app.example"),
        ("https://app.example", "https://app.example:80"),
        ("https://app.example", "https://user@app.example"),
        ("https://app.example", "https://app.example/path"),
        ("https://app.example", "https://"),
        // Not origins at all, however alike: never a match.
        ("https://", "https://"),
        ("https://u@app.example", "https://u@app.example"),
        ("https://app.example/p", "https://app.example/p"),
    ] {
        let r = manage::handle(
            &api.gate,
            &api.principal,
            &Request {
                method: "POST",
                path: "keys",
                query: "",
                headers: &[
                    ("Origin".into(), sent.into()),
                    ("Content-Type".into(), "application/json".into()),
                ],
                self_origin: Some(own),
                body: br#"{"name": "ported"}"#,
            },
        );
        assert_eq!(r.status, 403, "{own} {sent}");
    }
}

mod without_history {
    use gatepass_core::audit::{Event, EventFilter, StoredEvent};
    use gatepass_core::clock::Millis;
    use gatepass_core::key::ListQuery;
    use gatepass_core::store::{Change, Found, MemoryStore, Store, UsageDelta};
    use gatepass_core::token::TokenDigest;
    use gatepass_core::{GateError, KeyRecord, StoreError};

    /// A memory store whose usage history cannot be read (the trait's
    /// default answers): as when the store fails between a change and the
    /// read of the key's history that follows it.
    #[derive(Debug, Default)]
    pub struct NoHistory(MemoryStore);

    impl Store for NoHistory {
        fn insert(&self, k: &KeyRecord, d: &TokenDigest, e: &Event) -> Result<(), StoreError> {
            self.0.insert(k, d, e)
        }
        fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
            self.0.get(id)
        }
        fn find(&self, d: &TokenDigest) -> Result<Option<Found>, StoreError> {
            self.0.find(d)
        }
        fn list(&self, q: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
            self.0.list(q)
        }
        fn modify(&self, id: &str, c: Change<'_>) -> Result<KeyRecord, GateError> {
            self.0.modify(id, c)
        }
        fn rotate(
            &self,
            id: &str,
            d: &TokenDigest,
            until: Millis,
            c: Change<'_>,
        ) -> Result<KeyRecord, GateError> {
            self.0.rotate(id, d, until, c)
        }
        fn delete(&self, id: &str, e: &Event) -> Result<bool, StoreError> {
            self.0.delete(id, e)
        }
        fn events(&self, f: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
            self.0.events(f)
        }
        fn prune_events(&self, before: Millis, batch: usize) -> Result<u64, StoreError> {
            self.0.prune_events(before, batch)
        }
        fn add_usage(&self, b: &[UsageDelta]) -> Result<(), StoreError> {
            self.0.add_usage(b)
        }
        fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
            self.0.consume_credit(id)
        }
        fn epoch(&self) -> Result<u64, StoreError> {
            self.0.epoch()
        }
    }
}

#[test]
fn a_change_is_answered_as_made_when_the_history_cannot_be_read_after_it() {
    let gate = Gate::new(
        Arc::new(without_history::NoHistory::default()),
        Policy::default(),
    );
    let principal = owner("ws");
    let call = |method: &str, path: &str, body: &[u8]| {
        Answer::from(manage::handle(
            &gate,
            &principal,
            &Request {
                method,
                path,
                query: "",
                headers: &same_origin_headers(),
                self_origin: Some(ORIGIN),
                body,
            },
        ))
    };
    // The token of a new key is never lost to the failed read.
    let created = call("POST", "keys", br#"{"name": "x"}"#);
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(created.json["token"].is_string());
    assert_eq!(created.json["key"]["attempts_after_end"], Value::Null);
    let id = created.json["key"]["id"].as_str().unwrap().to_owned();
    // A change is made and said to be made, not answered with a 5xx.
    let revoked = call("POST", &format!("keys/{id}/revoke"), b"{}");
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json["status"], "revoked");
    assert_eq!(revoked.json["attempts_after_end"], Value::Null);
    // A read that needs the history is the store's 503, generic and retryable.
    let read = call("GET", &format!("keys/{id}"), b"");
    read.problem(503, "store_unavailable");
    assert_eq!(read.header("retry-after"), Some("1"));
    assert!(!read.text().contains("history"), "{}", read.text());
    call("GET", &format!("keys/{id}/usage"), b"").problem(503, "store_unavailable");
}

/// The management API's default range is `gate.usage`'s (the bindings'):
/// the same store and clock give the same buckets, ending with the current
/// bucket, by day and by hour, at a bucket's edge and inside one.
#[test]
fn usage_with_no_range_is_the_bindings_default_range() {
    use gatepass_core::history::{self, Step, UsageQuery};
    use gatepass_core::manage::time;

    let api = Api::on("memory://", Policy::default(), owner("ws"));
    let created = api.create(json!({"name": "charted"}));
    let token = created.json["token"].as_str().unwrap().to_owned();
    let id = created.json["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.verify(&token), Outcome::Valid);
    for now in [NOW, NOW - NOW % history::DAY] {
        api.clock.set_ms(now);
        for (step, name, count) in [
            (Step::Day, "day", history::DEFAULT_DAYS),
            (Step::Hour, "hour", history::DEFAULT_HOURS),
        ] {
            let answer = api.get(&format!("keys/{id}/usage"), &format!("step={name}"));
            assert_eq!(answer.status, 200, "{}", answer.text());
            let starts: Vec<&str> = answer.json["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["start"].as_str().unwrap())
                .collect();
            let direct = api
                .gate
                .usage(&id, &UsageQuery::recent(None, None, step, now))
                .unwrap();
            let expected: Vec<String> = direct.iter().map(|b| time::format(b.start)).collect();
            assert_eq!(starts, expected, "{name} at {now}");
            assert_eq!(starts.len(), usize::try_from(count).unwrap(), "{name}");
            assert_eq!(
                starts.last().copied(),
                Some(time::format(step.floor(now)).as_str())
            );
        }
    }
}

/// In owner mode, an event's source (`ip`, `user_agent`) is shown only when
/// the owner's own actor made the change; staff working on the owner's keys
/// (an operator mount, the CLI, a support tool) keep theirs. Operators see
/// every source.
#[test]
fn owners_see_only_their_own_changes_source() {
    let mine = Actor::new("user:ws")
        .with_ip("203.0.113.9")
        .with_user_agent("Mozilla/5.0 (owner)");
    let api = Api::on("memory://", Policy::default(), Principal::owner("ws", mine));
    let id = api.create(json!({"name": "watched"})).json["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = Actor::new("staff:ann")
        .with_ip("198.51.100.4")
        .with_user_agent("Mozilla/5.0 (staff)");
    let operator = api.as_principal(Principal::operator(staff));
    let r = operator.send("POST", &format!("keys/{id}/deactivate"), json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let cli = Actor::new("cli:root").with_ip("192.0.2.1");
    api.gate.revoke_as(&id, &cli).unwrap();

    let source = |e: &Value| {
        (
            e["action"].as_str().unwrap().to_owned(),
            e["actor"].as_str().unwrap().to_owned(),
            e["ip"].clone(),
            e["user_agent"].clone(),
        )
    };
    for query in [String::new(), format!("key={id}")] {
        let seen: Vec<_> = api.get("events", &query).json["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(source)
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "revoked".into(),
                    "cli:root".into(),
                    Value::Null,
                    Value::Null
                ),
                (
                    "deactivated".into(),
                    "staff:ann".into(),
                    Value::Null,
                    Value::Null
                ),
                (
                    "issued".into(),
                    "user:ws".into(),
                    json!("203.0.113.9"),
                    json!("Mozilla/5.0 (owner)")
                ),
            ],
            "owner, events?{query}"
        );
    }
    let all: Vec<_> = operator.get("events", "").json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(source)
        .collect();
    assert_eq!(
        all.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
        vec![
            json!("192.0.2.1"),
            json!("198.51.100.4"),
            json!("203.0.113.9")
        ],
        "the operator sees every source"
    );
    assert_eq!(all[1].3, json!("Mozilla/5.0 (staff)"));
}

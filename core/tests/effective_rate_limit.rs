//! Every key record the gate returns carries the limit that applies to it:
//! the key's own, else its kind's default from the policy, else none.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::key::KeyUpdate;
use gatepass_core::ratelimit::RateLimit;
use gatepass_core::store::{MemoryStore, SqliteStore, Store};
use gatepass_core::{Gate, IssueRequest, KeyRecord, Policy, Requirement};

const POLICY: &str = r#"
default_kind = "personal"

[kinds.personal]
prefix = "bp_pat"
rate_limit = "1000/hour"

[kinds.bot]
prefix = "bp_bot"
"#;

fn limit(text: &str) -> Option<RateLimit> {
    Some(text.parse().unwrap())
}

fn shown(key: &KeyRecord) -> Option<String> {
    key.effective_rate_limit.map(|r| r.to_string())
}

fn check_store(store: Arc<dyn Store>) {
    let gate = Gate::new(Arc::clone(&store), Policy::from_toml(POLICY).unwrap());
    let personal = gate
        .issue(IssueRequest {
            name: "p".into(),
            ..Default::default()
        })
        .unwrap();
    let own = gate
        .issue(IssueRequest {
            name: "own".into(),
            rate_limit: limit("5/minute"),
            ..Default::default()
        })
        .unwrap();
    let bot = gate
        .issue(IssueRequest {
            name: "b".into(),
            kind: Some("bot".into()),
            ..Default::default()
        })
        .unwrap();
    let (p, o, b) = (&personal.key.id, &own.key.id, &bot.key.id);

    // Issue: the kind's default, the key's own, and no limit at all.
    assert_eq!(personal.key.rate_limit, None);
    assert_eq!(shown(&personal.key).as_deref(), Some("1000/hour"));
    assert_eq!(shown(&own.key).as_deref(), Some("5/minute"));
    assert_eq!(shown(&bot.key), None);

    // get, list, update, status changes and rotate all say the same.
    assert_eq!(shown(&gate.get(p).unwrap()).as_deref(), Some("1000/hour"));
    let page = gate.list(None, None, None, None, 10).unwrap();
    let listed: Vec<_> = page.keys.iter().map(|k| (k.id.clone(), shown(k))).collect();
    assert!(listed.contains(&(p.clone(), Some("1000/hour".into()))));
    assert!(listed.contains(&(o.clone(), Some("5/minute".into()))));
    assert!(listed.contains(&(b.clone(), None)));
    let updated = gate
        .update(
            b,
            KeyUpdate {
                rate_limit: Some(limit("7/second")),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(shown(&updated).as_deref(), Some("7/second"));
    let cleared = gate
        .update(
            o,
            KeyUpdate {
                rate_limit: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(cleared.rate_limit, None);
    assert_eq!(shown(&cleared).as_deref(), Some("1000/hour"));
    assert_eq!(
        shown(&gate.deactivate(p).unwrap()).as_deref(),
        Some("1000/hour")
    );
    assert_eq!(
        shown(&gate.activate(p).unwrap()).as_deref(),
        Some("1000/hour")
    );
    let rotated = gate.rotate(p, Duration::ZERO).unwrap();
    assert_eq!(shown(&rotated.key).as_deref(), Some("1000/hour"));

    // The key a verification carries, too.
    let header = format!("Bearer {}", rotated.token.expose());
    let verified = gate
        .verify(Some(header.as_bytes()), &Requirement::none(), None)
        .unwrap();
    assert!(verified.ok(), "{}", verified.detail);
    assert_eq!(
        verified.key.as_deref().and_then(shown).as_deref(),
        Some("1000/hour")
    );

    // The store keeps only the key's own limit: the same store under a
    // policy without the kind's default shows none.
    let plain = Policy::from_toml("[kinds.personal]\nprefix = \"bp_pat\"").unwrap();
    let other = Gate::new(store, plain);
    assert_eq!(shown(&other.get(p).unwrap()), None);
    assert_eq!(shown(&other.get(b).unwrap()).as_deref(), Some("7/second"));
}

#[test]
fn memory_store_records_show_the_effective_limit() {
    check_store(Arc::new(MemoryStore::new()));
}

#[test]
fn sqlite_store_records_show_the_effective_limit() {
    let dir = tempfile::tempdir().unwrap();
    check_store(Arc::new(
        SqliteStore::open(dir.path().join("gp.db")).unwrap(),
    ));
}

#[test]
fn the_rule_lives_in_the_policy() {
    let policy = Policy::from_toml(POLICY).unwrap();
    assert_eq!(
        policy.effective_rate_limit("personal", None),
        limit("1000/hour")
    );
    assert_eq!(
        policy.effective_rate_limit("personal", limit("1/second")),
        limit("1/second")
    );
    assert_eq!(policy.effective_rate_limit("bot", None), None);
    assert_eq!(policy.effective_rate_limit("gone", None), None);
}

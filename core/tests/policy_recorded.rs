//! The store remembers the policy: a gate opened with one records it, a gate
//! opened without one works under the recorded one, and a different policy
//! is reported, never refused. On every store: memory, SQLite, Postgres.
//!
//! These tests open gates without a policy, so they assume what a test run
//! has: no `$GATEPASS_POLICY` and no `./gatepass.toml` (the working directory
//! is `core/`). Discovery from those two is `policy_discovery.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use gatepass_core::env::PolicySource;
use gatepass_core::store::{self, MemoryStore, PolicyRecord, Store};
use gatepass_core::{Gate, IssueRequest, Policy, Requirement};

const APP: &str = r#"
realm = "botpress"
default_kind = "pat"
scopes = ["bots:read", "bots:write"]

[kinds.pat]
prefix = "bp_pat"
rate_limit = "1000/hour"

[kinds.bot]
prefix = "bp_bot"
scopes = ["bots:read"]
"#;

fn app() -> Policy {
    Policy::from_toml(APP).unwrap()
}

/// The same rules: the order implications were written in does not count.
fn same(a: &Policy, b: &Policy) -> bool {
    a.to_canonical_json() == b.to_canonical_json()
}

fn issue(gate: &Gate, kind: &str) -> Result<String, gatepass_core::GateError> {
    gate.issue(IssueRequest {
        name: "n".into(),
        kind: Some(kind.into()),
        ..IssueRequest::default()
    })
    .map(|i| i.token.expose().to_owned())
}

/// The scenario, on stores opened by `open` (each call a new connection to
/// the same data, as another process would have).
fn remembers(open: &dyn Fn() -> Arc<dyn Store>) {
    // A fresh store, no policy anywhere: the default, and nothing recorded.
    let fresh = Gate::open_store(open(), None).unwrap();
    assert_eq!(fresh.policy_source(), &PolicySource::Default);
    assert!(same(fresh.policy(), &Policy::default()));
    assert!(open().recorded_policy().unwrap().is_none());

    // The app opens it with its policy: recorded, nothing to report.
    let app_gate = Gate::open_store(open(), Some(app())).unwrap();
    assert_eq!(app_gate.policy_source(), &PolicySource::Argument);
    assert_eq!(app_gate.policy_mismatch(), None);
    let record = open().recorded_policy().unwrap().expect("recorded");
    assert!(same(&Policy::from_json(&record.document).unwrap(), &app()));
    assert!(record.recorded_by.contains("process:"), "{record:?}");

    // A tool opening it without a policy works under the app's.
    let tool = Gate::open_store(open(), None).unwrap();
    assert_eq!(tool.policy_source(), &PolicySource::Store);
    assert!(same(tool.policy(), &app()));
    let token = issue(&tool, "bot").unwrap();
    assert!(token.starts_with("bp_bot_"));
    let v = app_gate
        .verify_without_spending(
            Some(format!("Bearer {token}").as_bytes()),
            &Requirement::none(),
            None,
        )
        .unwrap();
    assert!(v.ok(), "{v:?}");

    // The same policy again, spelt otherwise: no report, no new record.
    let respelt = Policy::from_json(&app().to_canonical_json()).unwrap();
    let again = Gate::open_store(open(), Some(respelt)).unwrap();
    assert_eq!(again.policy_mismatch(), None);
    assert_eq!(open().recorded_policy().unwrap().unwrap(), record);

    // Another policy (the next release of a rolling deploy): opens, says
    // what differs and from what, and is recorded.
    let next_text = APP
        .replace("[kinds.bot]", "[kinds.agent]")
        .replace("bp_bot", "bp_agent");
    let next = Policy::from_toml(&next_text).unwrap();
    let deployed = Gate::open_store(open(), Some(next.clone())).unwrap();
    let report = deployed.policy_mismatch().expect("a mismatch is reported");
    assert!(report.contains("agent (bp_agent)"), "{report}");
    assert!(report.contains("bot (bp_bot)"), "{report}");
    assert!(report.contains(&record.recorded_by), "{report}");
    assert!(same(
        &Policy::from_json(&open().recorded_policy().unwrap().unwrap().document).unwrap(),
        &next
    ));
    // The old release, still running, keeps its own policy.
    assert!(issue(&app_gate, "bot").is_ok());

    // Only a rule changed: reported as such.
    let stricter = Policy::from_toml(&next_text.replace("1000/hour", "10/hour")).unwrap();
    let g = Gate::open_store(open(), Some(stricter)).unwrap();
    let report = g.policy_mismatch().expect("reported");
    assert!(report.contains("other rules differ"), "{report}");

    // An unknown kind names the policy in force and where it came from.
    let tool = Gate::open_store(open(), None).unwrap();
    let e = issue(&tool, "bot").unwrap_err();
    assert_eq!(e.code(), "unknown_kind");
    let text = e.to_string();
    assert!(text.contains("the policy recorded in the store"), "{text}");
    assert!(text.contains("pat (bp_pat)"), "{text}");
}

#[test]
fn memory_store_remembers_the_policy() {
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    remembers(&|| Arc::clone(&shared));
}

#[test]
fn sqlite_store_remembers_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("gp.db").display());
    remembers(&|| store::open(&url).unwrap());
}

#[test]
fn postgres_store_remembers_the_policy() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    remembers(&|| store::open(&url).unwrap());
}

#[test]
fn a_store_keeps_a_bounded_history_of_policies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gp.db");
    let url = format!("sqlite:///{}", path.display());
    for n in 0..105 {
        let policy = Policy::from_toml(&format!("realm = \"r{n}\"")).unwrap();
        Gate::open(&url, Some(policy)).unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (count, newest): (i64, String) = conn
        .query_row(
            "SELECT COUNT(*), (SELECT document FROM gatepass_policies ORDER BY id DESC LIMIT 1) FROM gatepass_policies",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(count, 100);
    assert_eq!(Policy::from_json(&newest).unwrap().realm, "r104");
}

/// The workers of one deploy start together, each having read the previous
/// record and each recording the new policy: it is recorded once.
fn records_a_policy_once(open: &dyn Fn() -> Arc<dyn Store>, count: &dyn Fn() -> i64) {
    let record = |by: &str| PolicyRecord {
        document: app().to_canonical_json(),
        source: "$GATEPASS_POLICY=/srv/app.toml".into(),
        recorded_by: by.into(),
        recorded_at: 1,
    };
    let before = count();
    open().record_policy(&record("process:1")).unwrap();
    open().record_policy(&record("process:2")).unwrap();
    assert_eq!(count(), before + 1);
    assert_eq!(
        open().recorded_policy().unwrap().unwrap().recorded_by,
        "process:1"
    );
}

#[test]
fn sqlite_records_the_same_policy_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gp.db");
    let url = format!("sqlite:///{}", path.display());
    Gate::open(&url, None).unwrap();
    let count = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("SELECT COUNT(*) FROM gatepass_policies", [], |r| r.get(0))
            .unwrap()
    };
    records_a_policy_once(&|| store::open(&url).unwrap(), &count);
}

#[test]
fn postgres_records_the_same_policy_once() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    Gate::open(&url, None).unwrap();
    let count = || {
        let (base, options) = url.split_once("?options=").unwrap();
        let schema = options.trim_start_matches("-csearch_path%3D");
        let mut client = postgres::Client::connect(base, postgres::NoTls).unwrap();
        client
            .query_one(
                &format!("SELECT COUNT(*) FROM {schema}.gatepass_policies"),
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
    };
    records_a_policy_once(&|| store::open(&url).unwrap(), &count);
}

#[test]
fn a_recorded_policy_this_version_cannot_read_is_an_error_not_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gp.db");
    let url = format!("sqlite:///{}", path.display());
    Gate::open(&url, Some(app())).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE gatepass_policies SET document = '{\"future_field\": 1}'",
        [],
    )
    .unwrap();
    // A time no clock gives (a damaged row) is shown clamped, not a panic.
    conn.execute("UPDATE gatepass_policies SET recorded_at = ?1", [i64::MAX])
        .unwrap();
    let e = Gate::open(&url, None).unwrap_err();
    assert_eq!(e.code(), "config_error");
    assert!(e.to_string().contains("recorded in the store"), "{e}");
    // An explicit policy still opens it, reporting that the record was unreadable.
    let g = Gate::open(&url, Some(app())).unwrap();
    assert!(g.policy_mismatch().unwrap().contains("cannot be read"));
    assert!(same(Gate::open(&url, None).unwrap().policy(), &app()));
}

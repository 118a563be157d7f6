//! The audit trail on every store (memory, a real SQLite file, a real
//! Postgres schema when `scripts/services.sh` runs one): one event per
//! lifecycle change with its actor and changed fields and never a secret; a
//! call that changes nothing records nothing; a change and its event commit
//! together even when the process is killed mid-stream; pruning deletes only
//! what is past retention and never holds up a verification.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use gatepass_core::audit::{EventFilter, StoredEvent};
use gatepass_core::clock::ManualClock;
use gatepass_core::key::{KeyUpdate, ListQuery};
use gatepass_core::store::{self, Change, Found, MemoryStore, SqliteStore, Store, UsageDelta};
use gatepass_core::token::TokenDigest;
use gatepass_core::{
    Action, Actor, Event, EventQuery, Gate, GateError, IssueRequest, Issued, KeyRecord, Outcome,
    Policy, Requirement, Scope, Status, StoreError,
};
use serde_json::{json, Value};

const T0: i64 = 1_800_000_000_000;
const DAY_MS: i64 = 86_400_000;

const POLICY: &str = r#"
scopes = ["bots:read", "bots:write"]
"#;

fn policy() -> Policy {
    Policy::from_toml(POLICY).unwrap()
}

/// Every store this machine can run, each fresh: memory, a SQLite file, and
/// Postgres when its server is up.
fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    let mut all: Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> = vec![
        ("memory", Arc::new(MemoryStore::new()), None),
        ("sqlite", sqlite, Some(dir)),
    ];
    if let Some(url) = common::fresh_postgres_schema() {
        all.push(("postgres", store::open(&url).unwrap(), None));
    }
    all
}

fn gate_on(store: Arc<dyn Store>, clock: &Arc<ManualClock>) -> Gate {
    Gate::new(store, policy()).with_clock(Arc::clone(clock) as _)
}

fn all_events(gate: &Gate, query: EventQuery) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = gate
            .events(&EventQuery {
                after,
                limit: 1_000,
                ..query.clone()
            })
            .unwrap();
        out.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn key_events(gate: &Gate, id: &str) -> Vec<Event> {
    all_events(
        gate,
        EventQuery {
            key: Some(id.to_owned()),
            ..EventQuery::default()
        },
    )
}

/// Every form a secret could take in an event: the tokens, their bodies,
/// their digests in hex and base64.
fn secret_forms(tokens: &[&Issued]) -> Vec<String> {
    let mut forms = Vec::new();
    for issued in tokens {
        let token = issued.token.expose().to_owned();
        let body = token.rsplit('_').next().unwrap().to_owned();
        let digest = issued.token.digest().0;
        forms.push(token);
        forms.push(body);
        forms.push(hex::encode(digest));
        forms.push(base64::engine::general_purpose::STANDARD.encode(digest));
        forms.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest));
    }
    forms
}

fn assert_no_secret(name: &str, text: &str, forms: &[String]) {
    for form in forms {
        assert!(!text.contains(form.as_str()), "{name}: a secret in {text}");
    }
}

#[test]
fn each_lifecycle_change_writes_exactly_one_event_with_its_actor_and_fields() {
    for (name, store, _dir) in stores() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(store, &clock);
        let actor = Actor::new("user:42")
            .with_ip("203.0.113.9")
            .with_user_agent("Mozilla/5.0 (audit test)");
        let mut metadata = serde_json::Map::new();
        metadata.insert("team".into(), json!("support"));
        let issued = gate
            .issue_as(
                IssueRequest {
                    name: "Production Server".into(),
                    scopes: vec![Scope::parse("bots:read").unwrap()],
                    subject: Some("ws_1".into()),
                    metadata,
                    ..IssueRequest::default()
                },
                &actor,
            )
            .unwrap();
        let id = issued.key.id.clone();
        let count = |expected: usize| {
            let events = key_events(&gate, &id);
            assert_eq!(events.len(), expected, "{name}: {events:#?}");
            events
        };
        let first = &count(1)[0];
        assert_eq!(first.action, Action::Issued, "{name}");
        assert_eq!(first.actor, "user:42");
        assert_eq!(first.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(
            first.user_agent.as_deref(),
            Some("Mozilla/5.0 (audit test)")
        );
        assert_eq!(first.owner.as_deref(), Some("ws_1"));
        assert_eq!(first.at, T0);
        assert!(first.id.starts_with("evt_") && first.id.len() == 20);
        assert_eq!(
            first.changes["name"],
            json!({"from": null, "to": "Production Server"})
        );
        assert_eq!(first.changes["scopes"]["to"], json!(["bots:read"]));
        assert_eq!(first.changes["start"]["to"], json!(issued.key.start));
        assert_eq!(first.changes["metadata"], json!({"keys": ["team"]}));

        // An update records exactly the fields it changed; metadata by
        // entry name only, never its value.
        clock.advance_ms(1_000);
        let mut metadata = serde_json::Map::new();
        metadata.insert("team".into(), json!("support"));
        metadata.insert("billing".into(), json!("value-that-must-not-be-logged"));
        gate.update_as(
            &id,
            KeyUpdate {
                name: Some("Renamed <b>server</b>".into()),
                scopes: Some(vec![
                    Scope::parse("bots:read").unwrap(),
                    Scope::parse("bots:write").unwrap(),
                ]),
                metadata: Some(metadata.clone()),
                ..KeyUpdate::default()
            },
            &actor,
        )
        .unwrap();
        let updated = &count(2)[0];
        assert_eq!(updated.action, Action::Updated);
        let fields: Vec<&str> = updated.changes.keys().map(String::as_str).collect();
        assert_eq!(fields, ["metadata", "name", "scopes"], "{name}");
        assert_eq!(
            updated.changes["name"],
            json!({"from": "Production Server", "to": "Renamed <b>server</b>"})
        );
        assert_eq!(updated.changes["metadata"], json!({"keys": ["billing"]}));
        let text = serde_json::to_string(updated).unwrap();
        assert!(!text.contains("value-that-must-not-be-logged"), "{text}");

        // Times in changes are RFC 3339 text in UTC, as the API shows them.
        gate.update_as(
            &id,
            KeyUpdate {
                expires_at: Some(Some(T0 + DAY_MS)),
                ..KeyUpdate::default()
            },
            &actor,
        )
        .unwrap();
        let expiry = &count(3)[0];
        assert_eq!(
            Value::Object(expiry.changes.clone()),
            json!({"expires_at": {"from": null, "to": "2027-01-16T08:00:00.000Z"}}),
            "{name}"
        );

        // The same update again changes nothing: no event, updated_at stays.
        clock.advance_ms(1_000);
        let same = gate
            .update_as(
                &id,
                KeyUpdate {
                    name: Some("Renamed <b>server</b>".into()),
                    metadata: Some(metadata),
                    ..KeyUpdate::default()
                },
                &actor,
            )
            .unwrap();
        assert_eq!(same.updated_at, T0 + 1_000, "{name}");
        count(3);

        let other = Actor::new("user:7");
        let status_change = |events: &[Event], action: Action, from: &str, to: &str| {
            assert_eq!(events[0].action, action, "{name}");
            assert_eq!(events[0].actor, "user:7");
            assert_eq!(events[0].ip, None);
            assert_eq!(
                Value::Object(events[0].changes.clone()),
                json!({"status": {"from": from, "to": to}}),
                "{name}"
            );
        };
        gate.deactivate_as(&id, &other).unwrap();
        status_change(&count(4), Action::Deactivated, "active", "inactive");
        gate.deactivate_as(&id, &other).unwrap();
        count(4);
        gate.activate_as(&id, &other).unwrap();
        status_change(&count(5), Action::Activated, "inactive", "active");
        gate.activate_as(&id, &other).unwrap();
        count(5);

        clock.advance_ms(1_000);
        let rotated = gate
            .rotate_as(&id, Duration::from_secs(60), &other)
            .unwrap();
        let regenerated = &count(6)[0];
        assert_eq!(regenerated.action, Action::Regenerated);
        assert_eq!(
            Value::Object(regenerated.changes.clone()),
            json!({"start": {"from": issued.key.start, "to": rotated.key.start}})
        );
        assert_eq!(regenerated.at, T0 + 3_000);

        gate.revoke_as(&id, &other).unwrap();
        let revoked = count(7);
        assert_eq!(revoked[0].action, Action::Revoked);
        assert_eq!(revoked[0].changes["status"]["to"], json!("revoked"));
        gate.revoke_as(&id, &other).unwrap();
        count(7);

        gate.delete_as(&id, &actor).unwrap();
        // The trail outlives the key.
        let all = count(8);
        assert_eq!(all[0].action, Action::Deleted);
        assert_eq!(all[0].owner.as_deref(), Some("ws_1"));
        assert_eq!(
            all[0].changes["status"],
            json!({"from": "revoked", "to": null})
        );
        let actions: Vec<Action> = all.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                Action::Deleted,
                Action::Revoked,
                Action::Regenerated,
                Action::Activated,
                Action::Deactivated,
                Action::Updated,
                Action::Updated,
                Action::Issued
            ],
            "{name}: newest first"
        );
        let ids: std::collections::HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 8, "{name}: event ids are unique");

        let json = serde_json::to_string(&all).unwrap();
        assert_no_secret(name, &json, &secret_forms(&[&issued, &rotated]));
    }
}

#[test]
fn the_calls_without_an_actor_record_this_process() {
    for (name, store, _dir) in stores() {
        let gate = gate_on(store, &ManualClock::new(T0));
        let issued = gate
            .issue(IssueRequest {
                name: "plain".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        gate.revoke(&issued.key.id).unwrap();
        let events = key_events(&gate, &issued.key.id);
        assert_eq!(events.len(), 2, "{name}");
        let pid = format!("process:{}", std::process::id());
        for e in &events {
            assert!(e.actor.starts_with(&pid), "{name}: {}", e.actor);
            assert_eq!(e.ip, None);
        }
    }
}

#[test]
fn a_refused_actor_changes_nothing_and_records_nothing() {
    for (name, store, _dir) in stores() {
        let gate = gate_on(store, &ManualClock::new(T0));
        let request = IssueRequest {
            name: "refused".into(),
            ..IssueRequest::default()
        };
        for actor in [
            Actor::new("line\nbreak"),
            Actor::new(""),
            Actor::new("x".repeat(201)),
            Actor::new("ok").with_ip("not an ip"),
            Actor::new("ok").with_user_agent("a\u{1b}[31mred"),
        ] {
            let e = gate.issue_as(request.clone(), &actor).unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{name}: {actor:?}");
        }
        assert!(gate
            .list(None, None, None, None, 10)
            .unwrap()
            .keys
            .is_empty());
        let issued = gate.issue(request).unwrap();
        let e = gate
            .revoke_as(&issued.key.id, &Actor::new("tab\there"))
            .unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert_eq!(gate.get(&issued.key.id).unwrap().status, Status::Active);
        assert_eq!(key_events(&gate, &issued.key.id).len(), 1, "{name}");
    }
}

#[test]
fn events_filter_by_key_owner_and_time_and_page_without_gaps() {
    for (name, store, _dir) in stores() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(store, &clock);
        let issue = |subject: &str| {
            gate.issue(IssueRequest {
                name: format!("key of {subject}"),
                subject: Some(subject.into()),
                ..IssueRequest::default()
            })
            .unwrap()
        };
        let a = issue("ws_a");
        let b = issue("ws_b");
        clock.advance_ms(DAY_MS);
        for _ in 0..3 {
            gate.deactivate(&a.key.id).unwrap();
            gate.activate(&a.key.id).unwrap();
        }
        gate.revoke(&b.key.id).unwrap();

        let of = |query: EventQuery| all_events(&gate, query);
        assert_eq!(of(EventQuery::default()).len(), 9, "{name}");
        let owned = of(EventQuery {
            owner: Some("ws_b".into()),
            ..EventQuery::default()
        });
        assert_eq!(owned.len(), 2, "{name}");
        assert!(owned.iter().all(|e| e.key_id == b.key.id));
        assert_eq!(key_events(&gate, &a.key.id).len(), 7);
        let recent = of(EventQuery {
            since: Some(T0 + DAY_MS),
            ..EventQuery::default()
        });
        assert_eq!(recent.len(), 7, "{name}");
        assert!(recent.iter().all(|e| e.action != Action::Issued));

        // Pages of two: newest first, every event once, the last page says so.
        let mut paged = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = gate
                .events(&EventQuery {
                    after: after.clone(),
                    limit: 2,
                    ..EventQuery::default()
                })
                .unwrap();
            pages += 1;
            assert!(page.events.len() <= 2);
            paged.extend(page.events);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, 5, "{name}");
        let whole = of(EventQuery::default());
        assert_eq!(paged, whole, "{name}");
        assert_eq!(whole.last().unwrap().action, Action::Issued);
        assert_eq!(whole.first().unwrap().action, Action::Revoked);

        // Default and maximum page sizes.
        let page = gate.events(&EventQuery::default()).unwrap();
        assert_eq!(page.events.len(), 9);
        assert_eq!(page.next, None);

        for bad in [
            EventQuery {
                after: Some("garbage".into()),
                ..EventQuery::default()
            },
            EventQuery {
                key: Some(a.token.expose().to_owned()),
                ..EventQuery::default()
            },
            EventQuery {
                owner: Some("line\nbreak".into()),
                ..EventQuery::default()
            },
        ] {
            let e = gate.events(&bad).unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{name}: {bad:?}");
            assert!(!e.to_string().contains(a.token.expose()));
        }
    }
}

#[test]
fn pruning_deletes_only_events_past_retention() {
    for (name, store, _dir) in stores() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(Arc::clone(&store), &clock)
            .with_events_retention(Some(Duration::from_secs(10 * 86_400)));
        let old = gate
            .issue(IssueRequest {
                name: "old".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        clock.advance_ms(10 * DAY_MS);
        gate.revoke(&old.key.id).unwrap();
        // Exactly at the edge nothing is old enough yet.
        assert_eq!(gate.prune_events().unwrap(), 0, "{name}");
        clock.advance_ms(1);
        assert_eq!(gate.prune_events().unwrap(), 1, "{name}");
        let left = key_events(&gate, &old.key.id);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].action, Action::Revoked);
        // The key itself is not the trail's to delete.
        assert_eq!(gate.get(&old.key.id).unwrap().status, Status::Revoked);

        let forever = gate_on(store, &clock).with_events_retention(None);
        clock.advance_ms(1_000 * DAY_MS);
        assert_eq!(forever.prune_events().unwrap(), 0, "{name}");
        assert_eq!(key_events(&forever, &old.key.id).len(), 1);
    }
}

#[test]
fn pruning_goes_in_batches_until_every_old_event_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("many.db")).unwrap());
    let clock = ManualClock::new(T0);
    let gate = gate_on(Arc::clone(&store), &clock)
        .with_events_retention(Some(Duration::from_secs(86_400)));
    let issued = gate
        .issue(IssueRequest {
            name: "busy".into(),
            ..IssueRequest::default()
        })
        .unwrap();
    let n = gatepass_core::audit::PRUNE_BATCH + 7;
    for _ in 0..n / 2 {
        gate.deactivate(&issued.key.id).unwrap();
        gate.activate(&issued.key.id).unwrap();
    }
    let total = key_events(&gate, &issued.key.id).len();
    assert!(total > gatepass_core::audit::PRUNE_BATCH, "{total}");
    clock.advance_ms(2 * DAY_MS);
    gate.revoke(&issued.key.id).unwrap();
    assert_eq!(gate.prune_events().unwrap() as usize, total);
    assert_eq!(key_events(&gate, &issued.key.id).len(), 1);
}

/// The background thread prunes without being asked: events written straight
/// to the store a year and more ago are gone soon after a gate starts work.
#[test]
fn a_gate_prunes_in_the_background_once_it_is_used() {
    for (name, store, _dir) in stores() {
        let clock = ManualClock::new(T0);
        let writer = gate_on(Arc::clone(&store), &ManualClock::new(T0 - 400 * DAY_MS))
            .with_events_retention(None);
        let ancient = writer
            .issue(IssueRequest {
                name: "ancient".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        // Inside the default retention of a year: kept.
        let kept = gate_on(Arc::clone(&store), &ManualClock::new(T0 - 364 * DAY_MS))
            .with_events_retention(None)
            .issue(IssueRequest {
                name: "kept".into(),
                ..IssueRequest::default()
            })
            .unwrap();
        let gate = gate_on(store, &clock);
        assert_eq!(
            gate.events_retention(),
            Some(gatepass_core::audit::DEFAULT_RETENTION)
        );
        // Any lifecycle call starts the pruner; `events` does too.
        let started = Instant::now();
        loop {
            if key_events(&gate, &ancient.key.id).is_empty() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{name}: the background prune never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(gate.get(&ancient.key.id).unwrap().name, "ancient");
        assert_eq!(key_events(&gate, &kept.key.id).len(), 1, "{name}");
    }
}

/// A store whose prune waits for the test's word, as a long prune would.
#[derive(Debug)]
struct SlowPrune {
    inner: MemoryStore,
    entered: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    release: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
    /// Set once a prune that waited has finished.
    finished: std::sync::atomic::AtomicBool,
}

impl Store for SlowPrune {
    fn insert(
        &self,
        key: &KeyRecord,
        digest: &TokenDigest,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.inner.insert(key, digest, event)
    }
    fn get(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get(id)
    }
    fn find(&self, digest: &TokenDigest) -> Result<Option<Found>, StoreError> {
        self.inner.find(digest)
    }
    fn list(&self, query: &ListQuery) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list(query)
    }
    fn modify(&self, id: &str, change: Change<'_>) -> Result<KeyRecord, GateError> {
        self.inner.modify(id, change)
    }
    fn rotate(
        &self,
        id: &str,
        new_digest: &TokenDigest,
        old_until: i64,
        change: Change<'_>,
    ) -> Result<KeyRecord, GateError> {
        self.inner.rotate(id, new_digest, old_until, change)
    }
    fn delete(&self, id: &str, event: &Event) -> Result<bool, StoreError> {
        self.inner.delete(id, event)
    }
    fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.events(filter)
    }
    fn prune_events(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            entered.send(()).unwrap();
            let release = self.release.lock().unwrap().take().unwrap();
            release.recv().unwrap();
            let n = self.inner.prune_events(before, batch);
            self.finished
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return n;
        }
        self.inner.prune_events(before, batch)
    }
    fn add_usage(&self, batch: &[UsageDelta]) -> Result<(), StoreError> {
        self.inner.add_usage(batch)
    }
    fn consume_credit(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.inner.consume_credit(id)
    }
    fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch()
    }
}

fn verify(gate: &Gate, issued: &Issued) -> Outcome {
    let header = format!("Bearer {}", issued.token.expose());
    gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
        .unwrap()
        .outcome
}

#[test]
fn a_prune_in_progress_never_holds_up_a_verification_on_the_same_gate() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let store = Arc::new(SlowPrune {
        inner: MemoryStore::new(),
        entered: std::sync::Mutex::new(None),
        release: std::sync::Mutex::new(Some(release_rx)),
        finished: std::sync::atomic::AtomicBool::new(false),
    });
    let gate = Arc::new(
        Gate::new(Arc::clone(&store) as Arc<dyn Store>, policy()).with_events_retention(None),
    );
    let issued = gate
        .issue(IssueRequest {
            name: "busy".into(),
            ..IssueRequest::default()
        })
        .unwrap();
    let explicit = Arc::new(
        Gate::new(Arc::clone(&store) as Arc<dyn Store>, policy())
            .with_events_retention(Some(Duration::from_secs(86_400))),
    );
    *store.entered.lock().unwrap() = Some(entered_tx);
    let pruning = {
        let explicit = Arc::clone(&explicit);
        std::thread::spawn(move || explicit.prune_events().unwrap())
    };
    entered.recv().unwrap();
    // The prune is inside the store now and will stay there until released.
    assert_eq!(verify(&explicit, &issued), Outcome::Valid);
    assert_eq!(verify(&gate, &issued), Outcome::Valid);
    assert!(!pruning.is_finished());
    release.send(()).unwrap();
    assert_eq!(pruning.join().unwrap(), 0);
}

/// Dropping a gate stops its background prune and waits for the batch in
/// progress: once `drop` returns, nothing of the gate still uses the store, so
/// a program may close, move or delete the database then.
#[test]
fn dropping_a_gate_waits_for_its_background_prune_to_finish() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let store = Arc::new(SlowPrune {
        inner: MemoryStore::new(),
        entered: std::sync::Mutex::new(Some(entered_tx)),
        release: std::sync::Mutex::new(Some(release_rx)),
        finished: std::sync::atomic::AtomicBool::new(false),
    });
    let gate = Gate::new(Arc::clone(&store) as Arc<dyn Store>, policy())
        .with_events_retention(Some(Duration::from_secs(86_400)));
    // A lifecycle call starts the background prune, which blocks in the store.
    gate.issue(IssueRequest {
        name: "dropped".into(),
        ..IssueRequest::default()
    })
    .unwrap();
    entered.recv().unwrap();
    // Released a moment later, while `drop` is (or should be) waiting; the
    // pause only makes a drop that does not wait visible, it decides nothing.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let _ = release.send(());
    });
    drop(gate);
    assert!(
        store.finished.load(std::sync::atomic::Ordering::SeqCst),
        "the gate's drop returned while its prune was still in the store"
    );
    releaser.join().unwrap();
}

#[test]
fn a_verification_proceeds_while_the_events_table_is_locked_for_a_prune_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let gate = Gate::open(&format!("sqlite:///{}", path.display()), Some(policy())).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "verified during a prune".into(),
            ..IssueRequest::default()
        })
        .unwrap();
    // Opened first (opening may create tables); nothing is cached in it.
    let fresh = Gate::open(&format!("sqlite:///{}", path.display()), Some(policy())).unwrap();
    // Another connection deletes events and holds its write transaction open,
    // as a long prune in another process would.
    let mut pruner = rusqlite::Connection::open(&path).unwrap();
    let tx = pruner
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    assert_eq!(tx.execute("DELETE FROM gatepass_events", []).unwrap(), 1);
    // The write lock really is held: a writer that will not wait is refused.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.busy_timeout(Duration::ZERO).unwrap();
    assert!(other.execute_batch("BEGIN IMMEDIATE").is_err());
    // The fresh gate (nothing cached) reads the key and verifies all the same.
    // (Its usage is written later, by its own thread, once the lock is gone.)
    assert_eq!(verify(&fresh, &issued), Outcome::Valid);
    tx.rollback().unwrap();
    assert_eq!(key_events(&fresh, &issued.key.id).len(), 1);
}

#[test]
fn a_verification_proceeds_while_the_events_table_is_locked_on_postgres() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let gate = Gate::open(&url, Some(policy())).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "verified during a prune".into(),
            ..IssueRequest::default()
        })
        .unwrap();
    let fresh = Gate::open(&url, Some(policy())).unwrap();
    let mut pruner = connect_raw(&url);
    let mut tx = pruner.transaction().unwrap();
    // The strongest lock there is: nothing else may even read the table.
    tx.batch_execute(
        "LOCK TABLE gatepass_events IN ACCESS EXCLUSIVE MODE; DELETE FROM gatepass_events",
    )
    .unwrap();
    assert_eq!(verify(&fresh, &issued), Outcome::Valid);
    assert_eq!(
        fresh.get(&issued.key.id).unwrap().name,
        "verified during a prune"
    );
    tx.rollback().unwrap();
    assert_eq!(key_events(&fresh, &issued.key.id).len(), 1);
}

/// A plain client on the test schema (the URL's `options` sets its path).
fn connect_raw(url: &str) -> postgres::Client {
    let config: postgres::Config = url.parse().unwrap();
    config.connect(postgres::NoTls).unwrap()
}

// ----- killed in the middle ---------------------------------------------------

const CHILD_URL: &str = "GATEPASS_TEST_AUDIT_CHILD_STORE";

/// Runs only when spawned by the kill tests: changes keys in a loop, forever.
#[test]
#[ignore = "child process of the kill tests"]
fn audit_child_churn() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let gate = Gate::open(&url, Some(policy())).unwrap();
    let actor = Actor::new("churn");
    let mut keys: Vec<String> = Vec::new();
    for round in 0u64.. {
        let issued = gate
            .issue_as(
                IssueRequest {
                    name: format!("churn {round}"),
                    subject: Some(format!("ws_{}", round % 3)),
                    ..IssueRequest::default()
                },
                &actor,
            )
            .unwrap();
        keys.push(issued.key.id);
        for (i, id) in keys.iter().enumerate().rev().take(4) {
            let _ = match (round + i as u64) % 6 {
                0 => gate
                    .update_as(
                        id,
                        KeyUpdate {
                            name: Some(format!("renamed {round}")),
                            ..KeyUpdate::default()
                        },
                        &actor,
                    )
                    .map(|_| ()),
                1 => gate.deactivate_as(id, &actor).map(|_| ()),
                2 => gate.activate_as(id, &actor).map(|_| ()),
                3 => gate.rotate_as(id, Duration::ZERO, &actor).map(|_| ()),
                4 => gate.revoke_as(id, &actor).map(|_| ()),
                _ => gate.delete_as(id, &actor),
            };
        }
    }
}

/// Runs the churning child on `url`, waits until it has written at least
/// `events` events, kills it (SIGKILL: no destructor, no flush), and checks
/// that the store's keys and its trail tell one story.
fn kill_mid_churn(url: &str, events: usize) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "audit_child_churn", "--nocapture"])
        .env(CHILD_URL, url)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let gate = Gate::open(url, Some(policy()))
        .unwrap()
        .with_events_retention(None);
    let started = Instant::now();
    loop {
        let page = gate
            .events(&EventQuery {
                limit: events,
                ..EventQuery::default()
            })
            .unwrap();
        if page.events.len() >= events {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the churning child ended early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the churning child made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    check_one_story(&gate);
}

/// Folds each key's events, oldest first, and compares the result with the
/// key as stored: every change the store holds has its event, and every
/// event its change.
fn check_one_story(gate: &Gate) {
    let mut events = all_events(gate, EventQuery::default());
    events.reverse();
    let mut by_key: HashMap<String, Vec<Event>> = HashMap::new();
    for e in events {
        by_key.entry(e.key_id.clone()).or_default().push(e);
    }
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = gate
            .list(None, None, None, after.as_deref(), 1_000)
            .unwrap();
        keys.extend(page.keys);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(!keys.is_empty());
    for key in &keys {
        let trail = by_key
            .remove(&key.id)
            .unwrap_or_else(|| panic!("{} has no events", key.id));
        assert_eq!(trail[0].action, Action::Issued, "{}", key.id);
        let mut state: HashMap<String, Value> = HashMap::new();
        for e in &trail {
            assert_ne!(
                e.action,
                Action::Deleted,
                "{} exists after its deletion",
                key.id
            );
            for (field, change) in &e.changes {
                if let Some(to) = change.get("to") {
                    state.insert(field.clone(), to.clone());
                }
            }
        }
        assert_eq!(state["name"], json!(key.name), "{}: {trail:#?}", key.id);
        assert_eq!(state["status"], json!(key.status.as_str()), "{}", key.id);
        assert_eq!(state["start"], json!(key.start), "{}", key.id);
        assert_eq!(trail.last().unwrap().at, key.updated_at, "{}", key.id);
    }
    // Events of keys the store no longer has end with their deletion.
    for (id, trail) in by_key {
        assert_eq!(trail.last().unwrap().action, Action::Deleted, "{id}");
        assert_eq!(
            trail.iter().filter(|e| e.action == Action::Deleted).count(),
            1
        );
    }
}

#[test]
fn a_killed_process_leaves_every_change_with_its_event_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("killed.db").display());
    for target in [150, 400] {
        kill_mid_churn(&url, target);
    }
}

#[test]
fn a_killed_process_leaves_every_change_with_its_event_on_postgres() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    for target in [150, 400] {
        kill_mid_churn(&url, target);
    }
}

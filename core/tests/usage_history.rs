//! Usage history on every store: valid verifications and refusals that name
//! a key, counted per hour and outcome; summed exactly across processes;
//! rolled up into days and pruned by the settings; never in a verify's way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::child::{self, ChildGate};
use gatepass_core::clock::{Clock, ManualClock, Millis};
use gatepass_core::history::{HistorySettings, DAY, HOUR};
use gatepass_core::ratelimit::RateLimit;
use gatepass_core::store;
use gatepass_core::{
    Gate, IssueRequest, Issued, Outcome, Policy, Requirement, Scope, Step, UsageBucket, UsageQuery,
};

/// Runs only when spawned by the multi-process tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    child::serve();
}

/// 2026-03-10T10:30:00Z, a whole number of days plus ten and a half hours.
const DAY0: Millis = 20_522 * DAY;
const T0: Millis = DAY0 + 10 * HOUR + 30 * 60_000;

/// The stores to run a test on: memory, a fresh SQLite file, and a fresh
/// Postgres schema when the test servers run.
fn store_urls() -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:///{}", dir.path().join("usage.db").display());
    let mut urls = vec![
        ("memory", "memory://".to_owned(), None),
        ("sqlite", sqlite, Some(dir)),
    ];
    if let Some(pg) = common::fresh_postgres_schema() {
        urls.push(("postgres", pg, None));
    }
    urls
}

fn gate_on(url: &str, clock: &Arc<ManualClock>) -> Gate {
    Gate::new(store::open(url).unwrap(), Policy::default())
        .with_clock(Arc::clone(clock) as Arc<dyn Clock>)
}

fn issue(gate: &Gate, name: &str, tweak: impl FnOnce(&mut IssueRequest)) -> Issued {
    let mut req = IssueRequest {
        name: name.into(),
        scopes: vec![Scope::parse("bots:read").unwrap()],
        ..IssueRequest::default()
    };
    tweak(&mut req);
    gate.issue(req).unwrap()
}

fn verify_for(
    gate: &Gate,
    t: &Issued,
    requirement: &Requirement,
    resource: Option<&str>,
) -> Outcome {
    let header = format!("Bearer {}", t.token.expose());
    gate.verify(Some(header.as_bytes()), requirement, resource)
        .unwrap()
        .outcome
}

fn verify(gate: &Gate, t: &Issued) -> Outcome {
    verify_for(gate, t, &Requirement::none(), None)
}

fn hours(gate: &Gate, id: &str, since: Millis, until: Millis) -> Vec<UsageBucket> {
    gate.usage(
        id,
        &UsageQuery {
            since,
            until,
            step: Step::Hour,
        },
    )
    .unwrap()
}

fn refused(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
}

#[test]
fn valid_requests_and_refusals_are_counted_by_hour_and_code_on_every_store() {
    for (name, url, _dir) in store_urls() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(&url, &clock);
        let key = issue(&gate, "bot", |r| r.resource = Some("team-1".into()));
        let write = Requirement::all(&["bots:write"]).unwrap();

        for _ in 0..3 {
            assert_eq!(verify(&gate, &key), Outcome::Valid, "{name}");
        }
        clock.advance_ms(HOUR);
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        assert_eq!(
            verify_for(&gate, &key, &write, None),
            Outcome::InsufficientScope
        );
        assert_eq!(
            verify_for(&gate, &key, &Requirement::none(), Some("team-2")),
            Outcome::ForbiddenResource
        );
        // Checking by hand and unknown tokens are not the key's history.
        let header = format!("Bearer {}", key.token.expose());
        let checked = gate
            .verify_without_spending(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(checked.outcome, Outcome::Valid);
        let stranger = issue(&gate, "stranger", |_| {});
        gate.delete(&stranger.key.id).unwrap();
        assert_eq!(verify(&gate, &stranger), Outcome::UnknownKey);
        clock.advance_ms(HOUR);
        gate.deactivate(&key.key.id).unwrap();
        assert_eq!(verify(&gate, &key), Outcome::Inactive);
        assert_eq!(verify(&gate, &key), Outcome::Inactive);
        gate.activate(&key.key.id).unwrap();
        gate.revoke(&key.key.id).unwrap();
        assert_eq!(verify(&gate, &key), Outcome::Revoked);

        // A route that checks scopes after authenticating counts the refusal too.
        let other = issue(&gate, "other", |_| {});
        let header = format!("Bearer {}", other.token.expose());
        let v = gate
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(
            gate.authorize(&v, &write).outcome,
            Outcome::InsufficientScope
        );

        let buckets = hours(&gate, &key.key.id, T0 - HOUR, T0 + 3 * HOUR);
        let starts: Vec<Millis> = buckets.iter().map(|b| b.start).collect();
        let hour0 = DAY0 + 10 * HOUR;
        assert_eq!(
            starts,
            vec![
                hour0 - HOUR,
                hour0,
                hour0 + HOUR,
                hour0 + 2 * HOUR,
                hour0 + 3 * HOUR
            ],
            "{name}: dense, ascending, from the hour holding since"
        );
        let valid: Vec<u64> = buckets.iter().map(|b| b.valid).collect();
        assert_eq!(valid, vec![0, 3, 2, 0, 0], "{name}");
        assert_eq!(buckets[0].refused, refused(&[]), "{name}");
        assert_eq!(
            buckets[2].refused,
            refused(&[("forbidden_resource", 1), ("insufficient_scope", 1)]),
            "{name}"
        );
        assert_eq!(
            buckets[3].refused,
            refused(&[("inactive", 2), ("revoked", 1)]),
            "{name}"
        );
        assert_eq!(gate.get(&key.key.id).unwrap().usage_count, 5, "{name}");

        let days = gate
            .usage(
                &key.key.id,
                &UsageQuery {
                    since: DAY0 - DAY,
                    until: DAY0 + DAY,
                    step: Step::Day,
                },
            )
            .unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].start, days[0].valid), (DAY0 - DAY, 0));
        assert_eq!((days[1].start, days[1].valid), (DAY0, 5), "{name}");
        assert_eq!(
            days[1].refused,
            refused(&[
                ("forbidden_resource", 1),
                ("inactive", 2),
                ("insufficient_scope", 1),
                ("revoked", 1)
            ]),
            "{name}"
        );

        let ids = vec![key.key.id.clone(), other.key.id.clone()];
        let totals = gate.usage_totals(&ids, T0).unwrap();
        let t = &totals[&key.key.id];
        assert_eq!(t.valid, 5, "{name}");
        assert_eq!(t.refused.values().sum::<u64>(), 5, "{name}");
        assert_eq!(t.last_refused_at, Some(hour0 + 2 * HOUR), "{name}");
        let o = &totals[&other.key.id];
        assert_eq!(
            (o.valid, o.refused.get("insufficient_scope")),
            (1, Some(&1))
        );
        // Later than the key's first hour: only what came after.
        let later = gate.usage_totals(&ids, T0 + 2 * HOUR).unwrap();
        assert_eq!(later[&key.key.id].valid, 0, "{name}");
        assert_eq!(later[&key.key.id].refused.get("inactive"), Some(&2));
        // A key that was never used is in the answer, with zeros.
        let idle = issue(&gate, "idle", |_| {});
        let none = gate
            .usage_totals(std::slice::from_ref(&idle.key.id), 0)
            .unwrap();
        assert_eq!(none[&idle.key.id], Default::default());
    }
}

#[test]
fn rate_limits_credits_and_expiry_are_counted_as_their_codes() {
    for (name, url, _dir) in store_urls() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(&url, &clock);
        let limited = issue(&gate, "limited", |r| {
            r.rate_limit = RateLimit::new(1, Duration::from_secs(3_600));
        });
        let credits = issue(&gate, "credits", |r| r.remaining = Some(1));
        let brief = issue(&gate, "brief", |r| {
            r.expires_in = Some(Duration::from_secs(60))
        });
        for t in [&limited, &credits, &brief] {
            assert_eq!(verify(&gate, t), Outcome::Valid, "{name}");
        }
        assert_eq!(verify(&gate, &limited), Outcome::RateLimited);
        assert_eq!(verify(&gate, &credits), Outcome::UsageExceeded);
        clock.advance_ms(2 * 60_000);
        assert_eq!(verify(&gate, &brief), Outcome::Expired);
        for (t, code) in [
            (&limited, "rate_limited"),
            (&credits, "usage_exceeded"),
            (&brief, "expired"),
        ] {
            let b = hours(&gate, &t.key.id, T0, T0 + 60_000);
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].valid, 1, "{name} {code}");
            assert_eq!(b[0].refused, refused(&[(code, 1)]), "{name} {code}");
        }
    }
}

#[test]
fn queries_are_bounded_and_name_keys_not_tokens() {
    let clock = ManualClock::new(T0);
    let gate = gate_on("memory://", &clock);
    let key = issue(&gate, "bot", |_| {});
    let id = &key.key.id;
    let q = |since, until, step| UsageQuery { since, until, step };
    let err = |r: Result<Vec<UsageBucket>, gatepass_core::GateError>| r.unwrap_err().code();
    assert_eq!(
        err(gate.usage(id, &q(T0, T0, Step::Hour))),
        "invalid_argument"
    );
    assert_eq!(
        err(gate.usage(id, &q(T0, T0 + 2_001 * HOUR, Step::Hour))),
        "invalid_argument"
    );
    let days = gate.usage(id, &q(DAY0, DAY0 + 2_000 * DAY, Step::Day));
    assert_eq!(days.unwrap().len(), 2_000);
    // Not aligned: the partial first day is one more bucket.
    assert_eq!(
        err(gate.usage(id, &q(T0, T0 + 2_000 * DAY, Step::Day))),
        "invalid_argument"
    );
    // Hours before the default 30 days have been rolled up: not made up.
    assert_eq!(
        err(gate.usage(id, &q(T0 - 40 * DAY, T0, Step::Hour))),
        "invalid_argument"
    );
    assert_eq!(
        gate.usage(id, &q(T0 - 40 * DAY, T0, Step::Day))
            .unwrap()
            .len(),
        41
    );
    let missing = gatepass_core::token::new_key_id();
    assert_eq!(
        err(gate.usage(&missing, &q(T0, T0 + HOUR, Step::Hour))),
        "not_found"
    );
    let e = gate
        .usage(key.token.expose(), &q(T0, T0 + HOUR, Step::Hour))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(!e.to_string().contains(key.token.expose()));
    let many: Vec<String> = (0..1_001)
        .map(|_| gatepass_core::token::new_key_id())
        .collect();
    assert_eq!(
        gate.usage_totals(&many, 0).unwrap_err().code(),
        "invalid_argument"
    );
    // Exactly the bound is one call, answered for every id.
    let bound = &many[..gatepass_core::history::MAX_TOTALS_KEYS];
    assert_eq!(gate.usage_totals(bound, 0).unwrap().len(), bound.len());
}

#[test]
fn history_goes_with_its_key() {
    for (name, url, _dir) in store_urls() {
        let clock = ManualClock::new(T0);
        let gate = gate_on(&url, &clock);
        let key = issue(&gate, "bot", |_| {});
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        gate.flush().unwrap();
        let ids = vec![key.key.id.clone()];
        assert_eq!(gate.usage_totals(&ids, 0).unwrap()[&key.key.id].valid, 1);
        gate.delete(&key.key.id).unwrap();
        assert_eq!(
            gate.usage_totals(&ids, 0).unwrap()[&key.key.id].valid,
            0,
            "{name}"
        );
    }
}

/// Rows a day old roll up into one daily row per outcome; rolled-up hours
/// are gone (else a day would count them twice); a second run changes
/// nothing; past the retention everything goes; `usage_count` stays.
#[test]
fn rollup_and_prune_follow_the_settings_on_every_store() {
    for (name, url, _dir) in store_urls() {
        let clock = ManualClock::new(DAY0 + HOUR);
        let settings = HistorySettings::new(
            Duration::from_secs(2 * 86_400),
            Duration::from_secs(5 * 86_400),
        )
        .unwrap();
        let gate = gate_on(&url, &clock).with_usage_history(settings);
        let key = issue(&gate, "bot", |_| {});
        let write = Requirement::all(&["bots:write"]).unwrap();
        // Day 0: 1 valid at 01h, 2 valid and 1 refusal at 05h; day 1: 4 valid at 03h.
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        clock.set_ms(DAY0 + 5 * HOUR);
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        assert_eq!(verify(&gate, &key), Outcome::Valid);
        assert_eq!(
            verify_for(&gate, &key, &write, None),
            Outcome::InsufficientScope
        );
        clock.set_ms(DAY0 + DAY + 3 * HOUR);
        for _ in 0..4 {
            assert_eq!(verify(&gate, &key), Outcome::Valid);
        }
        let id = &key.key.id;
        let by_day = |gate: &Gate| -> Vec<(u64, u64)> {
            gate.usage(
                id,
                &UsageQuery {
                    since: DAY0,
                    until: DAY0 + 2 * DAY,
                    step: Step::Day,
                },
            )
            .unwrap()
            .iter()
            .map(|b| (b.valid, b.refused.values().sum()))
            .collect()
        };
        assert_eq!(by_day(&gate), vec![(3, 1), (4, 0)], "{name} before");

        // Day 0 has ended more than `hourly_for` ago, day 1 has not.
        clock.set_ms(DAY0 + 3 * DAY + 5 * HOUR);
        gate.compact_usage().unwrap();
        assert_eq!(by_day(&gate), vec![(3, 1), (4, 0)], "{name} rolled up");
        gate.compact_usage().unwrap();
        assert_eq!(by_day(&gate), vec![(3, 1), (4, 0)], "{name} twice");
        let hourly = |since| {
            gate.usage(
                id,
                &UsageQuery {
                    since,
                    until: DAY0 + 2 * DAY,
                    step: Step::Hour,
                },
            )
        };
        assert_eq!(hourly(DAY0).unwrap_err().code(), "invalid_argument");
        let day1 = hourly(DAY0 + DAY).unwrap();
        assert_eq!(day1[3].valid, 4, "{name}: day 1 still by hour");

        // Day 0 leaves the 5-day retention at day 6; day 1 at day 7.
        clock.set_ms(DAY0 + 6 * DAY + HOUR);
        gate.compact_usage().unwrap();
        assert_eq!(by_day(&gate), vec![(0, 0), (4, 0)], "{name} pruned");
        clock.set_ms(DAY0 + 7 * DAY);
        gate.compact_usage().unwrap();
        assert_eq!(by_day(&gate), vec![(0, 0), (0, 0)], "{name} all pruned");
        assert_eq!(gate.get(id).unwrap().usage_count, 7, "{name}");
    }
}

/// Each of three processes verifies on one store and shuts down cleanly:
/// the hourly valid counts add up to `usage_count` exactly, and the
/// refusals are there by code.
fn three_processes_add_up(url: &str) {
    const N: u64 = 1_500;
    const M: u64 = 250;
    let gate = Gate::open(url, None).unwrap();
    let key = issue(&gate, "hot", |_| {});
    let gone = issue(&gate, "revoked", |_| {});
    gate.revoke(&gone.key.id).unwrap();
    let since = gate.now() - HOUR;
    let mut children: Vec<ChildGate> = (0..3).map(|_| ChildGate::spawn(url)).collect();
    for c in &mut children {
        c.send(&format!("hammer {} {N}", key.token.expose()));
        c.send(&format!("hammer {} {M}", gone.token.expose()));
    }
    for mut c in children {
        assert_eq!(c.expect("HAMMERED"), N.to_string());
        assert_eq!(c.expect("HAMMERED"), "0");
        c.finish();
    }
    let until = gate.now() + HOUR;
    let buckets = hours(&gate, &key.key.id, since, until);
    let valid: u64 = buckets.iter().map(|b| b.valid).sum();
    assert_eq!(gate.get(&key.key.id).unwrap().usage_count, 3 * N);
    assert_eq!(valid, 3 * N);
    assert!(buckets.iter().all(|b| b.refused.is_empty()));
    let revoked: u64 = hours(&gate, &gone.key.id, since, until)
        .iter()
        .map(|b| b.refused.get("revoked").copied().unwrap_or(0) + b.valid)
        .sum();
    assert_eq!(revoked, 3 * M);
}

#[test]
fn three_processes_on_one_sqlite_file_add_up_exactly() {
    let dir = tempfile::tempdir().unwrap();
    three_processes_add_up(&format!(
        "sqlite:///{}",
        dir.path().join("three.db").display()
    ));
}

#[test]
fn three_processes_on_postgres_add_up_exactly() {
    if let Some(url) = common::fresh_postgres_schema() {
        three_processes_add_up(&url);
    }
}

/// Another process holds the SQLite file's write lock, as a long prune
/// would: verifications keep answering (batches past the flush size wait in
/// memory), and once the lock is gone every count arrives.
#[test]
fn a_prune_holding_the_write_lock_never_blocks_a_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let url = format!("sqlite:///{}", path.display());
    let gate = Arc::new(Gate::open(&url, None).unwrap());
    let key = Arc::new(issue(&gate, "bot", |_| {}));
    assert_eq!(verify(&gate, &key), Outcome::Valid);
    let pruner = rusqlite::Connection::open(&path).unwrap();
    pruner
        .execute_batch("BEGIN IMMEDIATE; DELETE FROM gatepass_usage WHERE start < 0;")
        .unwrap();
    let (done, finished) = mpsc::channel();
    {
        let (gate, key) = (Arc::clone(&gate), Arc::clone(&key));
        std::thread::spawn(move || {
            let write = Requirement::all(&["bots:write"]).unwrap();
            for _ in 0..3_000 {
                assert_eq!(verify(&gate, &key), Outcome::Valid);
                assert_eq!(
                    verify_for(&gate, &key, &write, None),
                    Outcome::InsufficientScope
                );
            }
            done.send(()).unwrap();
        });
    }
    // Not a speed bound: a deadlock guard. 6 000 in-memory verifications
    // take milliseconds; blocked behind the lock they would never finish
    // (the flusher's busy timeout alone is 10 s per batch).
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("verifications were blocked by the held write lock");
    pruner.execute_batch("COMMIT").unwrap();
    gate.flush().unwrap();
    let now = gate.now();
    let buckets = hours(&gate, &key.key.id, now - 2 * HOUR, now + HOUR);
    assert_eq!(buckets.iter().map(|b| b.valid).sum::<u64>(), 3_001);
    let scope: u64 = buckets
        .iter()
        .map(|b| b.refused.get("insufficient_scope").copied().unwrap_or(0))
        .sum();
    assert_eq!(scope, 3_000);
    assert_eq!(gate.get(&key.key.id).unwrap().usage_count, 3_001);
}

/// A file made before usage history existed gains the table when opened.
#[test]
fn an_existing_sqlite_file_gains_the_history_table_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite:///{}", path.display());
    let key = {
        let gate = Gate::open(&url, None).unwrap();
        issue(&gate, "old", |_| {})
    };
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER gatepass_usage_key_deleted; DROP TABLE gatepass_usage;")
        .unwrap();
    drop(conn);
    let gate = Gate::open(&url, None).unwrap();
    assert_eq!(verify(&gate, &key), Outcome::Valid);
    let now = gate.now();
    assert_eq!(
        hours(&gate, &key.key.id, now - HOUR, now + HOUR)
            .iter()
            .map(|b| b.valid)
            .sum::<u64>(),
        1
    );
}

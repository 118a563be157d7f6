//! Input at the core's edge: key-id arguments are checked for shape and
//! never echoed (a token pasted where an id belongs stays out of messages),
//! and every time and number a caller passes is bounded so that what is
//! stored can always be read back, in every binding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use gatepass_core::clock::{ManualClock, MAX_MILLIS};
use gatepass_core::duration;
use gatepass_core::error::GateError;
use gatepass_core::key::{KeyUpdate, MAX_REMAINING};
use gatepass_core::{Gate, IssueRequest};

fn gate() -> Gate {
    Gate::open("memory://", None).unwrap_or_else(|e| unreachable!("{e}"))
}

fn named(name: &str) -> IssueRequest {
    IssueRequest {
        name: name.into(),
        ..IssueRequest::default()
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, GateError>) -> GateError {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Every call that takes a key id, each given `id`.
fn every_id_call(gate: &Gate, id: &str) -> Vec<(&'static str, GateError)> {
    vec![
        ("get", refusal(gate.get(id))),
        ("revoke", refusal(gate.revoke(id))),
        ("deactivate", refusal(gate.deactivate(id))),
        ("activate", refusal(gate.activate(id))),
        ("rotate", refusal(gate.rotate(id, Duration::ZERO))),
        ("update", refusal(gate.update(id, KeyUpdate::default()))),
        ("delete", refusal(gate.delete(id))),
    ]
}

#[test]
fn a_token_given_as_a_key_id_is_refused_and_never_repeated() {
    let g = gate();
    let issued = g
        .issue(named("prod"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let token = issued.token.expose().to_owned();
    let body = token.rsplit_once('_').map_or("", |(_, b)| b).to_owned();
    let mut typo = token.clone();
    typo.pop();
    typo.push(if token.ends_with('x') { 'y' } else { 'x' });
    for given in [token.clone(), format!("Bearer {token}"), typo.clone()] {
        for (call, e) in every_id_call(&g, &given) {
            assert_eq!(e.code(), "invalid_argument", "{call}");
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(&body[..8]) && !shown.contains(&typo[typo.len() - 12..]),
                "{call} repeated the token: {shown}"
            );
            assert!(
                e.to_string()
                    .contains("a token was given where a key id belongs"),
                "{call}: {e}"
            );
        }
    }
    // The key is untouched by all of that.
    let key = g
        .get(&issued.key.id)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(key.status.as_str(), "active");
}

#[test]
fn other_malformed_ids_are_refused_without_being_repeated() {
    let g = gate();
    for given in [
        "",
        "key_short",
        "secret-looking-thing-123",
        "key_AAAAAAAAAAAAAAA!",
    ] {
        for (call, e) in every_id_call(&g, given) {
            assert_eq!(e.code(), "invalid_argument", "{call} {given:?}");
            assert!(e.to_string().starts_with("not a key id"), "{call}: {e}");
            if !given.is_empty() {
                assert!(!format!("{e} {e:?}").contains(given), "{call}: {e}");
            }
        }
    }
    // A well-formed id that names no key is still `not_found`.
    let missing = "key_0000000000000000";
    for (call, e) in every_id_call(&g, missing) {
        assert_eq!(e.code(), "not_found", "{call}");
    }
}

#[test]
fn lifetimes_and_grace_are_at_most_a_hundred_years() {
    let g = gate();
    let century = duration::MAX;
    let ok = g
        .issue(IssueRequest {
            expires_in: Some(century),
            ..named("long")
        })
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(ok.key.expires_at.is_some_and(|t| t <= MAX_MILLIS));
    let too_long = century + Duration::from_secs(1);
    let e = refusal(g.issue(IssueRequest {
        expires_in: Some(too_long),
        ..named("too long")
    }));
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("100 years"), "{e}");
    // The textual form, as "3000000d" arrives from every binding.
    let e = duration::parse("3000000d").unwrap_err();
    assert!(e.to_string().contains("100 years"), "{e}");
    let e = refusal(g.rotate(&ok.key.id, too_long));
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("grace"), "{e}");
    let e = refusal(g.update(
        &ok.key.id,
        KeyUpdate {
            expires_in: Some(too_long),
            ..KeyUpdate::default()
        },
    ));
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("expires_in"), "{e}");
}

#[test]
fn expiry_times_end_with_the_year_9999() {
    let g = gate();
    let last = g
        .issue(IssueRequest {
            expires_at: Some(MAX_MILLIS),
            ..named("last")
        })
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(last.key.expires_at, Some(MAX_MILLIS));
    for at in [MAX_MILLIS + 1, i64::MAX] {
        let e = refusal(g.issue(IssueRequest {
            expires_at: Some(at),
            ..named("later")
        }));
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("9999-12-31"), "{e}");
        let e = refusal(g.update(
            &last.key.id,
            KeyUpdate {
                expires_at: Some(Some(at)),
                ..KeyUpdate::default()
            },
        ));
        assert_eq!(e.code(), "invalid_argument");
    }
    assert_eq!(
        g.get(&last.key.id)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .expires_at,
        Some(MAX_MILLIS)
    );
}

#[test]
fn credits_are_at_most_two_to_the_53_minus_one_and_read_back_as_given() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
    let url = format!("sqlite:///{}", dir.path().join("credits.db").display());
    let g = Gate::open(&url, None).unwrap_or_else(|e| unreachable!("{e}"));
    let most = g
        .issue(IssueRequest {
            remaining: Some(MAX_REMAINING),
            ..named("most")
        })
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        g.get(&most.key.id)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .remaining,
        Some(MAX_REMAINING)
    );
    for n in [MAX_REMAINING + 1, 1 << 63, u64::MAX] {
        let e = refusal(g.issue(IssueRequest {
            remaining: Some(n),
            ..named("more")
        }));
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("remaining"), "{e}");
        let e = refusal(g.update(
            &most.key.id,
            KeyUpdate {
                remaining: Some(Some(n)),
                ..KeyUpdate::default()
            },
        ));
        assert_eq!(e.code(), "invalid_argument");
    }
}

#[test]
fn expires_in_on_update_is_measured_from_the_gates_clock() {
    let clock = ManualClock::new(1_700_000_000_000);
    let g = Gate::new(
        Arc::new(gatepass_core::store::MemoryStore::new()),
        gatepass_core::Policy::default(),
    )
    .with_clock(clock.clone());
    let issued = g.issue(named("k")).unwrap_or_else(|e| unreachable!("{e}"));
    clock.advance_ms(5_000);
    let key = g
        .update(
            &issued.key.id,
            KeyUpdate {
                expires_in: Some(Duration::from_secs(3600)),
                ..KeyUpdate::default()
            },
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(key.expires_at, Some(1_700_000_005_000 + 3_600_000));
    let e = refusal(g.update(
        &issued.key.id,
        KeyUpdate {
            expires_in: Some(Duration::from_secs(60)),
            expires_at: Some(None),
            ..KeyUpdate::default()
        },
    ));
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("not both"), "{e}");
}

#[test]
fn an_expiry_stored_before_the_bound_reads_back_as_the_latest_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite:///{}", path.display());
    let id = {
        let g = Gate::open(&url, None).unwrap();
        g.issue(named("far")).unwrap().key.id
    };
    // What an older gatepass stored for `expires_in="3000000d"` and beyond.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE gatepass_keys SET expires_at = ?1", [i64::MAX])
        .unwrap();
    let g = Gate::open(&url, None).unwrap();
    assert_eq!(g.get(&id).unwrap().expires_at, Some(MAX_MILLIS));
    let page = g.list(None, None, None, None, 10).unwrap();
    assert_eq!(page.keys[0].expires_at, Some(MAX_MILLIS));
}

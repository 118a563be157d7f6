//! Several processes and threads on one SQLite file: revocations are seen by
//! another process on its very next verify, and concurrent usage counting
//! loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::child::{self, ChildGate};
use gatepass_core::store::{SqliteStore, Store};
use gatepass_core::token::new_key_id;
use gatepass_core::{Gate, IssueRequest, Issued, Outcome, Requirement, Token};

const HAMMER_COUNT: u64 = 3_000;

/// Runs only when spawned by the tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    child::serve();
}

/// A new SQLite file with one key on it.
fn shared_file(name: &str) -> (tempfile::TempDir, String, Gate, Issued) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite:///{}",
        dir.path().join(format!("{name}.db")).display()
    );
    let gate = Gate::open(&url, None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: name.into(),
            ..Default::default()
        })
        .unwrap();
    (dir, url, gate, issued)
}

fn verify(gate: &Gate, issued: &Issued) -> Outcome {
    let header = format!("Bearer {}", issued.token.expose());
    gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
        .unwrap()
        .outcome
}

#[test]
fn another_process_sees_each_change_on_its_next_verify() {
    let (_dir, url, gate, issued) = shared_file("shared");
    let mut child = ChildGate::spawn(&url);
    let id = &issued.key.id;
    let mut ask = |token: &str| {
        child.send(&format!("check {token}"));
        child.expect("OUTCOME")
    };
    let token = issued.token.expose();

    // Each answer comes from a child whose cache was warm a moment before.
    assert_eq!(ask(token), "valid");
    assert_eq!(ask(token), "valid");
    gate.deactivate(id).unwrap();
    assert_eq!(ask(token), "inactive");
    gate.activate(id).unwrap();
    assert_eq!(ask(token), "valid");
    let rotated = gate.rotate(id, Duration::ZERO).unwrap();
    assert_eq!(ask(token), "revoked", "old secret after rotation");
    assert_eq!(ask(rotated.token.expose()), "valid");
    gate.revoke(id).unwrap();
    assert_eq!(ask(rotated.token.expose()), "revoked");
    child.finish();
}

#[test]
fn processes_hammering_one_key_lose_no_usage() {
    let (_dir, url, gate, issued) = shared_file("hot");
    let mut children: Vec<ChildGate> = (0..2).map(|_| ChildGate::spawn(&url)).collect();
    for c in &mut children {
        c.send(&format!("hammer {} {HAMMER_COUNT}", issued.token.expose()));
    }
    // The parent hammers too, while the children run.
    for _ in 0..HAMMER_COUNT {
        assert_eq!(verify(&gate, &issued), Outcome::Valid);
    }
    for mut c in children {
        assert_eq!(c.expect("HAMMERED"), HAMMER_COUNT.to_string());
        c.finish();
    }
    assert_eq!(
        gate.get(&issued.key.id).unwrap().usage_count,
        3 * HAMMER_COUNT
    );
}

#[test]
fn threads_sharing_one_gate_and_file_lose_no_usage() {
    let (_dir, url, gate, issued) = shared_file("threads");
    let gate = Arc::new(gate);
    let second = Arc::new(Gate::open(&url, None).unwrap());
    let issued = Arc::new(issued);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let g = if i % 2 == 0 {
                Arc::clone(&gate)
            } else {
                Arc::clone(&second)
            };
            let issued = Arc::clone(&issued);
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    assert_eq!(verify(&g, &issued), Outcome::Valid);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    second.flush().unwrap();
    assert_eq!(gate.get(&issued.key.id).unwrap().usage_count, 4_000);
}

#[test]
fn usage_reaches_the_store_while_the_process_is_idle() {
    let (_dir, url, gate, issued) = shared_file("idle");
    let reader = Gate::open(&url, None).unwrap();
    for _ in 0..3 {
        assert_eq!(verify(&gate, &issued), Outcome::Valid);
    }
    // No flush, no further request: the background flush must write them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.get(&issued.key.id).unwrap().usage_count < 3 {
        assert!(Instant::now() < deadline, "usage never flushed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reader.get(&issued.key.id).unwrap().usage_count, 3);
}

/// Each process remembers the unknown tokens it was shown; a key stored for
/// one of them by another process (an import, another writer) is found on the
/// very next verify, and so is a key issued elsewhere.
#[test]
fn another_process_finds_a_key_stored_for_a_token_it_remembered_as_unknown() {
    let (dir, url, gate, issued) = shared_file("unknown");
    let mut child = ChildGate::spawn(&url);
    let mut ask = |token: &str| {
        child.send(&format!("check {token}"));
        child.expect("OUTCOME")
    };
    let chosen = Token::mint("gp").unwrap();
    assert_eq!(ask(chosen.expose()), "unknown_key");
    assert_eq!(ask(chosen.expose()), "unknown_key", "remembered");
    let writer = SqliteStore::open(dir.path().join("unknown.db")).unwrap();
    let mut record = issued.key.clone();
    record.id = new_key_id();
    record.start = chosen.start();
    writer.insert(&record, &chosen.digest()).unwrap();
    assert_eq!(ask(chosen.expose()), "valid");
    let fresh = gate
        .issue(IssueRequest {
            name: "fresh".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ask(fresh.token.expose()), "valid");
    gate.delete(&fresh.key.id).unwrap();
    assert_eq!(ask(fresh.token.expose()), "unknown_key");
    child.finish();
}

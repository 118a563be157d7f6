//! Several processes on one SQLite file: revocations are seen by the other
//! process on its very next verify, and concurrent usage counting loses
//! nothing. The test binary re-runs itself as the child process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use gatepass_core::{Gate, IssueRequest, Outcome, Requirement};

const ENV_DB: &str = "GATEPASS_TEST_CHILD_DB";
const ENV_TOKEN: &str = "GATEPASS_TEST_CHILD_TOKEN";
const ENV_ROLE: &str = "GATEPASS_TEST_CHILD_ROLE";
const HAMMER_COUNT: u64 = 3_000;

fn spawn_child(db: &str, token: &str, role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DB, db)
        .env(ENV_TOKEN, token)
        .env(ENV_ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs only when spawned by the tests below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    let (Ok(db), Ok(token), Ok(role)) = (
        std::env::var(ENV_DB),
        std::env::var(ENV_TOKEN),
        std::env::var(ENV_ROLE),
    ) else {
        return;
    };
    let gate = Gate::open(&format!("sqlite://{db}"), None).unwrap();
    let header = format!("Bearer {token}");
    let verify = || {
        gate.verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap()
            .outcome
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    match role.as_str() {
        "watch" => {
            // Answer each "check" line with the outcome of one verify.
            for line in stdin.lock().lines() {
                if line.unwrap().trim() != "check" {
                    break;
                }
                writeln!(out, "OUTCOME {}", verify().code()).unwrap();
                out.flush().unwrap();
            }
        }
        "hammer" => {
            for _ in 0..HAMMER_COUNT {
                assert_eq!(verify(), Outcome::Valid);
            }
            // Dropping the gate flushes the last batch: a clean shutdown.
            drop(gate);
            writeln!(out, "DONE").unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

fn ask(child: &mut Child, reader: &mut impl BufRead) -> String {
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "check").unwrap();
    stdin.flush().unwrap();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child exited early"
        );
        // libtest prints "test child_process ... " without a newline before
        // the test's own output, so look for the marker anywhere in the line.
        if let Some((_, code)) = line.trim().split_once("OUTCOME ") {
            return code.to_owned();
        }
    }
}

#[test]
fn another_process_sees_each_change_on_its_next_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let db = db.to_str().unwrap();
    let gate = Gate::open(&format!("sqlite://{db}"), None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "shared".into(),
            ..Default::default()
        })
        .unwrap();
    let mut child = spawn_child(db, issued.token.expose(), "watch");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let id = &issued.key.id;

    // Each answer comes from a child whose cache was warm a moment before.
    assert_eq!(ask(&mut child, &mut reader), "valid");
    assert_eq!(ask(&mut child, &mut reader), "valid");
    gate.deactivate(id).unwrap();
    assert_eq!(ask(&mut child, &mut reader), "inactive");
    gate.activate(id).unwrap();
    assert_eq!(ask(&mut child, &mut reader), "valid");
    let rotated = gate.rotate(id, std::time::Duration::ZERO).unwrap();
    assert_eq!(
        ask(&mut child, &mut reader),
        "revoked",
        "old secret after rotation"
    );
    drop(rotated);
    gate.revoke(id).unwrap();
    assert_eq!(ask(&mut child, &mut reader), "revoked");

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn processes_hammering_one_key_lose_no_usage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let db = db.to_str().unwrap();
    let gate = Gate::open(&format!("sqlite://{db}"), None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "hot".into(),
            ..Default::default()
        })
        .unwrap();
    let header = format!("Bearer {}", issued.token.expose());

    let children: Vec<Child> = (0..2)
        .map(|_| spawn_child(db, issued.token.expose(), "hammer"))
        .collect();
    // The parent hammers too, while the children run.
    for _ in 0..HAMMER_COUNT {
        let v = gate
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::Valid);
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("DONE"));
    }
    let key = gate.get(&issued.key.id).unwrap();
    assert_eq!(key.usage_count, 3 * HAMMER_COUNT);
}

#[test]
fn threads_sharing_one_gate_and_file_lose_no_usage() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("threads.db").display());
    let gate = std::sync::Arc::new(Gate::open(&url, None).unwrap());
    let second = std::sync::Arc::new(Gate::open(&url, None).unwrap());
    let issued = gate
        .issue(IssueRequest {
            name: "threads".into(),
            ..Default::default()
        })
        .unwrap();
    let header = format!("Bearer {}", issued.token.expose());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let g = if i % 2 == 0 {
                gate.clone()
            } else {
                second.clone()
            };
            let header = header.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    let v = g
                        .verify(Some(header.as_bytes()), &Requirement::none(), None)
                        .unwrap();
                    assert_eq!(v.outcome, Outcome::Valid);
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
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("idle.db").display());
    let gate = Gate::open(&url, None).unwrap();
    let reader = Gate::open(&url, None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "idle".into(),
            ..Default::default()
        })
        .unwrap();
    let header = format!("Bearer {}", issued.token.expose());
    for _ in 0..3 {
        let v = gate
            .verify(Some(header.as_bytes()), &Requirement::none(), None)
            .unwrap();
        assert_eq!(v.outcome, Outcome::Valid);
    }
    // No flush, no further request: the background flush must write them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reader.get(&issued.key.id).unwrap().usage_count < 3 {
        assert!(std::time::Instant::now() < deadline, "usage never flushed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(reader.get(&issued.key.id).unwrap().usage_count, 3);
}

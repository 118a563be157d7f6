//! A Postgres restart in the middle of a run causes errors or slower checks,
//! never a revoked key accepted. In a test binary of its own because it stops
//! the shared server, which would break tests running beside it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::child::{self, ChildGate};
use gatepass_core::{Gate, IssueRequest};

/// Runs only when spawned by the test below.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process() {
    child::serve();
}

#[test]
fn postgres_restart_never_lets_a_revoked_key_through() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let Some(script) = common::service_url("GATEPASS_SERVICES_SCRIPT") else {
        return;
    };
    let services = |action: &str| {
        let status = Command::new("bash")
            .arg(&script)
            .arg(action)
            .status()
            .unwrap();
        assert!(status.success(), "services.sh {action}");
    };
    let gate = Gate::open(&url, None).unwrap();
    let mut child = ChildGate::spawn(&url);
    for round in 0..2 {
        let issued = gate
            .issue(IssueRequest {
                name: format!("restart {round}"),
                ..Default::default()
            })
            .unwrap();
        let token = issued.token.expose().to_owned();
        child.send(&format!("check {token}"));
        assert_eq!(child.expect("OUTCOME"), "valid");

        services("stop-postgres");
        // The server is down: a check is an error, or the cached answer if
        // the child's listener has not noticed yet; nothing has changed.
        child.send(&format!("check {token}"));
        let during = child.expect("OUTCOME");
        assert!(during == "error" || during == "valid", "{during}");
        services("start-postgres");

        // Revoke the moment the server is back, likely before the child's
        // listener has reconnected: the child must not answer from its cache.
        let deadline = Instant::now() + Duration::from_secs(30);
        while gate.revoke(&issued.key.id).is_err() {
            assert!(Instant::now() < deadline, "postgres did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
        loop {
            child.send(&format!("check {token}"));
            match child.expect("OUTCOME").as_str() {
                "revoked" => break,
                "error" => std::thread::sleep(Duration::from_millis(20)),
                other => panic!("round {round}: a revoked key answered {other}"),
            }
            assert!(Instant::now() < deadline, "no answer after the restart");
        }
    }
    child.finish();
}

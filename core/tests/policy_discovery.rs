//! Where a gate opened without a policy finds one: `$GATEPASS_POLICY`, then
//! `./gatepass.toml`, then the store's record, then the default. One test in
//! its own binary: it sets the environment and the working directory, which
//! every thread of the process shares.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatepass_core::env::{self, PolicySource};
use gatepass_core::{Gate, IssueRequest};

const FILE_POLICY: &str = "[kinds.bot]\nprefix = \"bp_bot\"\n";
const ENV_POLICY: &str = r#"{"kinds": {"agent": {"prefix": "lb_agent"}}}"#;

fn kind_of_new_key(gate: &Gate) -> String {
    gate.issue(IssueRequest {
        name: "n".into(),
        ..IssueRequest::default()
    })
    .unwrap()
    .key
    .kind
}

#[test]
fn env_then_working_directory_file_then_store_then_default() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    std::env::remove_var(env::POLICY);
    let url = "sqlite:///gp.db";

    // Nothing anywhere: the default, named as such in an unknown kind.
    let g = Gate::open(url, None).unwrap();
    assert_eq!(g.policy_source(), &PolicySource::Default);
    let e = g
        .issue(IssueRequest {
            name: "n".into(),
            kind: Some("bot".into()),
            ..IssueRequest::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("no policy"), "{e}");
    assert!(e.to_string().contains("default (gp)"), "{e}");
    drop(g);

    // ./gatepass.toml is found, used and recorded.
    std::fs::write(dir.path().join(env::POLICY_FILE), FILE_POLICY).unwrap();
    let g = Gate::open(url, None).unwrap();
    assert_eq!(
        g.policy_source(),
        &PolicySource::File("./gatepass.toml".into())
    );
    assert_eq!(kind_of_new_key(&g), "bot");
    assert_eq!(g.policy_mismatch(), None);
    drop(g);

    // $GATEPASS_POLICY wins over the file; the difference from the
    // recorded (file) policy is reported, and the opening goes on.
    let json = dir.path().join("app.json");
    std::fs::write(&json, ENV_POLICY).unwrap();
    std::env::set_var(env::POLICY, &json);
    let g = Gate::open(url, None).unwrap();
    assert_eq!(
        g.policy_source(),
        &PolicySource::Env(json.display().to_string())
    );
    assert_eq!(kind_of_new_key(&g), "agent");
    let report = g.policy_mismatch().unwrap();
    assert!(report.contains("$GATEPASS_POLICY="), "{report}");
    assert!(report.contains("./gatepass.toml"), "{report}");
    drop(g);

    // Neither: the store's record (the last explicit one, from the env).
    std::env::remove_var(env::POLICY);
    std::fs::remove_file(dir.path().join(env::POLICY_FILE)).unwrap();
    let g = Gate::open(url, None).unwrap();
    assert_eq!(g.policy_source(), &PolicySource::Store);
    assert_eq!(kind_of_new_key(&g), "agent");
    drop(g);

    // A file that is there but broken is an error naming it, not skipped.
    std::fs::write(dir.path().join(env::POLICY_FILE), "[kinds.bot]\n").unwrap();
    let e = Gate::open(url, None).unwrap_err();
    assert_eq!(e.code(), "config_error");
    assert!(e.to_string().contains("gatepass.toml"), "{e}");
    std::env::set_var(env::POLICY, dir.path().join("missing.toml"));
    let e = Gate::open(url, None).unwrap_err();
    assert!(e.to_string().contains("GATEPASS_POLICY"), "{e}");
    std::env::remove_var(env::POLICY);
}

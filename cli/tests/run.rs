//! The command line in-process (`run_with`) on real SQLite files: what it
//! prints, in both forms, and its exit codes.

use std::ffi::OsString;
use std::sync::Arc;

use gatepass_cli::{run_with, Io, Preset};
use gatepass_core::{Gate, Policy};

struct Ran {
    code: i32,
    out: String,
    err: String,
}

fn run_in(preset: Option<&Preset>, args: &[&str], stdin: &[u8]) -> Ran {
    let argv: Vec<OsString> = std::iter::once("gatepass")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input = stdin;
    let code = run_with(
        argv,
        preset,
        &mut Io {
            stdin: &mut input,
            out: &mut out,
            err: &mut err,
        },
    );
    Ran {
        code,
        out: String::from_utf8(out).unwrap_or_default(),
        err: String::from_utf8(err).unwrap_or_default(),
    }
}

fn json(ran: &Ran) -> serde_json::Value {
    serde_json::from_str(&ran.out).unwrap_or(serde_json::Value::Null)
}

struct Store {
    _dir: tempfile::TempDir,
    url: String,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("tempdir: {e}"));
    let url = format!("sqlite:///{}", dir.path().join("cli.db").display());
    Store { _dir: dir, url }
}

impl Store {
    fn run(&self, args: &[&str]) -> Ran {
        let mut all = vec!["--store", self.url.as_str()];
        all.extend_from_slice(args);
        run_in(None, &all, b"")
    }
}

#[test]
fn a_key_through_its_life() {
    let s = store();
    let issued = s.run(&[
        "keys",
        "issue",
        "Production Server",
        "--scope",
        "bots:read,channels:write",
        "--metadata",
        r#"{"team":"core"}"#,
        "--json",
    ]);
    assert_eq!(issued.code, 0, "{}", issued.err);
    let issued = json(&issued);
    let token = issued["token"].as_str().unwrap_or_default().to_owned();
    let id = issued["key"]["id"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("gp_") && id.starts_with("key_"));
    assert_eq!(issued["key"]["scopes"][1], "channels:write");

    // The text forms a person reads; the token is never shown again.
    let listed = s.run(&["keys", "list"]);
    assert!(listed.out.starts_with("ID  "), "{}", listed.out);
    assert!(listed.out.contains("Production Server") && !listed.out.contains(&token));
    let shown = s.run(&["keys", "show", &id]);
    assert!(shown.out.contains("metadata:     {\"team\": \"core\"}\n"));
    assert!(shown
        .out
        .contains("scopes:       bots:read channels:write\n"));

    let ok = s.run(&[
        "verify",
        &format!("Bearer {token}"),
        "--scopes",
        "bots:read",
    ]);
    assert_eq!(
        (ok.code, ok.out.as_str()),
        (
            0,
            format!("valid: {id} (Production Server), scopes: bots:read channels:write\n").as_str()
        )
    );
    let refused = s.run(&[
        "verify",
        &token,
        "--scopes",
        "admin or bots:write",
        "--json",
    ]);
    assert_eq!(refused.code, 1);
    assert_eq!(json(&refused)["code"], "insufficient_scope");

    let off = s.run(&["keys", "deactivate", &id]);
    assert_eq!(
        off.out,
        format!("Deactivated {id} (Production Server); status: inactive.\n")
    );
    assert_eq!(
        json(&s.run(&["verify", &token, "--json"]))["code"],
        "inactive"
    );
    let again = s.run(&["keys", "activate", &id, "--json"]);
    assert_eq!(json(&again)["status"], "active");
    let revoked = s.run(&["keys", "revoke", &id]);
    assert_eq!(revoked.code, 0);
    let not_again = s.run(&["keys", "activate", &id, "--json"]);
    assert_eq!(not_again.code, 4);
    assert_eq!(json(&not_again)["error"]["code"], "invalid_state");
    let deleted = s.run(&["keys", "delete", &id, "--json"]);
    assert_eq!(deleted.out, format!("{{\n  \"deleted\": \"{id}\"\n}}\n"));
    assert_eq!(s.run(&["keys", "list"]).out, "No keys.\n");
}

#[test]
fn exit_codes_and_error_lines() {
    let s = store();
    let missing = s.run(&["keys", "show", "key_AAAAAAAAAAAAAAAA", "--json"]);
    assert_eq!(missing.code, 3);
    assert_eq!(
        missing.out,
        "{\"error\": {\"code\": \"not_found\", \"message\": \"no key with id \\\"key_AAAAAAAAAAAAAAAA\\\"\"}}\n"
    );
    assert_eq!(
        missing.err,
        "gatepass: error: no key with id \"key_AAAAAAAAAAAAAAAA\" (not_found)\n"
    );
    assert_eq!(
        s.run(&["keys", "issue", "x", "--scope", "Bad Scope"]).code,
        4
    );
    assert_eq!(
        s.run(&["keys", "issue", "x", "--expires-in", "soon"]).code,
        4
    );
    assert_eq!(s.run(&["keys", "issue", "x", "--remaining", "-1"]).code, 4);
    assert_eq!(s.run(&["keys", "issue", "x", "--metadata", "[1]"]).code, 2);
    assert_eq!(s.run(&["keys", "frobnicate"]).code, 2);
    assert_eq!(run_in(None, &[], b"").code, 2);
    assert_eq!(
        run_in(None, &["keys", "list", "--store", "mysql://nope"], b"").code,
        4
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("tempdir: {e}"));
    let nowhere = format!("sqlite:///{}/no/such/dir.db", dir.path().display());
    assert_eq!(
        run_in(None, &["keys", "list", "--store", &nowhere], b"").code,
        5
    );
    let no_policy = format!("{}/missing.toml", dir.path().display());
    assert_eq!(s.run(&["keys", "list", "--policy", &no_policy]).code, 4);
    let version = run_in(None, &["--version"], b"");
    assert_eq!(
        (version.code, version.out.as_str()),
        (0, "gatepass 0.1.0\n")
    );
}

#[test]
fn a_token_given_as_a_key_id_is_never_repeated() {
    let s = store();
    let token = json(&s.run(&["keys", "issue", "prod", "--json"]))["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for action in ["show", "revoke", "rotate", "delete"] {
        let ran = s.run(&["keys", action, &token, "--json"]);
        assert_eq!(ran.code, 4, "{action}");
        assert!(ran.err.contains("a token was given where a key id belongs"));
        let body = token.rsplit('_').next().unwrap_or_default();
        assert!(!ran.out.contains(&body[..12]) && !ran.err.contains(&body[..12]));
    }
}

#[test]
fn webhooks_sign_and_verify_from_stdin() {
    let secret = json(&run_in(
        None,
        &["webhook", "secret", "standard", "--json"],
        b"",
    ))["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = br#"{"event":"bot.created"}"#;
    let signed = run_in(
        None,
        &[
            "webhook",
            "sign",
            "standard",
            "--secret",
            &secret,
            "--id",
            "msg_1",
            "--timestamp",
            "1700000000",
        ],
        body,
    );
    assert_eq!(signed.code, 0, "{}", signed.err);
    assert!(signed
        .out
        .starts_with("webhook-id: msg_1\nwebhook-timestamp: 1700000000\nwebhook-signature: v1,"));
    let mut args = vec![
        "webhook",
        "verify",
        "standard",
        "--secret",
        &secret,
        "--tolerance",
        "none",
        "--json",
    ];
    let headers: Vec<String> = signed.out.lines().map(str::to_owned).collect();
    for h in &headers {
        args.extend(["-H", h.as_str()]);
    }
    let ok = run_in(None, &args, body);
    assert_eq!(ok.code, 0, "{}", ok.out);
    assert_eq!(json(&ok)["id"], "msg_1");
    let bad = run_in(None, &args, b"{}");
    assert_eq!(bad.code, 1);
    assert_eq!(json(&bad)["code"], "invalid_signature");
    assert!(!bad.out.contains(&secret));
    let no_secret = run_in(None, &["webhook", "sign", "standard"], b"{}");
    assert_eq!(
        no_secret.code,
        if std::env::var("GATEPASS_WEBHOOK_SECRET").is_ok() {
            0
        } else {
            2
        }
    );
}

#[test]
fn under_a_hosts_gate_its_policy_is_in_force_and_store_options_are_refused() {
    let policy = Policy::from_toml("[kinds.bot]\nprefix = \"bp_bot\"\n")
        .unwrap_or_else(|e| unreachable!("policy: {e}"));
    let gate = Gate::open("memory://", Some(policy)).unwrap_or_else(|e| unreachable!("gate: {e}"));
    let preset = Preset {
        gate: Arc::new(gate),
        policy_source: "settings.GATEPASS['POLICY']".into(),
        actor: Some("manage.py".into()),
    };
    let issued = run_in(Some(&preset), &["keys", "issue", "x", "--json"], b"");
    assert!(json(&issued)["token"]
        .as_str()
        .unwrap_or_default()
        .starts_with("bp_bot_"));
    let unknown = run_in(Some(&preset), &["keys", "issue", "x", "--kind", "pat"], b"");
    assert_eq!(unknown.code, 4);
    assert!(
        unknown
            .err
            .contains("(policy in force: settings.GATEPASS['POLICY']; its kinds: bot (bp_bot))"),
        "{}",
        unknown.err
    );
    let events = json(&run_in(Some(&preset), &["events", "--json"], b""));
    let actor = events["events"][0]["actor"].as_str().unwrap_or_default();
    assert!(actor.starts_with("manage.py"), "{actor}");
    let refused = run_in(
        Some(&preset),
        &["keys", "list", "--store", "memory://"],
        b"",
    );
    assert_eq!(refused.code, 2);
}

#[test]
fn events_tell_who_changed_which_key_newest_first() {
    let s = store();
    let issued = json(&s.run(&["keys", "issue", "k", "--subject", "user_1", "--json"]));
    let id = issued["key"]["id"].as_str().unwrap_or_default().to_owned();
    let other = json(&s.run(&["keys", "issue", "other", "--json"]));
    assert_eq!(s.run(&["keys", "deactivate", &id]).code, 0);
    assert_eq!(s.run(&["keys", "activate", &id]).code, 0);
    assert_eq!(
        s.run(&["--actor", "user:42", "keys", "revoke", &id]).code,
        0
    );

    let page = json(&s.run(&["events", "--key", &id, "--json"]));
    let actions: Vec<&str> = page["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(actions, ["revoked", "activated", "deactivated", "issued"]);
    assert_eq!(page["events"][0]["actor"], "user:42");
    assert_eq!(page["events"][0]["owner"], "user_1");
    assert_eq!(page["events"][0]["changes"]["status"]["to"], "revoked");
    assert!(page["events"][3]["actor"]
        .as_str()
        .unwrap_or_default()
        .starts_with("cli"));
    assert!(!page
        .to_string()
        .contains(issued["token"].as_str().unwrap_or("-")));

    // Every key's events, a page at a time; the text form is a table.
    let first = json(&s.run(&["events", "--limit", "2", "--json"]));
    assert_eq!(first["events"].as_array().map(Vec::len), Some(2));
    let cursor = first["next"].as_str().unwrap_or_default().to_owned();
    let rest = json(&s.run(&["events", "--after", &cursor, "--all", "--json"]));
    let all = json(&s.run(&["events", "--all", "--json"]));
    assert_eq!(all["events"].as_array().map(Vec::len), Some(5));
    assert_eq!(all["events"][4]["key_id"], issued["key"]["id"]);
    assert!(rest["events"].as_array().is_some());
    let owned = json(&s.run(&["events", "--owner", "user_1", "--since", "1h", "--json"]));
    assert_eq!(owned["events"].as_array().map(Vec::len), Some(4));
    assert!(!owned
        .to_string()
        .contains(other["key"]["id"].as_str().unwrap_or("-")));
    let table = s.run(&["events"]);
    assert!(table.out.starts_with("AT  "), "{}", table.out);
    assert!(table.out.contains("user:42") && table.out.contains("revoked"));
    assert_eq!(s.run(&["events", "--since", "someday"]).code, 2);
    assert_eq!(s.run(&["events", "--after", "nonsense"]).code, 4);
}

#[test]
fn usage_charts_a_keys_requests() {
    let s = store();
    let issued = json(&s.run(&["keys", "issue", "k", "--scope", "bots:read", "--json"]));
    let token = issued["token"].as_str().unwrap_or_default().to_owned();
    let id = issued["key"]["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..3 {
        assert_eq!(s.run(&["verify", &token, "--spend"]).code, 0);
    }
    assert_eq!(
        s.run(&["verify", &token, "--scopes", "admin", "--spend"])
            .code,
        1
    );
    // Checking without --spend counts nothing.
    assert_eq!(s.run(&["verify", &token]).code, 0);

    let by_day = json(&s.run(&["usage", &id, "--json"]));
    let buckets = by_day["buckets"].as_array().cloned().unwrap_or_default();
    assert_eq!((by_day["step"].as_str(), buckets.len()), (Some("day"), 30));
    // Summed, not read from the last bucket: the run may cross midnight.
    let valid: u64 = buckets.iter().filter_map(|b| b["valid"].as_u64()).sum();
    let refused: u64 = buckets
        .iter()
        .filter_map(|b| b["refused"]["insufficient_scope"].as_u64())
        .sum();
    assert_eq!((valid, refused), (3, 1));

    let chart = s.run(&["usage", &id]);
    assert_eq!(chart.code, 0, "{}", chart.err);
    let lines: Vec<&str> = chart.out.lines().collect();
    assert_eq!(lines.len(), 32);
    assert_eq!(lines[0], format!("{id} (k): requests by day, UTC"));
    assert!(lines[1..31].iter().any(|l| l.contains(&"█".repeat(40))));
    assert_eq!(
        lines[31],
        "total: 3 valid, 1 refused (insufficient_scope 1)"
    );

    let by_hour = json(&s.run(&["usage", &id, "--step", "hour", "--days", "1", "--json"]));
    assert_eq!(by_hour["buckets"].as_array().map(Vec::len), Some(24));
    // With no --days, the core's default range, as in every binding and the
    // management API.
    let default_hours = json(&s.run(&["usage", &id, "--step", "hour", "--json"]));
    let expected = usize::try_from(gatepass_core::history::DEFAULT_HOURS).ok();
    assert_eq!(default_hours["buckets"].as_array().map(Vec::len), expected);
    assert_eq!(s.run(&["usage", "key_AAAAAAAAAAAAAAAA"]).code, 3);
    assert_eq!(s.run(&["usage", &id, "--days", "0"]).code, 4);
    assert_eq!(s.run(&["usage", &id, "--step", "week"]).code, 2);
}

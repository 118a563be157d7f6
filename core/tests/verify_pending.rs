//! `begin_verify` / `finish_verify`: a verification the caller's thread could
//! not finish from memory is finished elsewhere from the parsed request,
//! without the credential, with the answer and the counting `verify` gives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gatepass_core::store::{MemoryStore, SqliteStore, Store};
use gatepass_core::{
    Begun, Gate, IssueRequest, Issued, Outcome, PendingVerification, Policy, Requirement, Scope,
};

const POLICY: &str = r#"
realm = "bots"
scopes = ["bots:read", "bots:write"]
default_kind = "personal"

[kinds.personal]
prefix = "gp_pat"
"#;

fn gates() -> (Vec<(&'static str, Gate)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("gp.db")).unwrap());
    let policy = || Policy::from_toml(POLICY).unwrap();
    let gates = vec![
        ("memory", Gate::new(Arc::new(MemoryStore::new()), policy())),
        ("sqlite", Gate::new(sqlite, policy())),
    ];
    (gates, dir)
}

fn issue(gate: &Gate, remaining: Option<u64>) -> Issued {
    gate.issue(IssueRequest {
        name: "Production Server".into(),
        scopes: vec![Scope::parse("bots:read").unwrap()],
        remaining,
        ..Default::default()
    })
    .unwrap()
}

fn bearer(t: &Issued) -> Vec<u8> {
    format!("Bearer {}", t.token.expose()).into_bytes()
}

fn pending(begun: Begun) -> PendingVerification {
    match begun {
        Begun::Pending(p) => p,
        Begun::Done(v) => panic!("answered from memory: {:?}", v.outcome),
    }
}

#[test]
fn a_cache_miss_is_finished_from_the_parsed_request() {
    for (name, g) in gates().0 {
        let read = Requirement::all(&["bots:read"]).unwrap();
        let write = Requirement::all(&["bots:write"]).unwrap();
        let t = issue(&g, None);
        // Not cached yet: the store is needed.
        let p = pending(g.begin_verify(Some(&bearer(&t)), &read, None).unwrap());
        // Finishing needs no credential: the digest found the key.
        let v = g.finish_verify(&p, &read, None).unwrap();
        assert_eq!(v.outcome, Outcome::Valid, "{name}");
        assert_eq!(v.key.as_ref().unwrap().id, t.key.id, "{name}");
        // The scheme the client used is the one its answer names.
        assert_eq!(v.scheme.as_deref(), Some("Bearer"), "{name}");
        // The requirement given to finish decides, as in `verify`.
        assert_eq!(
            g.finish_verify(&p, &write, None).unwrap().outcome,
            Outcome::InsufficientScope,
            "{name}"
        );
        // Cached now: answered at once, counted once.
        match g.begin_verify(Some(&bearer(&t)), &read, None).unwrap() {
            Begun::Done(v) => assert_eq!(v.outcome, Outcome::Valid, "{name}"),
            Begun::Pending(_) => {
                // A background usage flush may empty the cache once more.
                let p = pending(g.begin_verify(Some(&bearer(&t)), &read, None).unwrap());
                g.finish_verify(&p, &read, None).unwrap();
            }
        }
        g.flush().unwrap();
        // Two valid answers (the finished one and the one that followed);
        // the insufficient-scope answer and the given-up attempts count nothing.
        assert_eq!(g.get(&t.key.id).unwrap().usage_count, 2, "{name}");
    }
}

#[test]
fn requests_refused_before_the_lookup_are_answered_at_once() {
    for (name, g) in gates().0 {
        let none = Requirement::none();
        for header in [None, Some(&b"Bearer gp_pat_x"[..]), Some(&b"Basic abc"[..])] {
            match g.begin_verify(header, &none, None).unwrap() {
                Begun::Done(v) => assert!(!v.ok(), "{name}"),
                Begun::Pending(p) => panic!("{name}: gave up on {header:?}: {p:?}"),
            }
        }
    }
}

#[test]
fn credits_are_spent_once_by_the_finish() {
    for (name, g) in gates().0 {
        let none = Requirement::none();
        let t = issue(&g, Some(5));
        for left in [4, 3] {
            // Credits are spent in the store: given up before spending.
            let p = pending(g.begin_verify(Some(&bearer(&t)), &none, None).unwrap());
            assert_eq!(
                g.get(&t.key.id).unwrap().remaining,
                Some(left + 1),
                "{name}"
            );
            let v = g.finish_verify(&p, &none, None).unwrap();
            assert_eq!(v.outcome, Outcome::Valid, "{name}");
            assert_eq!(g.get(&t.key.id).unwrap().remaining, Some(left), "{name}");
        }
    }
}

#[test]
fn a_pending_verification_shows_neither_token_nor_digest() {
    let (gates, _dir) = gates();
    let (_, g) = &gates[0];
    let t = issue(g, None);
    let p = pending(
        g.begin_verify(Some(&bearer(&t)), &Requirement::none(), None)
            .unwrap(),
    );
    let shown = format!("{p:?}");
    let secret = t.token.expose();
    let tail = &secret[secret.len() - 12..];
    assert!(!shown.contains(tail), "{shown}");
    assert!(shown.contains("Bearer"), "{shown}");
    // No long hex or byte list either.
    assert!(!shown.contains("digest"), "{shown}");
}

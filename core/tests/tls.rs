//! TLS to the real Postgres and Redis servers of `scripts/services.sh`, whose
//! certificate comes from a CA generated there and names only localhost and
//! 127.0.0.1 (the servers also listen on 127.0.0.2 for the name tests).
//! A downgrade is tested against a server in this file that, like a Postgres
//! without TLS, answers `N` to the client's TLS request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatepass_core::redis::{RedisRateLimiter, RedisReplayGuard};
use gatepass_core::{Gate, GateError, IssueRequest, Outcome, Requirement, StoreError};

struct Tls {
    ca: String,
    other_ca: String,
}

fn tls() -> Option<Tls> {
    Some(Tls {
        ca: common::service_url("GATEPASS_TEST_TLS_CA")?,
        other_ca: common::service_url("GATEPASS_TEST_TLS_OTHER_CA")?,
    })
}

fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

fn open_error(url: &str) -> StoreError {
    match gatepass_core::store::open(url) {
        Ok(_) => panic!("opened a store that should have been refused"),
        Err(e) => e,
    }
}

fn unique_name() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    format!("gp_tls_{}", hex::encode(bytes))
}

/// Whether every connection of `application_name` to the test server uses
/// TLS, as the server itself reports it (`pg_stat_ssl`), and how many there are.
fn server_side_tls(application_name: &str) -> (bool, i64) {
    let base = common::service_url("GATEPASS_TEST_POSTGRES_URL").unwrap();
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    let row = admin
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = $1",
            &[&application_name],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn postgres_verify_full_against_the_right_ca_uses_tls_end_to_end() {
    let (Some(tls), Some(url)) = (tls(), common::fresh_postgres_schema()) else {
        return;
    };
    let app = unique_name();
    let url = with_params(
        &url,
        &format!(
            "sslmode=verify-full&sslrootcert={}&application_name={app}",
            tls.ca
        ),
    );
    let gate = Gate::open(&url, None).unwrap();
    let issued = gate
        .issue(IssueRequest {
            name: "over tls".into(),
            ..Default::default()
        })
        .unwrap();
    let header = format!("Bearer {}", issued.token.expose());
    let v = gate
        .verify(Some(header.as_bytes()), &Requirement::none(), None)
        .unwrap();
    assert_eq!(v.outcome, Outcome::Valid);
    let (all_tls, connections) = server_side_tls(&app);
    assert!(connections >= 2, "pool and listener: {connections}");
    assert!(all_tls, "a connection of {app} is not encrypted");
}

#[test]
fn postgres_without_sslmode_stays_plaintext() {
    // The control for the test above: the same query sees plaintext when no
    // TLS was asked for, so it can tell the two apart.
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let app = unique_name();
    let _gate = Gate::open(&with_params(&url, &format!("application_name={app}")), None).unwrap();
    let (all_tls, connections) = server_side_tls(&app);
    assert!(connections >= 1);
    assert!(!all_tls);
}

#[test]
fn postgres_verify_full_against_another_ca_is_refused_with_the_reason() {
    let (Some(tls), Some(url)) = (tls(), common::fresh_postgres_schema()) else {
        return;
    };
    let e = open_error(&with_params(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", tls.other_ca),
    ));
    assert_eq!(e.code(), "store_unavailable");
    let text = e.to_string();
    assert!(text.contains("UnknownIssuer"), "{text}");
    // `require` with a CA file checks the chain too, as libpq's does.
    let e = open_error(&with_params(
        &url,
        &format!("sslmode=require&sslrootcert={}", tls.other_ca),
    ));
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // Without a CA file the Mozilla roots apply, which do not know the test CA.
    let e = open_error(&with_params(&url, "sslmode=verify-full"));
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
}

#[test]
fn postgres_verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let (Some(tls), Some(url)) = (tls(), common::fresh_postgres_schema()) else {
        return;
    };
    // The certificate names 127.0.0.1 and localhost; the server also listens
    // on 127.0.0.2.
    let other_name = url.replacen("@127.0.0.1:", "@127.0.0.2:", 1);
    assert_ne!(other_name, url, "the test URL is expected on 127.0.0.1");
    let e = open_error(&with_params(
        &other_name,
        &format!("sslmode=verify-full&sslrootcert={}", tls.ca),
    ));
    assert_eq!(e.code(), "store_unavailable");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    Gate::open(
        &with_params(
            &other_name,
            &format!("sslmode=verify-ca&sslrootcert={}", tls.ca),
        ),
        None,
    )
    .unwrap();
    let by_name = url.replacen("@127.0.0.1:", "@localhost:", 1);
    Gate::open(
        &with_params(
            &by_name,
            &format!("sslmode=verify-full&sslrootcert={}", tls.ca),
        ),
        None,
    )
    .unwrap();
}

#[test]
fn postgres_require_encrypts_without_checking_the_certificate() {
    let Some(url) = common::fresh_postgres_schema() else {
        return;
    };
    let app = unique_name();
    let _gate = Gate::open(
        &with_params(&url, &format!("sslmode=require&application_name={app}")),
        None,
    )
    .unwrap();
    assert!(server_side_tls(&app).0);
}

/// A server that refuses TLS as Postgres without it does (`N` to the
/// SSLRequest), on every connection until `stop`, and returns whatever the
/// clients sent after that answer.
struct PlaintextOnlyServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u8>>,
}

impl PlaintextOnlyServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut after = Vec::new();
            while !stopped.load(Ordering::Acquire) {
                let mut conn = match listener.accept() {
                    Ok((conn, _)) => conn,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut request = [0u8; 8];
                conn.read_exact(&mut request).unwrap();
                // Length 8, then the SSLRequest code 1234.5679.
                assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
                conn.write_all(b"N").unwrap();
                // Until the client closes (or 5 s pass): a downgrading client
                // would send its startup message (user, database) here.
                let _ = conn.read_to_end(&mut after);
            }
            after
        });
        Self { port, stop, thread }
    }

    fn finish(self) -> Vec<u8> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap()
    }
}

#[test]
fn postgres_require_against_a_server_without_tls_fails_and_sends_nothing_in_the_clear() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let server = PlaintextOnlyServer::start();
        let e = open_error(&format!(
            "postgres://secret_user@127.0.0.1:{}/db?sslmode={mode}",
            server.port
        ));
        assert_eq!(e.code(), "store_unavailable", "{mode}");
        assert!(
            e.to_string().contains("does not support TLS"),
            "{mode}: {e}"
        );
        let after = server.finish();
        assert!(
            !String::from_utf8_lossy(&after).contains("secret_user"),
            "{mode}: the startup message went out in plaintext"
        );
    }
}

#[test]
fn postgres_sslmodes_that_may_downgrade_are_refused() {
    for mode in ["prefer", "allow", "verify_full", ""] {
        let e = open_error(&format!(
            "postgres://u@127.0.0.1:1/db?sslmode={mode}&password=hunter2"
        ));
        assert_eq!(e.code(), "config_error", "{mode}");
        assert!(!e.to_string().contains("hunter2"));
    }
    let e = open_error("postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslcert=/etc/client.pem");
    assert_eq!(e.code(), "config_error");
    assert!(e.to_string().contains("client certificates"), "{e}");
    let e = open_error("postgres://u@127.0.0.1:1/db?sslrootcert=/etc/ca.pem");
    assert_eq!(e.code(), "config_error");
    let e = open_error(
        "postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    );
    assert_eq!(e.code(), "config_error");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}

fn redis_tls_url() -> Option<String> {
    common::service_url("GATEPASS_TEST_REDIS_TLS_URL")
}

fn replay_guard_error(url: &str) -> StoreError {
    match RedisReplayGuard::open(url) {
        Ok(_) => panic!("opened a replay guard that should have been refused"),
        Err(e) => e,
    }
}

#[test]
fn rediss_against_the_right_ca_serves_the_replay_guard_and_the_limiter() {
    let (Some(tls), Some(url)) = (tls(), redis_tls_url()) else {
        return;
    };
    let url = format!("{url}?sslrootcert={}", tls.ca);
    let guard = gatepass_core::webhook::open_replay_guard(&url).unwrap();
    let key = unique_name();
    assert!(guard.check_and_remember(&key, 0, 60).unwrap());
    assert!(!guard.check_and_remember(&key, 0, 60).unwrap());
    let limiter = RedisRateLimiter::open(&url).unwrap();
    let limit = "2/hour".parse().unwrap();
    let bucket = unique_name();
    let allowed: Vec<bool> = (0..3)
        .map(|_| {
            gatepass_core::ratelimit::RateLimiter::check(&limiter, &bucket, &limit, 0)
                .unwrap()
                .allowed
        })
        .collect();
    assert_eq!(allowed, [true, true, false]);
}

#[test]
fn rediss_refuses_another_ca_another_name_and_a_plaintext_server() {
    let (Some(tls), Some(url), Some(plain)) = (
        tls(),
        redis_tls_url(),
        common::service_url("GATEPASS_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let e = replay_guard_error(&format!("{url}?sslrootcert={}", tls.other_ca));
    assert_eq!(e.code(), "store_unavailable");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    let e = replay_guard_error(&url);
    assert!(
        e.to_string().contains("UnknownIssuer"),
        "Mozilla roots: {e}"
    );
    let other_name = url.replacen("//127.0.0.1:", "//127.0.0.2:", 1);
    assert_ne!(other_name, url);
    let e = replay_guard_error(&format!("{other_name}?sslrootcert={}", tls.ca));
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // TLS asked of a server that speaks none: an error, never plaintext.
    let plain_as_tls = plain.replacen("redis://", "rediss://", 1);
    let e = replay_guard_error(&format!("{plain_as_tls}?sslrootcert={}", tls.ca));
    assert_eq!(e.code(), "store_unavailable", "{e}");
}

#[test]
fn redis_url_options_that_would_weaken_tls_are_refused() {
    let e = replay_guard_error("rediss://127.0.0.1:1/#insecure");
    assert_eq!(e.code(), "config_error");
    let e = replay_guard_error("redis://127.0.0.1:1/?sslrootcert=/etc/ca.pem");
    assert_eq!(e.code(), "config_error");
    let e = replay_guard_error("rediss://127.0.0.1:1/?sslrootcert=/nonexistent/ca.pem");
    assert_eq!(e.code(), "config_error");
}

#[test]
fn gate_errors_carry_the_store_code() {
    // The bindings map `GateError::Store` by the store error's code.
    let e = match Gate::open("postgres://u@127.0.0.1:1/db?sslmode=prefer", None) {
        Ok(_) => panic!("sslmode=prefer accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(e, GateError::Store(StoreError::InvalidOption(_))),
        "{e}"
    );
    assert_eq!(e.code(), "config_error");
}
